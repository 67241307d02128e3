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

use crate::metrics::{Metrics, RpcSeries};

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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u64>();
    let digits: [u8; 16] = std::array::from_fn(|i| HEX[((n >> (60 - 4 * i)) & 0xf) as usize]);
    HeaderValue::from_bytes(&digits).expect("hex digits are a valid header value")
}

/// The request id of a call, in its extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// Every RPC in the permission table, by path, with its series; a path not in it (refused
/// by the auth layer) counts as `unknown`.
#[derive(Clone)]
struct Rpcs {
    by_path: Arc<HashMap<&'static str, Arc<RpcSeries>>>,
    unknown: Arc<RpcSeries>,
}

impl Rpcs {
    fn new(metrics: &Metrics) -> Self {
        let by_path = crate::auth::METHODS
            .iter()
            .map(|&(path, _)| {
                let (service, method) = path
                    .trim_start_matches('/')
                    .rsplit_once('/')
                    .unwrap_or(("unknown", path));
                // A server stream (a watch): its length is not latency.
                let streaming = method.starts_with("Watch") || method == "ServerReflectionInfo";
                (path, Arc::new(metrics.rpc(service, method, streaming)))
            })
            .collect();
        Self {
            by_path: Arc::new(by_path),
            unknown: Arc::new(metrics.rpc("unknown", "unknown", false)),
        }
    }

    fn of(&self, path: &str) -> &Arc<RpcSeries> {
        self.by_path.get(path).unwrap_or(&self.unknown)
    }
}

/// The tower layer that observes each call.
#[derive(Clone)]
pub struct ObserveLayer {
    rpcs: Rpcs,
}

impl std::fmt::Debug for ObserveLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObserveLayer")
    }
}

impl ObserveLayer {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            rpcs: Rpcs::new(metrics),
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
        let rpc = self.layer.rpcs.of(request.uri().path()).clone();
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
            rpc,
            start,
            span: span.clone(),
        };
        Box::pin(async move {
            let mut response = tracing::Instrument::instrument(answer, span).await?;
            // Never indexed by HPACK: an id is new on every answer, so putting each in the
            // connection's table only churns it (a third of a check's header-encoding work).
            let mut id = id;
            id.set_sensitive(true);
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
    rpc: Arc<RpcSeries>,
    start: Instant,
    span: tracing::Span,
}

impl Done {
    fn finish(self, code: tonic::Code) {
        let took = self.start.elapsed();
        let name = crate::metrics::code_name(code);
        self.rpc.record(code, took);
        let ms = took.as_secs_f64() * 1000.0;
        self.span.record("code", name);
        self.span.record("ms", ms);
        // The code and latency are on the span, which every line inside it shows.
        let _entered = self.span.enter();
        if code == tonic::Code::Ok {
            tracing::debug!("call finished");
        } else {
            tracing::info!("call failed");
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
        let t = Rpcs::new(&Metrics::new());
        let r = t.of("/shikaku.v1.QualificationService/CheckByCard");
        assert_eq!(
            (r.service, r.method, r.streaming),
            ("shikaku.v1.QualificationService", "CheckByCard", false)
        );
        assert!(
            t.of("/shikaku.v1.ReceptionService/WatchReceptions")
                .streaming
        );
        assert_eq!(t.of("/no.Such/Thing").method, "unknown");
    }

    /// An answer as a handler gives it: a message, then the trailers with the status.
    struct Answer(u8);

    impl Body for Answer {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            self.0 += 1;
            Poll::Ready(match self.0 {
                1 => Some(Ok(Frame::data(Bytes::from_static(b"answer")))),
                2 => {
                    let mut t = http::HeaderMap::new();
                    t.insert("grpc-status", HeaderValue::from_static("0"));
                    Some(Ok(Frame::trailers(t)))
                }
                _ => None,
            })
        }
    }

    #[derive(Clone)]
    struct Handler;

    impl tower::Service<http::Request<()>> for Handler {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(tonic::body::Body::new(Answer(0)))))
        }
    }

    /// Microseconds per call of `service` on a unary call, its answer read to the trailers.
    fn per_call<S>(mut service: S, calls: u32) -> f64
    where
        S: tower::Service<http::Request<()>, Response = http::Response<tonic::body::Body>>,
        S::Error: std::fmt::Debug,
    {
        use http_body_util::BodyExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let start = Instant::now();
        runtime.block_on(async {
            for _ in 0..calls {
                let request = http::Request::builder()
                    .uri("/shikaku.v1.QualificationService/CheckByInsuranceNumbers")
                    .body(())
                    .unwrap();
                let answer = service.call(request).await.unwrap();
                answer.into_body().collect().await.unwrap();
            }
        });
        start.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
    }

    /// What the layer adds to a call, logs off (as `bench/run.sh` runs) and at info into a sink.
    /// `cargo test --release -p shikaku-daemon --lib -- --ignored --nocapture what_the_layer_costs`
    #[test]
    #[ignore = "a timing, not a check: run it by hand in release"]
    fn what_the_layer_costs() {
        use tower::Layer;
        let calls = 200_000;
        let layer = ObserveLayer::new(&Metrics::new());
        let bare = per_call(Handler, calls);
        let observed = per_call(layer.layer(Handler), calls);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let logged =
            tracing::subscriber::with_default(subscriber, || per_call(layer.layer(Handler), calls));
        println!(
            "per call: bare {bare:.2} µs, observed {observed:.2} µs (+{:.2}), with an info log {logged:.2} µs (+{:.2})",
            observed - bare,
            logged - bare
        );
    }
}
