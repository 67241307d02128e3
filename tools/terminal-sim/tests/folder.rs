//! The simulated terminal through its folders, driven by hand-written files: it takes requests,
//! answers under the matching name, runs the bulk upload/poll pair, drops face files, and
//! misbehaves when told.

use std::path::Path;
use std::time::{Duration, Instant};

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map::{self, Segment};
use shikaku_oqs_xml::names::{self, BulkKind, FileName};
use shikaku_oqs_xml::{Dialect, Encoding, MessageHeader, Request, ResultMessage, SearchInfo};
use shikaku_terminal_sim::{CODE_UNKNOWN_RECEPTION, Fault, Terminal, TerminalConfig};

fn start(encoding: Encoding) -> (tempfile::TempDir, Terminal) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TerminalConfig::new(dir.path());
    c.encoding = encoding;
    c.poll_interval = Duration::from_millis(5);
    c.bulk_delay = Duration::from_millis(200);
    let t = Terminal::start(c).unwrap();
    (dir, t)
}

fn wait_file(path: &Path) -> Vec<u8> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(b) = std::fs::read(path)
            && shikaku_oqs_xml::dom::Document::parse(&b, &Limits::default()).is_ok()
        {
            std::fs::remove_file(path).unwrap();
            return b;
        }
        assert!(Instant::now() < end, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send(t: &Terminal, request: &Request, suffix: &str, encoding: Encoding) -> ResultMessage {
    let name = FileName::request(request.kind(), suffix);
    std::fs::write(
        t.req_dir().join(name.to_string()),
        request.to_xml(encoding).unwrap(),
    )
    .unwrap();
    let bytes = wait_file(&t.res_dir().join(name.result().to_string()));
    assert!(
        !t.req_dir().join(name.to_string()).exists(),
        "request taken"
    );
    ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap()
}

fn taro_request() -> Request {
    Request::QualificationCheck {
        header: MessageHeader {
            qualification_confirmation_date: "20260929".into(),
            medical_institution_code: "1311111114".into(),
            arbitrary_file_identifier: "ID-1".into(),
            ..Default::default()
        },
        search: SearchInfo {
            insurer_number: "06130488".into(),
            insured_card_symbol: "12-34".into(),
            insured_identification_number: "4260".into(),
            insured_branch_number: "01".into(),
            birthdate: "19700101".into(),
            limit_application_certificate_related_cons_flg: "0".into(),
            ..Default::default()
        },
    }
}

#[test]
fn answers_a_request_under_the_matching_name_in_its_encoding() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let (_dir, t) = start(encoding);
        let m = send(&t, &taro_request(), "202609290001", Encoding::ShiftJis);
        assert_eq!(m.header.character_code_identifier, encoding.identifier());
        assert_eq!(m.header.arbitrary_file_identifier, "ID-1");
        assert_eq!(m.header.reference_classification, "2");
        let r = map::to_result(&m.header, &m.body).unwrap();
        assert_eq!(r.qualifications[0].name, "診療　太郎");
        assert_eq!(r.confirmation_date, "2026-09-29");
        assert_eq!(t.answered(), 1);
    }
}

#[test]
fn a_padded_kokuho_number_and_bad_keys() {
    let (_dir, t) = start(Encoding::Utf8);
    let mut r = taro_request();
    if let Request::QualificationCheck { search, .. } = &mut r {
        search.insurer_number = "00138057".into();
        search.insured_card_symbol = "千代田".into();
        search.insured_identification_number = "1234567".into();
        search.insured_branch_number = "00".into();
        search.birthdate = "19850820".into();
    }
    let m = send(&t, &r, "A1", Encoding::Utf8);
    assert_eq!(
        map::to_result(&m.header, &m.body).unwrap().qualifications[0].name,
        "国保　一郎"
    );
    if let Request::QualificationCheck { search, .. } = &mut r {
        search.birthdate = "1985-08-20".into();
    }
    let m = send(&t, &r, "A2", Encoding::Utf8);
    assert_eq!(m.body.processing_result_status, "2");
    assert!(m.body.processing_result_message.contains("Birthdate"));
    std::fs::write(t.req_dir().join("OQSsiquc01req_A3.xml"), b"not xml at all").unwrap();
    let bytes = wait_file(&t.res_dir().join("OQSsiquc01res_A3.xml"));
    let m = ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
    assert!(matches!(map::segment(&m.header), Segment::Failed(_)));
}

#[test]
fn bulk_upload_then_polls_until_ready() {
    let (_dir, t) = start(Encoding::ShiftJis);
    let upload = Request::BulkUpload {
        kind: BulkKind::Qualification,
        header: MessageHeader {
            qualification_confirmation_date: "20260929".into(),
            medical_institution_code: "1311111114".into(),
            ..Default::default()
        },
        searches: vec![
            SearchInfo {
                arbitrary_identifier: "1".into(),
                ..match taro_request() {
                    Request::QualificationCheck { search, .. } => search,
                    _ => unreachable!(),
                }
            },
            SearchInfo {
                arbitrary_identifier: "2".into(),
                insurer_number: "06130488".into(),
                insured_identification_number: "0".into(),
                birthdate: "20000101".into(),
                ..Default::default()
            },
        ],
        registrations: Vec::new(),
    };
    let receipt = send(&t, &upload, "B1", Encoding::ShiftJis);
    let reception = receipt.body.reception_number.clone();
    assert!(!reception.is_empty());
    let poll = map::bulk_download(BulkKind::Qualification, "1311111114", &reception);
    let first = send(&t, &poll, "B2", Encoding::Utf8);
    assert_eq!(map::segment(&first.header), Segment::InProgress);
    let end = Instant::now() + Duration::from_secs(5);
    let mut n = 3;
    let done = loop {
        let m = send(&t, &poll, &format!("B{n}"), Encoding::Utf8);
        if map::segment(&m.header) == Segment::Completed {
            break m;
        }
        assert!(Instant::now() < end);
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done.units.len(), 2);
    assert_eq!(done.header.number_of_processing_result, "2");
    assert_eq!(done.header.reception_number, reception);
    let unknown = map::bulk_download(BulkKind::Qualification, "1311111114", "NOPE");
    let m = send(&t, &unknown, "B99", Encoding::Utf8);
    assert_eq!(m.header.error_code, CODE_UNKNOWN_RECEPTION);
}

#[test]
fn face_files_carry_the_live_naming() {
    let (_dir, t) = start(Encoding::ShiftJis);
    let path = t.drop_face("welfare").unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(names::is_face_file(&name, names::FACE_PREFIX));
    // prefix + facility (10) + 20 hex + _ + 14 digits + .xml
    let rest = name.strip_prefix(names::FACE_PREFIX).unwrap();
    assert_eq!(rest.len(), 10 + 20 + 1 + 14 + 4, "{name}");
    let m = ResultMessage::parse(
        &std::fs::read(&path).unwrap(),
        &Dialect::default(),
        &Limits::default(),
    )
    .unwrap();
    let r = map::to_result(&m.header, &m.body).unwrap();
    assert_eq!(r.qualifications[0].card_class_code, "A1");
    assert!(t.drop_face("nobody").is_err());
}

#[test]
fn shapes_are_dropped_in_the_terminal_encoding() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let (_dir, t) = start(encoding);
        for shape in shikaku_simulator::shapes::names() {
            let path = t.drop_shape(shape).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert!(names::is_face_file(&name, names::FACE_PREFIX));
            let bytes = std::fs::read(&path).unwrap();
            let doc = shikaku_oqs_xml::dom::Document::parse(&bytes, &Limits::default()).unwrap();
            assert_eq!(doc.encoding, encoding, "{shape}");
            ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
        }
        let m = ResultMessage::parse(
            &std::fs::read(t.drop_shape("medical-assistance-terminal").unwrap()).unwrap(),
            &Dialect::default(),
            &Limits::default(),
        )
        .unwrap();
        let r = map::to_result(&m.header, &m.body).unwrap();
        let a = r.qualifications[0].medical_assistance.as_ref().unwrap();
        assert_eq!(a.tickets.len(), 2);
        assert_eq!(a.tickets[0].designated_institution_code, t.facility_code());
        assert!(t.drop_shape("no-such-shape").is_err());
    }
}

#[test]
fn completed_bulk_results_are_zipped_on_command() {
    let (_dir, t) = start(Encoding::Utf8);
    t.set_zip_bulk_results(true);
    let upload = Request::BulkUpload {
        kind: BulkKind::Qualification,
        header: MessageHeader {
            qualification_confirmation_date: "20260929".into(),
            medical_institution_code: "1311111114".into(),
            ..Default::default()
        },
        searches: vec![SearchInfo {
            arbitrary_identifier: "1".into(),
            ..match taro_request() {
                Request::QualificationCheck { search, .. } => search,
                _ => unreachable!(),
            }
        }],
        registrations: Vec::new(),
    };
    let receipt = send(&t, &upload, "Z1", Encoding::Utf8);
    let poll = map::bulk_download(
        BulkKind::Qualification,
        "1311111114",
        &receipt.body.reception_number,
    );
    let end = Instant::now() + Duration::from_secs(5);
    for n in 2.. {
        let name = FileName::request(poll.kind(), format!("Z{n}"));
        std::fs::write(
            t.req_dir().join(name.to_string()),
            poll.to_xml(Encoding::Utf8).unwrap(),
        )
        .unwrap();
        let zip = t.res_dir().join(format!("OQSmuquc02res_Z{n}.zip"));
        let xml = t.res_dir().join(name.result().to_string());
        let (path, bytes) = loop {
            assert!(Instant::now() < end, "no answer to Z{n}");
            if let Ok(b) = std::fs::read(&zip)
                && ResultMessage::parse(&b, &Dialect::default(), &Limits::default()).is_ok()
            {
                break (zip.clone(), b);
            }
            if let Ok(b) = std::fs::read(&xml)
                && shikaku_oqs_xml::dom::Document::parse(&b, &Limits::default()).is_ok()
            {
                break (xml.clone(), b);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        std::fs::remove_file(&path).unwrap();
        let m = ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
        if path == zip {
            assert!(shikaku_oqs_xml::zipped::is_zip(&bytes));
            assert_eq!(map::segment(&m.header), Segment::Completed);
            assert_eq!(m.units.len(), 1);
            break;
        }
        assert_eq!(
            map::segment(&m.header),
            Segment::InProgress,
            "処理中 answers stay XML"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn faults_shape_what_is_written() {
    let (_dir, t) = start(Encoding::Utf8);
    t.set_fault(Fault::Malformed);
    std::fs::write(
        t.req_dir().join("OQSsiquc01req_F1.xml"),
        taro_request().to_xml(Encoding::Utf8).unwrap(),
    )
    .unwrap();
    let res = t.res_dir().join("OQSsiquc01res_F1.xml");
    wait_until(|| t.answered() == 1);
    assert!(
        ResultMessage::parse(
            &std::fs::read(&res).unwrap(),
            &Dialect::default(),
            &Limits::default()
        )
        .is_err()
    );

    t.set_fault(Fault::Down);
    let req = t.req_dir().join("OQSsiquc01req_F2.xml");
    std::fs::write(&req, taro_request().to_xml(Encoding::Utf8).unwrap()).unwrap();
    let taken = t.taken();
    let scans = t.scans();
    wait_until(|| t.scans() >= scans + 3);
    assert!(req.exists(), "a down terminal leaves requests alone");
    assert_eq!(t.taken(), taken);
    t.set_fault(Fault::NeverAnswer);
    wait_until(|| !req.exists());
    let scans = t.scans();
    wait_until(|| t.scans() >= scans + 3);
    assert_eq!(t.answered(), 1, "taken, never answered");
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < end, "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}
