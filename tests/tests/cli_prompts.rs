//! The CLI's PIN prompt at a real terminal (a pty, driven by Python's `pty` module, which gives the
//! CLI a controlling terminal as a login shell would): the typed PIN is never echoed, and the
//! check goes through. Piped stdin and the environment variable are covered by the other tests.
#![cfg(unix)]

use std::process::Command;

use shikaku_tests::{TestDaemon, bin};

/// Runs argv[1..] in a new pty, waits for the prompt and for echo to be off (the prompt is
/// written before the terminal is set up), types the PIN and Enter, then passes on everything
/// the terminal showed and the exit code. Each wait is bounded at 30 s.
const DRIVE_A_TERMINAL: &str = r#"
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
shown = b""
def read_until(done):
    global shown
    deadline = time.monotonic() + 30
    while not done(shown):
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            sys.exit("timed out; the terminal showed %r" % shown)
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            return
        shown += chunk
read_until(lambda s: "暗証番号: ".encode() in s)
deadline = time.monotonic() + 30
while termios.tcgetattr(fd)[3] & termios.ECHO:
    if time.monotonic() > deadline:
        sys.exit("echo still on; the terminal showed %r" % shown)
    time.sleep(0.005)
os.write(fd, b"1234\r")
read_until(lambda s: False)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(shown)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_typed_at_a_terminal_is_not_echoed() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 drives the pty; install it (scripts/test.sh needs it too)");
        return;
    }
    let d = TestDaemon::start().await;
    let url = d.running.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", DRIVE_A_TERMINAL])
            .arg(bin("shikaku"))
            .args([
                "--addr", &url, "--json", "check", "card", "--reader", "sim-taro", "--pin",
            ])
            .env_remove("SHIKAKU_PIN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An echo would show between the prompt and the answer (JSON, whose ids may hold any digits).
    let (_, after_prompt) = shown.split_once("PIN 暗証番号: ").expect("the prompt");
    let (before_answer, answer) = after_prompt
        .split_once('{')
        .unwrap_or_else(|| panic!("no JSON answer: {shown:?}"));
    assert!(
        !before_answer.chars().any(|c| c.is_ascii_digit()),
        "the PIN was echoed: {shown}"
    );
    assert!(
        answer.contains("VALIDITY_VALID"),
        "the check went through: {shown}"
    );
    d.running.stop().await.unwrap();
}
