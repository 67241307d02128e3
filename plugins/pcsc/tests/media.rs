//! Each medium through the real pcscd: a My Number card (extended and short reads), an Android
//! phone, an iPhone, and a card with no JPKI applet.

mod common;

use std::time::Instant;

use common::{deadline, pin, pin_check, plugin};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::ReaderError;
use shikaku_vcard::{InsertOptions, Rig};

#[test]
fn a_my_number_card_takes_nine_apdus_with_one_extended_read() {
    let Some(rig) = Rig::start_or_skip(
        "a_my_number_card_takes_nine_apdus_with_one_extended_read",
        1,
    ) else {
        return;
    };
    rig.insert(0, "taro").unwrap();
    let readers = plugin();
    let started = Instant::now();
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert!(
        session.extended_length(),
        "the contact atr declares extended lc/le"
    );
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
    let elapsed = started.elapsed();
    assert_eq!(session.apdu_count(), 9, "{:#?}", rig.reader(0).apdu_log());
    assert_eq!(rig.reader(0).apdu_count(), 9, "the card counted the same");
    eprintln!(
        "pin check, my number card, extended reads: {} apdus in {elapsed:?}",
        session.apdu_count()
    );
    for r in rig.reader(0).apdu_log() {
        eprintln!("  {r}");
    }
}

#[test]
fn a_card_without_extended_apdus_is_read_in_256_byte_pieces() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_without_extended_apdus_is_read_in_256_byte_pieces",
        1,
    ) else {
        return;
    };
    let short = InsertOptions {
        extended: Some(false),
        ..Default::default()
    };
    rig.insert_with(0, "hanako", short).unwrap();
    let readers = plugin();
    let started = Instant::now();
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert!(!session.extended_length());
    assert_eq!(pin_check(&mut session, "2222"), Medium::MyNumberCard);
    let reads = rig
        .reader(0)
        .apdu_log()
        .iter()
        .filter(|r| r.header[1] == 0xB0)
        .count();
    let certificate_len = rig.card("hanako").unwrap().profile.certificate.len();
    assert_eq!(
        reads,
        1 + certificate_len.div_ceil(256),
        "token + certificate reads"
    );
    assert!(
        rig.reader(0)
            .apdu_log()
            .iter()
            .all(|r| r.response_len <= 258)
    );
    eprintln!(
        "pin check, my number card, short reads: {} apdus in {:?}",
        session.apdu_count(),
        started.elapsed()
    );
}

#[test]
fn a_card_that_refuses_extended_apdus_despite_its_atr_still_reads() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_that_refuses_extended_apdus_despite_its_atr_still_reads",
        1,
    ) else {
        return;
    };
    rig.insert_with(
        0,
        "taro",
        InsertOptions {
            extended: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    let config = serde_json::from_value(serde_json::json!({"extended_length": "always"})).unwrap();
    let readers = shikaku_pcsc::PcscReaders::new(config);
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
    assert!(!session.extended_length(), "fell back to short reads");
}

#[test]
fn an_android_phone_shows_its_certificate_only_after_its_pin() {
    let Some(rig) = Rig::start_or_skip(
        "an_android_phone_shows_its_certificate_only_after_its_pin",
        1,
    ) else {
        return;
    };
    rig.insert(0, "android").unwrap();
    let readers = plugin();
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert_eq!(session.medium(deadline()), Ok(Medium::Android));
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::PinRequired)
    );
    drop(session);
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    let started = Instant::now();
    assert_eq!(pin_check(&mut session, "2468"), Medium::Android);
    eprintln!(
        "pin check, android: {} apdus in {:?}",
        session.apdu_count(),
        started.elapsed()
    );
}

#[test]
fn an_iphone_signs_without_a_pin_at_the_reader() {
    let Some(rig) = Rig::start_or_skip("an_iphone_signs_without_a_pin_at_the_reader", 1) else {
        return;
    };
    rig.insert(0, "iphone").unwrap();
    let readers = plugin();
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    let started = Instant::now();
    assert_eq!(pin_check(&mut session, "0000"), Medium::Iphone);
    eprintln!(
        "check, iphone: {} apdus in {:?}",
        session.apdu_count(),
        started.elapsed()
    );
    assert!(matches!(
        session.verify_pin(&pin("1234"), deadline()),
        Err(ReaderError::Failure(_))
    ));
}

#[test]
fn a_card_without_the_jpki_applet_is_not_a_my_number_card() {
    let Some(rig) = Rig::start_or_skip("a_card_without_the_jpki_applet_is_not_a_my_number_card", 1)
    else {
        return;
    };
    rig.insert(0, "other").unwrap();
    let readers = plugin();
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert_eq!(
        session.medium(deadline()),
        Err(ReaderError::NotMyNumberCard)
    );
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::NotMyNumberCard)
    );
    assert_eq!(session.apdu_count(), 2, "one select each, nothing else");
}

#[test]
fn a_plugin_for_cards_only_refuses_a_phone() {
    let Some(rig) = Rig::start_or_skip("a_plugin_for_cards_only_refuses_a_phone", 1) else {
        return;
    };
    rig.insert(0, "android").unwrap();
    let config = serde_json::from_value(serde_json::json!({"media": "card"})).unwrap();
    let readers = shikaku_pcsc::PcscReaders::new(config);
    let mut session = readers.open(rig.reader(0).name(), deadline()).unwrap();
    assert!(matches!(
        session.medium(deadline()),
        Err(ReaderError::Failure(m)) if m.contains("smartphone")
    ));
}
