//! CheckByCard through the real pcscd: `shikakud` with the PC/SC plugins loaded from their `.so`
//! files, the project's virtual My Number card and phones (`tests/vcard`) on vsmartcard's vpcd
//! readers, and the embedded OQS simulator, which knows the cards' certificates.
//!
//! Each test takes its own rig readers (a file lock, so tests never share one) and points the
//! plugin at them with its `readers` key. Each skips with a message when pcscd is unreachable,
//! unless `SHIKAKU_REQUIRE_PCSCD` is set, as in CI.

use std::time::Duration;

use shikaku_daemon::config::PluginConfig;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::reader_event::Kind;
use shikaku_tests::pb::{
    CheckByCardRequest, FaceIdentity, IdentityMethod, IssueVisualCheckPasswordRequest,
    ListPluginsRequest, ListReadersRequest, Medium, PinIdentity, PluginKind, PluginState,
    QualificationResult, Validity, VisualCheckIdentity, WatchReadersRequest, WatchReadersResponse,
};
use shikaku_tests::{TestDaemon, bin, plugin, reason, test_config};
use shikaku_vcard::{InsertOptions, Rig};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

/// How long a reader event may take to reach a watcher (pcscd polls vpcd about every 400 ms).
const EVENT_WAIT: Duration = Duration::from_secs(10);

fn entry(lib: &str, config: serde_json::Value) -> PluginConfig {
    PluginConfig {
        path: plugin(lib),
        sha256: None,
        kind: None,
        max_concurrency: 64,
        timeout_ms: 10_000,
        grace_ms: 1_000,
        config: config.as_object().cloned().unwrap_or_default(),
    }
}

/// The card-reader plugin, serving only the rig's readers `indexes`.
fn pcsc(rig: &Rig, indexes: &[usize]) -> PluginConfig {
    let names: Vec<&str> = indexes.iter().map(|&i| rig.reader(i).name()).collect();
    entry("shikaku_pcsc", serde_json::json!({ "readers": names }))
}

/// shikakud with the embedded OQS simulator and no simulated readers: every reader is PC/SC.
async fn daemon(plugins: Vec<PluginConfig>) -> TestDaemon {
    TestDaemon::start_with(|c| {
        c.simulator.readers = false;
        c.plugins = plugins;
    })
    .await
}

fn pin(reader: &str, pin: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::Pin(PinIdentity {
            pin: pin.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn visual(reader: &str, password: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::VisualCheck(VisualCheckIdentity {
            account_id: "staff01".into(),
            password: password.into(),
        })),
        ..Default::default()
    }
}

fn face(reader: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::Face(FaceIdentity {})),
        ..Default::default()
    }
}

async fn check(
    d: &TestDaemon,
    req: CheckByCardRequest,
) -> Result<QualificationResult, tonic::Status> {
    d.qualification()
        .check_by_card(req)
        .await
        .map(|r| r.into_inner().result.unwrap())
}

async fn issue_password(d: &TestDaemon) -> String {
    d.visual_check()
        .issue_visual_check_password(IssueVisualCheckPasswordRequest {
            account_id: "staff01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .password
}

/// What a check answered, in one comparable value.
fn summary(r: &QualificationResult) -> (Validity, Medium, IdentityMethod) {
    (r.validity(), r.medium(), r.identity_method())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_medium_by_every_identity_method() {
    let Some(rig) = Rig::start_or_skip("every_medium_by_every_identity_method", 1) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    let password = issue_password(&d).await;

    // A My Number card, which takes extended APDUs: 9 APDUs for a PIN check (8 steps and the
    // tries query before VERIFY), 4 for a visual check (token and certificate only; the
    // certificate is read by its short EF identifier, with no SELECT).
    rig.insert(0, "taro").unwrap();
    let r = check(&d, pin(&reader, "1234")).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::MyNumberCard, IdentityMethod::Pin)
    );
    assert_eq!(
        rig.reader(0).apdu_count(),
        9,
        "{:#?}",
        rig.reader(0).apdu_log()
    );
    rig.reader(0).reset_count();
    let r = check(&d, visual(&reader, &password)).await.unwrap();
    assert_eq!(
        summary(&r),
        (
            Validity::Valid,
            Medium::MyNumberCard,
            IdentityMethod::VisualCheck
        )
    );
    assert!(r.visual_check_performed);
    assert_eq!(r.visual_check_account_id, "staff01");
    assert_eq!(rig.reader(0).apdu_count(), 4);
    // A PC/SC reader has no camera.
    let e = check(&d, face(&reader)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "FACE_AUTH_UNSUPPORTED");
    rig.reader(0).remove().unwrap();

    // An Android phone shows its certificate only after its PIN, so no visual check.
    rig.insert(0, "android").unwrap();
    let r = check(&d, pin(&reader, "2468")).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::Android, IdentityMethod::Pin)
    );
    let e = check(&d, visual(&reader, &password)).await.unwrap_err();
    assert_eq!(reason(&e).0, "PIN_REQUIRED");
    let e = check(&d, face(&reader)).await.unwrap_err();
    assert_eq!(reason(&e).0, "FACE_AUTH_UNSUPPORTED", "{e:?}");
    assert_eq!(rig.card("android").unwrap().tries_left(), 3);
    rig.reader(0).remove().unwrap();

    // An iPhone unlocks by biometrics on the phone: no PIN at the reader.
    rig.insert(0, "iphone").unwrap();
    let r = check(&d, pin(&reader, "")).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::Iphone, IdentityMethod::Pin)
    );
    let r = check(&d, visual(&reader, &password)).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::Iphone, IdentityMethod::VisualCheck)
    );
    let e = check(&d, face(&reader)).await.unwrap_err();
    assert_eq!(reason(&e).0, "FACE_AUTH_UNSUPPORTED");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_count_down_and_the_third_locks_the_card() {
    let Some(rig) = Rig::start_or_skip("wrong_pins_count_down_and_the_third_locks_the_card", 1)
    else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    rig.insert(0, "hanako").unwrap();
    for (wrong, left) in [("0000", "2"), ("0001", "1")] {
        let e = check(&d, pin(&reader, wrong)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(
            reason(&e),
            (
                "PIN_INCORRECT".into(),
                [("tries_left".to_owned(), left.to_owned())].into()
            )
        );
        assert!(!e.message().contains(wrong), "{e:?}");
    }
    // One try left: refused before the PIN reaches the card, unless the patient was warned.
    let e = check(&d, pin(&reader, "0002")).await.unwrap_err();
    assert_eq!(reason(&e).0, "PIN_LAST_TRY", "{e:?}");
    assert_eq!(rig.card("hanako").unwrap().tries_left(), 1);
    let mut warned = pin(&reader, "0002");
    if let Some(Identity::Pin(p)) = warned.identity.as_mut() {
        p.last_try_acknowledged = true;
    }
    let e = check(&d, warned).await.unwrap_err();
    // The whole status on failure: this has failed once under a loaded full suite.
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert_eq!(reason(&e).0, "CARD_LOCKED", "{e:?}");
    assert_eq!(rig.card("hanako").unwrap().tries_left(), 0);
    // Locked means locked, even with the right PIN.
    let e = check(&d, pin(&reader, "2222")).await.unwrap_err();
    assert_eq!(reason(&e).0, "CARD_LOCKED");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_card_is_refused() {
    let Some(rig) = Rig::start_or_skip("a_locked_card_is_refused", 1) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    rig.insert(0, "locked").unwrap();
    let e = check(&d, pin(&reader, "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        reason(&e),
        (
            "CARD_LOCKED".into(),
            [("tries_left".to_owned(), "0".to_owned())].into()
        )
    );
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_removed_mid_check_fails_it_and_the_next_card_works() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_removed_mid_check_fails_it_and_the_next_card_works",
        1,
    ) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    // The card leaves when the certificate read (the 4th APDU) arrives.
    let pulled = InsertOptions {
        remove_after: Some(4),
        ..Default::default()
    };
    rig.insert_with(0, "taro", pulled).unwrap();
    let e = check(&d, pin(&reader, "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(reason(&e).0, "CARD_REMOVED");
    rig.reader(0).wait_for_card(false).unwrap();
    let e = check(&d, pin(&reader, "1234")).await.unwrap_err();
    assert_eq!(reason(&e).0, "NO_CARD");

    // The next card works with the same daemon and plugin instance.
    rig.insert(0, "hanako").unwrap();
    let r = check(&d, pin(&reader, "2222")).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::MyNumberCard, IdentityMethod::Pin)
    );
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_is_not_a_my_number_card_no_card_and_unknown_readers() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_that_is_not_a_my_number_card_no_card_and_unknown_readers",
        1,
    ) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    rig.insert(0, "other").unwrap();
    let e = check(&d, pin(&reader, "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "NOT_A_MY_NUMBER_CARD");
    rig.reader(0).remove().unwrap();

    let e = check(&d, pin(&reader, "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "NO_CARD");
    // A reader pcscd does not have, and one the plugin is not configured to serve.
    for unknown in ["No Such Reader 00 00", "Virtual PCD 00 7F"] {
        let e = check(&d, pin(unknown, "1234")).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(reason(&e).1["reader"], unknown);
    }
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_serve_two_clients_at_once() {
    let Some(rig) = Rig::start_or_skip("two_readers_serve_two_clients_at_once", 2) else {
        return;
    };
    let (first, second) = (
        rig.reader(0).name().to_owned(),
        rig.reader(1).name().to_owned(),
    );
    let d = daemon(vec![pcsc(&rig, &[0, 1])]).await;
    rig.insert(0, "taro").unwrap();
    rig.insert(1, "hanako").unwrap();

    let readers = d
        .qualification()
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    let listed: Vec<(&str, &str, bool)> = readers
        .iter()
        .map(|r| (r.name.as_str(), r.plugin.as_str(), r.card_present))
        .collect();
    assert_eq!(
        listed,
        [
            (first.as_str(), "pcsc", true),
            (second.as_str(), "pcsc", true)
        ]
    );

    // A second client on its own connection.
    let other = Channel::from_shared(d.running.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut other =
        shikaku_tests::pb::qualification_service_client::QualificationServiceClient::new(other);
    let (a, b) = tokio::join!(
        check(&d, pin(&first, "1234")),
        other.check_by_card(pin(&second, "2222"))
    );
    let b = b.unwrap().into_inner().result.unwrap();
    assert_eq!(a.unwrap().validity(), Validity::Valid);
    assert_eq!(b.validity(), Validity::Valid);
    // Each card saw exactly its own check (with the tries query before VERIFY).
    assert_eq!(rig.reader(0).apdu_count(), 9);
    assert_eq!(rig.reader(1).apdu_count(), 9);
    d.running.stop().await.unwrap();
}

/// The next event about `reader`, skipping other readers' (none is expected with the filter).
async fn next_about(
    events: &mut tonic::Streaming<WatchReadersResponse>,
    reader: &str,
) -> (Kind, bool, bool) {
    loop {
        let e = tokio::time::timeout(EVENT_WAIT, events.next())
            .await
            .expect("an event within the wait")
            .expect("the stream is open")
            .unwrap()
            .event
            .expect("each message holds an event");
        let r = e.reader.as_ref().unwrap();
        if r.name == reader {
            assert_eq!(r.plugin, "pcsc");
            return (e.kind(), e.initial, r.card_present);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_readers_sees_cards_placed_and_taken_away() {
    let Some(rig) = Rig::start_or_skip("watch_readers_sees_cards_placed_and_taken_away", 1) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(vec![pcsc(&rig, &[0])]).await;
    let mut events = d
        .qualification()
        .watch_readers(WatchReadersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next_about(&mut events, &reader).await,
        (Kind::ReaderAdded, true, false)
    );
    rig.insert(0, "taro").unwrap();
    assert_eq!(
        next_about(&mut events, &reader).await,
        (Kind::CardInserted, false, true)
    );
    rig.reader(0).remove().unwrap();
    assert_eq!(
        next_about(&mut events, &reader).await,
        (Kind::CardRemoved, false, false)
    );
    // A phone is an insertion like any card.
    rig.insert(0, "iphone").unwrap();
    assert_eq!(
        next_about(&mut events, &reader).await,
        (Kind::CardInserted, false, true)
    );
    d.running.stop().await.unwrap();
    assert!(events.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smartphone_plugin_reads_phones_on_the_reader_it_serves() {
    let Some(rig) = Rig::start_or_skip(
        "the_smartphone_plugin_reads_phones_on_the_reader_it_serves",
        2,
    ) else {
        return;
    };
    let (cards, phones) = (
        rig.reader(0).name().to_owned(),
        rig.reader(1).name().to_owned(),
    );
    let d = daemon(vec![
        pcsc(&rig, &[0]),
        entry(
            "shikaku_pcsc_smartphone",
            serde_json::json!({ "readers": [phones] }),
        ),
    ])
    .await;
    let plugins = d
        .plugins()
        .list_plugins(ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let kinds: Vec<(&str, PluginKind, PluginState)> = plugins
        .iter()
        .filter(|p| p.name.starts_with("pcsc"))
        .map(|p| (p.name.as_str(), p.kind(), p.state()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("pcsc", PluginKind::CardReader, PluginState::Ready),
            (
                "pcsc-smartphone",
                PluginKind::SmartphoneReader,
                PluginState::Ready
            ),
        ]
    );
    let readers = d
        .qualification()
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    let owners: Vec<(&str, &str)> = readers
        .iter()
        .map(|r| (r.name.as_str(), r.plugin.as_str()))
        .collect();
    assert_eq!(
        owners,
        [
            (cards.as_str(), "pcsc"),
            (phones.as_str(), "pcsc-smartphone")
        ]
    );

    rig.insert(1, "android").unwrap();
    let r = check(&d, pin(&phones, "2468")).await.unwrap();
    assert_eq!(
        summary(&r),
        (Validity::Valid, Medium::Android, IdentityMethod::Pin)
    );
    rig.reader(1).remove().unwrap();
    rig.insert(1, "iphone").unwrap();
    let r = check(&d, pin(&phones, "")).await.unwrap();
    assert_eq!(r.medium(), Medium::Iphone);
    rig.reader(1).remove().unwrap();

    // A card on the phones' reader is refused by name, before any PIN is spent.
    rig.insert(1, "taro").unwrap();
    let e = check(&d, pin(&phones, "1234")).await.unwrap_err();
    assert!(e.message().contains("reads smartphones only"), "{e:?}");
    assert_eq!(rig.card("taro").unwrap().tries_left(), 3);
    // The same card on the card reader is read.
    rig.reader(1).remove().unwrap();
    rig.insert(0, "taro").unwrap();
    let r = check(&d, pin(&cards, "1234")).await.unwrap();
    assert_eq!(r.medium(), Medium::MyNumberCard);
    d.running.stop().await.unwrap();
}

/// `shikaku plugins check LIB --pin --reader READER --json`: the exit code and each step's
/// outcome.
fn conformance(lib: &str, reader: &str, pin: &str) -> (i32, Vec<(String, String)>) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin("shikaku"))
        .args(["--json", "plugins", "check", "--pin", "--reader", reader])
        .arg(plugin(lib))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{pin}").unwrap();
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
fn both_libraries_pass_the_conformance_check_on_the_rig() {
    let Some(rig) = Rig::start_or_skip("both_libraries_pass_the_conformance_check_on_the_rig", 1)
    else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    for (lib, card, pin, expected) in [
        (
            "shikaku_pcsc",
            "taro",
            "1234",
            &["medium", "verify_pin", "sign"][..],
        ),
        // An Android phone: its certificate is refused before the PIN and read after it.
        (
            "shikaku_pcsc_smartphone",
            "android",
            "2468",
            &[
                "read_auth_certificate before pin",
                "read_auth_certificate",
                "sign",
            ][..],
        ),
    ] {
        rig.insert(0, card).unwrap();
        let (code, outcomes) = conformance(lib, &reader, pin);
        assert_eq!(code, 0, "{lib}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|(_, o)| o == "pass"),
            "{lib}: {outcomes:?}"
        );
        for step in expected {
            assert!(
                outcomes.iter().any(|(s, _)| s == step),
                "{lib}: {step} missing from {outcomes:?}"
            );
        }
        rig.reader(0).remove().unwrap();
    }
}

#[tokio::test]
async fn a_bad_plugin_configuration_stops_the_daemon_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (lib, config, expected) in [
        (
            "shikaku_pcsc",
            serde_json::json!({ "media": "tablet" }),
            "tablet",
        ),
        (
            "shikaku_pcsc",
            serde_json::json!({ "extended": true }),
            "unknown field `extended`",
        ),
        (
            "shikaku_pcsc_smartphone",
            serde_json::json!({ "media": "card" }),
            "smartphones only",
        ),
    ] {
        let mut c = test_config(&dir);
        c.simulator.readers = false;
        c.plugins = vec![entry(lib, config)];
        let e = shikaku_daemon::Running::start(&c)
            .await
            .err()
            .expect("the daemon refuses to start");
        assert!(e.to_string().contains(expected), "{lib}: {e}");
    }
}
