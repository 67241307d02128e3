//! PIN tries through the real pcscd: a wrong PIN reports tries left, the third locks the card,
//! a locked card says so without receiving the PIN, a right PIN restores the counter.

mod common;

use common::{ReaderSession, deadline, pin, pin_check, plugin};
use shikaku_domain::reader::ReaderError;
use shikaku_vcard::Rig;

#[test]
fn wrong_pins_count_down_and_the_third_locks_the_card() {
    let Some(rig) = Rig::start_or_skip("wrong_pins_count_down_and_the_third_locks_the_card", 1)
    else {
        return;
    };
    rig.insert(0, "kokuho").unwrap();
    let readers = plugin();
    let reader = rig.reader(0).name();
    for tries_left in [2, 1] {
        let mut session = readers.open(reader, deadline().instant()).unwrap();
        session.read_auth_certificate(deadline()).unwrap();
        assert_eq!(
            session.verify_pin(&pin("0000"), deadline()),
            Err(ReaderError::PinIncorrect { tries_left })
        );
    }
    let mut session = readers.open(reader, deadline().instant()).unwrap();
    assert_eq!(
        session.verify_pin(&pin("0000"), deadline()),
        Err(ReaderError::CardLocked)
    );
    assert_eq!(rig.card("kokuho").unwrap().tries_left(), 0);
    // Even the right PIN cannot open a locked card, and nothing can be signed.
    assert_eq!(
        session.verify_pin(&pin("3333"), deadline()),
        Err(ReaderError::CardLocked)
    );
    assert!(session.sign(&[0x30; 51], deadline()).is_err());
}

#[test]
fn a_right_pin_restores_the_tries() {
    let Some(rig) = Rig::start_or_skip("a_right_pin_restores_the_tries", 1) else {
        return;
    };
    rig.insert(0, "elderly").unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert_eq!(
        session.verify_pin(&pin("9999"), deadline()),
        Err(ReaderError::PinIncorrect { tries_left: 2 })
    );
    drop(session);
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    pin_check(&mut session, "4444");
    assert_eq!(rig.card("elderly").unwrap().tries_left(), 3);
}

#[test]
fn a_locked_card_is_reported_locked() {
    let Some(rig) = Rig::start_or_skip("a_locked_card_is_reported_locked", 1) else {
        return;
    };
    rig.insert(0, "locked").unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    session.read_auth_certificate(deadline()).unwrap();
    assert_eq!(
        session.verify_pin(&pin("1234"), deadline()),
        Err(ReaderError::CardLocked)
    );
}

#[test]
fn a_locked_card_never_receives_the_pin() {
    let Some(rig) = Rig::start_or_skip("a_locked_card_never_receives_the_pin", 1) else {
        return;
    };
    rig.insert(0, "locked").unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    session.read_auth_certificate(deadline()).unwrap();
    rig.reader(0).reset_count();
    assert_eq!(
        session.verify_pin(&pin("1234"), deadline()),
        Err(ReaderError::CardLocked)
    );
    // SELECT EF 0018, then VERIFY without data (4 bytes) answered 6983; no VERIFY with data.
    let log: Vec<([u8; 4], usize, u16)> = rig
        .reader(0)
        .apdu_log()
        .iter()
        .map(|r| (r.header, r.command_len, r.sw))
        .collect();
    assert_eq!(
        log,
        [
            ([0x00, 0xA4, 0x02, 0x0C], 7, 0x9000),
            ([0x00, 0x20, 0x00, 0x80], 4, 0x6983),
        ]
    );
}

#[test]
fn the_verified_pin_does_not_outlive_the_session() {
    let Some(rig) = Rig::start_or_skip("the_verified_pin_does_not_outlive_the_session", 1) else {
        return;
    };
    rig.insert(0, "taro").unwrap();
    let readers = plugin();
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    session.verify_pin(&pin("1234"), deadline()).unwrap();
    drop(session);
    let mut session = readers
        .open(rig.reader(0).name(), deadline().instant())
        .unwrap();
    assert!(matches!(
        session.sign(&[0x30; 51], deadline()),
        Err(ReaderError::Failure(m)) if m.contains("verify the pin")
    ));
}
