//! The HTTPS side: the same messages as the folders, one POST per request file, over mutual TLS.
//!
//! `POST /oqs/<kind>` (for example `/oqs/OQSsiquc01req`) with the request XML as the body
//! answers 200 with the result XML. The official Web API is not public; this path scheme is the
//! simulator's own, and the Web API transport's paths are configurable to match a real one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use shikaku_oqs_xml::names::{Direction, FileName, MessageKind};
use tokio::sync::oneshot;

use crate::pki::TestPki;
use crate::{Fault, Shared, TerminalError};

/// The path prefix of every message.
pub const PATH_PREFIX: &str = "/oqs/";
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the terminal answers: the bytes, zipped or not.
#[derive(Debug)]
pub(crate) struct Answer {
    pub bytes: Vec<u8>,
    /// A zip archive holding the result XML (a completed bulk result, when told to zip).
    pub zipped: bool,
}

/// The bytes the terminal answers a request with, misbehaving as told; `None`: no answer.
pub(crate) fn answer_bytes(
    shared: &Shared,
    kind: MessageKind,
    request: &[u8],
    fault: &Fault,
) -> Option<Answer> {
    let answerer = &shared.answerer;
    let mut message = answerer.answer(kind, request);
    match fault {
        Fault::NeverAnswer | Fault::Down => return None,
        Fault::ErrorResult {
            code,
            message: text,
        } if kind == MessageKind::QualificationCheck => {
            message.body = shikaku_oqs_xml::ResultBody {
                processing_result_status: "2".into(),
                processing_result_code: code.clone(),
                processing_result_message: text.clone(),
                search_info: message.body.search_info.take(),
                ..Default::default()
            };
        }
        Fault::FileError {
            code,
            message: text,
        } => {
            message =
                crate::answer::file_error(code, text, &message.header.arbitrary_file_identifier);
        }
        _ => {}
    }
    let bytes = answerer.encode(&message);
    let zip = shared.zip_bulk.load(Ordering::SeqCst)
        && matches!(kind, MessageKind::BulkDownload(_))
        && message.header.segment_of_result == "1";
    let (bytes, zipped) = if zip {
        (
            crate::zipped::archive(
                &FileName::request(kind, "result").result().to_string(),
                &bytes,
            ),
            true,
        )
    } else {
        (bytes, false)
    };
    let bytes = match fault {
        Fault::Malformed => {
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XmlMsg><MessageHeader><SegmentOfResult>1</MessageBody></XmlMsg>\n".to_vec()
        }
        Fault::Truncated => bytes[..bytes.len() / 2].to_vec(),
        _ => bytes,
    };
    Some(Answer { bytes, zipped })
}

/// A running HTTPS side; stops when dropped.
#[derive(Debug)]
pub struct HttpsServer {
    addr: SocketAddr,
    pki: TestPki,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn tls_config(pki: &TestPki) -> Result<rustls::ServerConfig, TerminalError> {
    let bad = |e: &dyn std::fmt::Display| TerminalError::Https(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(&e))?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).map_err(|e| bad(&e))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| bad(&e))
}

impl HttpsServer {
    pub(crate) fn start(shared: Arc<Shared>, addr: SocketAddr) -> Result<Self, TerminalError> {
        let pki = TestPki::generate(&shared.answerer.facility_code)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&pki)?));
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| TerminalError::Https(format!("bind {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| TerminalError::Https(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TerminalError::Https(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TerminalError::Https(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("terminal-sim https".into())
            .spawn(move || runtime.block_on(serve(listener, acceptor, shared, rx)))
            .map_err(|e| TerminalError::Https(e.to_string()))?;
        Ok(Self {
            addr,
            pki,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:<port>`, the name the server certificate carries.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn pki(&self) -> &TestPki {
        &self.pki
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            // A client without a certificate from our CA fails here.
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let kind = req
        .uri()
        .path()
        .strip_prefix(PATH_PREFIX)
        .and_then(|k| FileName::parse(&format!("{k}_web.xml")))
        .filter(|f| f.direction == Direction::Request)
        .map(|f| f.kind);
    let Some(kind) = kind else {
        return Ok(reply(StatusCode::NOT_FOUND, "no such message kind"));
    };
    if req.method() != Method::POST {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST the request XML",
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, "request too large")),
    };
    let fault = shared.fault();
    if fault == Fault::Down {
        let mut r = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the link application is not running",
        );
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return Ok(r);
    }
    shared.stats.taken.fetch_add(1, Ordering::SeqCst);
    let answer = {
        let shared = shared.clone();
        let fault = fault.clone();
        tokio::task::spawn_blocking(move || answer_bytes(&shared, kind, &body, &fault))
            .await
            .ok()
            .flatten()
    };
    let Some(Answer { bytes, zipped }) = answer else {
        // Never answers: hold the connection until the client gives up.
        std::future::pending::<()>().await;
        return Ok(reply(StatusCode::GATEWAY_TIMEOUT, ""));
    };
    match fault {
        Fault::Slow(d) | Fault::SlowWrite(d) => tokio::time::sleep(d).await,
        _ => {}
    }
    if !matches!(fault, Fault::Truncated) {
        shared.stats.answered.fetch_add(1, Ordering::SeqCst);
    }
    let mut r = reply(StatusCode::OK, bytes);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(if zipped {
            "application/zip"
        } else {
            "application/xml"
        }),
    );
    Ok(r)
}
