//! `shikaku-load`: drives shikakud or the echo baseline over real gRPC and prints one JSON line.
//!
//! Without `--rate` it runs closed loop (`--concurrency` requests always in flight) to find the
//! saturation throughput. With `--rate` it runs open loop: requests are sent on a fixed schedule
//! whatever the server does, and latency is measured from the scheduled time, so a stalled server
//! shows up as latency instead of as fewer requests (no coordinated omission).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use prost::Message;
use shikaku_bench::process_cpu_s;
use shikaku_bench::proto::EchoRequest;
use shikaku_bench::proto::echo_service_client::EchoServiceClient;
use shikaku_proto::v1::{CheckByInsuranceNumbersRequest, Validity};
use tokio::task::JoinSet;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_prost::ProstCodec;

/// At 20k requests/s the load generator needs most of its core; the servers' allocator spares it
/// some, for both targets alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Load generator for shikakud and the echo baseline; prints one JSON line")]
struct Args {
    /// Which server is at --addr.
    #[arg(long, value_enum)]
    target: Target,
    /// Server address, host:port.
    #[arg(long)]
    addr: String,
    /// HTTP/2 connections, each its own tonic Channel; requests are spread over them.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Requests in flight: always in saturation mode, at most with --rate (later ones wait in
    /// the load generator, their latency still counted from when they were due).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Requests per second on a fixed schedule (open loop); without it, saturation (closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Server process whose CPU time (/proc/PID/stat) is charged to the measured requests.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The checked person; the defaults are the embedded simulator's fixture "taro" (valid).
    #[arg(long, default_value = "06130488")]
    insurer_number: String,
    #[arg(long, default_value = "12-34")]
    symbol: String,
    #[arg(long, default_value = "4260")]
    number: String,
    #[arg(long, default_value = "01")]
    branch: String,
    #[arg(long, default_value = "1970-01-01")]
    birth_date: String,
    /// Talk TLS with the client credentials in this folder (ca.pem, cert.pem, key.pem, as
    /// `shikaku tls client` writes them); the server's name must be localhost.
    #[arg(long, value_name = "DIR")]
    tls: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Shikaku,
    Echo,
}

const CHECK_BY_NUMBERS: &str = "/shikaku.v1.QualificationService/CheckByInsuranceNumbers";

/// The part of a `CheckByInsuranceNumbersResponse` the load generator checks, with the same field numbers. prost
/// steps over the other fields without building them: decoding a whole `QualificationResult`
/// (some 30 strings) took the load generator's one core to its limit at 20k/s, and its backlog
/// was then counted as shikakud's latency.
#[derive(Clone, PartialEq, prost::Message)]
struct CheckOutcome {
    #[prost(message, optional, tag = "1")]
    result: Option<OutcomeValidity>,
}

/// `QualificationResult.validity` (field 2) alone.
#[derive(Clone, PartialEq, prost::Message)]
struct OutcomeValidity {
    #[prost(int32, tag = "2")]
    validity: i32,
}

/// A client on one connection and the request it repeats.
#[derive(Clone)]
enum Caller {
    Shikaku(tonic::client::Grpc<Channel>, CheckByInsuranceNumbersRequest),
    Echo(EchoServiceClient<Channel>, EchoRequest),
}

impl Caller {
    /// Sends one request. Anything but an OK status with the expected answer is an error.
    async fn call(&mut self) -> Result<(), String> {
        match self {
            Caller::Shikaku(client, request) => {
                client.ready().await.map_err(|e| e.to_string())?;
                let response = client
                    .unary(
                        tonic::Request::new(request.clone()),
                        PathAndQuery::from_static(CHECK_BY_NUMBERS),
                        ProstCodec::<_, CheckOutcome>::default(),
                    )
                    .await
                    .map_err(|status| status.to_string())?;
                let validity = response.into_inner().result.map(|r| r.validity);
                if validity == Some(Validity::Valid as i32) {
                    Ok(())
                } else {
                    Err(format!("validity {validity:?}, want VALIDITY_VALID"))
                }
            }
            Caller::Echo(client, request) => {
                let response = client
                    .echo(request.clone())
                    .await
                    .map_err(|status| status.to_string())?;
                if response.into_inner().payload == request.payload {
                    Ok(())
                } else {
                    Err("echoed payload differs".into())
                }
            }
        }
    }
}

/// Outcomes of the requests. Errors count during warm-up too: any failure fails the run.
struct Stats {
    latency_us: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Stats {
    fn record(&mut self, outcome: Result<(), String>, latency: Duration, measured: bool) {
        match outcome {
            Ok(()) if measured => {
                self.requests += 1;
                self.latency_us
                    .saturating_record(latency.as_micros().try_into().unwrap_or(u64::MAX));
            }
            Ok(()) => {}
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

type SharedStats = Arc<Mutex<Stats>>;

/// Closed loop: one request at a time, counting those that complete inside the measured window.
async fn closed_loop(mut caller: Caller, stats: SharedStats, from: Instant, until: Instant) {
    loop {
        let sent = Instant::now();
        if sent >= until {
            return;
        }
        let outcome = caller.call().await;
        let done = Instant::now();
        let measured = done >= from && done < until;
        stats.lock().unwrap().record(outcome, done - sent, measured);
    }
}

/// The pacer sleeps at least this long, so at high rates it wakes once per few requests: each
/// wake-up costs a context switch on the load generator's single core.
const MIN_PACER_SLEEP: Duration = Duration::from_micros(100);

/// Open loop: request `i` is due at `start + i / rate` and its latency runs from then. Requests
/// due inside the measured window are counted, however late they complete.
async fn open_loop(
    callers: Vec<Caller>,
    rate: f64,
    max_in_flight: usize,
    stats: SharedStats,
    start: Instant,
    from: Instant,
    until: Instant,
) {
    let runtime = tokio::runtime::Handle::current();
    // Every request task holds a sender; `recv` returns `None` once the last one has finished.
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    // Without a bound, a server that falls behind gets an ever-growing pile of requests, and h2
    // eventually drops the connection ("broken pipe") instead of reporting the backlog.
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    // tokio timers tick in whole milliseconds, far coarser than the gaps between requests (50 µs
    // at 20k/s): pacing with them sends bursts up to 1 ms late. A plain thread paces with
    // `thread::sleep` instead; spinning would steal the CPU the responses need.
    let pacer = tokio::task::spawn_blocking(move || {
        for sent in 0u64.. {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            if due >= until {
                return;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).max(MIN_PACER_SLEEP));
            }
            let mut caller = callers[sent as usize % callers.len()].clone();
            let (stats, done, slots) = (stats.clone(), done.clone(), slots.clone());
            runtime.spawn(async move {
                let _slot = slots.acquire().await.expect("never closed");
                let outcome = caller.call().await;
                let latency = Instant::now() - due;
                stats.lock().unwrap().record(outcome, latency, due >= from);
                drop(done);
            });
        }
    });
    pacer.await.expect("pacer thread panicked");
    all_done.recv().await;
}

/// Rounds for the report; more digits than this are noise.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.rate.is_some_and(|rate| rate <= 0.0) {
        return Err("--rate must be positive".into());
    }
    let check = CheckByInsuranceNumbersRequest {
        insurer_number: args.insurer_number.clone(),
        symbol: args.symbol.clone(),
        number: args.number.clone(),
        branch: args.branch.clone(),
        birth_date: args.birth_date.clone(),
        ..Default::default()
    };
    let mut callers = Vec::with_capacity(args.connections);
    for _ in 0..args.connections.max(1) {
        // Each `connect` opens its own HTTP/2 connection.
        let channel = match &args.tls {
            None => Endpoint::from_shared(format!("http://{}", args.addr))?,
            Some(dir) => {
                let read = |f: &str| std::fs::read(dir.join(f));
                let tls = ClientTlsConfig::new()
                    .domain_name("localhost")
                    .ca_certificate(Certificate::from_pem(read("ca.pem")?))
                    .identity(Identity::from_pem(read("cert.pem")?, read("key.pem")?));
                Endpoint::from_shared(format!("https://{}", args.addr))?.tls_config(tls)?
            }
        }
        .connect()
        .await?;
        callers.push(match args.target {
            Target::Shikaku => Caller::Shikaku(tonic::client::Grpc::new(channel), check.clone()),
            Target::Echo => Caller::Echo(
                EchoServiceClient::new(channel),
                EchoRequest {
                    payload: vec![b'x'; check.encoded_len()],
                },
            ),
        });
    }

    let stats: SharedStats = Arc::new(Mutex::new(Stats {
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        requests: 0,
        errors: 0,
        first_error: None,
    }));
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(args.warmup);
    let until = from + Duration::from_secs_f64(args.duration);
    let pid = args.server_pid;
    let cpu_before = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        pid.map(process_cpu_s)
            .transpose()
            .map_err(|e| e.to_string())
    });

    let (cpu_after, measured_until) = match args.rate {
        Some(rate) => {
            let max_in_flight = args.concurrency.max(1);
            open_loop(
                callers.clone(),
                rate,
                max_in_flight,
                stats.clone(),
                start,
                from,
                until,
            )
            .await;
            // Requests due near the end complete after `until`; their work counts too.
            let finished = Instant::now();
            (pid.map(process_cpu_s).transpose()?, finished.max(until))
        }
        None => {
            let mut workers = JoinSet::new();
            for i in 0..args.concurrency.max(1) {
                let caller = callers[i % callers.len()].clone();
                workers.spawn(closed_loop(caller, stats.clone(), from, until));
            }
            tokio::time::sleep_until(until.into()).await;
            let cpu = pid.map(process_cpu_s).transpose()?;
            while workers.join_next().await.is_some() {}
            (cpu, until)
        }
    };
    let cpu_before = cpu_before.await??;

    let stats = stats.lock().unwrap();
    let duration_s = (measured_until - from).as_secs_f64();
    let server_cpu_s = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| ((after - before) * 100.0).round() / 100.0);
    let per_req = |cpu: f64| round1(cpu * 1e6 / stats.requests.max(1) as f64);
    let report = serde_json::json!({
        "target": match args.target { Target::Shikaku => "shikaku", Target::Echo => "echo" },
        "mode": if args.rate.is_some() { "rate" } else { "saturation" },
        "rate": args.rate,
        "connections": callers.len(),
        "concurrency": args.concurrency,
        "requests": stats.requests,
        "errors": stats.errors,
        "duration_s": (duration_s * 1000.0).round() / 1000.0,
        "rps": round1(stats.requests as f64 / duration_s),
        "p50_us": stats.latency_us.value_at_quantile(0.50),
        "p99_us": stats.latency_us.value_at_quantile(0.99),
        "p999_us": stats.latency_us.value_at_quantile(0.999),
        "server_cpu_s": server_cpu_s,
        "server_cpu_util": server_cpu_s.map(|cpu| (cpu / duration_s * 1000.0).round() / 1000.0),
        "cpu_us_per_req": server_cpu_s.map(per_req),
    });
    println!("{report}");
    if let Some(error) = &stats.first_error {
        eprintln!("{} failed requests; first: {error}", stats.errors);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
