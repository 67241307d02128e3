//! Every result variant of the fixture data set survives XML and back, in UTF-8 and Shift_JIS.

use chrono::NaiveDate;
use shikaku_domain::pb::{
    ConsentRecord, ConsentState, IdentityMethod, Medium, QualificationResult, Validity,
};
use shikaku_domain::upstream::{NumbersCheck, UpstreamError};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map::{self, Segment};
use shikaku_oqs_xml::{Dialect, Encoding, InsurerPadding, MessageKind, Request, ResultMessage};
use shikaku_simulator::Directory;

const FACILITY: &str = "1311111114";
const ENCODINGS: [Encoding; 2] = [Encoding::Utf8, Encoding::ShiftJis];

fn face_like(mut r: QualificationResult) -> QualificationResult {
    r.medium = Medium::MyNumberCard as i32;
    r.identity_method = IdentityMethod::Unspecified as i32;
    r.confirmation_date = "2026-09-29".into();
    r.checked_at = "2026-09-29T10:00:00+09:00".into();
    r
}

fn round_trip(r: &QualificationResult, encoding: Encoding) -> QualificationResult {
    let dialect = Dialect::default();
    let message = ResultMessage {
        header: map::result_header(r, FACILITY, "file-1"),
        body: map::from_result(r),
        ..Default::default()
    };
    let bytes = message.to_xml(encoding, &dialect).unwrap();
    let declared = format!("encoding=\"{}\"", encoding.xml_name());
    assert!(String::from_utf8_lossy(&bytes).contains(&declared));
    let parsed = ResultMessage::parse(&bytes, &dialect, &Limits::default()).unwrap();
    assert_eq!(
        parsed.header.character_code_identifier,
        encoding.identifier()
    );
    assert_eq!(parsed.header.arbitrary_file_identifier, "file-1");
    map::to_result(&parsed.header, &parsed.body).unwrap()
}

#[test]
fn every_fixture_person_round_trips_in_both_encodings() {
    let directory = Directory::load(None).unwrap();
    let ids = directory.person_ids();
    assert!(ids.len() >= 14, "the fixture holds every variant");
    let mut validities = std::collections::BTreeSet::new();
    for id in ids {
        let original = face_like(directory.person(&id).unwrap());
        validities.insert(original.validity_code.clone());
        for encoding in ENCODINGS {
            let back = round_trip(&original, encoding);
            assert_eq!(back, original, "{id} in {encoding:?}");
        }
    }
    let all: Vec<_> = ["1", "2", "3", "4", "5", "6"].map(String::from).into();
    assert_eq!(validities.into_iter().collect::<Vec<_>>(), all);
}

#[test]
fn consents_and_processing_notes_round_trip() {
    let directory = Directory::load(None).unwrap();
    let mut r = face_like(directory.person("elderly").unwrap());
    let given = |at: &str, until: &str| ConsentState {
        flag_code: "1".into(),
        given: true,
        consented_at: at.into(),
        available_until: until.into(),
    };
    r.consents = Some(ConsentRecord {
        medication: Some(given(
            "2026-09-29T10:00:00+09:00",
            "2026-09-30T10:00:00+09:00",
        )),
        clinical: Some(ConsentState {
            flag_code: "0".into(),
            ..Default::default()
        }),
        health_checkup: Some(given(
            "2026-09-29T10:00:00+09:00",
            "2026-09-30T10:00:00+09:00",
        )),
        surgery: Some(ConsentState {
            flag_code: "2".into(),
            ..Default::default()
        }),
        limit_certificate: Some(given("2026-09-29T10:00:00+09:00", "")),
        specific_diseases: None,
        ..Default::default()
    });
    r.processing_result_code = "EOQW001".into();
    r.processing_result_message = "マイナンバーカードの失効期限3か月前".into();
    r.prescription_issue_select = "1".into();
    for encoding in ENCODINGS {
        assert_eq!(round_trip(&r, encoding), r);
    }
}

#[test]
fn a_check_by_numbers_reads_back_as_one() {
    let directory = Directory::load(None).unwrap();
    let check = numbers("  138057", "1234567", "1985-08-20");
    let r = directory.check_by_numbers(&check);
    assert_eq!(r.medium(), Medium::InsuranceNumbers);
    let mut r2 = r.clone();
    r2.checked_at = "2026-09-29T10:00:00+09:00".into();
    for encoding in ENCODINGS {
        let back = round_trip(&r2, encoding);
        assert_eq!(back, r2);
        assert_eq!(back.identity_method(), IdentityMethod::None);
    }
}

fn numbers(insurer: &str, number: &str, birth: &str) -> NumbersCheck {
    NumbersCheck {
        insurer: InsurerNumber::parse(insurer).unwrap(),
        symbol: Some(CardSymbol::parse("千代田").unwrap()),
        number: CardNumber::parse(number).unwrap(),
        branch: Some(BranchNumber::parse("00").unwrap()),
        birth_date: NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap(),
        limit_certificate_consent: true,
        confirmation_date: NaiveDate::from_ymd_opt(2026, 9, 29).unwrap(),
    }
}

#[test]
fn requests_round_trip_with_padding_as_configured() {
    let check = numbers("138057", "1234567", "1985-08-20");
    for padding in [InsurerPadding::Space, InsurerPadding::Zero] {
        let dialect = Dialect {
            insurer_padding: padding,
            ..Default::default()
        };
        let request = map::numbers_request(&check, FACILITY, "F1", &dialect);
        for encoding in ENCODINGS {
            let bytes = request.to_xml(encoding).unwrap();
            let back = Request::parse(MessageKind::QualificationCheck, &bytes, &Limits::default())
                .unwrap();
            assert_eq!(back, request);
            let Request::QualificationCheck { search, header } = back else {
                panic!("kind")
            };
            let expected = match padding {
                InsurerPadding::Space => "  138057",
                InsurerPadding::Zero => "00138057",
            };
            assert_eq!(search.insurer_number, expected);
            assert_eq!(search.insured_card_symbol, "千代田");
            assert_eq!(search.birthdate, "19850820");
            assert_eq!(search.limit_application_certificate_related_cons_flg, "1");
            assert_eq!(header.qualification_confirmation_date, "20260929");
            assert_eq!(header.medical_institution_code, FACILITY);
        }
    }
    let bulk = map::bulk_request(
        &[check.clone(), check.clone()],
        FACILITY,
        "F2",
        &Dialect::default(),
    );
    let bytes = bulk.to_xml(Encoding::ShiftJis).unwrap();
    assert_eq!(
        Request::parse(bulk.kind(), &bytes, &Limits::default()).unwrap(),
        bulk
    );
    let poll = map::bulk_download(shikaku_oqs_xml::BulkKind::Qualification, FACILITY, "R123");
    let bytes = poll.to_xml(Encoding::Utf8).unwrap();
    assert_eq!(
        Request::parse(poll.kind(), &bytes, &Limits::default()).unwrap(),
        poll
    );
}

#[test]
fn error_results_become_upstream_errors() {
    let dialect = Dialect::default();
    let mut per_person = ResultMessage::default();
    per_person.header.segment_of_result = "1".into();
    per_person.body.processing_result_status = "2".into();
    per_person.body.processing_result_code = "EOQE1001".into();
    per_person.body.processing_result_message = "該当する資格情報が存在しません".into();
    let mut whole_file = ResultMessage::default();
    whole_file.header.segment_of_result = "9".into();
    whole_file.header.error_code = "EOQE9001".into();
    whole_file.header.error_message = "オンライン資格確認等システムに接続できません".into();
    for encoding in ENCODINGS {
        for (m, code) in [(&per_person, "EOQE1001"), (&whole_file, "EOQE9001")] {
            let bytes = m.to_xml(encoding, &dialect).unwrap();
            let p = ResultMessage::parse(&bytes, &dialect, &Limits::default()).unwrap();
            match map::to_result(&p.header, &p.body) {
                Err(UpstreamError::ErrorResult { code: c, message }) => {
                    assert_eq!(c, code);
                    assert!(!message.is_empty());
                }
                other => panic!("expected an error result, got {other:?}"),
            }
        }
    }
    let mut pending = ResultMessage::default();
    pending.header.segment_of_result = "2".into();
    assert_eq!(map::segment(&pending.header), Segment::InProgress);
}

#[test]
fn bulk_results_keep_every_unit() {
    let directory = Directory::load(None).unwrap();
    let dialect = Dialect::default();
    let checks = [
        numbers("  138057", "1234567", "1985-08-20"),
        numbers("06130488", "0000", "1970-01-01"),
    ];
    let mut message = ResultMessage::default();
    message.header.segment_of_result = "1".into();
    message.header.reception_number = "R0001".into();
    for (i, c) in checks.iter().enumerate() {
        let mut unit = map::from_result(&directory.check_by_numbers(c));
        unit.search_info = Some(shikaku_oqs_xml::SearchInfo {
            arbitrary_identifier: (i + 1).to_string(),
            ..map::search_info(c, &dialect)
        });
        message.units.push(unit);
    }
    for encoding in ENCODINGS {
        let bytes = message.to_xml(encoding, &dialect).unwrap();
        let p = ResultMessage::parse(&bytes, &dialect, &Limits::default()).unwrap();
        assert_eq!(p.units.len(), 2);
        assert_eq!(p.header.reception_number, "R0001");
        let first = map::to_result(&p.header, &p.units[0]).unwrap();
        assert_eq!(first.validity(), Validity::Valid);
        assert_eq!(first.qualifications[0].name, "国保　一郎");
        let second = map::to_result(&p.header, &p.units[1]).unwrap();
        assert_eq!(second.validity(), Validity::NoMatch);
        assert_eq!(
            p.units[1]
                .search_info
                .as_ref()
                .unwrap()
                .arbitrary_identifier,
            "2"
        );
    }
}

#[test]
fn the_published_face_sample_parses() {
    let sample = r#"<XmlMsg>
  <MessageHeader>
    <ProcessExecutionTime>20230221174835</ProcessExecutionTime>
    <CharacterCodeIdentifier>0</CharacterCodeIdentifier>
    <SegmentOfResult>1</SegmentOfResult>
    <QualificationConfirmationDate>20230221</QualificationConfirmationDate>
    <ReferenceClassification>1</ReferenceClassification>
    <ArbitraryFileIdentifier>ArnHCeDfNjMCFzg=</ArbitraryFileIdentifier>
    <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>
  </MessageHeader>
  <MessageBody>
    <ResultList>
      <ResultOfQualificationConfirmation>
        <Address>東京都</Address>
        <PersonalFamilyClassification>1</PersonalFamilyClassification>
        <Sex1>1</Sex1>
        <Name>診療　太郎</Name>
        <InsurerNumber>  123456</InsurerNumber>
        <InsuredCardSymbol>12-34</InsuredCardSymbol>
        <NameKana>ｼﾝﾘｮｳ ﾀﾛｳ</NameKana>
        <InsuredCardValidDate>20191001</InsuredCardValidDate>
        <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
        <InsuredCardClassification>01</InsuredCardClassification>
        <InsuredBranchNumber>01</InsuredBranchNumber>
        <Birthdate>20010327</Birthdate>
        <InsuredIdentificationNumber>4260</InsuredIdentificationNumber>
        <PharmacistsInfoConsFlg>1</PharmacistsInfoConsFlg>
        <PharmacistsInfoConsTime>20230221174835</PharmacistsInfoConsTime>
        <PharmacistsInfoAvailableTime>20230222174835</PharmacistsInfoAvailableTime>
        <SpecificHealthCheckupsInfoConsFlg>1</SpecificHealthCheckupsInfoConsFlg>
        <DiagnosisInfoConsFlg>0</DiagnosisInfoConsFlg>
        <InsurerName>東京都</InsurerName>
        <PostNumber>123-4567</PostNumber>
      </ResultOfQualificationConfirmation>
    </ResultList>
    <ProcessingResultStatus>1</ProcessingResultStatus>
    <QualificationValidity>1</QualificationValidity>
  </MessageBody>
</XmlMsg>"#;
    let dialect = Dialect::default();
    let p = ResultMessage::parse(sample.as_bytes(), &dialect, &Limits::default()).unwrap();
    let r = map::to_result(&p.header, &p.body).unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(r.medium(), Medium::MyNumberCard);
    assert_eq!(r.checked_at, "2023-02-21T17:48:35+09:00");
    let q = &r.qualifications[0];
    assert_eq!(q.insurer_number, "  123456");
    assert_eq!(q.birth_date, "2001-03-27");
    assert_eq!(q.card_class_code, "01");
    let c = r.consents.as_ref().unwrap();
    assert!(c.medication.as_ref().unwrap().given);
    assert_eq!(
        c.medication.as_ref().unwrap().available_until,
        "2023-02-22T17:48:35+09:00"
    );
    assert!(!c.clinical.as_ref().unwrap().given);
    assert!(!c.limit_certificate.as_ref().unwrap().given);
}

#[test]
fn a_mismatched_declaration_is_refused_or_trusted_as_configured() {
    let mut m = ResultMessage::default();
    m.header.segment_of_result = "1".into();
    let bytes = m.to_xml(Encoding::Utf8, &Dialect::default()).unwrap();
    let lying = String::from_utf8(bytes)
        .unwrap()
        .replace("<CharacterCodeIdentifier>0<", "<CharacterCodeIdentifier>1<");
    let strict = Dialect::default();
    assert!(matches!(
        ResultMessage::parse(lying.as_bytes(), &strict, &Limits::default()),
        Err(shikaku_oqs_xml::XmlError::EncodingMismatch { .. })
    ));
    let lenient = Dialect {
        encoding_check: shikaku_oqs_xml::EncodingCheck::Ignore,
        ..Default::default()
    };
    assert!(ResultMessage::parse(lying.as_bytes(), &lenient, &Limits::default()).is_ok());
}
