//! Faults, through real folders: slow answers and writes, error results, malformed and truncated
//! files, no answer, a terminal that is down then back. Each ends with the expected error,
//! nothing lost and nothing left behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use shikaku_domain::pb::Validity;
use shikaku_domain::upstream::UpstreamError;
use shikaku_oqs_folder::CompletionMode;
use shikaku_oqs_folder::guard::BreakerState;
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::Fault;

fn taro() -> shikaku_domain::upstream::NumbersCheck {
    variants().remove(0).1
}

#[test]
fn a_slow_answer_within_the_deadline_is_fine() {
    let rig = rig(Encoding::Utf8, |_| {});
    rig.terminal
        .set_fault(Fault::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    let r = rig
        .transport
        .check_by_numbers(&taro(), within(3_000))
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.validity(), Validity::Valid);
    rig.assert_clean();
}

#[test]
fn a_result_written_in_halves_is_read_only_when_whole() {
    for mode in [CompletionMode::Parse, CompletionMode::Stable] {
        let rig = rig(Encoding::ShiftJis, |c| {
            c.completion.mode = mode;
            c.completion.settle_ms = 400;
        });
        rig.terminal
            .set_fault(Fault::SlowWrite(Duration::from_millis(200)));
        let r = rig
            .transport
            .check_by_numbers(&taro(), within(5_000))
            .unwrap();
        assert_eq!(r.validity(), Validity::Valid, "{mode:?}");
        assert_eq!(rig.terminal.taken(), 1, "read once, not retried");
        rig.assert_clean();
    }
}

#[test]
fn an_error_result_is_passed_on_and_not_retried() {
    let rig = rig(Encoding::ShiftJis, |_| {});
    rig.terminal.set_fault(Fault::ErrorResult {
        code: "EOQE1234".into(),
        message: "資格情報の照会でエラーが発生しました".into(),
    });
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(3_000))
        .unwrap_err();
    assert_eq!(
        e,
        UpstreamError::ErrorResult {
            code: "EOQE1234".into(),
            message: "資格情報の照会でエラーが発生しました".into()
        }
    );
    assert_eq!(rig.terminal.taken(), 1);
    rig.terminal.set_fault(Fault::FileError {
        code: "EOQE9001".into(),
        message: "異常終了".into(),
    });
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(3_000))
        .unwrap_err();
    assert!(
        matches!(e, UpstreamError::ErrorResult { ref code, .. } if code == "EOQE9001"),
        "{e:?}"
    );
    assert!(matches!(
        rig.transport.guard().breaker().state(),
        BreakerState::Closed { failures: 0 }
    ));
    rig.assert_clean();
}

#[test]
fn malformed_and_truncated_results_are_unavailable_after_retries() {
    for fault in [Fault::Malformed, Fault::Truncated] {
        let rig = rig(Encoding::Utf8, |c| c.completion.settle_ms = 150);
        rig.terminal.set_fault(fault.clone());
        let e = rig
            .transport
            .check_by_numbers(&taro(), within(5_000))
            .unwrap_err();
        match &e {
            UpstreamError::Unavailable(m) => assert!(m.contains("unreadable result"), "{m}"),
            other => panic!("{fault:?}: {other:?}"),
        }
        // A check is safe to repeat: three attempts, each cleaned up.
        assert_eq!(rig.terminal.taken(), 3, "{fault:?}");
        rig.assert_clean();
        // The terminal recovers; the next check succeeds.
        rig.terminal.set_fault(Fault::None);
        let r = rig
            .transport
            .check_by_numbers(&taro(), within(3_000))
            .unwrap();
        assert_eq!(r.validity(), Validity::Valid);
        rig.assert_clean();
    }
}

#[test]
fn no_answer_is_a_timeout_and_a_late_answer_becomes_an_event() {
    let rig = rig(Encoding::Utf8, |c| {
        c.guard.retry.max_attempts = 1;
        c.abandon_after_ms = 400;
    });
    rig.terminal.set_fault(Fault::NeverAnswer);
    let started = Instant::now();
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(300))
        .unwrap_err();
    assert_eq!(e, UpstreamError::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "kept to the deadline"
    );
    assert_eq!(rig.transport.in_flight(), 1, "remembered until given up");
    wait_for(5, "giving up on the unanswered request", || {
        rig.transport.sweep();
        rig.transport.in_flight() == 0
    });
    rig.assert_clean();

    rig.terminal
        .set_fault(Fault::Slow(Duration::from_millis(500)));
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(200))
        .unwrap_err();
    assert_eq!(e, UpstreamError::Timeout);
    let events = rig.drain_events(Duration::from_millis(1_000));
    assert_eq!(events.len(), 1, "the late answer is delivered, once");
    assert!(
        events[0].source.starts_with("res/OQSsiquc01res_"),
        "{}",
        events[0].source
    );
    assert_eq!(events[0].result.validity(), Validity::Valid);
    rig.assert_clean();
}

#[test]
fn a_terminal_that_is_down_opens_the_breaker_until_it_is_back() {
    let rig = rig(Encoding::Utf8, |c| {
        c.guard.retry.max_attempts = 1;
        c.guard.breaker.failure_threshold = 2;
        c.guard.breaker.open_ms = 400;
    });
    rig.terminal.set_fault(Fault::Down);
    for _ in 0..2 {
        let e = rig
            .transport
            .check_by_numbers(&taro(), within(150))
            .unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Unavailable(m) if m.contains("did not take")),
            "{e:?}"
        );
        rig.assert_clean();
    }
    assert!(matches!(
        rig.transport.guard().breaker().state(),
        BreakerState::Open { .. }
    ));
    let started = Instant::now();
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(5_000))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(50), "failed fast");
    assert!(
        matches!(&e, UpstreamError::RetryLater { retry_after, .. }
            if *retry_after > Duration::ZERO && *retry_after <= Duration::from_millis(400)),
        "{e:?}"
    );
    assert_eq!(
        files(rig.terminal.req_dir()),
        Vec::<String>::new(),
        "nothing sent while open"
    );

    rig.terminal.set_fault(Fault::None);
    let mut answered = None;
    wait_for(5, "the breaker to let a probe through", || {
        match rig.transport.check_by_numbers(&taro(), within(2_000)) {
            Ok(r) => {
                answered = Some(r);
                true
            }
            Err(UpstreamError::RetryLater { .. }) => false,
            Err(other) => panic!("{other:?}"),
        }
    });
    assert_eq!(answered.unwrap().validity(), Validity::Valid);
    assert_eq!(
        rig.transport.guard().breaker().state(),
        BreakerState::Closed { failures: 0 }
    );
    assert_eq!(
        rig.terminal.taken(),
        1,
        "only the probe reached the terminal"
    );
    rig.assert_clean();
}

#[test]
fn an_unreachable_share_is_unavailable_at_once() {
    let rig = rig(Encoding::Utf8, |c| c.guard.retry.max_attempts = 1);
    let req = rig.terminal.req_dir().to_owned();
    let hidden = req.with_file_name("req-unmounted");
    std::fs::rename(&req, &hidden).unwrap();
    let started = Instant::now();
    let e = rig
        .transport
        .check_by_numbers(&taro(), within(3_000))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.contains("not reachable")),
        "{e:?}"
    );
    std::fs::rename(&hidden, &req).unwrap();
    assert!(
        rig.transport
            .check_by_numbers(&taro(), within(3_000))
            .is_ok()
    );
    rig.assert_clean();
}

#[test]
fn at_most_the_configured_sessions_wait_at_the_terminal() {
    let rig = rig(Encoding::Utf8, |c| c.guard.max_sessions = 2);
    rig.terminal
        .set_fault(Fault::Slow(Duration::from_millis(300)));
    let peak = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let n = rig.transport.guard().limiter().in_use();
                peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| rig.transport.check_by_numbers(&taro(), within(5_000))))
            .collect();
        for w in workers {
            assert!(w.join().unwrap().is_ok());
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    rig.assert_clean();
}
