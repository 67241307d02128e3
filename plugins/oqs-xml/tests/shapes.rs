//! The result shapes real terminals and public clients write (the simulator's
//! `fixtures/results/`), each read in UTF-8 and in Shift_JIS, every field asserted.

use shikaku_domain::pb::{
    CardClass, ConsentState, DiseaseCategory, Medium, QualificationResult, SingleOrCombined,
    TicketType, UnparsedValue, Validity,
};
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map;
use shikaku_oqs_xml::{Dialect, Encoding, ResultMessage};
use shikaku_simulator::shapes;

const FACILITY: &str = "1311111114";

/// The shape's bytes in `encoding`, declaration and CharacterCodeIdentifier to match.
fn bytes(name: &str, encoding: Encoding) -> Vec<u8> {
    let text = shapes::shape(name, FACILITY).unwrap();
    let text = match encoding {
        Encoding::Utf8 => text,
        Encoding::ShiftJis => text
            .replace("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\"")
            .replace("<CharacterCodeIdentifier>0<", "<CharacterCodeIdentifier>1<"),
    };
    encoding.encode(&text).unwrap()
}

fn message(name: &str, encoding: Encoding) -> ResultMessage {
    ResultMessage::parse(
        &bytes(name, encoding),
        &Dialect::default(),
        &Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{name} in {encoding:?}: {e}"))
}

/// The shape read in both encodings; both must read alike.
fn read(name: &str) -> QualificationResult {
    let [utf8, sjis] = [Encoding::Utf8, Encoding::ShiftJis].map(|e| {
        let m = message(name, e);
        map::single_result(&m).unwrap()
    });
    assert_eq!(utf8, sjis, "{name}: both encodings read alike");
    utf8
}

fn consent(flag: &str, at: &str, until: &str) -> Option<ConsentState> {
    Some(ConsentState {
        flag_code: flag.into(),
        given: flag == "1",
        consented_at: at.into(),
        available_until: until.into(),
    })
}

#[test]
fn every_shape_reads_in_both_encodings() {
    for name in shapes::names() {
        for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
            message(name, encoding);
        }
    }
}

#[test]
fn medical_assistance_from_the_insurance_elements_with_every_ticket_leaf() {
    let r = read("medical-assistance-terminal");
    assert_eq!(r.validity(), Validity::ValidUnregistered);
    assert_eq!(r.validity_code, "6");
    let q = &r.qualifications[0];
    assert_eq!(q.card_class(), CardClass::MedicalAssistance);
    // Upstream values stay as sent in the qualification…
    assert_eq!(q.insurer_number, "12136017");
    assert_eq!(q.number, "7654321");
    assert_eq!(q.insurer_name, "千代田区福祉事務所");
    assert_eq!(q.qualification_date, "2026-09-01");
    // …and are named in the medical-assistance section.
    let a = q.medical_assistance.as_ref().unwrap();
    assert_eq!(a.public_expense_number, "12136017");
    assert!(
        a.public_expense_number_check_digit_invalid,
        "a wrong check digit is flagged, not refused"
    );
    assert_eq!(a.recipient_number, "7654321");
    assert_eq!(a.welfare_office_name, "千代田区福祉事務所");
    assert_eq!(a.welfare_office_name_kana, "");
    assert_eq!(a.name, "扶助　六子");
    assert_eq!(a.name_kana, "ﾌｼﾞｮ ﾑﾂｺ");
    assert_eq!(a.birth_date, "1958-12-01");
    assert_eq!(a.sex_code, "2");
    assert_eq!(a.card_class(), CardClass::MedicalAssistance);
    assert_eq!(a.tickets.len(), 2);

    let t = &a.tickets[0];
    assert_eq!(
        (t.r#type(), t.type_code.as_str()),
        (TicketType::Medical, "1")
    );
    assert_eq!(t.valid_from, "2026-09-01");
    assert_eq!(t.valid_to, "2026-09-30");
    assert_eq!(t.issue_number, "0009876");
    assert_eq!(t.treatment_month, "2026-09");
    assert_eq!(t.designated_institution_code, FACILITY);
    assert_eq!(t.designated_institution_flag_code, "1");
    assert_eq!(t.designated_institution_name, "シミュレータ診療所");
    assert_eq!(t.prescription_issuer_code, "1311111114");
    assert_eq!(t.prescription_issuer_name, "発行元診療所");
    assert_eq!(t.injury_names, ["高血圧症", "脂質異常症", "腰痛症"]);
    assert_eq!(t.treatment_type_code, "2");
    assert_eq!(t.self_pay_yen, 3400);
    assert_eq!(t.district_contact_name, "地区　担当");
    assert_eq!(t.handling_contact_name, "取扱　担当");
    assert_eq!(
        (t.single_or_combined(), t.single_or_combined_code.as_str()),
        (SingleOrCombined::Combined, "2")
    );
    assert_eq!(t.social_insurance_status_code, "1");
    assert_eq!(t.consistency_flag_code, "0");
    assert_eq!(t.infection_status_code, "1");
    assert_eq!(t.elderly_medical_care_status_code, "0");
    assert_eq!(t.prefectural_expenses_status_code, "1");
    assert_eq!(t.remarks, ["備考一", "備考二", "備考三"]);

    let t = &a.tickets[1];
    assert_eq!(t.r#type(), TicketType::Dispensing);
    assert_eq!(t.valid_from, "2026-09-15");
    assert_eq!(t.issue_number, "0009877");
    assert_eq!(t.designated_institution_name, "シミュレータ薬局");
    assert!(t.injury_names.is_empty() && t.remarks.is_empty());
    assert_eq!(t.self_pay_yen, 0);
    assert_eq!(
        (t.single_or_combined(), t.single_or_combined_code.as_str()),
        (SingleOrCombined::Unknown, "9"),
        "an unknown code keeps its raw value"
    );
    assert!(r.unparsed.is_empty(), "{:?}", r.unparsed);
}

#[test]
fn medical_assistance_from_its_own_element_names() {
    let r = read("medical-assistance-named");
    assert_eq!(r.validity(), Validity::Valid);
    let q = &r.qualifications[0];
    assert_eq!(q.insurer_number, "");
    let a = q.medical_assistance.as_ref().unwrap();
    assert_eq!(a.public_expense_number, "12136016");
    assert!(!a.public_expense_number_check_digit_invalid);
    assert_eq!(a.recipient_number, "1234566");
    assert_eq!(a.welfare_office_name, "千代田区福祉事務所");
    assert_eq!(a.welfare_office_name_kana, "ﾁﾖﾀﾞｸﾌｸｼｼﾞﾑｼｮ");
    assert_eq!(a.tickets.len(), 1, "a ticket outside the list is read too");
    assert_eq!(a.tickets[0].issue_number, "0001234");
    assert_eq!(a.tickets[0].treatment_month, "2026-09");
}

#[test]
fn every_consent_category_with_its_times_and_the_identifiers() {
    let r = read("consents-2025");
    let c = r.consents.as_ref().unwrap();
    assert_eq!(
        c.medication,
        consent(
            "1",
            "2026-09-29T10:10:00+09:00",
            "2026-10-29T23:59:59+09:00"
        )
    );
    assert_eq!(
        c.clinical,
        consent(
            "1",
            "2026-09-29T10:10:01+09:00",
            "2026-10-29T23:59:58+09:00"
        )
    );
    assert_eq!(c.health_checkup, consent("0", "", ""));
    assert_eq!(
        c.surgery,
        consent(
            "2",
            "2025-01-01T09:00:00+09:00",
            "2025-02-01T09:00:00+09:00"
        )
    );
    assert_eq!(
        c.limit_certificate,
        consent("1", "2026-09-29T10:10:02+09:00", "")
    );
    assert_eq!(c.specific_diseases, consent("0", "", ""));
    assert_eq!(
        c.diagnosis_names,
        consent(
            "1",
            "2026-09-29T10:10:03+09:00",
            "2026-10-29T23:59:57+09:00"
        )
    );
    assert_eq!(
        c.infections,
        consent(
            "1",
            "2026-09-29T10:10:04+09:00",
            "2026-10-29T23:59:56+09:00"
        )
    );
    assert_eq!(
        c.drug_allergies,
        consent(
            "1",
            "2026-09-29T10:10:05+09:00",
            "2026-10-29T23:59:55+09:00"
        )
    );
    assert_eq!(c.other_allergies, consent("0", "", ""));
    assert_eq!(
        c.lab_tests,
        consent(
            "1",
            "2026-09-29T10:10:06+09:00",
            "2026-10-29T23:59:54+09:00"
        )
    );
    assert_eq!(
        c.prescriptions,
        consent(
            "1",
            "2026-09-29T10:10:07+09:00",
            "2026-10-29T23:59:53+09:00"
        )
    );
    assert_eq!(r.medium(), Medium::Unspecified);
    assert_eq!(
        r.medium_code, "A",
        "a 照会区分 beyond 1/2 keeps its raw code"
    );
    assert_eq!(r.qualification_confirmation_key, "QCK-0001");
    let q = &r.qualifications[0];
    assert_eq!(q.reference_number, "P-000123");
    assert_eq!(q.arbitrary_identifier, "REC-1");
    assert!(!q.specific_diseases_unread, "no consent to 特定疾病 here");
}

#[test]
fn the_pharmaceutical_spelling_is_read_as_medication() {
    let r = read("pharmaceutical-spelling");
    let c = r.consents.as_ref().unwrap();
    assert_eq!(
        c.medication,
        consent(
            "1",
            "2026-09-29T10:15:00+09:00",
            "2026-10-29T23:59:59+09:00"
        )
    );
    assert_eq!(c.clinical, None);
}

#[test]
fn dates_that_are_not_dates_are_kept_raw_and_flagged() {
    let r = read("cut-date");
    let q = &r.qualifications[0];
    assert_eq!(q.birth_date, "", "never passed off as YYYY-MM-DD");
    assert_eq!(q.valid_from, "");
    assert_eq!(q.qualification_date, "2021-04-01");
    assert_eq!(r.checked_at, "");
    assert_eq!(r.confirmation_date, "2026-09-29");
    let unparsed = |field: &str, raw: &str| UnparsedValue {
        field: field.into(),
        raw: raw.into(),
    };
    assert_eq!(
        r.unparsed,
        [
            unparsed("checked_at", "2026/09/29 10:22"),
            unparsed("qualifications[0].birth_date", "202410（カット）"),
            unparsed("qualifications[0].valid_from", "202104"),
        ]
    );
}

#[test]
fn specific_diseases_without_the_info_wrapper() {
    let r = read("specific-diseases-flat");
    let q = &r.qualifications[0];
    assert_eq!(q.specific_diseases.len(), 2);
    let s = &q.specific_diseases[0];
    assert_eq!(s.category(), DiseaseCategory::ChronicRenalFailure);
    assert_eq!(s.category_code, "1");
    assert_eq!(s.issued_on, "2024-03-01");
    assert_eq!(s.valid_from, "2024-04-01");
    assert_eq!(s.valid_to, "2027-03-31");
    assert_eq!(s.self_pay_yen, 10000);
    let s = &q.specific_diseases[1];
    assert_eq!(s.category(), DiseaseCategory::HivFromCoagulationFactor);
    assert_eq!(s.valid_from, "2025-04-01");
    assert_eq!(s.self_pay_yen, 20000);
    assert!(!q.specific_diseases_unread);
    assert_eq!(
        r.consents.as_ref().unwrap().specific_diseases,
        consent("1", "2026-09-29T10:20:00+09:00", "")
    );
}

#[test]
fn a_specific_disease_consent_without_a_certificate_is_flagged() {
    let r = read("specific-diseases-unread");
    let q = &r.qualifications[0];
    assert!(q.specific_diseases.is_empty());
    assert!(q.specific_diseases_unread);
}

#[test]
fn bulk_units_carry_their_reference_number_and_identifier() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let m = message("bulk-result", encoding);
        let results = map::bulk_results(2, &m);
        let [first, second] = [&results[0], &results[1]].map(|r| r.as_ref().unwrap());
        assert_eq!(first.reference_number, "P-000123");
        assert_eq!(first.arbitrary_identifier, "1");
        assert_eq!(first.qualifications[0].name, "診療　太郎");
        assert_eq!(first.medium(), Medium::InsuranceNumbers);
        assert_eq!(first.medium_code, "");
        assert_eq!(second.reference_number, "P-000124");
        assert_eq!(second.arbitrary_identifier, "2");
        assert_eq!(second.qualifications[0].birth_date, "1972-05-15");
    }
}

#[test]
fn a_registration_result_carries_its_reference_number() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let m = message("registration-result", encoding);
        let r = map::to_result(&m.header, &m.body).unwrap();
        assert_eq!(r.reference_number, "24434");
        let echo = m.body.registration.as_ref().unwrap();
        assert_eq!(echo.insured_identification_number, "4260");
    }
}

#[test]
fn what_was_read_is_written_back_alike() {
    for name in [
        "medical-assistance-terminal",
        "medical-assistance-named",
        "consents-2025",
        "pharmaceutical-spelling",
        "specific-diseases-flat",
        "specific-diseases-unread",
    ] {
        let r = read(name);
        let written = ResultMessage {
            header: map::result_header(&r, FACILITY, "again"),
            body: map::from_result(&r),
            ..Default::default()
        };
        for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
            let bytes = written.to_xml(encoding, &Dialect::default()).unwrap();
            let m = ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
            assert_eq!(map::single_result(&m).unwrap(), r, "{name} in {encoding:?}");
        }
    }
}
