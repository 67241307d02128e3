//! A transport killed mid-request, then restarted: what the terminal never took is withdrawn,
//! what it took is answered once (as an event), and nothing is left behind.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use shikaku_domain::pb::Validity;
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::Fault;

/// Starts a separate process sending one check through the same folders and state.
fn spawn_check(rig: &Rig) -> Child {
    let path = rig.dir.path().join("config.json");
    let config = serde_json::json!({
        "root": rig.dir.path().join("share"),
        "state_dir": rig.dir.path().join("state"),
        "facility_code": rig.terminal.facility_code(),
        "poll_ms": 5,
        "guard": { "retry": { "max_attempts": 1 } },
    });
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_shikaku-oqs-folder-check"))
        .arg(&path)
        .args(["06130488", "4260", "1970-01-01", "60000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_restart_withdraws_what_was_not_taken_and_delivers_what_was() {
    let mut rig = rig(Encoding::ShiftJis, |_| {});
    let journal = rig.dir.path().join("state/inflight");

    // A: the terminal has taken the request (and answers slowly) when the process dies.
    rig.terminal
        .set_fault(Fault::Slow(Duration::from_millis(400)));
    let a = spawn_check(&rig);
    wait_for(30, "the terminal to take A", || rig.terminal.taken() == 1);
    kill(a);

    // B: the terminal is down; the request sits in req when the process dies.
    rig.terminal.set_fault(Fault::Down);
    let b = spawn_check(&rig);
    wait_for(30, "B in req", || {
        files(rig.terminal.req_dir())
            .iter()
            .any(|f| f.starts_with("OQSsiquc01req_"))
    });
    kill(b);
    wait_for(5, "A's answer in res", || rig.terminal.answered() == 1);
    assert_eq!(files(&journal).len(), 2, "both requests journalled");

    // Restart while the terminal is still down.
    rig.restart();
    assert_eq!(
        files(rig.terminal.req_dir()),
        Vec::<String>::new(),
        "B withdrawn"
    );
    rig.terminal.set_fault(Fault::None);
    let events = rig.drain_events(Duration::from_millis(500));
    assert_eq!(events.len(), 1, "A's answer delivered once");
    assert!(events[0].source.starts_with("res/OQSsiquc01res_"));
    assert_eq!(events[0].result.validity(), Validity::Valid);
    assert_eq!(events[0].result.qualifications[0].name, "診療　太郎");
    assert_eq!(
        rig.terminal.taken(),
        1,
        "B never reached the terminal, A was not sent again"
    );
    rig.assert_clean();
}

#[test]
fn an_event_not_asked_past_is_delivered_again_after_a_restart() {
    let mut rig = rig(Encoding::Utf8, |_| {});
    rig.terminal.drop_face("elderly").unwrap();
    let first = rig.drain_events(Duration::from_millis(200));
    assert_eq!(first.len(), 1);
    // drain_events asked past it, so it is acknowledged; drop another and crash before asking.
    rig.terminal.drop_face("child").unwrap();
    let e = rig
        .transport
        .next_event(within(2_000))
        .unwrap()
        .expect("the child's face result");
    rig.restart();
    let again = rig.drain_events(Duration::from_millis(200));
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].source, e.source,
        "the same file, so the daemon can tell"
    );
    assert_eq!(files(rig.terminal.face_dir()), Vec::<String>::new());
    rig.assert_clean();
}
