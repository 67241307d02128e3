//! Real TLS 1.3 handshakes on 127.0.0.1 with the files `init` and `issue_client` write: the
//! server trusts exactly the facility CA, and the client certificate names the caller.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use shikaku_pki::{Role, client_identity, init, issue_client, load_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn roots(ca_pem: &[u8]) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(roots)
}

fn server_config(data_dir: &Path) -> Arc<ServerConfig> {
    let files = load_server(data_dir).unwrap().expect("tls init has run");
    let provider = Arc::new(default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots(&files.ca_pem), provider.clone())
            .build()
            .unwrap();
    let certs = CertificateDer::pem_slice_iter(&files.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&files.key_pem).unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

fn client_config(out: &Path) -> Arc<ClientConfig> {
    let ca_pem = std::fs::read(out.join("ca.pem")).unwrap();
    let certs = CertificateDer::pem_file_iter(out.join("cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(out.join("key.pem")).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(&ca_pem))
        .with_client_auth_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// The server's side of one connection: the peer's certificate after the handshake, and the
/// ping answered.
async fn serve_one(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> Result<Vec<u8>, std::io::Error> {
    let (tcp, _) = listener.accept().await?;
    let mut tls = TlsAcceptor::from(config).accept(tcp).await?;
    let (_, connection) = tls.get_ref();
    assert_eq!(
        connection.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let peer = connection.peer_certificates().expect("client certificate")[0].to_vec();
    let mut ping = [0; 4];
    tls.read_exact(&mut ping).await?;
    tls.write_all(b"pong").await?;
    tls.shutdown().await?;
    Ok(peer)
}

/// The client's side: a handshake with `localhost`, a ping, the answer.
async fn ping(port: u16, config: Arc<ClientConfig>) -> Result<Vec<u8>, std::io::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
    tls.write_all(b"ping").await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn a_client_of_the_facility_ca_is_accepted_and_named() {
    let data = tempfile::tempdir().unwrap();
    init(
        data.path(),
        &["localhost".into(), "127.0.0.1".into()],
        false,
    )
    .unwrap();
    let out = data.path().join("kiosk-1");
    let issued = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 365).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_one(listener, server_config(data.path())));
    let answer = ping(port, client_config(&out)).await.unwrap();
    assert_eq!(answer, b"pong");

    let peer = server.await.unwrap().unwrap();
    let identity = client_identity(&peer).unwrap();
    assert_eq!(identity.name, "kiosk-1");
    assert_eq!(identity.role, Role::Kiosk);
    assert_eq!(identity.serial, issued.serial);
}

#[tokio::test]
async fn a_client_of_another_ca_is_refused() {
    let facility = tempfile::tempdir().unwrap();
    init(facility.path(), &["localhost".into()], false).unwrap();
    let stranger = tempfile::tempdir().unwrap();
    init(stranger.path(), &["localhost".into()], false).unwrap();
    let out = stranger.path().join("kiosk-1");
    issue_client(stranger.path(), "kiosk-1", Role::Kiosk, &out, 365).unwrap();
    // The stranger trusts the facility's server, so only its own certificate is wrong.
    std::fs::copy(facility.path().join("tls/ca.pem"), out.join("ca.pem")).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_one(listener, server_config(facility.path())));
    let answer = ping(port, client_config(&out)).await;
    assert!(answer.is_err(), "client sees the refusal: {answer:?}");

    let refused = server.await.unwrap().unwrap_err();
    assert!(
        refused.to_string().contains("UnknownIssuer"),
        "refused for its issuer: {refused}"
    );
}

#[tokio::test]
async fn an_expired_client_is_refused() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &["localhost".into()], false).unwrap();
    let out = data.path().join("old-kiosk");
    let day = std::time::Duration::from_secs(86_400);
    let now = std::time::SystemTime::now();
    shikaku_pki::issue_client_for_period(
        data.path(),
        "old-kiosk",
        Role::Kiosk,
        &out,
        now - 30 * day,
        now - day,
    )
    .unwrap();
    let listed = shikaku_pki::list(data.path()).unwrap();
    assert_eq!(listed[2].name, "old-kiosk");
    assert!(listed[2].days_left < 0, "list shows it expired");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_one(listener, server_config(data.path())));
    assert!(ping(port, client_config(&out)).await.is_err());
    let refused = server.await.unwrap().unwrap_err();
    assert!(
        refused.to_string().contains("certificate expired"),
        "{refused}"
    );
}
