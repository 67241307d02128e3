//! The latency each upstream transport adds, through the daemon, measured in one run.
//!
//! Starts one terminal simulator (資格確認端末: `req`/`res` folders and HTTPS with mutual TLS) per
//! folder setting and one `shikakud` per case — the embedded simulator, the folder plugin, the Web
//! API plugin — then sends the same `CheckByInsuranceNumbers` over gRPC to each, one call at a
//! time, the cases taking turns round by round so machine noise falls on all alike. Prints
//! p50/p99 per case and what each adds over the embedded simulator, and writes them as JSON.
//! `bench/transports.sh` builds everything in release mode and runs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use shikaku_proto::v1::CheckByInsuranceNumbersRequest;
use shikaku_proto::v1::qualification_service_client::QualificationServiceClient;
use shikaku_terminal_sim::https::HttpsServer;
use shikaku_terminal_sim::{Terminal, TerminalConfig};
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    shikakud: PathBuf,
    /// libshikaku_oqs_folder_plugin.so
    #[arg(long)]
    folder_lib: PathBuf,
    /// libshikaku_oqs_webapi_plugin.so
    #[arg(long)]
    webapi_lib: PathBuf,
    /// Measured calls per case.
    #[arg(long, default_value_t = 1_000)]
    calls: u32,
    /// Turns the cases take; each measures `calls / rounds` calls per turn.
    #[arg(long, default_value_t = 10)]
    rounds: u32,
    /// Unmeasured calls per case first.
    #[arg(long, default_value_t = 50)]
    warmup: u32,
    /// Where to write the results as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One shikakud process, killed when dropped.
struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts shikakud with `config` (TOML) and waits for its "serving" line.
fn start_daemon(shikakud: &Path, dir: &Path, config: &str) -> Daemon {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("shikaku.toml");
    std::fs::write(&file, config).unwrap();
    let mut child = Command::new(shikakud)
        .env("SHIKAKU_METRICS__LISTEN", "127.0.0.1:0")
        .arg("--config")
        .arg(&file)
        .args(["--listen", "127.0.0.1:0", "--log", "info", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shikakud");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .and_then(Result::ok)
            .expect("shikakud exited before serving");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the daemon never blocks on the pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Daemon {
        child,
        addr: format!("http://{addr}"),
    }
}

fn folder_config(lib: &Path, terminal: &Terminal, state: &Path, poll_ms: u64) -> String {
    format!(
        r#"
[[plugins]]
path = "{}"
[plugins.config]
root = "{}"
state_dir = "{}"
facility_code = "{}"
poll_ms = {poll_ms}
"#,
        lib.display(),
        terminal.req_dir().parent().unwrap().display(),
        state.display(),
        terminal.facility_code(),
    )
}

fn webapi_config(lib: &Path, terminal: &Terminal, server: &HttpsServer, certs: &Path) -> String {
    format!(
        r#"
[[plugins]]
path = "{}"
[plugins.config]
base_url = "{}"
client_certificate = "{}"
client_key = "{}"
server_ca = "{}"
facility_code = "{}"
"#,
        lib.display(),
        server.base_url(),
        certs.join("client.pem").display(),
        certs.join("client.key").display(),
        certs.join("ca.pem").display(),
        terminal.facility_code(),
    )
}

/// 後期高齢者 (elderly, 1割): a valid person with most result blocks filled.
fn request() -> CheckByInsuranceNumbersRequest {
    CheckByInsuranceNumbersRequest {
        insurer_number: "01320027".into(),
        symbol: "5".into(),
        number: "88".into(),
        branch: "00".into(),
        birth_date: "1954-03-03".into(),
        limit_certificate_consent: true,
        confirmation_date: String::new(),
    }
}

struct Case {
    name: String,
    client: QualificationServiceClient<Channel>,
    latency: Histogram<u64>,
}

impl Case {
    async fn call(&mut self) -> Duration {
        let started = Instant::now();
        let r = self
            .client
            .check_by_insurance_numbers(request())
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", self.name));
        let took = started.elapsed();
        assert_eq!(
            r.into_inner().result.map(|r| r.validity_code).as_deref(),
            Some("1"),
            "{}",
            self.name
        );
        took
    }

    fn us(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    // Two folder settings: the defaults (the terminal simulator scans req every 10 ms, the
    // transport looks for the result every 20 ms), and both at 2 ms.
    let terminal_default = Terminal::start(TerminalConfig::new(w.join("share-default"))).unwrap();
    let mut fast = TerminalConfig::new(w.join("share-fast"));
    fast.poll_interval = Duration::from_millis(2);
    let terminal_fast = Terminal::start(fast).unwrap();
    let server = terminal_default
        .serve_https("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let certs = w.join("certs");
    server.pki().write_to(&certs).unwrap();

    let setups = [
        ("embedded simulator", String::new()),
        (
            "folder plugin (defaults: 10 ms scan, 20 ms poll)",
            folder_config(
                &args.folder_lib,
                &terminal_default,
                &w.join("d-folder/state"),
                20,
            ),
        ),
        (
            "folder plugin (2 ms scan, 2 ms poll)",
            folder_config(
                &args.folder_lib,
                &terminal_fast,
                &w.join("d-folder-fast/state"),
                2,
            ),
        ),
        (
            "web api plugin (https, mutual tls)",
            webapi_config(&args.webapi_lib, &terminal_default, &server, &certs),
        ),
    ];
    let mut daemons = Vec::new();
    let mut cases = Vec::new();
    for (i, (name, config)) in setups.into_iter().enumerate() {
        let daemon = start_daemon(&args.shikakud, &w.join(format!("d{i}")), &config);
        let client = QualificationServiceClient::connect(daemon.addr.clone())
            .await
            .expect("connect");
        daemons.push(daemon);
        cases.push(Case {
            name: name.to_owned(),
            client,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        });
    }

    for case in &mut cases {
        for _ in 0..args.warmup {
            case.call().await;
        }
    }
    let per_turn = (args.calls / args.rounds.max(1)).max(1);
    for _ in 0..args.rounds.max(1) {
        for case in &mut cases {
            for _ in 0..per_turn {
                let took = case.call().await;
                case.latency.record(took.as_micros().max(1) as u64).unwrap();
            }
        }
    }

    let (base50, base99) = (cases[0].us(0.5), cases[0].us(0.99));
    println!(
        "{:<50} {:>6} {:>9} {:>9} {:>12} {:>12}",
        "CheckByInsuranceNumbers through shikakud",
        "calls",
        "p50 ms",
        "p99 ms",
        "added p50",
        "added p99"
    );
    let mut rows = Vec::new();
    for case in &cases {
        let (p50, p99) = (case.us(0.5), case.us(0.99));
        println!(
            "{:<50} {:>6} {:>9.3} {:>9.3} {:>12.3} {:>12.3}",
            case.name,
            case.latency.len(),
            ms(p50),
            ms(p99),
            ms(p50.saturating_sub(base50)),
            ms(p99.saturating_sub(base99)),
        );
        rows.push(serde_json::json!({
            "case": case.name,
            "calls": case.latency.len(),
            "p50_us": p50,
            "p99_us": p99,
            "mean_us": case.latency.mean().round(),
            "added_p50_us": p50 as i64 - base50 as i64,
            "added_p99_us": p99 as i64 - base99 as i64,
        }));
    }
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "settings": { "calls": args.calls, "rounds": args.rounds, "warmup": args.warmup },
            "cases": rows,
        });
        std::fs::write(out, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    }
    drop(daemons);
}
