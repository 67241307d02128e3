//! The real `shikakud` binary driven by the real `shikaku` CLI: the operations work, nothing
//! acknowledged is lost across a stop or a `kill -9`, and no secret reaches the log or the disk.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use shikaku_tests::bin;

struct Daemon {
    child: Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
}

/// Starts shikakud on a free port and waits for its "serving" log line (no sleeps).
fn start(data: &Path) -> Daemon {
    let mut child = Command::new(bin("shikakud"))
        .env("SHIKAKU_METRICS__LISTEN", "127.0.0.1:0")
        .args(["--listen", "127.0.0.1:0", "--log", "debug", "--data-dir"])
        .arg(data)
        .env("SHIKAKU_SIMULATOR__ACTIVATION_DELAY_SECS", "0")
        .env("SHIKAKU_SIMULATOR__HASH_MEMORY_KIB", "64")
        .env("SHIKAKU_SIMULATOR__HASH_PASSES", "1")
        .current_dir(data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, log) = std::sync::mpsc::channel();
    // A copy for the suite's log scan (`tests/log_scan.rs`).
    let mut copy = shikaku_tests::child_log("shikakud");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(copy, "{line}");
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = log.recv().expect("shikakud exited before serving");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    Daemon {
        child,
        addr: format!("http://{addr}"),
        log,
    }
}

impl Daemon {
    fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = Command::new(bin("shikaku"))
            .args(["--addr", &self.addr, "--terminal", "recept-1"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str], stdin: &str) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (ok, out, err) = self.cli(&all, stdin);
        assert!(ok, "shikaku {args:?} failed: {err}");
        serde_json::from_str(&out).unwrap()
    }

    fn stop(mut self, signal: &str) -> Vec<String> {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
        self.log.try_iter().collect()
    }
}

fn bytes_of_dir(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(p).unwrap());
        }
    }
    all
}

/// Whether `needle` occurs in `hay` on its own, not inside a longer run of letters and digits.
/// A 4-digit PIN also turns up by chance inside the random hex ids and the microseconds of
/// timestamps that a debug log and the audit rows are full of; a leak would stand on its own.
fn contains_alone(hay: &[u8], needle: &str) -> bool {
    let n = needle.len();
    let apart = |b: Option<&u8>| !b.is_some_and(u8::is_ascii_alphanumeric);
    hay.windows(n).enumerate().any(|(i, w)| {
        w == needle.as_bytes()
            && apart(i.checked_sub(1).and_then(|j| hay.get(j)))
            && apart(hay.get(i + n))
    })
}

#[test]
fn records_survive_restart_and_kill_and_secrets_stay_out_of_logs_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());

    let issued = d.json(&["activation", "issue", "--memo", "往診用タブレット"], "");
    let code = issued["code"].as_str().unwrap().to_owned();
    let id = issued["record"]["id"].as_str().unwrap().to_owned();
    let pw = d.json(&["visual-check-password", "issue", "staff01"], "");
    let password = pw["password"].as_str().unwrap().to_owned();

    // Every operation through the CLI: a card check with the PIN on stdin, a wrong PIN, a
    // visual check, a check by numbers, and the readable table output.
    let ok = d.json(
        &["check", "card", "--reader", "sim-taro", "--pin"],
        "1234\n",
    );
    assert_eq!(ok["result"]["validity"], "VALIDITY_VALID");
    let (success, _, err) = d.cli(
        &["check", "card", "--reader", "sim-hanako", "--pin"],
        "9876\n",
    );
    assert!(!success && err.contains("PIN_INCORRECT"), "{err}");
    let vc = d.json(
        &[
            "check",
            "card",
            "--reader",
            "sim-kokuho",
            "--visual-check",
            "staff01",
        ],
        &format!("{password}\n"),
    );
    assert_eq!(vc["result"]["visualCheckPerformed"], true);
    let (success, table, _) = d.cli(
        &[
            "check",
            "numbers",
            "--insurer",
            "06130488",
            "--symbol",
            "12-34",
            "--number",
            "4260",
            "--branch",
            "01",
            "--birth",
            "1970-01-01",
        ],
        "",
    );
    assert!(success && table.contains("診療　太郎"), "{table}");
    let (success, _, err) = d.cli(
        &[
            "check",
            "numbers",
            "--insurer",
            "06130489",
            "--number",
            "1",
            "--birth",
            "1970-01-01",
        ],
        "",
    );
    assert!(
        !success && err.contains("CHECK_DIGIT_MISMATCH") && err.contains("insurer_number"),
        "{err}"
    );
    let plugins = d.json(&["plugins", "list"], "");
    assert_eq!(plugins["plugins"].as_array().unwrap().len(), 2);

    // A graceful stop, then a restart: the record is there.
    let mut log = d.stop("-TERM");
    let d = start(dir.path());
    let list = d.json(&["activation", "list"], "");
    assert_eq!(list["records"][0]["id"], id.as_str());

    // Acknowledged then kill -9: still there.
    let redeemed = d.json(
        &["activation", "redeem", "--device", "tablet-1"],
        &format!("{code}\n"),
    );
    assert_eq!(
        redeemed["record"]["state"],
        "ACTIVATION_CODE_STATE_REDEEMED"
    );
    log.extend(d.stop("-KILL"));
    let d = start(dir.path());
    let list = d.json(&["activation", "list"], "");
    assert_eq!(
        list["records"][0]["state"],
        "ACTIVATION_CODE_STATE_REDEEMED"
    );
    log.extend(d.stop("-TERM"));

    // The audit trail recorded who did what.
    let conn = rusqlite::Connection::open(dir.path().join("shikaku.sqlite")).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE terminal = 'recept-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n >= 8, "{n} audit rows");
    drop(conn);

    // No PIN, password or code in the log (at debug level) or in any file the daemon wrote.
    let log = log.join("\n");
    let disk = bytes_of_dir(dir.path());
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    for secret in [code.as_str(), digits.as_str(), password.as_str(), "9876"] {
        assert!(
            !contains_alone(log.as_bytes(), secret),
            "{secret} appears in the log"
        );
        assert!(!contains_alone(&disk, secret), "{secret} appears on disk");
    }
}
