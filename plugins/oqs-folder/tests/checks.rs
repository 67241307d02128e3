//! Checks through real folders with the real terminal simulator: every result variant, both
//! encodings each way, the bulk query, face-auth events.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use shikaku_domain::pb::{Medium, Validity};
use shikaku_oqs_folder::FaceAfter;
use shikaku_oqs_xml::Encoding;
use shikaku_simulator::Directory;

#[test]
fn every_result_variant_in_both_encodings_each_way() {
    let directory = Directory::load(None).unwrap();
    for results in [Encoding::Utf8, Encoding::ShiftJis] {
        for requests in [Encoding::Utf8, Encoding::ShiftJis] {
            let rig = rig(results, |c| {
                c.request_encoding = requests;
                c.result_encoding = Some(results);
            });
            let mut validities = BTreeSet::new();
            for (what, check) in variants() {
                let mut got = rig
                    .transport
                    .check_by_numbers(&check, within(5_000))
                    .unwrap();
                let mut want = directory.check_by_numbers(&check);
                validities.insert(got.validity_code.clone());
                assert!(!got.checked_at.is_empty());
                got.checked_at.clear();
                want.checked_at.clear();
                assert_eq!(
                    got, want,
                    "{what}: results {results:?}, requests {requests:?}"
                );
            }
            let expected: BTreeSet<String> = ["1", "2", "3", "4", "5"].map(String::from).into();
            assert_eq!(validities, expected);
            rig.assert_clean();
        }
    }
}

#[test]
fn concurrent_checks_each_get_their_own_answer() {
    let rig = rig(Encoding::ShiftJis, |_| {});
    let directory = Directory::load(None).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for (what, check) in variants() {
                    let got = rig
                        .transport
                        .check_by_numbers(&check, within(10_000))
                        .unwrap();
                    let want = directory.check_by_numbers(&check);
                    assert_eq!(got.qualifications, want.qualifications, "{what}");
                }
            });
        }
    });
    assert_eq!(rig.terminal.answered(), 4 * variants().len() as u64);
    rig.assert_clean();
}

#[test]
fn bulk_check_uploads_once_and_polls_until_ready() {
    let rig = rig(Encoding::ShiftJis, |_| {});
    let checks: Vec<_> = variants().into_iter().map(|(_, c)| c).collect();
    let results = rig.transport.bulk_check(&checks, within(10_000)).unwrap();
    assert_eq!(results.len(), checks.len());
    let directory = Directory::load(None).unwrap();
    for (check, got) in checks.iter().zip(&results) {
        let got = got.as_ref().unwrap();
        assert_eq!(
            got.qualifications,
            directory.check_by_numbers(check).qualifications
        );
    }
    assert_eq!(results[0].as_ref().unwrap().validity(), Validity::Valid);
    assert_eq!(
        results.last().unwrap().as_ref().unwrap().validity(),
        Validity::NoMatch
    );
    // One upload, then at least one poll answered 処理中 before the ready one.
    assert!(rig.terminal.taken() >= 3, "taken {}", rig.terminal.taken());
    assert!(
        rig.transport
            .bulk_check(&[], within(1_000))
            .unwrap()
            .is_empty()
    );
    rig.assert_clean();
}

#[test]
fn a_zipped_bulk_result_is_read_and_cleaned_up() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(encoding, |_| {});
        rig.terminal.set_zip_bulk_results(true);
        let checks: Vec<_> = variants().into_iter().map(|(_, c)| c).collect();
        let results = rig.transport.bulk_check(&checks, within(10_000)).unwrap();
        let directory = Directory::load(None).unwrap();
        for (check, got) in checks.iter().zip(&results) {
            assert_eq!(
                got.as_ref().unwrap().qualifications,
                directory.check_by_numbers(check).qualifications
            );
        }
        assert_eq!(results[0].as_ref().unwrap().arbitrary_identifier, "1");
        rig.assert_clean();
    }
}

#[test]
fn face_files_become_events_once() {
    for results in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(results, |_| {});
        let people = [
            "taro",
            "welfare",
            "welfare-unregistered",
            "multiple",
            "nomatch",
        ];
        for p in people {
            rig.terminal.drop_face(p).unwrap();
        }
        let events = rig.drain_events(Duration::from_millis(300));
        assert_eq!(events.len(), people.len());
        let directory = Directory::load(None).unwrap();
        let mut names: Vec<_> = events
            .iter()
            .map(|e| {
                e.result
                    .qualifications
                    .first()
                    .map(|q| q.name.clone())
                    .unwrap_or_default()
            })
            .collect();
        names.sort();
        let mut want: Vec<_> = people
            .iter()
            .map(|p| {
                directory
                    .person(p)
                    .unwrap()
                    .qualifications
                    .first()
                    .map(|q| q.name.clone())
                    .unwrap_or_default()
            })
            .collect();
        want.sort();
        assert_eq!(names, want);
        for e in &events {
            assert!(
                e.source.starts_with("face/OQSsiquc01res_face_"),
                "{}",
                e.source
            );
            assert_eq!(e.result.medium(), Medium::MyNumberCard);
        }
        let welfare = events
            .iter()
            .find(|e| e.result.validity() == Validity::ValidUnregistered)
            .unwrap();
        assert!(
            welfare.result.qualifications[0]
                .medical_assistance
                .is_some()
        );
        assert_eq!(files(rig.terminal.face_dir()), Vec::<String>::new());
        rig.assert_clean();
    }
}

#[test]
fn kept_face_files_are_delivered_once_and_left_in_place() {
    let rig = rig(Encoding::Utf8, |c| c.face.after = FaceAfter::Keep);
    rig.terminal.drop_face("kokuho").unwrap();
    let events = rig.drain_events(Duration::from_millis(200));
    assert_eq!(events.len(), 1);
    assert_eq!(files(rig.terminal.face_dir()).len(), 1);
    assert!(rig.drain_events(Duration::from_millis(100)).is_empty());
}
