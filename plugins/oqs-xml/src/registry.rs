//! 照会番号の登録 (OQSsiimm01, and the batch OQSmuimm01/02) and the query kinds of 一括照会
//! (医療扶助 OQSmutic, 訪問診療 OQSmuhvq, オンライン診療 OQSmuonq): requests from domain values,
//! results into domain answers, and the reverse readings the terminal simulator needs.

use chrono::{Datelike, NaiveDate};
use shikaku_domain::patient::PatientNumber;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::upstream::{
    BulkQuery, OnlineDates, ReferenceNumberRegistration, RegisteredReferenceNumber, UpstreamError,
};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};

use crate::dialect::Dialect;
use crate::map::{Segment, segment, to_result};
use crate::model::{
    MessageHeader, RegistrationInfo, Request, ResultBody, ResultMessage, SearchInfo,
};
use crate::names::BulkKind;

/// 診療区分 flag of the 訪問診療 query (S3; its meaning is inferred).
pub const FLAG_HOME_VISIT: &str = "2";
/// 診療区分 flag of the オンライン診療 query (S3; its meaning is inferred).
pub const FLAG_ONLINE: &str = "3";

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// The ReferenceNumberRegistrationInfo of one registration.
pub fn registration_info(r: &ReferenceNumberRegistration, dialect: &Dialect) -> RegistrationInfo {
    RegistrationInfo {
        reference_number: r.reference_number.as_str().to_owned(),
        insurer_number: dialect.pad_insurer(r.insurer.as_str()),
        insured_card_symbol: r
            .symbol
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        insured_identification_number: r.number.as_str().to_owned(),
        insured_branch_number: r
            .branch
            .as_ref()
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default(),
    }
}

fn header(facility_code: &str, file_identifier: &str) -> MessageHeader {
    MessageHeader {
        medical_institution_code: facility_code.to_owned(),
        arbitrary_file_identifier: file_identifier.to_owned(),
        ..Default::default()
    }
}

/// OQSsiimm01req: registers one 照会番号.
pub fn registration_request(
    r: &ReferenceNumberRegistration,
    facility_code: &str,
    file_identifier: &str,
    dialect: &Dialect,
) -> Request {
    Request::ReferenceNumberRegistration {
        header: header(facility_code, file_identifier),
        registration: registration_info(r, dialect),
    }
}

/// OQSmuimm01req: registers many 照会番号 at once.
pub fn registrations_request(
    list: &[ReferenceNumberRegistration],
    facility_code: &str,
    file_identifier: &str,
    dialect: &Dialect,
) -> Request {
    Request::BulkUpload {
        kind: BulkKind::ReferenceNumbers,
        header: header(facility_code, file_identifier),
        searches: Vec::new(),
        registrations: list.iter().map(|r| registration_info(r, dialect)).collect(),
    }
}

/// One registration's answer (a single result's body, or a BulkRegistrationUnit): 処理結果状況 2
/// is its error.
fn registered(
    header: &MessageHeader,
    body: &ResultBody,
    sent: &str,
) -> Result<RegisteredReferenceNumber, UpstreamError> {
    if let Segment::Failed(e) = segment(header) {
        return Err(e);
    }
    match body.processing_result_status.trim() {
        "" | "1" => {}
        _ => {
            return Err(UpstreamError::ErrorResult {
                code: body.processing_result_code.trim().to_owned(),
                message: body.processing_result_message.clone(),
            });
        }
    }
    let echoed = [
        body.reference_number.trim(),
        body.registration
            .as_ref()
            .map(|r| r.reference_number.trim())
            .unwrap_or_default(),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or(sent);
    Ok(RegisteredReferenceNumber {
        reference_number: echoed.to_owned(),
        processing_result_code: body.processing_result_code.clone(),
        processing_result_message: body.processing_result_message.clone(),
    })
}

/// The answer to OQSsiimm01req for the 照会番号 `sent`.
pub fn registration_result(
    m: &ResultMessage,
    sent: &str,
) -> Result<RegisteredReferenceNumber, UpstreamError> {
    if segment(&m.header) == Segment::InProgress {
        return Err(UpstreamError::Unavailable(
            "the terminal answered 処理中 to a registration".into(),
        ));
    }
    registered(&m.header, &m.body, sent)
}

/// A completed OQSmuimm02res as one answer per registration, in the order sent, each found by
/// the 照会番号 its unit echoes.
pub fn registration_results(
    sent: &[ReferenceNumberRegistration],
    m: &ResultMessage,
) -> Vec<Result<RegisteredReferenceNumber, UpstreamError>> {
    sent.iter()
        .map(|r| {
            let number = r.reference_number.as_str();
            m.registration_units
                .iter()
                .find(|u| {
                    u.reference_number.trim() == number
                        || u.registration
                            .as_ref()
                            .is_some_and(|g| g.reference_number.trim() == number)
                })
                .map(|u| registered(&m.header, u, number))
                .unwrap_or_else(|| {
                    Err(UpstreamError::Unavailable(format!(
                        "the bulk registration result has no answer for 照会番号 {number}"
                    )))
                })
        })
        .collect()
}

/// A registration as the terminal reads it back (for the simulator), or the rule it breaks.
pub fn registration_of(r: &RegistrationInfo) -> Result<ReferenceNumberRegistration, String> {
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    Ok(ReferenceNumberRegistration {
        reference_number: PatientNumber::parse(&r.reference_number)
            .map_err(|e| format!("ReferenceNumber: {e}"))?,
        insurer: InsurerNumber::parse(r.insurer_number.trim())
            .or_else(|_| InsurerNumber::parse(r.insurer_number.trim().trim_start_matches('0')))
            .map_err(|e| format!("InsurerNumber: {e}"))?,
        symbol: opt(&r.insured_card_symbol)
            .map(|s| CardSymbol::parse(&s))
            .transpose()
            .map_err(|e| format!("InsuredCardSymbol: {e}"))?,
        number: CardNumber::parse(r.insured_identification_number.trim())
            .map_err(|e| format!("InsuredIdentificationNumber: {e}"))?,
        branch: opt(&r.insured_branch_number)
            .map(|s| BranchNumber::parse(&s))
            .transpose()
            .map_err(|e| format!("InsuredBranchNumber: {e}"))?,
    })
}

/// The bulk kind a query is sent as.
pub fn query_kind(q: &BulkQuery) -> BulkKind {
    match q {
        BulkQuery::MedicalAssistance { .. } => BulkKind::MedicalAssistance,
        BulkQuery::HomeVisit { .. } => BulkKind::HomeVisit,
        BulkQuery::OnlineConsultation { .. } => BulkKind::OnlineConsultation,
    }
}

/// The one QualificationConfirmSearchInfo of a query.
pub fn query_search(q: &BulkQuery) -> SearchInfo {
    match *q {
        BulkQuery::MedicalAssistance { month } => SearchInfo {
            medical_treatment_month: format!("{:04}{:02}", month.year(), month.month()),
            ..Default::default()
        },
        BulkQuery::HomeVisit { from, to } => SearchInfo {
            consent_date_from: ymd(from),
            consent_date_to: ymd(to),
            medical_treatment_flag: FLAG_HOME_VISIT.into(),
            ..Default::default()
        },
        BulkQuery::OnlineConsultation { by, from, to } => {
            let mut s = SearchInfo {
                medical_treatment_flag: FLAG_ONLINE.into(),
                ..Default::default()
            };
            match by {
                OnlineDates::Examination => {
                    s.examination_date_from = ymd(from);
                    s.examination_date_to = ymd(to);
                }
                OnlineDates::Consent => {
                    s.consent_date_from = ymd(from);
                    s.consent_date_to = ymd(to);
                }
            }
            s
        }
    }
}

/// OQSmutic01req / OQSmuhvq01req / OQSmuonq01req for one query.
pub fn query_request(
    q: &BulkQuery,
    confirmation_date: NaiveDate,
    facility_code: &str,
    file_identifier: &str,
) -> Request {
    Request::BulkUpload {
        kind: query_kind(q),
        header: MessageHeader {
            qualification_confirmation_date: ymd(confirmation_date),
            ..header(facility_code, file_identifier)
        },
        searches: vec![query_search(q)],
        registrations: Vec::new(),
    }
}

/// The query an upload of `kind` asks (for the simulator), or the rule it breaks.
pub fn query_of(kind: BulkKind, s: &SearchInfo) -> Result<BulkQuery, String> {
    let date = |v: &str, what: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y%m%d")
            .map_err(|_| format!("{what} {v:?} is not yyyyMMdd"))
    };
    match kind {
        BulkKind::MedicalAssistance => {
            let m = s.medical_treatment_month.trim();
            NaiveDate::parse_from_str(&format!("{m}01"), "%Y%m%d")
                .ok()
                .filter(|_| m.len() == 6)
                .map(|month| BulkQuery::MedicalAssistance { month })
                .ok_or_else(|| format!("MedicalTreatmentMonth {m:?} is not yyyyMM"))
        }
        BulkKind::HomeVisit => Ok(BulkQuery::HomeVisit {
            from: date(&s.consent_date_from, "ConsentDateFrom")?,
            to: date(&s.consent_date_to, "ConsentDateTo")?,
        }),
        BulkKind::OnlineConsultation if !s.examination_date_from.trim().is_empty() => {
            Ok(BulkQuery::OnlineConsultation {
                by: OnlineDates::Examination,
                from: date(&s.examination_date_from, "ExaminationDateFrom")?,
                to: date(&s.examination_date_to, "ExaminationDateTo")?,
            })
        }
        BulkKind::OnlineConsultation => Ok(BulkQuery::OnlineConsultation {
            by: OnlineDates::Consent,
            from: date(&s.consent_date_from, "ConsentDateFrom")?,
            to: date(&s.consent_date_to, "ConsentDateTo")?,
        }),
        other => Err(format!("{other:?} is not a query kind")),
    }
}

/// A completed query result: every BulkConfirmUnit in the order the terminal wrote them.
pub fn query_results(m: &ResultMessage) -> Vec<Result<QualificationResult, UpstreamError>> {
    m.units.iter().map(|u| to_result(&m.header, u)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dom::Limits;
    use crate::encoding::Encoding;
    use crate::map::from_result;
    use crate::names::MessageKind;

    fn taro() -> ReferenceNumberRegistration {
        ReferenceNumberRegistration {
            reference_number: PatientNumber::parse("P-0001").unwrap(),
            insurer: InsurerNumber::parse("138057").unwrap(),
            symbol: Some(CardSymbol::parse("12-34").unwrap()),
            number: CardNumber::parse("4260").unwrap(),
            branch: Some(BranchNumber::parse("01").unwrap()),
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_single_registration_is_written_padded_and_read_back() {
        let d = Dialect::default();
        let req = registration_request(&taro(), "1311111114", "F1", &d);
        for enc in [Encoding::Utf8, Encoding::ShiftJis] {
            let bytes = req.to_xml(enc).unwrap();
            let text = encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned();
            let utf8 = String::from_utf8_lossy(&bytes).into_owned();
            let text = if enc == Encoding::Utf8 { utf8 } else { text };
            assert!(
                text.contains("<ReferenceNumber>P-0001</ReferenceNumber>"),
                "{text}"
            );
            assert!(
                text.contains("<InsurerNumber>  138057</InsurerNumber>"),
                "{text}"
            );
            let back = Request::parse(
                MessageKind::ReferenceNumberRegistration,
                &bytes,
                &Limits::default(),
            )
            .unwrap();
            assert_eq!(back, req);
            let Request::ReferenceNumberRegistration { registration, .. } = back else {
                unreachable!()
            };
            assert_eq!(registration_of(&registration).unwrap(), taro());
        }
    }

    #[test]
    fn a_registration_answer_is_accepted_or_its_error() {
        let ok = ResultMessage {
            header: MessageHeader {
                segment_of_result: "1".into(),
                ..Default::default()
            },
            body: ResultBody {
                processing_result_status: "1".into(),
                registration: Some(registration_info(&taro(), &Dialect::default())),
                ..Default::default()
            },
            ..Default::default()
        };
        let bytes = ok.to_xml(Encoding::Utf8, &Dialect::default()).unwrap();
        let read = ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
        assert_eq!(
            registration_result(&read, "P-0001")
                .unwrap()
                .reference_number,
            "P-0001"
        );
        let mut refused = ok.clone();
        refused.body.processing_result_status = "2".into();
        refused.body.processing_result_code = "EOQE0001".into();
        assert!(matches!(
            registration_result(&refused, "P-0001"),
            Err(UpstreamError::ErrorResult { code, .. }) if code == "EOQE0001"
        ));
        let mut failed = ok;
        failed.header.segment_of_result = "9".into();
        failed.header.error_code = "EOQE9001".into();
        assert!(registration_result(&failed, "P-0001").is_err());
    }

    #[test]
    fn a_batch_registration_round_trips_and_answers_in_the_order_sent() {
        let d = Dialect::default();
        let second = ReferenceNumberRegistration {
            reference_number: PatientNumber::parse("P-0002").unwrap(),
            ..taro()
        };
        let sent = vec![taro(), second.clone()];
        let req = registrations_request(&sent, "1311111114", "F2", &d);
        let bytes = req.to_xml(Encoding::ShiftJis).unwrap();
        let back = Request::parse(
            MessageKind::BulkUpload(BulkKind::ReferenceNumbers),
            &bytes,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(back, req);
        // Units come back in another order; the second one was refused.
        let result = ResultMessage {
            header: MessageHeader {
                segment_of_result: "1".into(),
                ..Default::default()
            },
            registration_units: vec![
                ResultBody {
                    processing_result_status: "2".into(),
                    processing_result_code: "EOQE0002".into(),
                    registration: Some(registration_info(&second, &d)),
                    ..Default::default()
                },
                ResultBody {
                    processing_result_status: "1".into(),
                    registration: Some(registration_info(&taro(), &d)),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let bytes = result.to_xml(Encoding::Utf8, &d).unwrap();
        let read = ResultMessage::parse(&bytes, &d, &Limits::default()).unwrap();
        let answers = registration_results(&sent, &read);
        assert_eq!(answers[0].as_ref().unwrap().reference_number, "P-0001");
        assert!(
            matches!(&answers[1], Err(UpstreamError::ErrorResult { code, .. }) if code == "EOQE0002")
        );
    }

    #[test]
    fn each_query_kind_is_written_with_its_keys_and_read_back() {
        let cases = [
            (
                BulkQuery::MedicalAssistance {
                    month: day("2026-09-01"),
                },
                "OQSmutic01req",
                vec!["<MedicalTreatmentMonth>202609</MedicalTreatmentMonth>"],
            ),
            (
                BulkQuery::HomeVisit {
                    from: day("2026-11-01"),
                    to: day("2026-11-30"),
                },
                "OQSmuhvq01req",
                vec![
                    "<ConsentDateFrom>20261101</ConsentDateFrom>",
                    "<ConsentDateTo>20261130</ConsentDateTo>",
                    "<MedicalTreatmentFlag>2</MedicalTreatmentFlag>",
                ],
            ),
            (
                BulkQuery::OnlineConsultation {
                    by: OnlineDates::Examination,
                    from: day("2026-11-01"),
                    to: day("2026-11-07"),
                },
                "OQSmuonq01req",
                vec![
                    "<ExaminationDateFrom>20261101</ExaminationDateFrom>",
                    "<ExaminationDateTo>20261107</ExaminationDateTo>",
                    "<MedicalTreatmentFlag>3</MedicalTreatmentFlag>",
                ],
            ),
            (
                BulkQuery::OnlineConsultation {
                    by: OnlineDates::Consent,
                    from: day("2026-10-01"),
                    to: day("2026-10-31"),
                },
                "OQSmuonq01req",
                vec!["<ConsentDateFrom>20261001</ConsentDateFrom>"],
            ),
        ];
        for (q, stem, keys) in cases {
            let req = query_request(&q, day("2026-11-22"), "1311111114", "F3");
            let name = crate::names::FileName::request(req.kind(), "x").to_string();
            assert!(name.starts_with(stem), "{name}");
            let bytes = req.to_xml(Encoding::Utf8).unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            for k in keys {
                assert!(text.contains(k), "{k} in {text}");
            }
            assert!(text.contains("<QualificationConfirmationDate>20261122<"));
            let back = Request::parse(req.kind(), &bytes, &Limits::default()).unwrap();
            let Request::BulkUpload { kind, searches, .. } = back else {
                panic!("not an upload")
            };
            assert_eq!(query_of(kind, &searches[0]).unwrap(), q);
        }
        assert!(query_of(BulkKind::MedicalAssistance, &SearchInfo::default()).is_err());
    }

    #[test]
    fn a_query_result_answers_every_unit_in_order() {
        let d = Dialect::default();
        let person = |name: &str| QualificationResult {
            validity_code: "1".into(),
            reference_number: format!("R-{name}"),
            qualifications: vec![shikaku_domain::pb::Qualification {
                name: name.into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let m = ResultMessage {
            header: MessageHeader {
                segment_of_result: "1".into(),
                reception_number: "R1".into(),
                ..Default::default()
            },
            units: vec![
                from_result(&person("生保　一郎")),
                ResultBody {
                    processing_result_status: "2".into(),
                    processing_result_code: "EOQE0003".into(),
                    ..Default::default()
                },
                from_result(&person("訪問　花子")),
            ],
            ..Default::default()
        };
        for enc in [Encoding::Utf8, Encoding::ShiftJis] {
            let bytes = m.to_xml(enc, &d).unwrap();
            let read = ResultMessage::parse(&bytes, &d, &Limits::default()).unwrap();
            let answers = query_results(&read);
            assert_eq!(answers.len(), 3);
            let first = answers[0].as_ref().unwrap();
            assert_eq!(first.qualifications[0].name, "生保　一郎");
            assert_eq!(first.reference_number, "R-生保　一郎");
            assert!(answers[1].is_err());
            assert_eq!(
                answers[2].as_ref().unwrap().qualifications[0].name,
                "訪問　花子"
            );
        }
    }
}
