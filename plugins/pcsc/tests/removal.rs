//! Cards that come and go: no card, a card pulled off at the first APDU or mid-check, and the
//! next card working with the same plugin instance (nothing restarted).

mod common;

use common::{ReaderSession, deadline, pin, pin_check, plugin};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::ReaderError;
use shikaku_vcard::{InsertOptions, Rig};

#[test]
fn an_empty_reader_has_no_card() {
    let Some(rig) = Rig::start_or_skip("an_empty_reader_has_no_card", 1) else {
        return;
    };
    let readers = plugin();
    assert_eq!(
        readers
            .open(rig.reader(0).name(), deadline().instant())
            .err(),
        Some(ReaderError::NoCard)
    );
    assert_eq!(
        readers
            .open("No Such Reader 00 00", deadline().instant())
            .err(),
        Some(ReaderError::NotFound("No Such Reader 00 00".into()))
    );
}

#[test]
fn a_card_removed_mid_check_fails_it_and_the_next_card_works() {
    let Some(rig) = Rig::start_or_skip(
        "a_card_removed_mid_check_fails_it_and_the_next_card_works",
        1,
    ) else {
        return;
    };
    let readers = plugin();
    let reader = rig.reader(0).name();
    // The card leaves during the certificate read (APDU 4).
    let pulled = InsertOptions {
        remove_after: Some(4),
        ..Default::default()
    };
    rig.insert_with(0, "taro", pulled).unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(session.medium(deadline()), Ok(Medium::MyNumberCard));
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::CardRemoved)
    );
    // Later steps fail the same way without touching the reader.
    let sent = session.apdu_count();
    assert_eq!(
        session.verify_pin(&pin("1234"), deadline()),
        Err(ReaderError::CardRemoved)
    );
    assert_eq!(session.apdu_count(), sent);
    drop(session);
    rig.reader(0).wait_for_card(false).unwrap();
    assert_eq!(
        readers.open(reader, deadline().instant()).err(),
        Some(ReaderError::NoCard)
    );

    rig.insert(0, "hanako").unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(pin_check(&mut session, "2222"), Medium::MyNumberCard);
}

#[test]
fn a_card_pulled_at_the_first_apdu_is_removed() {
    let Some(rig) = Rig::start_or_skip("a_card_pulled_at_the_first_apdu_is_removed", 1) else {
        return;
    };
    let readers = plugin();
    let reader = rig.reader(0).name();
    let pulled = InsertOptions {
        remove_after: Some(1),
        ..Default::default()
    };
    rig.insert_with(0, "taro", pulled).unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(session.medium(deadline()), Err(ReaderError::CardRemoved));
    assert_eq!(
        session.read_auth_certificate(deadline()),
        Err(ReaderError::CardRemoved)
    );
    assert_eq!(session.apdu_count(), 1);
    drop(session);
    rig.reader(0).wait_for_card(false).unwrap();
    rig.insert(0, "taro").unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
}

#[test]
fn a_card_removed_between_steps_fails_the_next_step() {
    let Some(rig) = Rig::start_or_skip("a_card_removed_between_steps_fails_the_next_step", 1)
    else {
        return;
    };
    let readers = plugin();
    let reader = rig.reader(0).name();
    rig.insert(0, "taro").unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    session.read_auth_certificate(deadline()).unwrap();
    rig.reader(0).remove().unwrap();
    assert_eq!(
        session.verify_pin(&pin("1234"), deadline()),
        Err(ReaderError::CardRemoved)
    );
    // The same card back on the reader: a new session works, though the failed one is still
    // alive (it let go of the card when it saw it leave).
    rig.insert(0, "taro").unwrap();
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
    assert_eq!(rig.card("taro").unwrap().tries_left(), 3);
}
