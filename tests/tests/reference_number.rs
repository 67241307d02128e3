//! 照会番号の登録 through the embedded simulator: RegisterReferenceNumber and LinkPatient's
//! opt-in register a patient number that later results carry; the reception desk finds a kiosk
//! patient by it before anything else; field rules, OQS's refusal and request ids; and the
//! 医療扶助・訪問診療・オンライン診療 query kinds of StartBulkCheck.

use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::link_patient_request::Person;
use shikaku_tests::pb::{
    CheckByCardRequest, CheckInRequest, KioskInstruction, LinkPatientRequest, LinkedPerson,
    PatientMatch, PinIdentity, RegisterReferenceNumberRequest, Sex, StartBulkCheckRequest,
};
use shikaku_tests::transports::{assert_bulk_queries, assert_reference_number_registers, check};
use shikaku_tests::{TestDaemon, bin, pb, reason, violations};
use tonic::Code;

fn with_facility(c: &mut shikaku_daemon::Config) {
    c.facility_code = Some("1311111114".into());
}

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

#[tokio::test]
async fn a_registered_reference_number_comes_back_in_results() {
    let d = TestDaemon::start().await;
    assert_reference_number_registers(&d, "P-777").await;
    // OQS keeps it: so does the simulator, across a restart.
    let d = d.restart_with(|_| {}).await;
    let r = check(&d, &shikaku_tests::taro_numbers()).await.unwrap();
    assert_eq!(r.reference_number, "P-777");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_kiosk_patient_is_found_by_the_reference_number_first() {
    let d = TestDaemon::start_with(with_facility).await;
    // Taro was linked here under insurance he no longer has: by kana name he is only a
    // candidate.
    d.reception()
        .link_patient(LinkPatientRequest {
            patient_number: "P-100".into(),
            person: Some(Person::Details(LinkedPerson {
                insurer_number: "01320027".into(),
                symbol: "9".into(),
                number: "1".into(),
                branch: "00".into(),
                name: "診療　太郎".into(),
                name_kana: "ｼﾝﾘｮｳ ﾀﾛｳ".into(),
                birth_date: "1970-01-01".into(),
                sex: Sex::Male as i32,
            })),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = d
        .reception()
        .check_in(kiosk("sim-taro", "1234"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.entry.unwrap().r#match(), PatientMatch::Candidates);

    // The counter registers his patient number as 照会番号 for his current insurance.
    d.reception()
        .register_reference_number(RegisterReferenceNumberRequest {
            patient_number: "P-100".into(),
            insurer_number: "06130488".into(),
            symbol: "12-34".into(),
            number: "4260".into(),
            branch: "01".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let after = d
        .reception()
        .check_in(kiosk("sim-taro", "1234"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.instruction(), KioskInstruction::GoAhead);
    let e = after.entry.unwrap();
    assert_eq!(e.r#match(), PatientMatch::Linked);
    assert_eq!(e.patient_number, "P-100");
    assert_eq!(e.result.unwrap().reference_number, "P-100");
    assert!(!e.needs_confirmation);
}

#[tokio::test]
async fn a_face_auth_result_is_matched_by_its_reference_number() {
    let d = TestDaemon::start_with(with_facility).await;
    // Linked under old insurance, registered as 照会番号 for the current one.
    d.reception()
        .link_patient(LinkPatientRequest {
            patient_number: "P-400".into(),
            person: Some(Person::Details(LinkedPerson {
                insurer_number: "06130488".into(),
                symbol: "99".into(),
                number: "1".into(),
                name: "国保　一郎".into(),
                name_kana: "ｺｸﾎ ｲﾁﾛｳ".into(),
                birth_date: "1985-08-20".into(),
                sex: Sex::Male as i32,
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .unwrap();
    d.reception()
        .register_reference_number(RegisterReferenceNumberRequest {
            patient_number: "P-400".into(),
            insurer_number: "138057".into(),
            symbol: "千代田".into(),
            number: "1234567".into(),
            branch: "00".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stream = d
        .reception()
        .watch_receptions(pb::WatchReceptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let sent = d
        .running
        .simulator
        .as_ref()
        .expect("the embedded simulator")
        .emit_face_result("kokuho")
        .unwrap();
    assert_eq!(sent.reference_number, "P-400");
    let face = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("an entry within 10 s")
        .unwrap()
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(face.source(), pb::ReceptionSource::FaceAuthReader);
    assert_eq!(face.r#match(), PatientMatch::Linked);
    assert_eq!(face.patient_number, "P-400");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_and_starts_a_query() {
    let d = TestDaemon::start().await;
    let url = d.running.url();
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin("shikaku"))
                .args(["--addr", &url])
                .args(args)
                .output()
                .unwrap()
        })
    };
    let registered = run(vec![
        "reference-number",
        "register",
        "P-500",
        "--insurer",
        "06130488",
        "--symbol",
        "12-34",
        "--number",
        "4260",
        "--branch",
        "01",
    ])
    .await
    .unwrap();
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    assert!(String::from_utf8_lossy(&registered.stdout).contains("registered 照会番号 P-500"));

    let query = run(vec![
        "bulk",
        "start",
        "--kind",
        "home-visit",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
    ])
    .await
    .unwrap();
    assert!(
        query.status.success(),
        "{}",
        String::from_utf8_lossy(&query.stderr)
    );
    let csv = String::from_utf8_lossy(&query.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with("0,P-500,checked,valid,06130488"),
        "{csv}"
    );
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn link_patient_can_register_the_reference_number_too() {
    let d = TestDaemon::start().await;
    let hanako = LinkedPerson {
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "02".into(),
        name: "診療　花子".into(),
        name_kana: "ｼﾝﾘｮｳ ﾊﾅｺ".into(),
        birth_date: "1972-05-15".into(),
        sex: Sex::Female as i32,
    };
    let linked = d
        .reception()
        .link_patient(LinkPatientRequest {
            patient_number: "P-200".into(),
            person: Some(Person::Details(hanako.clone())),
            register_reference_number: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(linked.created);
    assert_eq!(linked.reference_number.unwrap().reference_number, "P-200");
    let r = check(
        &d,
        &pb::CheckByInsuranceNumbersRequest {
            insurer_number: "06130488".into(),
            symbol: "12-34".into(),
            number: "4260".into(),
            branch: "02".into(),
            birth_date: "1972-05-15".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.reference_number, "P-200");

    // Without the opt-in nothing is registered; when OQS refuses, nothing is linked.
    let plain = d
        .reception()
        .link_patient(LinkPatientRequest {
            patient_number: "P-201".into(),
            person: Some(Person::Details(LinkedPerson {
                insurer_number: "138057".into(),
                symbol: "千代田".into(),
                number: "1234567".into(),
                branch: "00".into(),
                birth_date: "1985-08-20".into(),
                ..hanako.clone()
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(plain.reference_number.is_none());
    let e = d
        .reception()
        .link_patient(LinkPatientRequest {
            patient_number: "P-202".into(),
            person: Some(Person::Details(LinkedPerson {
                number: "999999".into(),
                ..hanako
            })),
            register_reference_number: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "UPSTREAM_ERROR");
    let links = d
        .reception()
        .list_patient_links(pb::ListPatientLinksRequest {
            patient_number: "P-202".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .links;
    assert!(links.is_empty(), "a refused registration links nothing");
}

#[tokio::test]
async fn bad_fields_are_named_and_a_request_id_registers_once() {
    let d = TestDaemon::start().await;
    let e = d
        .reception()
        .register_reference_number(RegisterReferenceNumberRequest {
            patient_number: "患者".into(),
            insurer_number: "06130489".into(),
            number: String::new(),
            branch: "1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["patient_number", "insurer_number", "number", "branch"]
    );

    let request = RegisterReferenceNumberRequest {
        patient_number: "P-300".into(),
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "01".into(),
        request_id: "reg-1".into(),
    };
    let first = d
        .reception()
        .register_reference_number(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = d
        .reception()
        .register_reference_number(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again, "the repeat gets the first answer");

    // Each call is on the trail, the success with the person it concerned.
    let trail = d
        .audit()
        .list_audit_records(pb::ListAuditRecordsRequest {
            operation: "RegisterReferenceNumber".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(trail.len(), 2, "{trail:?}");
    let ok = trail.iter().find(|r| r.outcome == "ok").expect("a success");
    assert!(ok.concerns_person);
    assert_eq!(ok.subject, "P-300");
}

#[tokio::test]
async fn the_query_kinds_of_bulk_checks_answer_the_people_oqs_lists() {
    let d = TestDaemon::start().await;
    assert_reference_number_registers(&d, "P-777").await;
    assert_bulk_queries(&d, "P-777").await;
}

#[tokio::test]
async fn a_bulk_query_is_checked_before_it_runs() {
    let d = TestDaemon::start().await;
    let start =
        |query: pb::bulk_query::Kind, items: Vec<pb::BulkCheckItem>| StartBulkCheckRequest {
            query: Some(pb::BulkQuery { kind: Some(query) }),
            items,
            ..Default::default()
        };
    for (query, items, field) in [
        (
            pb::bulk_query::Kind::MedicalAssistance(pb::MedicalAssistanceQuery {
                treatment_month: "2026-13".into(),
            }),
            vec![],
            "query.medical_assistance.treatment_month",
        ),
        (
            pb::bulk_query::Kind::HomeVisit(pb::HomeVisitQuery {
                consent_date_from: "2026-11-30".into(),
                consent_date_to: "2026-11-01".into(),
            }),
            vec![],
            "query.home_visit.consent_date_to",
        ),
        (
            pb::bulk_query::Kind::OnlineConsultation(pb::OnlineConsultationQuery {
                date_from: "2025-01-01".into(),
                date_to: "2026-11-01".into(),
                ..Default::default()
            }),
            vec![],
            "query.online_consultation.date_to",
        ),
        (
            pb::bulk_query::Kind::MedicalAssistance(pb::MedicalAssistanceQuery {
                treatment_month: "2026-09".into(),
            }),
            vec![pb::BulkCheckItem::default()],
            "items",
        ),
    ] {
        let e = d
            .bulk()
            .start_bulk_check(start(query, items))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field}");
        let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, [field]);
    }
}
