//! The latency each transport adds over the embedded simulator, measured in one run:
//! the embedded simulator called directly, the folder transport through real folders with the
//! terminal simulator, and the Web API transport over HTTPS with mutual TLS.
//!
//! cargo run --release -p shikaku-oqs-folder --example latency [-- <checks per case>]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use shikaku_domain::upstream::{NumbersCheck, Upstream};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};
use shikaku_oqs_folder::{FolderConfig, FolderTransport};
use shikaku_oqs_webapi::{WebApiConfig, WebApiTransport};
use shikaku_terminal_sim::{Terminal, TerminalConfig};

fn check() -> NumbersCheck {
    NumbersCheck {
        insurer: InsurerNumber::parse("01320027").unwrap(),
        symbol: Some(CardSymbol::parse("5").unwrap()),
        number: CardNumber::parse("88").unwrap(),
        branch: Some(BranchNumber::parse("00").unwrap()),
        birth_date: NaiveDate::from_ymd_opt(1954, 3, 3).unwrap(),
        limit_certificate_consent: true,
        confirmation_date: NaiveDate::from_ymd_opt(2026, 9, 29).unwrap(),
    }
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<44} n={:<5} mean {:>9.3} ms  p50 {:>9.3} ms  p99 {:>9.3} ms",
        samples.len(),
        mean.as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    at(0.5)
}

fn measure(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..n.min(10) {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let c = check();

    let (simulator, _) = shikaku_simulator::build(&shikaku_simulator::SimulatorConfig::new(
        dir.path().join("sim.sqlite"),
    ))
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = report(
        "embedded simulator (direct call)",
        measure(n, || {
            runtime.block_on(simulator.check_by_numbers(&c)).unwrap();
        }),
    );

    for (sim_poll, transport_poll) in [(10, 20), (2, 2)] {
        let root = dir.path().join(format!("share-{transport_poll}"));
        let mut tc = TerminalConfig::new(&root);
        tc.poll_interval = Duration::from_millis(sim_poll);
        let terminal = Terminal::start(tc).unwrap();
        let mut fc = FolderConfig::new(
            &root,
            dir.path().join(format!("state-{transport_poll}")),
            terminal.facility_code(),
        );
        fc.poll_ms = transport_poll;
        let folder = FolderTransport::new(fc).unwrap();
        let p50 = report(
            &format!("folder (terminal scans {sim_poll} ms, we poll {transport_poll} ms)"),
            measure(n, || {
                folder
                    .check_by_numbers(&c, Instant::now() + Duration::from_secs(10))
                    .unwrap();
            }),
        );
        println!(
            "{:<44} added p50 {:>9.3} ms",
            "",
            (p50.saturating_sub(base)).as_secs_f64() * 1e3
        );
    }

    let terminal = Terminal::start(TerminalConfig::new(dir.path().join("share-web"))).unwrap();
    let server = terminal
        .serve_https("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let certs = dir.path().join("certs");
    server.pki().write_to(&certs).unwrap();
    let mut wc = WebApiConfig::new(
        &server.base_url(),
        certs.join("client.pem"),
        certs.join("client.key"),
        terminal.facility_code(),
    );
    wc.server_ca = Some(certs.join("ca.pem"));
    let web = WebApiTransport::new(wc).unwrap();
    let p50 = report(
        "web api (https, mutual tls, kept-alive)",
        measure(n, || {
            web.check_by_numbers(&c, Instant::now() + Duration::from_secs(10))
                .unwrap();
        }),
    );
    println!(
        "{:<44} added p50 {:>9.3} ms",
        "",
        (p50.saturating_sub(base)).as_secs_f64() * 1e3
    );
}
