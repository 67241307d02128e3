//! The listener's connections: TLS 1.3 with a client certificate from the facility's CA when
//! `shikaku tls init` has been run, plaintext otherwise (allowed on loopback only, see
//! `config`). Each connection knows its peer: the socket address and, over TLS, the client's
//! identity (name and role) from its certificate.
//!
//! Handshakes run in their own tasks, so a slow or silent client cannot hold up the others, and
//! each has a deadline. A revoked certificate is refused during the handshake: the verifier asks
//! `Revocations`, which re-reads the facility's revocation list when it changes, so
//! `shikaku tls revoke` takes effect without a restart.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use shikaku_pki::{ClientIdentity, Revocations};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use crate::connection::Coalescing;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: {0}")]
    Pki(#[from] shikaku_pki::PkiError),
    #[error("tls: the daemon's certificate files in {dir} are unusable: {why}")]
    Files { dir: String, why: String },
}

/// Who is on the other end of a connection.
#[derive(Clone)]
pub struct Peer {
    pub addr: Option<std::net::SocketAddr>,
    /// The client certificate's identity; `None` on a plaintext (loopback) connection.
    pub client: Option<Arc<ClientIdentity>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("addr", &self.addr)
            .field("client", &self.client.as_ref().map(|c| &c.name))
            .finish()
    }
}

/// Refuses revoked certificates on top of the CA's own verification (chain, validity period).
struct RevocationChecking {
    inner: Arc<dyn ClientCertVerifier>,
    revocations: Arc<Revocations>,
}

impl std::fmt::Debug for RevocationChecking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationChecking").finish_non_exhaustive()
    }
}

impl ClientCertVerifier for RevocationChecking {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let identity = shikaku_pki::client_identity(end_entity)
            .map_err(|e| rustls::Error::General(format!("client certificate: {e}")))?;
        if self.revocations.is_revoked(&identity.serial) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TLS acceptor for the data directory's server certificate, or `None` when `shikaku tls
/// init` has not been run there.
pub fn acceptor(data_dir: &Path) -> Result<Option<(TlsAcceptor, Arc<Revocations>)>, TlsError> {
    let Some(files) = shikaku_pki::load_server(data_dir)? else {
        return Ok(None);
    };
    let dir = shikaku_pki::TlsPaths::new(data_dir)
        .dir()
        .display()
        .to_string();
    let bad = |why: &dyn std::fmt::Display| TlsError::Files {
        dir: dir.clone(),
        why: why.to_string(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&files.ca_pem) {
        roots.add(ca.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(&e))?;
    let revocations = Arc::new(Revocations::new(data_dir));
    let verifier = Arc::new(RevocationChecking {
        inner: webpki,
        revocations: revocations.clone(),
    });
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&files.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&files.key_pem).map_err(|e| bad(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some((TlsAcceptor::from(Arc::new(config)), revocations)))
}

/// One accepted connection, plaintext or TLS, holding its place under the connection cap until
/// it closes.
pub struct Connection {
    io: Io,
    _place: OwnedSemaphorePermit,
}

enum Io {
    Plain(Coalescing),
    Tls(Box<TlsStream<TcpStream>>, Arc<ClientIdentity>),
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        match &self.io {
            Io::Plain(c) => Peer {
                addr: c.0.peer_addr().ok(),
                client: None,
            },
            Io::Tls(s, client) => Peer {
                addr: s.get_ref().0.peer_addr().ok(),
                client: Some(client.clone()),
            },
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(c) => Pin::new(c).poll_read(cx, buf),
            Io::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(c) => Pin::new(c).poll_write(cx, buf),
            Io::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(c) => Pin::new(c).poll_flush(cx),
            Io::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(c) => Pin::new(c).poll_shutdown(cx),
            Io::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    /// TLS records are written from one buffer anyway; see `connection` for plaintext.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Accepts connections on `listener` until the stream is dropped: plaintext ones at once, TLS
/// ones once their handshake has finished in a task of its own. At most `max_connections` are
/// open (handshakes included); past that, new ones wait in the kernel's backlog. The accept
/// loop owns the listener and ends once the stream is dropped: await its handle to know the port
/// is free again (a restart on the same port).
pub fn incoming(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    max_connections: usize,
) -> (
    ReceiverStream<io::Result<Connection>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(64);
    let places = Arc::new(Semaphore::new(max_connections));
    let accepting = tokio::spawn(async move {
        loop {
            let place = tokio::select! {
                _ = tx.closed() => return,
                place = places.clone().acquire_owned() => place.expect("never closed"),
            };
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: back off a
                    // little instead of spinning, and keep serving.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Some(acceptor) = acceptor.clone() else {
                let connection = Connection {
                    io: Io::Plain(Coalescing(stream)),
                    _place: place,
                };
                if tx.send(Ok(connection)).await.is_err() {
                    return;
                }
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let peer = stream.peer_addr().ok();
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                let tls = match handshake.await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::info!(peer = ?peer, error = %e, "tls handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(peer = ?peer, "tls handshake timed out");
                        return;
                    }
                };
                let identity = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(|c| shikaku_pki::client_identity(c));
                match identity {
                    Some(Ok(identity)) => {
                        let connection = Connection {
                            io: Io::Tls(Box::new(tls), Arc::new(identity)),
                            _place: place,
                        };
                        let _ = tx.send(Ok(connection)).await;
                    }
                    _ => tracing::info!(peer = ?peer, "tls client without a usable certificate"),
                }
            });
        }
    });
    (ReceiverStream::new(rx), accepting)
}
