//! The real `shikakud` run as a service (deploy/): under a stand-in for systemd's notify socket
//! (`Type=notify`, `WatchdogSec=`) it says READY=1 once it serves, WATCHDOG=1 at half the
//! watchdog timeout and STOPPING=1 on SIGTERM; `shikaku health`, the container's health check,
//! exits 0 only while the daemon serves.
#![cfg(unix)]

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use shikaku_tests::bin;

/// The next state line, waiting at most 30 s.
fn next(socket: &UnixDatagram) -> String {
    let mut buffer = [0; 256];
    let n = socket
        .recv(&mut buffer)
        .expect("a notification within 30 s");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[test]
fn shikakud_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(bin("shikakud"))
        .env("SHIKAKU_METRICS__LISTEN", "127.0.0.1:0")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        // For the suite's log scan (`tests/log_scan.rs`).
        .stderr(shikaku_tests::child_log("shikakud"))
        .spawn()
        .unwrap();

    assert_eq!(next(&systemd), "READY=1");
    assert_eq!(next(&systemd), "WATCHDOG=1");
    assert_eq!(next(&systemd), "WATCHDOG=1");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let stopping = std::iter::repeat_with(|| next(&systemd)).find(|line| line != "WATCHDOG=1");
    assert_eq!(stopping.as_deref(), Some("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}

/// `shikaku health` with `args`: its exit code, stdout and stderr.
async fn health(addr: &str, args: &'static [&'static str]) -> (Option<i32>, String, String) {
    let addr = addr.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin("shikaku"))
            .args(["--addr", &addr, "health"])
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shikaku_health_passes_only_while_the_daemon_serves() {
    let d = shikaku_tests::TestDaemon::start().await;
    let url = d.running.url();

    let (code, out, _) = health(&url, &[]).await;
    assert_eq!((code, out.as_str()), (Some(0), "serving"));
    let service = &["--service", "shikaku.v1.QualificationService"];
    let (code, out, _) = health(&url, service).await;
    assert_eq!((code, out.as_str()), (Some(0), "serving"));
    let (code, _, err) = health(&url, &["--service", "no.such.Service"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("NOT_FOUND"), "{err}");

    d.running.stop().await.unwrap();
    let (code, _, err) = health(&url, &[]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("UNAVAILABLE"), "{err}");
}
