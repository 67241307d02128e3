//! The daemon's Prometheus series, in one registry per daemon, and what records into them.
//!
//! Label values are `&'static str` wherever they can be (RPC names from the permission table,
//! status codes, outcomes from the code tables), so recording allocates nothing; the series that
//! need a name known only at start (a transport, a plugin) get their handles once, up front.
//! Nothing here ever names a person or holds a secret: counts, timings and codes only.
//!
//! - `http`: the `/metrics` endpoint, plain HTTP on a port of its own.
//! - `upstream`: the upstream wrapped so every call is timed and its errors counted.

pub mod http;
pub mod upstream;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::context::Context;

/// The most sessions one 資格確認端末 accepts (MHLW technical guide); `oqs-guard` holds each
/// transport to it.
pub const TERMINAL_SESSION_LIMIT: i64 = 20;

/// Seconds; from a millisecond to a minute, the longest a card check may take by default.
const RPC_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Seconds; an audit commit is an fsync, from a tenth of a millisecond up.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rpc {
    service: &'static str,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcCode {
    service: &'static str,
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamCall {
    pub(crate) transport: &'static str,
    pub(crate) operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamFailure {
    pub(crate) transport: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TransportLabel {
    pub(crate) transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CardCheck {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// Every series the daemon exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RpcCode, Counter>,
    request_seconds: HistogramFamily<Rpc>,
    pub(crate) upstream_seconds: HistogramFamily<UpstreamCall>,
    pub(crate) upstream_errors: Family<UpstreamFailure, Counter>,
    pub(crate) upstream_in_flight: Family<TransportLabel, Gauge>,
    pub(crate) upstream_failing_fast: Family<TransportLabel, Gauge>,
    pub(crate) upstream_session_limit: Family<TransportLabel, Gauge>,
    card_checks: Family<CardCheck, Counter>,
    reception_entries: Family<Status, Counter>,
    reception_decisions: Family<Status, Counter>,
    watch_streams: Gauge,
    bulk_jobs: Counter,
    bulk_jobs_running: Gauge,
    bulk_rows: Family<Outcome, Counter>,
    audit_commit_seconds: Histogram,
    store_bytes: Gauge,
    plugin_ready: Family<PluginLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn rpc_histogram() -> Histogram {
    Histogram::new(RPC_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(rpc_histogram as fn() -> Histogram),
            upstream_seconds: Family::new_with_constructor(rpc_histogram as fn() -> Histogram),
            upstream_errors: Family::default(),
            upstream_in_flight: Family::default(),
            upstream_failing_fast: Family::default(),
            upstream_session_limit: Family::default(),
            card_checks: Family::default(),
            reception_entries: Family::default(),
            reception_decisions: Family::default(),
            watch_streams: Gauge::default(),
            bulk_jobs: Counter::default(),
            bulk_jobs_running: Gauge::default(),
            bulk_rows: Family::default(),
            audit_commit_seconds: Histogram::new(COMMIT_BUCKETS),
            store_bytes: Gauge::default(),
            plugin_ready: Family::default(),
            registry: Registry::default(),
        };
        let info = Family::<Version, Gauge>::default();
        info.get_or_create(&Version {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        registry.register("shikaku_build_info", "The daemon's version", info);
        registry.register(
            "shikaku_grpc_requests",
            "gRPC calls finished, by RPC and gRPC status code (refusals by the auth layer included)",
            m.requests.clone(),
        );
        registry.register(
            "shikaku_grpc_request_duration_seconds",
            "Time from a unary call's arrival to its status, by RPC",
            m.request_seconds.clone(),
        );
        registry.register(
            "shikaku_upstream_request_duration_seconds",
            "Time an upstream call took, by transport and operation (retries inside the transport included)",
            m.upstream_seconds.clone(),
        );
        registry.register(
            "shikaku_upstream_errors",
            "Upstream calls that failed, by transport, operation and error reason",
            m.upstream_errors.clone(),
        );
        registry.register(
            "shikaku_upstream_in_flight",
            "Upstream calls under way, each holding or waiting for one of the terminal's sessions",
            m.upstream_in_flight.clone(),
        );
        registry.register(
            "shikaku_upstream_session_limit",
            "The sessions the terminal accepts at once",
            m.upstream_session_limit.clone(),
        );
        registry.register(
            "shikaku_upstream_failing_fast",
            "1 while the transport's last answer was to retry later (its circuit breaker open, or every session busy), else 0",
            m.upstream_failing_fast.clone(),
        );
        registry.register(
            "shikaku_card_checks",
            "Card checks (CheckByCard and CheckIn), by identity method and outcome: the validity, or the error reason",
            m.card_checks.clone(),
        );
        registry.register(
            "shikaku_reception_entries",
            "Reception entries (受付) put on the list, by their status when added",
            m.reception_entries.clone(),
        );
        registry.register(
            "shikaku_reception_decisions",
            "Pending reception entries decided by a clerk, by decision",
            m.reception_decisions.clone(),
        );
        registry.register(
            "shikaku_watch_streams_open",
            "Watch streams open (WatchReaders, WatchReceptions, WatchBulkCheck)",
            m.watch_streams.clone(),
        );
        registry.register(
            "shikaku_bulk_jobs",
            "Bulk checks (一括照会) started, or resumed after a restart",
            m.bulk_jobs.clone(),
        );
        registry.register(
            "shikaku_bulk_jobs_running",
            "Bulk checks running",
            m.bulk_jobs_running.clone(),
        );
        registry.register(
            "shikaku_bulk_rows",
            "Bulk-check rows settled, by outcome (checked, failed, invalid)",
            m.bulk_rows.clone(),
        );
        registry.register(
            "shikaku_audit_commit_duration_seconds",
            "Time to write one audit line durably (queue and group commit)",
            m.audit_commit_seconds.clone(),
        );
        registry.register(
            "shikaku_store_bytes",
            "Size of the store on disk: the database and its write-ahead log",
            m.store_bytes.clone(),
        );
        registry.register(
            "shikaku_plugin_ready",
            "1 while a plugin is ready, 0 once it has failed",
            m.plugin_ready.clone(),
        );
        Self { registry, ..m }
    }

    /// The series of one RPC, for the observe layer to keep: a stream (a watch) gets no
    /// latency, its length saying nothing of the daemon's speed.
    pub fn rpc(&self, service: &'static str, method: &'static str, streaming: bool) -> RpcSeries {
        RpcSeries {
            service,
            method,
            streaming,
            requests: self.requests.clone(),
            request_seconds: self.request_seconds.clone(),
            codes: Default::default(),
            latency: OnceLock::new(),
        }
    }

    /// One card check's outcome: the result's validity, or the error reason.
    pub fn card_check(&self, method: &'static str, outcome: &'static str) {
        self.card_checks
            .get_or_create(&CardCheck { method, outcome })
            .inc();
    }

    pub fn reception_entry(&self, status: &'static str) {
        self.reception_entries
            .get_or_create(&Status { status })
            .inc();
    }

    pub fn reception_decision(&self, status: &'static str) {
        self.reception_decisions
            .get_or_create(&Status { status })
            .inc();
    }

    /// Counts a watch stream open until the guard drops.
    pub fn watch_opened(&self) -> GaugeGuard {
        GaugeGuard::new(&self.watch_streams)
    }

    /// Counts a bulk job started, and running until the guard drops.
    pub fn bulk_job_started(&self) -> GaugeGuard {
        self.bulk_jobs.inc();
        GaugeGuard::new(&self.bulk_jobs_running)
    }

    pub fn bulk_row(&self, outcome: &'static str) {
        self.bulk_rows.get_or_create(&Outcome { outcome }).inc();
    }

    pub fn audit_commit(&self, took: Duration) {
        self.audit_commit_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition, with the series read at scrape time (store size, plugin state)
    /// brought up to date first.
    pub fn render(&self, ctx: &Context) -> String {
        self.store_bytes.set(store_bytes(ctx.store.path()) as i64);
        for plugin in &ctx.plugins {
            let p = plugin.to_proto();
            let kind = shikaku_domain::pb::PluginKind::try_from(p.kind)
                .map(|k| k.as_str_name())
                .unwrap_or("PLUGIN_KIND_UNSPECIFIED");
            let ready = p.state == shikaku_domain::pb::PluginState::Ready as i32;
            self.plugin_ready
                .get_or_create(&PluginLabels {
                    plugin: p.name,
                    kind,
                })
                .set(i64::from(ready));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The database file and its `-wal`; the `-shm` index is a mapping, not data.
fn store_bytes(database: &Path) -> u64 {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    [database, Path::new(&wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// One RPC's series. Each is made on its first use (so RPCs never called show nothing) and
/// kept, so recording a call hashes no label set and takes no lock.
pub struct RpcSeries {
    pub service: &'static str,
    pub method: &'static str,
    pub streaming: bool,
    requests: Family<RpcCode, Counter>,
    request_seconds: HistogramFamily<Rpc>,
    /// By gRPC code, 0–16.
    codes: [OnceLock<Counter>; 17],
    latency: OnceLock<Histogram>,
}

impl RpcSeries {
    /// One finished call.
    pub fn record(&self, code: tonic::Code, took: Duration) {
        let (service, method) = (self.service, self.method);
        let counter = self.codes[(code as usize).min(16)].get_or_init(|| {
            self.requests.get_or_create_owned(&RpcCode {
                service,
                method,
                code: code_name(code),
            })
        });
        counter.inc();
        if !self.streaming {
            self.latency
                .get_or_init(|| {
                    self.request_seconds
                        .get_or_create_owned(&Rpc { service, method })
                })
                .observe(took.as_secs_f64());
        }
    }
}

/// Holds a gauge one higher while it lives.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub(crate) fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The canonical name of a gRPC status code, as the gRPC docs spell it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
