//! The cost of one plugin call against a direct trait call, measured in one run.
//!
//! The same operations on the same simulator, once through the domain traits in-process and
//! once through the C ABI from the `.so` plugins (protobuf encoding, the blocking pool, the
//! concurrency gate and the deadline included). Usage:
//! `plugin-call --reader-lib target/release/libshikaku_sim_reader.so --upstream-lib …`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use shikaku_domain::reader::CardReader;
use shikaku_domain::upstream::{NumbersCheck, Upstream};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber, parse_date};
use shikaku_plugin_host::{Loaded, PluginSpec, load};
use shikaku_simulator::SimulatorConfig;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    reader_lib: PathBuf,
    #[arg(long)]
    upstream_lib: PathBuf,
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    calls: u32,
}

/// Mean time per call of `f`, after a warm-up of a tenth as many calls.
async fn per_call<F, Fut>(calls: u32, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        f().await;
    }
    let started = Instant::now();
    for _ in 0..calls {
        f().await;
    }
    started.elapsed() / calls
}

fn sample() -> NumbersCheck {
    NumbersCheck {
        insurer: InsurerNumber::parse("06130488").unwrap(),
        symbol: Some(CardSymbol::parse("12-34").unwrap()),
        number: CardNumber::parse("4260").unwrap(),
        branch: Some(BranchNumber::parse("01").unwrap()),
        birth_date: parse_date("1970-01-01").unwrap(),
        limit_certificate_consent: false,
        confirmation_date: shikaku_domain::clock::today(),
    }
}

fn row(name: &str, direct: Duration, plugin: Duration) -> serde_json::Value {
    let ratio = plugin.as_secs_f64() / direct.as_secs_f64();
    println!(
        "{name:<18} direct {:>9.2} µs   plugin {:>9.2} µs   ratio {ratio:>6.2}×   overhead {:>7.2} µs",
        direct.as_secs_f64() * 1e6,
        plugin.as_secs_f64() * 1e6,
        (plugin.as_secs_f64() - direct.as_secs_f64()) * 1e6
    );
    serde_json::json!({
        "operation": name, "direct_us": direct.as_secs_f64() * 1e6,
        "plugin_us": plugin.as_secs_f64() * 1e6, "ratio": ratio,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();

    let mut config = SimulatorConfig::new(dir.path().join("direct.sqlite"));
    config.hash_memory_kib = 64;
    config.hash_passes = 1;
    let (direct_upstream, direct_readers) = shikaku_simulator::build(&config).unwrap();

    let Loaded::CardReader(plugin_readers) = load(&PluginSpec::new(&args.reader_lib)).unwrap()
    else {
        panic!("{} is not a card reader", args.reader_lib.display())
    };
    let mut spec = PluginSpec::new(&args.upstream_lib);
    spec.config = serde_json::json!({
        "state_path": dir.path().join("plugin.sqlite"), "hash_memory_kib": 64, "hash_passes": 1,
    });
    let Loaded::Upstream(plugin_upstream) = load(&spec).unwrap() else {
        panic!("{} is not an upstream", args.upstream_lib.display())
    };

    let n = args.calls;
    let mut rows = Vec::new();

    let d: Arc<dyn Upstream> = direct_upstream;
    let p: Arc<dyn Upstream> = plugin_upstream;
    let direct = per_call(n, || {
        let d = d.clone();
        async move {
            d.challenge().await.unwrap();
        }
    })
    .await;
    let plugin = per_call(n, || {
        let p = p.clone();
        async move {
            p.challenge().await.unwrap();
        }
    })
    .await;
    rows.push(row("challenge", direct, plugin));

    let check = sample();
    let direct = per_call(n, || {
        let (d, c) = (d.clone(), check.clone());
        async move {
            d.check_by_numbers(&c).await.unwrap();
        }
    })
    .await;
    let plugin = per_call(n, || {
        let (p, c) = (p.clone(), check.clone());
        async move {
            p.check_by_numbers(&c).await.unwrap();
        }
    })
    .await;
    rows.push(row("check_by_numbers", direct, plugin));

    let dr: Arc<dyn CardReader> = direct_readers;
    let pr: Arc<dyn CardReader> = plugin_readers;
    let direct = per_call(n, || {
        let dr = dr.clone();
        async move {
            dr.list_readers().await.unwrap();
        }
    })
    .await;
    let plugin = per_call(n, || {
        let pr = pr.clone();
        async move {
            pr.list_readers().await.unwrap();
        }
    })
    .await;
    rows.push(row("list_readers", direct, plugin));

    println!("{}", serde_json::json!({ "calls": n, "rows": rows }));
}
