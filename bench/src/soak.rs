//! `shikaku-soak`: a long run of a clinic's day, squeezed: checks by insurance numbers on a fixed
//! schedule, kiosk check-ins, receipt computers watching the list (reconnecting now and then) and
//! bulk jobs, all at once against one shikakud. It samples the daemon's memory as it goes and at
//! the end counts what was acknowledged against what can be read back. Prints one JSON object.
//!
//! Nothing lost means: every acknowledged check-in is on the day's list and reached every watcher,
//! and every bulk job finished with a result for each of its patients.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use shikaku_bench::taro;
use shikaku_proto::v1 as pb;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Soaks shikakud with checks, check-ins, watches and bulk jobs; prints JSON")]
struct Args {
    /// Server address, host:port (plaintext on loopback).
    #[arg(long)]
    addr: String,
    /// The daemon's pid, for its memory (/proc/PID/status VmRSS).
    #[arg(long)]
    server_pid: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 600.0)]
    duration: f64,
    /// Checks by insurance numbers per second, on a fixed schedule (80 % of the measured peak).
    #[arg(long)]
    rate: f64,
    /// Kiosk check-ins per second (each a PIN check with a signature, and a reception entry).
    #[arg(long, default_value_t = 0.5)]
    check_ins: f64,
    /// Receipt computers watching the list; each reconnects from the start every `--reconnect` s.
    #[arg(long, default_value_t = 4)]
    watchers: usize,
    #[arg(long, default_value_t = 60.0)]
    reconnect: f64,
    /// A bulk job of `--bulk-patients` starts every `--bulk-every` seconds.
    #[arg(long, default_value_t = 60.0)]
    bulk_every: f64,
    #[arg(long, default_value_t = 200)]
    bulk_patients: usize,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 10.0)]
    sample_every: f64,
}

/// What one part of the soak saw.
#[derive(Default)]
struct Tally {
    checks_ok: AtomicU64,
    checks_failed: AtomicU64,
    check_ins_failed: AtomicU64,
    bulk_rows: AtomicU64,
    bulk_failed_jobs: AtomicU64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The machine's CPU time so far, in ticks: (stolen by the hypervisor, all). On a VM, stolen time
/// is time neither the daemon nor the load generator got, whatever either did.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let all = ticks.iter().take(8).sum();
    (ticks.get(7).copied().unwrap_or(0), all)
}

/// The checks' latencies, all together and per window of the run (by when each was due), so a
/// p99 can be told apart as a steady queue or a few stalls, and the stalls placed in time.
#[derive(Clone)]
struct Latencies {
    all: Histogram<u64>,
    window: Duration,
    windows: Vec<Histogram<u64>>,
}

impl Latencies {
    fn new(window: Duration) -> Self {
        Self {
            all: Self::histogram(),
            window,
            windows: Vec::new(),
        }
    }

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
    }

    fn record(&mut self, since_start: Duration, micros: u64) {
        let i = (since_start.as_secs_f64() / self.window.as_secs_f64()) as usize;
        while self.windows.len() <= i {
            self.windows.push(Self::histogram());
        }
        self.all.saturating_record(micros.max(1));
        self.windows[i].saturating_record(micros.max(1));
    }
}

/// Checks by insurance numbers, due every 1/rate s whatever the daemon does; latency counts from
/// when each was due.
async fn checks(
    channel: Channel,
    rate: f64,
    until: Instant,
    window: Duration,
    tally: Arc<Tally>,
) -> Latencies {
    let latencies = Arc::new(std::sync::Mutex::new(Latencies::new(window)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(512));
    let mut n = 0u64;
    loop {
        let due = start + interval.mul_f64(n as f64);
        if due >= until {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        n += 1;
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let mut client =
            pb::qualification_service_client::QualificationServiceClient::new(channel.clone());
        let (tally, latencies) = (tally.clone(), latencies.clone());
        tokio::spawn(async move {
            let ok = client.check_by_insurance_numbers(taro()).await.is_ok();
            let micros = due.elapsed().as_micros() as u64;
            latencies.lock().unwrap().record(due - start, micros);
            let counter = if ok {
                &tally.checks_ok
            } else {
                &tally.checks_failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    // Let the last ones finish.
    let _ = in_flight.acquire_many(512).await;
    // A finished task may not have dropped its handle yet; then take a copy.
    Arc::try_unwrap(latencies)
        .map(|l| l.into_inner().unwrap())
        .unwrap_or_else(|l| l.lock().unwrap().clone())
}

/// Kiosk check-ins with taro's card; returns the 受付番号 of every acknowledged one.
async fn check_ins(channel: Channel, rate: f64, until: Instant, tally: Arc<Tally>) -> Vec<u64> {
    let mut client = pb::reception_service_client::ReceptionServiceClient::new(channel);
    let mut acknowledged = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    while tokio::time::timeout_at(until.into(), tick.tick())
        .await
        .is_ok()
    {
        let request = pb::CheckInRequest {
            card: Some(pb::CheckByCardRequest {
                reader: "sim-taro".into(),
                identity: Some(pb::check_by_card_request::Identity::Pin(pb::PinIdentity {
                    pin: "1234".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        match client.check_in(request).await {
            Ok(r) => acknowledged.extend(r.into_inner().entry.map(|e| e.id)),
            Err(_) => {
                tally.check_ins_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    acknowledged
}

/// A receipt computer: watches the list from the start of the day, drops the stream every
/// `reconnect` and resumes from the start again (the harshest resume); returns every id seen.
async fn watcher(channel: Channel, reconnect: Duration, until: Instant) -> BTreeSet<u64> {
    let mut client = pb::reception_service_client::ReceptionServiceClient::new(channel);
    let mut seen = BTreeSet::new();
    // Runs a little past `until`, so entries acknowledged at the very end still arrive.
    let end = until + Duration::from_secs(5);
    while Instant::now() < end {
        let request = pb::WatchReceptionsRequest {
            date: String::new(),
            after_id: 0,
        };
        let Ok(stream) = client.watch_receptions(request).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut stream = stream.into_inner();
        let session_end = (Instant::now() + reconnect).min(end);
        while let Ok(Ok(Some(message))) =
            tokio::time::timeout_at(session_end.into(), stream.message()).await
        {
            if let Some(entry) = message.entry {
                seen.insert(entry.id);
            }
        }
    }
    seen
}

/// Bulk jobs, one every `every`, each waited for; counts the rows with a result.
async fn bulk_jobs(
    channel: Channel,
    every: Duration,
    patients: usize,
    until: Instant,
    tally: Arc<Tally>,
) -> u64 {
    let mut client = pb::bulk_check_service_client::BulkCheckServiceClient::new(channel);
    let mut jobs = 0;
    let mut tick = tokio::time::interval(every);
    while tokio::time::timeout_at(until.into(), tick.tick())
        .await
        .is_ok()
    {
        let items = (0..patients)
            .map(|i| pb::BulkCheckItem {
                key: format!("p{i}"),
                target: Some(pb::bulk_check_item::Target::Numbers(taro())),
            })
            .collect();
        let request = pb::StartBulkCheckRequest {
            items,
            label: format!("soak {jobs}"),
            ..Default::default()
        };
        let Some(job) = client
            .start_bulk_check(request)
            .await
            .ok()
            .and_then(|r| r.into_inner().job)
        else {
            tally.bulk_failed_jobs.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        jobs += 1;
        let done = async {
            let mut stream = client
                .watch_bulk_check(pb::WatchBulkCheckRequest {
                    job_id: job.id.clone(),
                })
                .await
                .ok()?
                .into_inner();
            while let Ok(Some(progress)) = stream.message().await {
                let job = progress.job?;
                if job.state() == pb::BulkCheckState::Done {
                    return Some(job.checked);
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(300), done).await {
            Ok(Some(checked)) if checked as usize == patients => {
                tally
                    .bulk_rows
                    .fetch_add(u64::from(checked), Ordering::Relaxed);
            }
            _ => {
                tally.bulk_failed_jobs.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    jobs
}

/// Every entry on today's list, page by page.
async fn listed(channel: Channel) -> Result<BTreeSet<u64>, tonic::Status> {
    let mut client = pb::reception_service_client::ReceptionServiceClient::new(channel);
    let mut ids = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_receptions(pb::ListReceptionsRequest {
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        ids.extend(page.entries.iter().map(|e| e.id));
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Each client has its own connection, as the receipt computers, kiosks and the bulk client
    // of a clinic would: the check load does not share its connection with the watches.
    let endpoint = Endpoint::from_shared(format!("http://{}", args.addr)).expect("a valid address");
    let connect = async || endpoint.connect().await.expect("the daemon answers");
    let channel = connect().await;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(args.duration);
    let tally = Arc::new(Tally::default());
    let samples = Arc::new(Mutex::new(Vec::new()));

    let sampler = {
        let (samples, pid) = (samples.clone(), args.server_pid);
        let every = Duration::from_secs_f64(args.sample_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut before = cpu_ticks();
            while Instant::now() < until {
                tick.tick().await;
                let now = cpu_ticks();
                let stolen = (now.0 - before.0) as f64 / (now.1 - before.1).max(1) as f64;
                before = now;
                samples.lock().await.push((
                    start.elapsed().as_secs(),
                    rss_kib(pid),
                    (stolen * 1000.0).round() / 10.0,
                ));
            }
        })
    };
    let mut watchers = JoinSet::new();
    for _ in 0..args.watchers {
        let reconnect = Duration::from_secs_f64(args.reconnect);
        watchers.spawn(watcher(connect().await, reconnect, until));
    }
    let checks = tokio::spawn(checks(
        channel.clone(),
        args.rate,
        until,
        Duration::from_secs_f64(args.sample_every),
        tally.clone(),
    ));
    let check_ins = tokio::spawn(check_ins(
        connect().await,
        args.check_ins,
        until,
        tally.clone(),
    ));
    let bulk = tokio::spawn(bulk_jobs(
        connect().await,
        Duration::from_secs_f64(args.bulk_every),
        args.bulk_patients,
        until,
        tally.clone(),
    ));

    let latencies = checks.await.unwrap();
    let histogram = &latencies.all;
    let acknowledged: BTreeSet<u64> = check_ins.await.unwrap().into_iter().collect();
    let jobs = bulk.await.unwrap();
    sampler.await.unwrap();
    let mut watchers_missing = Vec::new();
    while let Some(seen) = watchers.join_next().await {
        let seen = seen.unwrap();
        watchers_missing.push(acknowledged.difference(&seen).count());
    }
    let listed = listed(channel).await.unwrap_or_default();
    let missing_from_list = acknowledged.difference(&listed).count();

    let samples = samples.lock().await.clone();
    let rss_mib = |kib: u64| kib as f64 / 1024.0;
    // Flat means the second half's highest sample is within a few MiB of the first half's.
    let half = samples.len() / 2;
    let first_half_max = samples[..half].iter().map(|s| s.1).max().unwrap_or(0);
    let second_half_max = samples[half..].iter().map(|s| s.1).max().unwrap_or(0);
    let ok = tally.checks_ok.load(Ordering::Relaxed);
    let failed = tally.checks_failed.load(Ordering::Relaxed);
    let bulk_rows = tally.bulk_rows.load(Ordering::Relaxed);
    let bulk_failed = tally.bulk_failed_jobs.load(Ordering::Relaxed);
    let nothing_lost = missing_from_list == 0
        && watchers_missing.iter().all(|m| *m == 0)
        && bulk_failed == 0
        && bulk_rows == jobs * args.bulk_patients as u64;
    let report = serde_json::json!({
        "seconds": args.duration,
        "checks": {
            "rate_per_s": args.rate,
            "ok": ok,
            "failed": failed,
            "p50_ms": histogram.value_at_quantile(0.5) as f64 / 1000.0,
            "p99_ms": histogram.value_at_quantile(0.99) as f64 / 1000.0,
            "max_ms": histogram.max() as f64 / 1000.0,
            // [second the window starts, p99 of the checks due in it, in ms]
            "p99_ms_by_window": latencies.windows.iter().enumerate().map(|(i, h)| {
                let at = (i as f64 * args.sample_every) as u64;
                (at, h.value_at_quantile(0.99) as f64 / 1000.0)
            }).collect::<Vec<_>>(),
        },
        "check_ins": {
            "acknowledged": acknowledged.len(),
            "failed": tally.check_ins_failed.load(Ordering::Relaxed),
            "missing_from_list": missing_from_list,
            "missing_per_watcher": watchers_missing,
        },
        "bulk": { "jobs": jobs, "rows": bulk_rows, "failed_jobs": bulk_failed },
        "rss_mib": {
            "first": samples.first().map(|s| rss_mib(s.1)),
            "last": samples.last().map(|s| rss_mib(s.1)),
            "first_half_max": rss_mib(first_half_max),
            "second_half_max": rss_mib(second_half_max),
            "samples": samples.iter().map(|(t, kib, _)| (t, rss_mib(*kib))).collect::<Vec<_>>(),
        },
        // [second, % of the machine's CPU the hypervisor took in the window up to it]
        "steal_pct": samples.iter().map(|(t, _, stolen)| (t, stolen)).collect::<Vec<_>>(),
        "nothing_lost": nothing_lost,
    });
    println!("{report}");
    if nothing_lost && failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
