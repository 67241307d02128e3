//! Card edge cases through the real pcscd and `shikakud` with `libshikaku_pcsc.so`: a locked card
//! refused before the PIN leaves the host, a card pulled at the first APDU, a contactless
//! pseudo-ATR on a card that takes extended APDUs, and an iPhone that was not unlocked.
//!
//! The APDU log of the virtual card (`tests/vcard`) holds each command's header and length, never
//! its data: a VERIFY of 4 bytes is the tries query, one of 9 carries a PIN.

use shikaku_daemon::config::PluginConfig;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, IdentityMethod, Medium, PinIdentity, QualificationResult, Validity,
};
use shikaku_tests::{TestDaemon, plugin, reason};
use shikaku_vcard::{InsertOptions, Rig};
use tonic::Code;

/// The card-reader plugin, serving only the rig's first reader.
fn pcsc(rig: &Rig) -> PluginConfig {
    PluginConfig {
        path: plugin("shikaku_pcsc"),
        sha256: None,
        kind: None,
        max_concurrency: 64,
        timeout_ms: 10_000,
        grace_ms: 1_000,
        config: serde_json::json!({ "readers": [rig.reader(0).name()] })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

async fn daemon(rig: &Rig) -> TestDaemon {
    let plugin = pcsc(rig);
    TestDaemon::start_with(|c| {
        c.simulator.readers = false;
        c.plugins = vec![plugin];
    })
    .await
}

async fn check(
    d: &TestDaemon,
    reader: &str,
    pin: &str,
) -> Result<QualificationResult, tonic::Status> {
    check_warned(d, reader, pin, false).await
}

/// A PIN check; `last_try_acknowledged`: the patient was warned that a wrong PIN locks the card.
async fn check_warned(
    d: &TestDaemon,
    reader: &str,
    pin: &str,
    last_try_acknowledged: bool,
) -> Result<QualificationResult, tonic::Status> {
    let req = CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::Pin(PinIdentity {
            pin: pin.into(),
            last_try_acknowledged,
        })),
        ..Default::default()
    };
    d.qualification()
        .check_by_card(req)
        .await
        .map(|r| r.into_inner().result.unwrap())
}

/// The lengths of the VERIFY commands the card received.
fn verifies(rig: &Rig) -> Vec<usize> {
    rig.reader(0)
        .apdu_log()
        .iter()
        .filter(|r| r.header == [0x00, 0x20, 0x00, 0x80])
        .map(|r| r.command_len)
        .collect()
}

/// The card's APDU log, one line each, for failure messages.
fn log(rig: &Rig) -> String {
    rig.reader(0)
        .apdu_log()
        .iter()
        .map(|r| format!("\n  {r}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_card_is_refused_before_the_pin_leaves_the_host() {
    let Some(rig) =
        Rig::start_or_skip("a_locked_card_is_refused_before_the_pin_leaves_the_host", 1)
    else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(&rig).await;

    // A card locked before it came here: the tries query answers 6983 and no PIN is sent.
    rig.insert(0, "locked").unwrap();
    let e = check(&d, &reader, "1234").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert_eq!(
        reason(&e),
        (
            "CARD_LOCKED".into(),
            [("tries_left".to_owned(), "0".to_owned())].into()
        )
    );
    assert_eq!(verifies(&rig), [4], "{}", log(&rig));
    assert_eq!(rig.reader(0).apdu_count(), 6, "{}", log(&rig));
    rig.reader(0).remove().unwrap();

    // A card locked by wrong PINs here (the last try once the patient was warned): the try
    // that locks it sends a PIN, the next does not.
    rig.insert(0, "hanako").unwrap();
    for wrong in ["0000", "0001"] {
        check(&d, &reader, wrong).await.unwrap_err();
    }
    check_warned(&d, &reader, "0002", true).await.unwrap_err();
    assert_eq!(rig.card("hanako").unwrap().tries_left(), 0);
    rig.reader(0).reset_count();
    let e = check(&d, &reader, "2222").await.unwrap_err();
    assert_eq!(reason(&e).0, "CARD_LOCKED", "{e:?}");
    assert_eq!(verifies(&rig), [4], "{}", log(&rig));
    rig.reader(0).remove().unwrap();

    // An Android phone asks for its PIN before its certificate: the query comes first there too.
    rig.card("android").unwrap().set_tries_left(0);
    rig.insert(0, "android").unwrap();
    let e = check(&d, &reader, "2468").await.unwrap_err();
    assert_eq!(reason(&e).0, "CARD_LOCKED", "{e:?}");
    assert_eq!(verifies(&rig), [4], "{}", log(&rig));
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pulled_at_the_first_apdu_is_card_removed() {
    let Some(rig) = Rig::start_or_skip("a_card_pulled_at_the_first_apdu_is_card_removed", 1) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(&rig).await;
    let pulled = InsertOptions {
        remove_after: Some(1),
        ..Default::default()
    };
    rig.insert_with(0, "taro", pulled).unwrap();
    let e = check(&d, &reader, "1234").await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted, "{e:?}");
    assert_eq!(reason(&e).0, "CARD_REMOVED", "{e:?}");
    rig.reader(0).wait_for_card(false).unwrap();

    // The card placed again is read by the same plugin instance.
    rig.insert(0, "taro").unwrap();
    let r = check(&d, &reader, "1234").await.unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contactless_atr_reads_the_certificate_in_one_extended_apdu() {
    let Some(rig) = Rig::start_or_skip(
        "a_contactless_atr_reads_the_certificate_in_one_extended_apdu",
        1,
    ) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(&rig).await;

    // The pseudo-ATR declares nothing; the card takes extended APDUs. 9 APDUs per PIN check,
    // as on a contact card: 8 steps and the tries query.
    let contactless = InsertOptions {
        contactless: true,
        extended: Some(true),
        ..Default::default()
    };
    rig.insert_with(0, "taro", contactless).unwrap();
    for check_number in 1..=2 {
        rig.reader(0).reset_count();
        let r = check(&d, &reader, "1234").await.unwrap();
        assert_eq!(
            (r.validity(), r.medium(), r.identity_method()),
            (Validity::Valid, Medium::MyNumberCard, IdentityMethod::Pin)
        );
        assert_eq!(
            rig.reader(0).apdu_count(),
            9,
            "check {check_number}: {}",
            log(&rig)
        );
    }
    rig.reader(0).remove().unwrap();

    // A contactless card that refuses extended APDUs: the first check spends one refused read
    // and falls back to 256-byte reads; the reader remembers, so the next goes short at once.
    let short = InsertOptions {
        contactless: true,
        extended: Some(false),
        ..Default::default()
    };
    rig.insert_with(0, "hanako", short).unwrap();
    let short_reads = rig
        .card("hanako")
        .unwrap()
        .profile
        .certificate
        .len()
        .div_ceil(256) as u32;
    for (check_number, expected) in [(1, 10 + short_reads), (2, 9 + short_reads)] {
        rig.reader(0).reset_count();
        let r = check(&d, &reader, "2222").await.unwrap();
        assert_eq!(r.validity(), Validity::Valid);
        assert_eq!(
            rig.reader(0).apdu_count(),
            expected,
            "check {check_number}: {}",
            log(&rig)
        );
    }
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_iphone_is_told_to_unlock_the_phone() {
    let Some(rig) = Rig::start_or_skip("a_locked_iphone_is_told_to_unlock_the_phone", 1) else {
        return;
    };
    let reader = rig.reader(0).name().to_owned();
    let d = daemon(&rig).await;
    let locked = InsertOptions {
        phone_locked: true,
        ..Default::default()
    };
    rig.insert_with(0, "iphone", locked).unwrap();
    let e = check(&d, &reader, "").await.unwrap_err();
    // Not a plugin failure: the patient unlocks the phone and the same request succeeds.
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert_eq!(reason(&e).0, "PHONE_LOCKED", "{e:?}");
    assert!(e.message().contains("unlock"), "{e:?}");
    rig.reader(0).remove().unwrap();

    rig.insert(0, "iphone").unwrap();
    let r = check(&d, &reader, "").await.unwrap();
    assert_eq!(r.medium(), Medium::Iphone);
    d.running.stop().await.unwrap();
}
