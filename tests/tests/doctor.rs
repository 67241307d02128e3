//! `shikaku doctor` against a real daemon: a healthy set-up is all OK and exits 0; a data
//! directory others may read, certificates expired or about to expire, a daemon that does not
//! answer and a terminal share that is not there are each reported as 要対応 with exit 1.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use shikaku_pki::Role;
use shikaku_tests::{TestDaemon, bin};

/// A `shikaku.toml` naming the daemon's address and data directory, outside the data directory.
fn write_config(at: &Path, d: &TestDaemon, extra: &str) -> std::path::PathBuf {
    let path = at.join("shikaku.toml");
    let text = format!(
        "listen = \"{}\"\ndata_dir = {:?}\n{extra}",
        d.running.addr,
        d.dir.path().display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `shikaku [global…] doctor --config CONFIG [--json]` to its end.
async fn doctor(global: Vec<String>, config: &Path, json: bool) -> Output {
    let mut cmd = Command::new(bin("shikaku"));
    cmd.args(global).arg("doctor").arg("--config").arg(config);
    if json {
        cmd.arg("--json");
    }
    cmd.env_remove("SHIKAKU_CONFIG")
        .env_remove("SHIKAKU_DATA_DIR")
        .stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The findings of a `--json` run, as (check, status) pairs.
fn findings(out: &Output) -> Vec<(String, String)> {
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn status_of<'a>(findings: &'a [(String, String)], check: &str) -> Vec<&'a str> {
    findings
        .iter()
        .filter(|(c, _)| c == check)
        .map(|(_, s)| s.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_set_up_is_all_ok() {
    // Loopback plaintext: the `local` role may ask everything, readers included.
    let d = TestDaemon::start().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let config = write_config(elsewhere.path(), &d, "");
    let global = vec!["--addr".to_owned(), d.running.url()];

    let out = doctor(global.clone(), &config, false).await;
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains("要対応 "), "{shown}");
    for line in [
        "OK     configuration:",
        "OK     data directory:",
        "OK     certificates: no facility CA",
        "OK     daemon: answers: serving",
        "OK     readers: 25 seen, 24 with a card or phone on it: sim-android (simulated-reader)",
        "OK     upstream: simulator answers",
    ] {
        assert!(shown.contains(line), "{line:?} in\n{shown}");
    }
    assert!(shown.contains("問題は見つかりませんでした"), "{shown}");

    let out = doctor(global, &config, true).await;
    assert!(out.status.success(), "{}", text(&out));
    let all = findings(&out);
    assert!(all.iter().all(|(_, s)| s == "ok"), "{all:?}");
    assert!(all.iter().any(|(c, _)| c.starts_with("plugin ")), "{all:?}");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_modes_and_expiring_certificates_need_action() {
    let d = TestDaemon::start_prepared(
        |dir| {
            shikaku_pki::init(dir, &["localhost".into(), "127.0.0.1".into()], false).unwrap();
        },
        |_| {},
    )
    .await;
    let elsewhere = tempfile::tempdir().unwrap();
    let config = write_config(elsewhere.path(), &d, "");
    let office = elsewhere.path().join("office");
    shikaku_pki::issue_client(d.dir.path(), "office", Role::Admin, &office, 365).unwrap();
    let mut global = vec![
        "--addr".to_owned(),
        format!("https://{}", d.running.addr),
        "--tls-domain".to_owned(),
        "localhost".to_owned(),
    ];
    for (flag, file) in [
        ("--ca", "ca.pem"),
        ("--cert", "cert.pem"),
        ("--key", "key.pem"),
    ] {
        global.push(flag.to_owned());
        global.push(office.join(file).display().to_string());
    }

    // Over TLS with an admin's credentials, everything is in order (an admin may not list
    // readers: that one is skipped, not a problem).
    let out = doctor(global.clone(), &config, true).await;
    assert!(out.status.success(), "{}", text(&out));
    let all = findings(&out);
    assert!(
        all.iter()
            .filter(|(c, _)| c.starts_with("certificate "))
            .all(|(_, s)| s == "ok"),
        "{all:?}"
    );
    assert_eq!(status_of(&all, "readers"), ["skipped"], "{all:?}");
    assert_eq!(status_of(&all, "upstream"), ["ok"], "{all:?}");

    // A client certificate about to expire, one expired, and a data directory others may read.
    shikaku_pki::issue_client(
        d.dir.path(),
        "kiosk-soon",
        Role::Kiosk,
        &elsewhere.path().join("soon"),
        10,
    )
    .unwrap();
    let day = Duration::from_secs(86_400);
    shikaku_pki::issue_client_for_period(
        d.dir.path(),
        "kiosk-old",
        Role::Kiosk,
        &elsewhere.path().join("old"),
        SystemTime::now() - 400 * day,
        SystemTime::now() - day,
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let out = doctor(global.clone(), &config, false).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    for line in [
        "要対応 data directory: others may read:",
        "要対応 certificate client kiosk-soon: expires on",
        "要対応 certificate client kiosk-old: expired on",
        "shikaku tls client kiosk-soon --role kiosk",
        "証明書の期限が切れています",
        "要対応の項目が 3 件あります",
    ] {
        assert!(shown.contains(line), "{line:?} in\n{shown}");
    }
    assert!(
        shown.contains("OK     certificate client office: valid until"),
        "{shown}"
    );
    let out = doctor(global, &config, true).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["needs_action"], 3, "{}", text(&out));
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_does_not_answer_and_a_missing_share_need_action() {
    let d = TestDaemon::start().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("not-mounted");
    let folder = format!(
        "[[plugins]]\npath = \"/usr/lib/shikaku/libshikaku_oqs_folder_plugin.so\"\n\
         [plugins.config]\nroot = {:?}\nstate_dir = {:?}\nfacility_code = \"1311111114\"\n",
        missing.display().to_string(),
        elsewhere.path().join("state").display().to_string()
    );
    let config = write_config(elsewhere.path(), &d, &folder);
    let url = d.running.url();
    d.running.stop().await.unwrap();

    let out = doctor(vec!["--addr".to_owned(), url], &config, true).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = findings(&out);
    assert_eq!(status_of(&all, "daemon"), ["needs_action"], "{all:?}");
    assert_eq!(status_of(&all, "readers"), ["skipped"], "{all:?}");
    assert_eq!(
        status_of(
            &all,
            "folders of /usr/lib/shikaku/libshikaku_oqs_folder_plugin.so"
        ),
        ["needs_action"],
        "{all:?}"
    );
    assert_eq!(status_of(&all, "configuration"), ["ok"], "{all:?}");
}
