//! `shikaku plugins check PATH`: the conformance check a vendor runs against their library.

use std::io::Write;
use std::process::{Command, Stdio};

use shikaku_tests::{bin, c_plugin, plugin};

/// Runs the check with `--json`, answering the exit code and each step's outcome.
fn check(args: &[&str], path: &std::path::Path, pin: Option<&str>) -> (i32, Vec<(String, String)>) {
    let mut child = Command::new(bin("shikaku"))
        .args(["--json", "plugins", "check"])
        .args(args)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(pin) = pin {
        writeln!(stdin, "{pin}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let steps: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let steps = steps
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), steps)
}

#[test]
fn a_good_reader_passes_every_step_with_a_pin() {
    let (code, steps) = check(
        &["--pin", "--reader", "sim-taro"],
        &plugin("shikaku_sim_reader"),
        Some("1234"),
    );
    assert_eq!(code, 0, "{steps:?}");
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    for step in [
        "load",
        "list_readers",
        "next_event",
        "open",
        "medium",
        "read_auth_certificate",
        "verify_pin",
        "sign",
        "still ready",
    ] {
        assert!(names.contains(&step), "{step} missing from {names:?}");
    }
    assert!(steps.iter().all(|(_, o)| o == "pass"), "{steps:?}");
}

#[test]
fn a_reader_without_a_card_skips_the_card_steps() {
    let (code, steps) = check(&[], &plugin("acme_reader"), None);
    assert_eq!(code, 0);
    assert!(steps.contains(&("card operations".into(), "skip".into())));
}

#[test]
fn an_old_c_upstream_passes_and_a_wrong_abi_fails_at_load() {
    let (code, steps) = check(&[], &c_plugin(&[]), None);
    assert_eq!(code, 0, "{steps:?}");
    assert!(steps.contains(&("challenge".into(), "pass".into())));
    assert!(steps.contains(&("bulk_check".into(), "skip".into())));

    let (code, steps) = check(&[], &c_plugin(&["ABI_MAJOR=2"]), None);
    assert_eq!(code, 1);
    assert_eq!(steps, vec![("load".to_owned(), "FAIL".to_owned())]);
}
