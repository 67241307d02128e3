//! The `/metrics` endpoint: HTTP/1.1 on a listener of its own, so a scrape never shares the
//! gRPC port's connection limits and the port can be firewalled apart. GET `/metrics` only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::context::Context;

/// Scrapers at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;

/// OpenMetrics text, which Prometheus asks for and `prometheus-client` writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the endpoint's listener (a std listener, so it can be bound before the runtime
/// serves anything and a port in use fails the start).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn answer(ctx: &Context, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    if request.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "only /metrics is here\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
    }
    let mut r = reply(StatusCode::OK, ctx.metrics.render(ctx));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

/// Serves `/metrics` on `listener` until the daemon shuts down.
pub fn spawn(ctx: Arc<Context>, listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        let shutdown = ctx.shutting_down();
        tokio::pin!(shutdown);
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = tokio::select! {
                _ = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics endpoint: accept failed");
                        continue;
                    }
                },
            };
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request| {
                    let r = answer(&ctx, &request);
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                // A scrape is quick; a connection idling past a minute is dropped.
                let _ = tokio::time::timeout(Duration::from_secs(60), connection).await;
                drop(slot);
            });
        }
    });
    Ok(())
}
