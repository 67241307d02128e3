//! `audit-floor`: what the store alone spends on each durably audited check, without gRPC or
//! the check itself. `--writers` tasks each write the audit line of a `CheckByInsuranceNumbers`
//! in a closed loop, through the same `Store` (writer thread, group commit, checkpointer) that
//! shikakud uses, and the process's CPU time is divided by the lines written. Run it on one core
//! (`taskset -c 0`), as `run.sh` runs shikakud, to compare it with the echo's CPU per request:
//! whatever this costs comes on top of what any gRPC server spends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use shikaku_bench::process_cpu_s;
use shikaku_store::{AuditRecord, Durability, Store};

/// The same allocator as shikakud.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "CPU per durably audited check, the store alone; prints one JSON line a mode")]
struct Args {
    /// Audit lines in flight, like the requests in flight of run.sh's saturation phase.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Measured seconds per mode.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Which `[store] durability` to measure; both by default.
    #[arg(long, value_enum)]
    durability: Vec<Mode>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Full,
    Normal,
}

/// The audit line shikakud writes for one check by insurance numbers.
fn check_record() -> AuditRecord {
    AuditRecord {
        at: "2026-11-22T09:30:00.123456+09:00".into(),
        operation: "CheckByInsuranceNumbers".into(),
        method: "insurance_numbers".into(),
        terminal: "reception-1".into(),
        operator: String::new(),
        peer: "127.0.0.1:51234".into(),
        outcome: "ok".into(),
        detail: "1".into(),
        subject: "chk_0123456789abcdef".into(),
        client: "reception-1".into(),
        role: "reception".into(),
        person: "3f0c1d2e4b5a69788796a5b4c3d2e1f0".into(),
    }
}

async fn measure(args: &Args, mode: Mode) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let durability = match mode {
        Mode::Full => Durability::Full,
        Mode::Normal => Durability::Normal,
    };
    let store = Store::open(&dir.path().join("shikaku.sqlite"), durability)?;
    let written = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(args.warmup);
    let until = measured_from + Duration::from_secs_f64(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.writers {
        let (store, written) = (store.clone(), written.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                store.audit(check_record()).await?;
                written.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, shikaku_store::StoreError>(())
        });
    }
    tokio::time::sleep_until(measured_from.into()).await;
    let (lines0, cpu0) = (
        written.load(Ordering::Relaxed),
        process_cpu_s(std::process::id())?,
    );
    tokio::time::sleep_until(until.into()).await;
    let (lines1, cpu1) = (
        written.load(Ordering::Relaxed),
        process_cpu_s(std::process::id())?,
    );
    while let Some(task) = tasks.join_next().await {
        task??;
    }
    let lines = (lines1 - lines0) as f64;
    Ok(serde_json::json!({
        "durability": match mode { Mode::Full => "full", Mode::Normal => "normal" },
        "writers": args.writers,
        "duration_s": args.duration,
        "lines_per_s": (lines / args.duration).round(),
        "cpu_util": ((cpu1 - cpu0) / args.duration * 1000.0).round() / 1000.0,
        "cpu_us_per_line": ((cpu1 - cpu0) * 1e6 / lines * 10.0).round() / 10.0,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let modes = if args.durability.is_empty() {
        vec![Mode::Full, Mode::Normal]
    } else {
        args.durability.clone()
    };
    for mode in modes {
        println!("{}", measure(&args, mode).await?);
    }
    Ok(())
}
