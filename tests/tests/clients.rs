//! The example clients in `examples/` against the real daemon: the Rust kiosk, and the
//! receipt computer in Rust, Python (grpcio) and Node (@grpc/grpc-js), each keeping
//! WatchReceptions open across its own restarts and a daemon restart.
//!
//! Python and Node must be installed with their packages (`.ci/run` does it). Where they cannot
//! be, `SHIKAKU_SKIP_FOREIGN_CLIENTS=1` skips those two; without it a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{CheckByCardRequest, CheckInRequest, PinIdentity};
use shikaku_tests::{TestDaemon, bin};

const SKIP: &str = "SHIKAKU_SKIP_FOREIGN_CLIENTS";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether a foreign client can run; panics with what to install unless skipping is asked for.
fn available(what: &str, probe: &mut Command, install: &str) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var_os(SKIP).is_some() {
        eprintln!("skipping the {what} client: {SKIP} is set");
        return false;
    }
    panic!("the {what} client cannot run: {install} (or set {SKIP}=1 to skip it)");
}

async fn check_in(d: &TestDaemon, reader: &str, pin: &str) -> u64 {
    let request = CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: reader.into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: pin.into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    d.reception()
        .check_in(request)
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap()
        .id
}

/// Waits for a client to exit by itself, killing it and failing after `within`.
fn finish(mut child: Child, within: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "client did not finish in {within:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The ids and names a client printed, one JSON object per line.
fn printed(out: &Output) -> Vec<(u64, String)> {
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(
                v["status"]
                    .as_str()
                    .map(|s| s.starts_with("RECEPTION_STATUS_")),
                Some(true)
            );
            (
                v["id"].as_u64().unwrap(),
                v["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn wait_for_state(state: &Path, id: u64) {
    let start = Instant::now();
    while std::fs::read_to_string(state)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        != Some(id)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the client never recorded #{id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The same story for every receipt computer: history, a restart of the client, a live entry,
/// and a daemon restart on the same address, with every entry printed once, in order.
async fn receipt_computer_story(spawn: impl Fn(&str, &Path, u64) -> Child) {
    let d = TestDaemon::start().await;
    let addr = d.running.addr;
    let state = d.dir.path().join("last-id.txt");
    check_in(&d, "sim-taro", "1234").await;
    check_in(&d, "sim-kokuho", "3333").await;

    let child = spawn(&d.running.url(), &state, 2);
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        printed(&out),
        [(1, "診療　太郎".to_owned()), (2, "国保　一郎".to_owned())]
    );

    // Entries while it was away, then one while it watches.
    check_in(&d, "sim-elderly", "4444").await;
    check_in(&d, "sim-taro", "1234").await;
    let child = spawn(&d.running.url(), &state, 3);
    wait_for_state(&state, 4).await;
    assert_eq!(check_in(&d, "sim-hanako", "2222").await, 5);
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    let ids: Vec<u64> = printed(&out).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [3, 4, 5]);

    // The daemon restarts on the same address while the client watches.
    let child = spawn(&d.running.url(), &state, 2);
    let d = d.restart_with(move |c| c.listen = addr).await;
    assert_eq!(check_in(&d, "sim-kokuho", "3333").await, 6);
    assert_eq!(check_in(&d, "sim-limit-a", "5555").await, 7);
    let out = tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(60)))
        .await
        .unwrap();
    let ids: Vec<u64> = printed(&out).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [6, 7]);
    d.running.stop().await.unwrap();
}

fn piped(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn client_args(cmd: &mut Command, url: &str, state: &Path, exit_after: u64) {
    cmd.args(["--addr", url, "--state"])
        .arg(state)
        .args(["--exit-after", &exit_after.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_receipt_computer_resumes() {
    let exe = bin("shikaku-receipt-computer");
    receipt_computer_story(|url, state, n| {
        let mut cmd = Command::new(&exe);
        client_args(&mut cmd, url, state, n);
        piped(cmd)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_receipt_computer_resumes() {
    let dir = repo().join("examples/receipt-computer-python");
    if !available(
        "python",
        Command::new("python3").args(["-c", "import grpc, grpc_tools"]),
        "install python3 and `pip install grpcio grpcio-tools`",
    ) {
        return;
    }
    // Code generated from our .proto files, now.
    let gen_dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(dir.join("generate.py"))
        .arg(gen_dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "generate.py failed");
    receipt_computer_story(|url, state, n| {
        let mut cmd = Command::new("python3");
        cmd.arg(dir.join("receipt_computer.py"))
            .env("SHIKAKU_PY_GEN", gen_dir.path());
        client_args(&mut cmd, url, state, n);
        piped(cmd)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_receipt_computer_resumes() {
    let dir = repo().join("examples/receipt-computer-node");
    if !available(
        "node",
        Command::new("node")
            .args([
                "-e",
                "require('@grpc/grpc-js'); require('@grpc/proto-loader')",
            ])
            .current_dir(&dir),
        "install node and run `npm ci` in examples/receipt-computer-node",
    ) {
        return;
    }
    receipt_computer_story(|url, state, n| {
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("receipt-computer.js")).current_dir(&dir);
        client_args(&mut cmd, url, state, n);
        piped(cmd)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_kiosk_checks_in_and_measures() {
    let d = TestDaemon::start().await;
    let exe = bin("shikaku-kiosk");
    let url = d.running.url();
    let run = move |args: &[&str]| {
        let mut cmd = Command::new(&exe);
        cmd.args(["--addr", &url, "--reader", "sim-taro"])
            .args(args)
            .env("SHIKAKU_PIN", "1234");
        piped(cmd)
    };
    let first = run(&[]);
    let out = tokio::task::spawn_blocking(move || finish(first, Duration::from_secs(60)))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("初めての方は"), "{text}");
    assert!(
        text.contains("instruction=KIOSK_INSTRUCTION_FIRST_VISIT reception="),
        "{text}"
    );
    let repeated = run(&["--repeat", "5"]);
    let out = tokio::task::spawn_blocking(move || finish(repeated, Duration::from_secs(60)))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("check-ins=5 min="), "{text}");
    d.running.stop().await.unwrap();
}
