//! Readers and events: listing, card insert/remove events, two readers used at once, and one
//! card held by one check at a time.

mod common;

use std::time::{Duration, Instant};

use common::{deadline, pin_check, plugin};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::{ReaderError, ReaderEventKind};
use shikaku_vcard::Rig;

#[test]
fn readers_are_listed_with_their_cards() {
    let Some(rig) = Rig::start_or_skip("readers_are_listed_with_their_cards", 1) else {
        return;
    };
    let readers = plugin();
    let name = rig.reader(0).name();
    let find = || {
        readers
            .list_readers(deadline().instant())
            .unwrap()
            .into_iter()
            .find(|r| r.name == name)
            .expect("the vpcd reader is listed")
    };
    assert!(!find().card_present);
    rig.insert(0, "taro").unwrap();
    assert!(find().card_present);
    assert!(!find().face_auth);
}

#[test]
fn card_insertion_and_removal_are_events() {
    let Some(rig) = Rig::start_or_skip("card_insertion_and_removal_are_events", 1) else {
        return;
    };
    let name = rig.reader(0).name().to_owned();
    // Only this test's reader: tests running beside it put cards on the other one.
    let readers = shikaku_pcsc::PcscReaders::new(shikaku_pcsc::PcscConfig {
        readers: vec![name.clone()],
        ..Default::default()
    });
    // The first call takes the readers as they are; nothing has happened yet.
    assert!(
        readers
            .next_event(Instant::now() + Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    let next_for_reader = || loop {
        let event = readers
            .next_event(deadline().instant())
            .unwrap()
            .expect("an event before the deadline");
        if event.reader.name == name {
            return event;
        }
    };
    rig.insert(0, "taro").unwrap();
    let event = next_for_reader();
    assert_eq!(event.kind, ReaderEventKind::CardInserted);
    assert!(event.reader.card_present);
    rig.reader(0).remove().unwrap();
    let event = next_for_reader();
    assert_eq!(event.kind, ReaderEventKind::CardRemoved);
    assert!(!event.reader.card_present);
}

#[test]
fn two_readers_serve_two_checks_at_once() {
    let Some(rig) = Rig::start_or_skip("two_readers_serve_two_checks_at_once", 2) else {
        return;
    };
    rig.insert(0, "taro").unwrap();
    rig.insert(1, "android").unwrap();
    let readers = plugin();
    let (a, b) = (rig.reader(0).name(), rig.reader(1).name());
    // Both sessions open before either check runs, and the checks run on two threads.
    let mut first = readers.open(a, deadline().instant()).unwrap();
    let mut second = readers.open(b, deadline().instant()).unwrap();
    std::thread::scope(|s| {
        let one = s.spawn(|| pin_check(&mut first, "1234"));
        let two = s.spawn(|| pin_check(&mut second, "2468"));
        assert_eq!(one.join().unwrap(), Medium::MyNumberCard);
        assert_eq!(two.join().unwrap(), Medium::Android);
    });
}

#[test]
fn a_card_serves_one_check_at_a_time() {
    let Some(rig) = Rig::start_or_skip("a_card_serves_one_check_at_a_time", 1) else {
        return;
    };
    rig.insert(0, "taro").unwrap();
    let readers = plugin();
    let name = rig.reader(0).name();
    let mut held = readers.open(name, deadline().instant()).unwrap();
    assert_eq!(
        readers.open(name, deadline().instant()).err(),
        Some(ReaderError::Busy)
    );
    assert_eq!(pin_check(&mut held, "1234"), Medium::MyNumberCard);
    drop(held);
    let mut next = readers.open(name, deadline().instant()).unwrap();
    assert_eq!(pin_check(&mut next, "1234"), Medium::MyNumberCard);
}

#[test]
fn a_plugin_serves_only_the_readers_it_is_configured_for() {
    let Some(rig) = Rig::start_or_skip("a_plugin_serves_only_the_readers_it_is_configured_for", 2)
    else {
        return;
    };
    let (served, other) = (rig.reader(0).name(), rig.reader(1).name());
    let readers = shikaku_pcsc::PcscReaders::new(shikaku_pcsc::PcscConfig {
        readers: vec![served.to_owned()],
        ..Default::default()
    });
    let listed: Vec<String> = readers
        .list_readers(deadline().instant())
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(listed, [served]);
    assert!(
        readers
            .next_event(Instant::now() + Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    // The other reader's card is neither an event nor open to this plugin.
    rig.insert(1, "hanako").unwrap();
    rig.insert(0, "taro").unwrap();
    let event = readers.next_event(deadline().instant()).unwrap().unwrap();
    assert_eq!(
        (event.kind, event.reader.name.as_str()),
        (ReaderEventKind::CardInserted, served)
    );
    assert_eq!(
        readers.open(other, deadline().instant()).err(),
        Some(ReaderError::NotFound(other.to_owned()))
    );
    let mut session = readers.open(served, deadline().instant()).unwrap();
    assert_eq!(pin_check(&mut session, "1234"), Medium::MyNumberCard);
}
