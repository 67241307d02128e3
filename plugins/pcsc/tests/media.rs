//! Each medium through the real pcscd: a My Number card (extended and short reads, contact and
//! contactless ATRs), an Android phone, an iPhone (unlocked or not), and a card with no JPKI
//! applet.

mod common;

use std::time::Instant;

use common::{ReaderSession, deadline, pin, pin_check, plugin};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::ReaderError;
use shikaku_vcard::{InsertOptions, Rig};

/// The APDUs of a PIN check, as the card logged them, for a failure message.
fn log(rig: &Rig) -> String {
    rig.reader(0)
        .apdu_log()
        .iter()
        .map(|r| format!("\n  {r}"))
        .collect()
}

/// How many READ BINARYs the card answered, and how many of them were extended.
fn reads(rig: &Rig) -> (usize, usize) {
    let log = rig.reader(0).apdu_log();
    let reads: Vec<_> = log.iter().filter(|r| r.header[1] == 0xB0).collect();
    // A short READ BINARY is 5 bytes; an extended one 7.
    let extended = reads.iter().filter(|r| r.command_len == 7).count();
    (reads.len(), extended)
}

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
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert!(
        session.extended_length(),
        "the contact atr declares extended lc/le"
    );
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
    let elapsed = started.elapsed();
    // 8 steps, and the tries query (VERIFY without data) before the VERIFY.
    assert_eq!(session.apdu_count(), 9, "{}", log(&rig));
    assert_eq!(rig.reader(0).apdu_count(), 9, "the card counted the same");
    // The certificate is read by its short EF identifier, with no SELECT EF 000A before it.
    let log_entries = rig.reader(0).apdu_log();
    assert!(
        log_entries
            .iter()
            .any(|r| r.header == [0x00, 0xB0, 0x8A, 0x00] && r.command_len == 7),
        "{}",
        log(&rig)
    );
    assert_eq!(
        log_entries
            .iter()
            .filter(|r| r.header == [0x00, 0xA4, 0x02, 0x0C])
            .count(),
        3,
        "select ef 0006, 0018 and 0017 only: {}",
        log(&rig)
    );
    let verifies: Vec<usize> = rig
        .reader(0)
        .apdu_log()
        .iter()
        .filter(|r| r.header == [0x00, 0x20, 0x00, 0x80])
        .map(|r| r.command_len)
        .collect();
    assert_eq!(verifies, [4, 9], "tries query, then the pin");
    assert_eq!(reads(&rig), (2, 1), "token, then one extended read");
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
    // Its contactless ATR says nothing: the first check tries one extended read, which the
    // card refuses (6700), and reads the rest in short APDUs.
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert!(session.extended_length(), "tried at first");
    assert_eq!(pin_check(&mut session, "2222"), Medium::MyNumberCard);
    assert!(!session.extended_length());
    let certificate_len = rig.card("hanako").unwrap().profile.certificate.len();
    assert_eq!(
        reads(&rig),
        (1 + 1 + certificate_len.div_ceil(256), 1),
        "{}",
        log(&rig)
    );
    drop(session);
    // The reader remembers: the next check reads in short APDUs straight away.
    rig.reader(0).reset_count();
    let started = Instant::now();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert_eq!(pin_check(&mut session, "2222"), Medium::MyNumberCard);
    assert!(!session.extended_length());
    let reads = rig
        .reader(0)
        .apdu_log()
        .iter()
        .filter(|r| r.header[1] == 0xB0)
        .count();
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
fn a_contactless_atr_on_a_card_that_takes_extended_apdus_reads_in_one() {
    let Some(rig) = Rig::start_or_skip(
        "a_contactless_atr_on_a_card_that_takes_extended_apdus_reads_in_one",
        1,
    ) else {
        return;
    };
    let contactless = InsertOptions {
        contactless: true,
        extended: Some(true),
        ..Default::default()
    };
    rig.insert_with(0, "taro", contactless).unwrap();
    let readers = plugin();
    for check in ["first", "second"] {
        rig.reader(0).reset_count();
        let started = Instant::now();
        let mut session = readers
            .open(rig.reader(0).name(), deadline().instant())
            .unwrap();
        assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
        assert!(session.extended_length(), "{check} check");
        assert_eq!(session.apdu_count(), 9, "{check} check: {}", log(&rig));
        assert_eq!(reads(&rig), (2, 1), "{check} check: {}", log(&rig));
        eprintln!(
            "pin check, my number card, contactless atr ({check}): {} apdus in {:?}",
            session.apdu_count(),
            started.elapsed()
        );
    }
}

#[test]
fn a_card_that_refuses_short_ef_identifiers_is_read_after_a_select() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_that_refuses_short_ef_identifiers_is_read_after_a_select",
        1,
    ) else {
        return;
    };
    let no_short_ids = InsertOptions {
        no_short_ids: true,
        ..Default::default()
    };
    rig.insert_with(0, "taro", no_short_ids).unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
    assert!(session.extended_length(), "still one extended read");
    // The refused read (6A81), SELECT EF 000A, and the same read of the selected EF: two
    // APDUs more than the 9.
    assert_eq!(session.apdu_count(), 11, "{}", log(&rig));
    assert_eq!(reads(&rig), (3, 2), "{}", log(&rig));
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
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
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
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert_eq!(session.medium(deadline()), Ok(Medium::Android));
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::PinRequired)
    );
    drop(session);
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
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
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
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
fn a_locked_iphone_is_told_to_unlock() {
    let Some(rig) = Rig::start_or_skip("a_locked_iphone_is_told_to_unlock", 1) else {
        return;
    };
    let locked = InsertOptions {
        phone_locked: true,
        ..Default::default()
    };
    rig.insert_with(0, "iphone", locked).unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert_eq!(session.medium(deadline()), Ok(Medium::Iphone));
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::PhoneLocked)
    );
    assert_eq!(
        session.sign(&[0x30; 51], deadline()),
        Err(ReaderError::PhoneLocked)
    );
}

#[test]
fn a_card_without_the_jpki_applet_is_not_a_my_number_card() {
    let Some(rig) = Rig::start_or_skip("a_card_without_the_jpki_applet_is_not_a_my_number_card", 1)
    else {
        return;
    };
    rig.insert(0, "other").unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
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
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert!(matches!(
        session.medium(deadline()),
        Err(ReaderError::Failure(m)) if m.contains("smartphone")
    ));
}
