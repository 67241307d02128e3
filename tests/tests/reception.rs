//! ReceptionService: kiosk check-in for each kind of patient, patient links, manual acceptance,
//! and WatchReceptions resuming after a disconnect and after a daemon restart.

use std::time::Duration;

use shikaku_daemon::config::ReceptionMode as ModeConfig;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::link_patient_request::Person;
use shikaku_tests::pb::{
    AcceptReceptionRequest, CheckByCardRequest, CheckInRequest, CheckInResponse, KioskInstruction,
    LinkPatientRequest, LinkedPerson, ListPatientLinksRequest, ListReceptionsRequest, PatientMatch,
    PinIdentity, ReceptionEntry, ReceptionMode, ReceptionRef, ReceptionSource, ReceptionStatus,
    RejectReceptionRequest, RemovePatientLinkRequest, Sex, Validity, WatchReceptionsRequest,
    WatchReceptionsResponse,
};
use shikaku_tests::{TestDaemon, reason, violations};
use tonic::{Code, Streaming};

const FACILITY: &str = "1311111114";

/// Six simulated cards, each in its own reader with its PIN: kiosks that check in at once.
const KIOSK_READERS: [(&str, &str); 6] = [
    ("sim-taro", "1234"),
    ("sim-kokuho", "3333"),
    ("sim-elderly", "4444"),
    ("sim-limit-a", "5555"),
    ("sim-disease", "6666"),
    ("sim-child", "8888"),
];

fn kiosk(reader: &str, pin: &str) -> CheckInRequest {
    CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: reader.into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: pin.into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn check_in(
    d: &TestDaemon,
    reader: &str,
    pin: &str,
) -> Result<CheckInResponse, tonic::Status> {
    d.reception()
        .check_in(kiosk(reader, pin))
        .await
        .map(|r| r.into_inner())
}

async fn list(d: &TestDaemon) -> Vec<ReceptionEntry> {
    d.reception()
        .list_receptions(ListReceptionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries
}

fn today(id: u64) -> Option<ReceptionRef> {
    Some(ReceptionRef {
        date: String::new(),
        id,
    })
}

/// The next entry of a watch, failing the test if none comes within 10 s.
async fn next(stream: &mut Streaming<WatchReceptionsResponse>) -> ReceptionEntry {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an entry within 10 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
        .entry
        .expect("each message holds an entry")
}

async fn watch(d: &TestDaemon, after_id: u64) -> Streaming<WatchReceptionsResponse> {
    d.reception()
        .watch_receptions(WatchReceptionsRequest {
            date: String::new(),
            after_id,
        })
        .await
        .unwrap()
        .into_inner()
}

fn with_facility(c: &mut shikaku_daemon::Config) {
    c.facility_code = Some(FACILITY.into());
}

#[tokio::test]
async fn check_in_tells_new_returning_changed_and_invalid_patients_apart() {
    let d = TestDaemon::start_with(with_facility).await;

    // First visit: nobody is linked yet.
    let r = check_in(&d, "sim-taro", "1234").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::FirstVisit);
    assert!(r.message.contains("窓口"));
    let e = r.entry.unwrap();
    assert_eq!((e.id, e.r#match()), (1, PatientMatch::NewPatient));
    assert!(e.needs_confirmation);
    assert_eq!(e.status(), ReceptionStatus::Pending);
    assert_eq!(e.facility_code, FACILITY);
    assert_eq!(e.source(), ReceptionSource::Kiosk);
    assert_eq!(
        (e.name.as_str(), e.birth_date.as_str()),
        ("診療　太郎", "1970-01-01")
    );
    assert_eq!(e.result.as_ref().unwrap().validity(), Validity::Valid);

    // The counter registers the patient and links the number from the entry.
    let link = d
        .reception()
        .link_patient(LinkPatientRequest {
            patient_number: "01234".into(),
            person: Some(Person::Reception(ReceptionRef {
                date: e.date.clone(),
                id: e.id,
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(link.created);
    assert_eq!(link.link.unwrap().person.unwrap().number, "4260");

    // Returning patient: the number is found, and automatic mode takes the entry at once.
    let r = check_in(&d, "sim-taro", "1234").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::GoAhead);
    let e = r.entry.unwrap();
    assert_eq!((e.id, e.patient_number.as_str()), (2, "01234"));
    assert_eq!(e.r#match(), PatientMatch::Linked);
    assert_eq!(e.status(), ReceptionStatus::Accepted);
    assert_eq!(e.decided_by, "automatic");
    assert!(!e.needs_confirmation);

    // Changed insurance: hanako was linked under her old insurer; her card now gives another.
    // Found by kana name (written full-width here), birth date and sex, never merged.
    d.reception()
        .link_patient(LinkPatientRequest {
            patient_number: "05678".into(),
            person: Some(Person::Details(LinkedPerson {
                insurer_number: "01320027".into(),
                symbol: "9".into(),
                number: "1".into(),
                branch: "00".into(),
                name: "診療　花子".into(),
                name_kana: "シンリョウ　ハナコ".into(),
                birth_date: "1972-05-15".into(),
                sex: Sex::Female as i32,
            })),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = check_in(&d, "sim-hanako", "2222").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::ConfirmAtCounter);
    let e = r.entry.unwrap();
    assert_eq!(e.r#match(), PatientMatch::Candidates);
    assert!(e.patient_number.is_empty(), "never silently merged");
    assert!(e.needs_confirmation);
    assert_eq!(e.status(), ReceptionStatus::Pending);
    assert_eq!(e.candidates.len(), 1);
    assert_eq!(e.candidates[0].patient_number, "05678");
    assert_eq!(e.candidates[0].insurer_number, "01320027");
    let links = d
        .reception()
        .list_patient_links(ListPatientLinksRequest {
            patient_number: "05678".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .links;
    assert_eq!(
        links.len(),
        1,
        "the new insurance is not linked until a clerk confirms"
    );

    // The clerk confirms: the number now covers both insurances and the next visit goes ahead.
    let accepted = d
        .reception()
        .accept_reception(AcceptReceptionRequest {
            entry: today(e.id),
            patient_number: "05678".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let entry = accepted.entry.unwrap();
    assert_eq!(entry.status(), ReceptionStatus::Accepted);
    assert_eq!(entry.patient_number, "05678");
    assert_eq!(
        accepted.link.unwrap().person.unwrap().insurer_number,
        "06130488"
    );
    let r = check_in(&d, "sim-hanako", "2222").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::GoAhead);
    assert_eq!(r.entry.unwrap().patient_number, "05678");

    // Invalid insurance: the kiosk sends the patient to the counter; the visit is still listed.
    let r = check_in(&d, "sim-invalid", "1111").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::InsuranceInvalid);
    assert_eq!(r.entry.as_ref().unwrap().validity(), Validity::Invalid);
    assert_eq!(r.entry.unwrap().status(), ReceptionStatus::Pending);
    let r = check_in(&d, "sim-nomatch", "1313").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::InsuranceInvalid);
    assert_eq!(r.entry.unwrap().r#match(), PatientMatch::None);

    // A locked card is the card check's own error, and adds nothing to the list.
    let before = list(&d).await.len();
    let e = check_in(&d, "sim-locked", "1234").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "CARD_LOCKED");
    let e = check_in(&d, "sim-hanako", "0000").await.unwrap_err();
    assert_eq!(
        reason(&e),
        (
            "PIN_INCORRECT".into(),
            [("tries_left".into(), "2".into())].into()
        )
    );
    assert_eq!(list(&d).await.len(), before);

    // Bad requests name the field, nested under `card`.
    let e = d
        .reception()
        .check_in(CheckInRequest {
            card: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "card");
    let mut bad = kiosk("sim-taro", "12");
    bad.card.as_mut().unwrap().reader = String::new();
    let e = d.reception().check_in(bad).await.unwrap_err();
    let fields: Vec<String> = violations(&e).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["card.reader", "card.pin.pin"]);

    // The list is in reception order with dense numbers.
    let ids: Vec<u64> = list(&d).await.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn patient_links_are_listed_removed_and_never_doubly_assigned() {
    let d = TestDaemon::start().await;
    let taro = || LinkedPerson {
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "01".into(),
        name: "診療　太郎".into(),
        name_kana: "ｼﾝﾘｮｳ ﾀﾛｳ".into(),
        birth_date: "1970-01-01".into(),
        sex: Sex::Male as i32,
    };
    let link = |number: &str, person: LinkedPerson| LinkPatientRequest {
        patient_number: number.into(),
        person: Some(Person::Details(person)),
        ..Default::default()
    };
    let mut c = d.reception();
    assert!(
        c.link_patient(link("P-1", taro()))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    // Linking again is idempotent.
    let again = c
        .link_patient(link("P-1", taro()))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    // The same insurance cannot belong to two patient numbers.
    let e = c.link_patient(link("P-2", taro())).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        reason(&e),
        (
            "PATIENT_LINK_CONFLICT".into(),
            [("patient_number".into(), "P-1".into())].into()
        )
    );

    // Every bad field at once.
    let mut bad = taro();
    bad.insurer_number = "12".into();
    bad.birth_date = "2999-01-01".into();
    bad.sex = 0;
    let e = c.link_patient(link("患者1", bad)).await.unwrap_err();
    let fields: Vec<String> = violations(&e).into_iter().map(|v| v.0).collect();
    assert_eq!(
        fields,
        [
            "patient_number",
            "details.insurer_number",
            "details.birth_date",
            "details.sex"
        ]
    );

    let all = c
        .list_patient_links(ListPatientLinksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .links;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].patient_number, "P-1");
    let removed = c
        .remove_patient_link(RemovePatientLinkRequest {
            patient_number: "P-1".into(),
            link_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.removed, 1);
    let e = c
        .remove_patient_link(RemovePatientLinkRequest {
            patient_number: "P-1".into(),
            link_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(reason(&e).0, "PATIENT_LINK_NOT_FOUND");
    // Free again: another number may take the insurance now.
    assert!(
        c.link_patient(link("P-2", taro()))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn manual_mode_waits_for_a_clerk_to_accept_or_reject() {
    let d = TestDaemon::start_with(|c| c.reception.mode = ModeConfig::Manual).await;
    let first = check_in(&d, "sim-taro", "1234")
        .await
        .unwrap()
        .entry
        .unwrap();
    d.reception()
        .link_patient(LinkPatientRequest {
            patient_number: "01234".into(),
            person: Some(Person::Reception(today(first.id).unwrap())),
            ..Default::default()
        })
        .await
        .unwrap();
    // Even a linked patient with valid insurance waits for the clerk in manual mode.
    let r = check_in(&d, "sim-taro", "1234").await.unwrap();
    assert_eq!(r.instruction(), KioskInstruction::GoAhead);
    let e = r.entry.unwrap();
    assert_eq!(e.status(), ReceptionStatus::Pending);

    let mut request = tonic::Request::new(AcceptReceptionRequest {
        entry: today(e.id),
        patient_number: String::new(),
    });
    request
        .metadata_mut()
        .insert("x-shikaku-operator", "clerk-7".parse().unwrap());
    let accepted = d
        .reception()
        .accept_reception(request)
        .await
        .unwrap()
        .into_inner();
    let entry = accepted.entry.unwrap();
    assert_eq!(entry.status(), ReceptionStatus::Accepted);
    assert_eq!(entry.decided_by, "clerk-7");
    assert!(!entry.decided_at.is_empty());
    assert!(accepted.link.is_none());

    // Deciding twice is refused, naming the state it is in.
    let e2 = d
        .reception()
        .reject_reception(RejectReceptionRequest {
            entry: today(e.id),
            reason: "duplicate".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        reason(&e2),
        (
            "RECEPTION_ALREADY_DECIDED".into(),
            [("status".into(), "accepted".into())].into()
        )
    );

    let rejected = d
        .reception()
        .reject_reception(RejectReceptionRequest {
            entry: today(first.id),
            reason: "registered at the counter".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(rejected.status(), ReceptionStatus::Rejected);
    assert_eq!(rejected.reject_reason, "registered at the counter");

    let e = d
        .reception()
        .accept_reception(AcceptReceptionRequest {
            entry: today(99),
            patient_number: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(reason(&e).0, "RECEPTION_NOT_FOUND");
    let e = d
        .reception()
        .accept_reception(AcceptReceptionRequest {
            entry: today(0),
            patient_number: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "entry");

    let listed = d
        .reception()
        .list_receptions(ListReceptionsRequest {
            date: String::new(),
            status: ReceptionStatus::Pending as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.mode(), ReceptionMode::Manual);
    assert!(listed.entries.is_empty());
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn watch_resumes_after_a_disconnect_and_a_restart_with_nothing_lost_or_reordered() {
    let d = TestDaemon::start_with(with_facility).await;
    let mut stream = watch(&d, 0).await;
    for _ in 0..3 {
        check_in(&d, "sim-taro", "1234").await.unwrap();
    }
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut stream).await.id);
    }
    assert_eq!(seen, [1, 2, 3]);

    // The receipt computer goes away; visits go on.
    drop(stream);
    check_in(&d, "sim-kokuho", "3333").await.unwrap();
    check_in(&d, "sim-elderly", "4444").await.unwrap();
    let mut stream = watch(&d, 3).await;
    let (four, five) = (next(&mut stream).await, next(&mut stream).await);
    assert_eq!((four.id, five.id), (4, 5));
    assert_eq!(four.name, "国保　一郎");
    seen.extend([four.id, five.id]);

    // Visits at several kiosks at once reach the watcher in the list's own order.
    let tasks: Vec<_> = KIOSK_READERS
        .iter()
        .map(|(reader, pin)| {
            let c = d.reception();
            let req = kiosk(reader, pin);
            tokio::spawn(async move { c.clone().check_in(req).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for _ in 0..KIOSK_READERS.len() {
        seen.push(next(&mut stream).await.id);
    }
    let listed: Vec<u64> = list(&d).await.iter().map(|e| e.id).collect();
    assert_eq!(seen, listed);
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());

    // A client that saw an entry but did not record it gets it again, with the same id.
    let mut again = watch(&d, 10).await;
    let dup = next(&mut again).await;
    assert_eq!(dup.id, 11);
    drop(again);

    // The daemon restarts: the open watch ends, nothing is renumbered, and the watch resumes.
    let d = d.restart_with(with_facility).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the watch ends when the daemon stops");
    assert!(
        !matches!(ended, Ok(Some(_))),
        "no entry after shutdown: {ended:?}"
    );
    let r = check_in(&d, "sim-taro", "1234").await.unwrap();
    assert_eq!(r.entry.unwrap().id, 12);
    let mut stream = watch(&d, *seen.last().unwrap()).await;
    assert_eq!(next(&mut stream).await.id, 12);
    check_in(&d, "sim-kokuho", "3333").await.unwrap();
    assert_eq!(next(&mut stream).await.id, 13);
    d.running.stop().await.unwrap();
}

/// A busy day is read from the store a batch at a time (64 entries for a watch, a page for a
/// list), never whole: a watch from the start of the day and a paged list both see every entry
/// once, in order, and the watch goes on with the next visit.
#[tokio::test]
async fn a_busy_day_is_watched_and_listed_in_batches_with_every_entry_once_in_order() {
    const VISITS: u64 = 150;
    let d = TestDaemon::start_with(with_facility).await;
    let kiosks: Vec<_> = KIOSK_READERS
        .iter()
        .map(|&(reader, pin)| {
            let c = d.reception();
            tokio::spawn(async move {
                for _ in 0..VISITS / KIOSK_READERS.len() as u64 {
                    c.clone().check_in(kiosk(reader, pin)).await.unwrap();
                }
            })
        })
        .collect();
    for k in kiosks {
        k.await.unwrap();
    }
    let day: Vec<u64> = (1..=VISITS).collect();

    let mut stream = watch(&d, 0).await;
    let mut seen = Vec::new();
    for _ in 0..VISITS {
        seen.push(next(&mut stream).await.id);
    }
    assert_eq!(seen, day);
    check_in(&d, "sim-kokuho", "3333").await.unwrap();
    assert_eq!(next(&mut stream).await.id, VISITS + 1);

    let (mut listed, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let page = d
            .reception()
            .list_receptions(ListReceptionsRequest {
                page_size: 64,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 64);
        listed.extend(page.entries.iter().map(|e| e.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, (1..=VISITS + 1).collect::<Vec<_>>());
    assert_eq!(pages, 3);
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn face_auth_reader_results_join_the_same_list() {
    let d = TestDaemon::start().await;
    let mut stream = watch(&d, 0).await;
    check_in(&d, "sim-taro", "1234").await.unwrap();
    let sent = d
        .running
        .simulator
        .as_ref()
        .expect("the embedded simulator")
        .emit_face_result("kokuho")
        .unwrap();
    assert_eq!(sent.validity(), Validity::Valid);
    // The face result joins the list on the daemon's own time: wait for it before the next
    // check-in, so the order asserted below is the order things happened in.
    let (first, face) = (next(&mut stream).await, next(&mut stream).await);
    check_in(&d, "sim-elderly", "4444").await.unwrap();
    let entries = [first, face, next(&mut stream).await];
    let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    let face = &entries[1];
    assert_eq!(face.source(), ReceptionSource::FaceAuthReader);
    assert_eq!(face.name, "国保　一郎");
    assert!(face.reader.starts_with("face/"));
    assert_eq!(face.r#match(), PatientMatch::NewPatient);
    assert!(face.check_id.starts_with("face_"));
    d.running.stop().await.unwrap();
}

/// An 8-digit 保険者番号 starting with `prefix` (7 digits), with the check digit that makes it valid.
fn insurer_number(prefix: &str) -> String {
    (0..10)
        .map(|d| format!("{prefix}{d}"))
        .find(|n| shikaku_domain::values::InsurerNumber::parse(n).is_ok())
        .unwrap()
}

/// Issue 14's poison entry, rebuilt with every field a client controls at its maximum: the entry
/// still weighs far less than the documented bound, and a watch from the start of the day
/// delivers it.
#[tokio::test]
async fn a_reception_entry_with_every_field_at_its_maximum_stays_under_its_bound() {
    let d = TestDaemon::start_with(|c| {
        with_facility(c);
        c.reception.mode = ModeConfig::Manual;
    })
    .await;
    // Six links of hanako's kana, birth date and sex under other insurers, each with the
    // longest name (100 four-byte characters), number, symbol and patient number allowed.
    for i in 0..6 {
        d.reception()
            .link_patient(LinkPatientRequest {
                patient_number: format!("{i}").repeat(20),
                person: Some(Person::Details(LinkedPerson {
                    insurer_number: insurer_number(&format!("013{i}002")),
                    symbol: "記".repeat(38),
                    number: "番".repeat(38),
                    branch: "00".into(),
                    name: "𠮷".repeat(100),
                    name_kana: "シンリョウ　ハナコ".into(),
                    birth_date: "1972-05-15".into(),
                    sex: Sex::Female as i32,
                })),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut request = tonic::Request::new(kiosk("sim-hanako", "2222"));
    request
        .metadata_mut()
        .insert("x-shikaku-terminal", "T".repeat(100).parse().unwrap());
    let entry = d
        .reception()
        .check_in(request)
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(entry.candidates.len(), 5, "at most five candidates");
    assert_eq!(
        entry.terminal.len(),
        64,
        "the claimed terminal is cut at 64"
    );

    let mut request = tonic::Request::new(RejectReceptionRequest {
        entry: today(entry.id),
        reason: "𠮷".repeat(200),
    });
    request
        .metadata_mut()
        .insert("x-shikaku-operator", "O".repeat(100).parse().unwrap());
    d.reception().reject_reception(request).await.unwrap();

    let mut stream = watch(&d, 0).await;
    let watched = next(&mut stream).await;
    assert_eq!(watched.status(), ReceptionStatus::Rejected);
    assert_eq!(watched.decided_by.len(), 64);
    let bytes = prost::Message::encoded_len(&watched);
    let bound = shikaku_daemon::workflow::reception::MAX_ENTRY_BYTES
        + shikaku_daemon::workflow::reception::MAX_DECISION_BYTES;
    assert!(
        bytes < 16 * 1024 && bytes <= bound,
        "{bytes} bytes, documented bound {bound}"
    );
    d.running.stop().await.unwrap();
}
