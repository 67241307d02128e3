//! Each call observed: a request id (the client's `x-request-id` when well-formed, else a new
//! one) returned as `x-request-id` on every answer, errors and refusals included; a span
//! carrying the id, the RPC, the client (filled in by the auth layer), the status and the
//! latency; and the call counted into the metrics. Outermost layer, so it sees refusals too.
//!
//! The span holds no request field: a request can carry personal data, the span only names.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Bytes;
use tonic::Status;

use crate::metrics::Metrics;

/// The metadata key of the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// A request id the client sends is used when it is 1–64 of A–Z a–z 0–9 `-` `_` `.` `:`, so it
/// can be logged as it is; anything else is replaced with a new one.
fn well_formed(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    (1..=64).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// A fresh id: 16 hex digits.
fn new_id() -> HeaderValue {
    HeaderValue::try_from(format!("{:016x}", rand::random::<u64>()))
        .expect("hex digits are a valid header value")
}

/// The request id of a call, in its extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// What the table knows of one RPC path.
#[derive(Debug, Clone, Copy)]
struct Rpc {
    service: &'static str,
    method: &'static str,
    /// A server stream (a watch): its length is not latency.
    streaming: bool,
}

const UNKNOWN: Rpc = Rpc {
    service: "unknown",
    method: "unknown",
    streaming: false,
};

fn rpc_table() -> HashMap<&'static str, Rpc> {
    crate::auth::METHODS
        .iter()
        .map(|&(path, _)| {
            let (service, method) = path
                .trim_start_matches('/')
                .rsplit_once('/')
                .unwrap_or(("unknown", path));
            let streaming = method.starts_with("Watch") || method == "ServerReflectionInfo";
            (
                path,
                Rpc {
                    service,
                    method,
                    streaming,
                },
            )
        })
        .collect()
}

/// The tower layer that observes each call.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    rpcs: Arc<HashMap<&'static str, Rpc>>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            rpcs: Arc::new(rpc_table()),
        }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    layer: ObserveLayer,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let start = Instant::now();
        let rpc = self
            .layer
            .rpcs
            .get(request.uri().path())
            .copied()
            .unwrap_or(UNKNOWN);
        let id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|v| well_formed(v))
            .cloned()
            .unwrap_or_else(new_id);
        let span = tracing::info_span!(
            "rpc",
            request_id = id.to_str().unwrap_or_default(),
            service = rpc.service,
            method = rpc.method,
            client = tracing::field::Empty,
            role = tracing::field::Empty,
            code = tracing::field::Empty,
            ms = tracing::field::Empty,
        );
        request.extensions_mut().insert(RequestId(id.clone()));
        // Entered while the inner layers take the call, so the auth layer names the client on it.
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let done = Done {
            metrics: self.layer.metrics.clone(),
            rpc,
            start,
            span: span.clone(),
        };
        Box::pin(async move {
            let mut response = tracing::Instrument::instrument(answer, span).await?;
            response.headers_mut().insert(REQUEST_ID, id);
            // An error answered at once (trailers-only) has its status in the headers.
            if let Some(code) = status_of(response.headers()) {
                done.finish(code);
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(Observed {
                    inner: body,
                    done: Some(done),
                })
            }))
        })
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?;
    let code: i32 = std::str::from_utf8(value.as_bytes()).ok()?.parse().ok()?;
    Some(tonic::Code::from(code))
}

/// What is recorded once a call's status is known.
struct Done {
    metrics: Arc<Metrics>,
    rpc: Rpc,
    start: Instant,
    span: tracing::Span,
}

impl Done {
    fn finish(self, code: tonic::Code) {
        let took = self.start.elapsed();
        let name = crate::metrics::code_name(code);
        self.metrics.rpc(
            self.rpc.service,
            self.rpc.method,
            code,
            (!self.rpc.streaming).then_some(took),
        );
        let ms = took.as_secs_f64() * 1000.0;
        self.span.record("code", name);
        self.span.record("ms", ms);
        let _entered = self.span.enter();
        if code == tonic::Code::Ok {
            tracing::debug!(code = name, ms, "call finished");
        } else {
            tracing::info!(code = name, ms, "call failed");
        }
    }
}

/// An answer's body, watched for the trailers that carry its status. A body dropped before
/// them is a call the client cancelled (or a stream the daemon ended by going away).
struct Observed {
    inner: tonic::body::Body,
    done: Option<Done>,
}

impl Body for Observed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let code = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().and_then(status_of),
            Poll::Ready(Some(Err(status))) => Some(status.code()),
            Poll::Ready(None) => Some(tonic::Code::Unknown),
            Poll::Pending => None,
        };
        if let Some(code) = code
            && let Some(done) = self.done.take()
        {
            done.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.finish(tonic::Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        for ok in ["a", "req-1", "0f3a:b_c.d", &"x".repeat(64)] {
            assert!(well_formed(&HeaderValue::from_str(ok).unwrap()), "{ok}");
        }
        for bad in ["", "has space", "semi;colon", &"x".repeat(65), "名前"] {
            let v = HeaderValue::from_bytes(bad.as_bytes()).unwrap();
            assert!(!well_formed(&v), "{bad}");
        }
        assert_eq!(new_id().len(), 16);
    }

    #[test]
    fn every_rpc_has_its_service_and_method() {
        let t = rpc_table();
        let r = t["/shikaku.v1.QualificationService/CheckByCard"];
        assert_eq!(
            (r.service, r.method, r.streaming),
            ("shikaku.v1.QualificationService", "CheckByCard", false)
        );
        assert!(t["/shikaku.v1.ReceptionService/WatchReceptions"].streaming);
    }
}
