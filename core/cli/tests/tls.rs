//! `shikaku tls …` on a real data directory, and the global `--ca/--cert/--key` flags against a
//! real TLS 1.3 gRPC server on 127.0.0.1 that trusts only the facility CA. The server has no
//! services: UNIMPLEMENTED proves the handshake (with the client certificate) succeeded.

use std::path::Path;
use std::process::{Command, Output};

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

fn shikaku(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shikaku"))
        .args(args)
        .env("SHIKAKU_DATA_DIR", data_dir)
        .env_remove("SHIKAKU_ADDR")
        .env_remove("SHIKAKU_CA")
        .env_remove("SHIKAKU_CERT")
        .env_remove("SHIKAKU_KEY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_client_revoke_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let init = shikaku(&["tls", "init", "--host", "localhost"], &data);
    assert!(init.status.success(), "{}", text(&init.stderr));
    assert!(
        text(&init.stdout).contains("shikaku tls client"),
        "says what is next"
    );
    assert!(
        data.join("tls/ca.pem").is_file(),
        "SHIKAKU_DATA_DIR honoured"
    );

    let again = shikaku(&["tls", "init"], &data);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );

    let out = dir.path().join("kiosk-1");
    let out_text = out.to_str().unwrap();
    let issued = shikaku(
        &[
            "tls", "client", "kiosk-1", "--role", "kiosk", "--out", out_text, "--days", "90",
        ],
        &data,
    );
    assert!(issued.status.success(), "{}", text(&issued.stderr));
    assert!(
        text(&issued.stdout).contains(&format!("--ca {out_text}/ca.pem")),
        "{}",
        text(&issued.stdout)
    );

    let revoked = shikaku(&["tls", "revoke", "kiosk-1"], &data);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));

    let listed = shikaku(&["tls", "list", "--json"], &data);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let kiosk = &json[2];
    assert_eq!(kiosk["name"], "kiosk-1");
    assert_eq!(kiosk["kind"], "client");
    assert_eq!(kiosk["role"], "kiosk");
    assert_eq!(kiosk["revoked"], true);
    assert!((89..=90).contains(&kiosk["days_left"].as_i64().unwrap()));

    let table = shikaku(&["tls", "list"], &data);
    assert!(
        text(&table.stdout).contains("revoked"),
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn unknown_client_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listed = shikaku(&["tls", "list"], &data);
    assert_eq!(listed.status.code(), Some(1));
    assert!(
        text(&listed.stderr).contains("shikaku tls init"),
        "{}",
        text(&listed.stderr)
    );
}

/// Serves TLS with the facility's server files on 127.0.0.1:0 and returns the port.
async fn tls_server(data_dir: &Path) -> u16 {
    let files = shikaku_pki::load_server(data_dir).unwrap().unwrap();
    let config = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &files.cert_pem,
            files.key_pem.as_slice(),
        ))
        .client_ca_root(Certificate::from_pem(&files.ca_pem));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Server::builder()
        .tls_config(config)
        .unwrap()
        .add_routes(tonic::service::Routes::default());
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    port
}

async fn readers_list(port: u16, credentials: &Path, data_dir: &Path) -> Output {
    let addr = format!("http://127.0.0.1:{port}");
    let file = |name: &str| credentials.join(name).to_str().unwrap().to_owned();
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    let args = [
        "readers", "list", "--addr", &addr, "--ca", &ca, "--cert", &cert, "--key", &key,
    ]
    .map(String::from);
    let data_dir = data_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        shikaku(&args, &data_dir)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_flags_present_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    shikaku_pki::init(&data, &["localhost".into(), "127.0.0.1".into()], false).unwrap();
    let own = dir.path().join("own");
    shikaku_pki::issue_client(&data, "desk", shikaku_pki::Role::Reception, &own, 30).unwrap();
    let port = tls_server(&data).await;

    let accepted = readers_list(port, &own, &data).await;
    assert!(
        text(&accepted.stderr).contains("UNIMPLEMENTED"),
        "handshake done, call reached the server: {}",
        text(&accepted.stderr)
    );

    let stranger_data = dir.path().join("stranger");
    shikaku_pki::init(&stranger_data, &["localhost".into()], false).unwrap();
    let stranger = dir.path().join("stranger-out");
    shikaku_pki::issue_client(
        &stranger_data,
        "desk",
        shikaku_pki::Role::Reception,
        &stranger,
        30,
    )
    .unwrap();
    std::fs::copy(own.join("ca.pem"), stranger.join("ca.pem")).unwrap();
    let refused = readers_list(port, &stranger, &data).await;
    assert!(
        !text(&refused.stderr).contains("UNIMPLEMENTED"),
        "a stranger's certificate gets no answer: {}",
        text(&refused.stderr)
    );
    assert_eq!(refused.status.code(), Some(1));
}
