//! Between the XML model and the contract: checks by numbers into requests, results into
//! `shikaku.v1.QualificationResult` (raw codes kept beside the enums), error results into
//! `UpstreamError`. The reverse direction (results into XML) serves the terminal simulator and
//! round-trip tests.

use shikaku_domain::codes;
use shikaku_domain::pb::{
    BackSideInfo, ConsentRecord, ConsentState, ElderlyRecipientCertificate, IdentityMethod,
    LimitCertificate, MedicalAssistance, Medium, Qualification, QualificationResult,
    SpecificDiseaseCertificate,
};
use shikaku_domain::upstream::{NumbersCheck, UpstreamError};

use crate::dialect::Dialect;
use crate::model::{
    ElderlyRecipientCertificateInfo, LimitApplicationCertificateInfo, MedicalAssistanceFields,
    MessageHeader, QualificationRecord, Request, ResultBody, ResultMessage, SearchInfo,
    SpecificDiseasesCertificateInfo,
};
use crate::names::BulkKind;
use crate::text::{date_from_oqs, date_to_oqs, time_from_oqs, time_to_oqs};

/// 処理結果区分 (SegmentOfResult) of a result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// 1 正常終了 (or absent, as in some face files).
    Completed,
    /// 2 処理中: a bulk result not ready yet; ask again later.
    InProgress,
    /// 9 異常終了, or any other code: the whole file failed.
    Failed(UpstreamError),
}

/// What the file-level header says.
pub fn segment(header: &MessageHeader) -> Segment {
    match header.segment_of_result.trim() {
        "" | "1" => Segment::Completed,
        "2" => Segment::InProgress,
        other => Segment::Failed(UpstreamError::ErrorResult {
            code: if header.error_code.trim().is_empty() {
                format!("SegmentOfResult={other}")
            } else {
                header.error_code.trim().to_owned()
            },
            message: header.error_message.clone(),
        }),
    }
}

/// The search keys of a check by numbers.
pub fn search_info(check: &NumbersCheck, dialect: &Dialect) -> SearchInfo {
    SearchInfo {
        insurer_number: dialect.pad_insurer(check.insurer.as_str()),
        insured_card_symbol: check
            .symbol
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        insured_identification_number: check.number.as_str().to_owned(),
        insured_branch_number: check
            .branch
            .as_ref()
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default(),
        birthdate: check.birth_date.format("%Y%m%d").to_string(),
        limit_application_certificate_related_cons_flg: if check.limit_certificate_consent {
            "1".into()
        } else {
            "0".into()
        },
        ..Default::default()
    }
}

/// OQSsiquc01req for one check by numbers.
pub fn numbers_request(
    check: &NumbersCheck,
    facility_code: &str,
    file_identifier: &str,
    dialect: &Dialect,
) -> Request {
    Request::QualificationCheck {
        header: MessageHeader {
            qualification_confirmation_date: check.confirmation_date.format("%Y%m%d").to_string(),
            medical_institution_code: facility_code.to_owned(),
            arbitrary_file_identifier: file_identifier.to_owned(),
            ..Default::default()
        },
        search: search_info(check, dialect),
    }
}

/// OQSmuquc01req for many checks; each patient's ArbitraryIdentifier is its 1-based position,
/// so results can be matched whatever order they come back in. The header's 資格確認日 is the
/// first check's.
pub fn bulk_request(
    checks: &[NumbersCheck],
    facility_code: &str,
    file_identifier: &str,
    dialect: &Dialect,
) -> Request {
    Request::BulkUpload {
        kind: BulkKind::Qualification,
        header: MessageHeader {
            qualification_confirmation_date: checks
                .first()
                .map(|c| c.confirmation_date.format("%Y%m%d").to_string())
                .unwrap_or_default(),
            medical_institution_code: facility_code.to_owned(),
            arbitrary_file_identifier: file_identifier.to_owned(),
            ..Default::default()
        },
        searches: checks
            .iter()
            .enumerate()
            .map(|(i, c)| SearchInfo {
                arbitrary_identifier: (i + 1).to_string(),
                ..search_info(c, dialect)
            })
            .collect(),
        registrations: Vec::new(),
    }
}

/// OQSmuquc02req: asks for the bulk result with this 受付番号.
pub fn bulk_download(kind: BulkKind, facility_code: &str, reception_number: &str) -> Request {
    Request::BulkDownload {
        kind,
        header: MessageHeader {
            medical_institution_code: facility_code.to_owned(),
            ..Default::default()
        },
        reception_number: reception_number.to_owned(),
    }
}

fn consent(flag: &str, at: &str, until: &str) -> Option<ConsentState> {
    (!flag.is_empty()).then(|| ConsentState {
        flag_code: flag.to_owned(),
        given: false,
        consented_at: time_from_oqs(at),
        available_until: time_from_oqs(until),
    })
}

fn consents(r: &QualificationRecord) -> Option<ConsentRecord> {
    let c = ConsentRecord {
        medication: consent(
            &r.pharmacists_cons_flg,
            &r.pharmacists_cons_time,
            &r.pharmacists_available_time,
        ),
        clinical: consent(
            &r.diagnosis_cons_flg,
            &r.diagnosis_cons_time,
            &r.diagnosis_available_time,
        ),
        health_checkup: consent(
            &r.health_checkups_cons_flg,
            &r.health_checkups_cons_time,
            &r.health_checkups_available_time,
        ),
        surgery: consent(
            &r.operation_cons_flg,
            &r.operation_cons_time,
            &r.operation_available_time,
        ),
        limit_certificate: consent(&r.limit_cons_flg, &r.limit_cons_time, ""),
        specific_diseases: consent(
            &r.specific_diseases_cons_flg,
            &r.specific_diseases_cons_time,
            "",
        ),
    };
    (c != ConsentRecord::default()).then_some(c)
}

fn self_pay(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

fn qualification(r: &QualificationRecord) -> Qualification {
    let back =
        (!r.name_of_other.is_empty() || !r.name_of_other_kana.is_empty() || !r.sex2.is_empty())
            .then(|| BackSideInfo {
                name: r.name_of_other.clone(),
                name_kana: r.name_of_other_kana.clone(),
                sex_code: r.sex2.clone(),
                ..Default::default()
            });
    let m = &r.medical_assistance;
    let assistance = (r.insured_card_classification.trim() == "A1"
        || *m != MedicalAssistanceFields::default()
        || !r.medical_tickets.is_empty())
    .then(|| MedicalAssistance {
        welfare_office_name: m.welfare_office_name.clone(),
        welfare_office_name_kana: m.welfare_office_name_kana.clone(),
        name: r.name.clone(),
        name_kana: r.name_kana.clone(),
        birth_date: date_from_oqs(&r.birthdate),
        sex_code: r.sex1.clone(),
        card_class_code: r.insured_card_classification.clone(),
        public_expense_number: m.public_expense_number.clone(),
        recipient_number: m.recipient_number.clone(),
        ..Default::default()
    });
    Qualification {
        card_class_code: r.insured_card_classification.clone(),
        insurer_number: r.insurer_number.clone(),
        insurer_name: r.insurer_name.clone(),
        symbol: r.insured_card_symbol.clone(),
        number: r.insured_identification_number.clone(),
        branch: r.insured_branch_number.clone(),
        relationship_code: r.personal_family_classification.clone(),
        insured_name: r.insured_name.clone(),
        name: r.name.clone(),
        name_kana: r.name_kana.clone(),
        birth_date: date_from_oqs(&r.birthdate),
        sex_code: r.sex1.clone(),
        address: r.address.clone(),
        post_number: r.post_number.clone(),
        issued_on: date_from_oqs(&r.insured_certificate_issuance_date),
        valid_from: date_from_oqs(&r.insured_card_valid_date),
        valid_to: date_from_oqs(&r.insured_card_expiration_date),
        qualification_date: date_from_oqs(&r.qualification_date),
        disqualification_date: date_from_oqs(&r.disqualification_date),
        loss_reason_code: r.reason_of_loss.clone(),
        copayment_ratio_code: r.insured_partial_contribution_ratio.clone(),
        preschool_code: r.preschool_classification.clone(),
        back_side: back,
        elderly_recipient: r
            .elderly_recipient
            .as_ref()
            .map(|e| ElderlyRecipientCertificate {
                issued_on: date_from_oqs(&e.certificate_date),
                valid_from: date_from_oqs(&e.valid_start_date),
                valid_to: date_from_oqs(&e.valid_end_date),
                copayment_ratio_code: e.contribution_ratio.clone(),
                ..Default::default()
            }),
        limit_certificate: r.limit_certificate.as_ref().map(|l| LimitCertificate {
            class_code: l.classification.clone(),
            category_code: l.classification_flag.clone(),
            issued_on: date_from_oqs(&l.certificate_date),
            valid_from: date_from_oqs(&l.valid_start_date),
            valid_to: date_from_oqs(&l.valid_end_date),
            long_term_hospitalisation_date: date_from_oqs(&l.long_term_date),
            ..Default::default()
        }),
        specific_diseases: r
            .specific_diseases
            .iter()
            .map(|s| SpecificDiseaseCertificate {
                category_code: s.disease_category.clone(),
                issued_on: date_from_oqs(&s.certificate_date),
                valid_from: date_from_oqs(&s.valid_start_date),
                valid_to: date_from_oqs(&s.valid_end_date),
                self_pay_yen: self_pay(&s.self_pay),
                ..Default::default()
            })
            .collect(),
        medical_assistance: assistance,
        reference_number: r.reference_number.clone(),
        ..Default::default()
    }
}

/// The answer to a single check: 処理中 makes no sense there, so it counts as a fault.
pub fn single_result(m: &ResultMessage) -> Result<QualificationResult, UpstreamError> {
    if segment(&m.header) == Segment::InProgress {
        return Err(UpstreamError::Unavailable(
            "the terminal answered 処理中 to a single check".into(),
        ));
    }
    to_result(&m.header, &m.body)
}

/// The 受付番号 of a bulk upload's receipt, to poll the result with; a failed file or an error
/// result (処理結果状況 = 2) is the upload's error.
pub fn bulk_reception_number(receipt: &ResultMessage) -> Result<String, UpstreamError> {
    if let Segment::Failed(e) = segment(&receipt.header) {
        return Err(e);
    }
    if receipt.body.processing_result_status.trim() == "2" {
        return Err(UpstreamError::ErrorResult {
            code: receipt.body.processing_result_code.trim().to_owned(),
            message: receipt.body.processing_result_message.clone(),
        });
    }
    [
        &receipt.body.reception_number,
        &receipt.header.reception_number,
    ]
    .into_iter()
    .map(|r| r.trim())
    .find(|r| !r.is_empty())
    .map(str::to_owned)
    .ok_or_else(|| UpstreamError::Unavailable("the bulk receipt has no 受付番号".into()))
}

/// A completed bulk result as one answer per check, in the order asked: the n-th check was sent
/// with 任意の識別子 n.
pub fn bulk_results(
    count: usize,
    m: &ResultMessage,
) -> Vec<Result<QualificationResult, UpstreamError>> {
    (1..=count)
        .map(|i| {
            let id = i.to_string();
            m.units
                .iter()
                .find(|u| {
                    u.search_info
                        .as_ref()
                        .is_some_and(|s| s.arbitrary_identifier.trim() == id)
                })
                .map(|u| to_result(&m.header, u))
                .unwrap_or_else(|| {
                    Err(UpstreamError::Unavailable(format!(
                        "the bulk result has no answer for check {i}"
                    )))
                })
        })
        .collect()
}

/// A completed result (or one patient of a bulk result) as the contract's result, enums filled
/// from the raw codes. 処理結果状況 = 2 (and a failed file) is an `UpstreamError::ErrorResult`.
pub fn to_result(
    header: &MessageHeader,
    body: &ResultBody,
) -> Result<QualificationResult, UpstreamError> {
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
    let (medium, identity) = match header.reference_classification.trim() {
        "1" => (Medium::MyNumberCard, IdentityMethod::Unspecified),
        "2" => (Medium::InsuranceNumbers, IdentityMethod::None),
        _ => (Medium::Unspecified, IdentityMethod::Unspecified),
    };
    let prescription = if body.prescription_issue_select.is_empty() {
        body.results
            .iter()
            .map(|r| r.prescription_issue_select.clone())
            .find(|p| !p.is_empty())
            .unwrap_or_default()
    } else {
        body.prescription_issue_select.clone()
    };
    let mut result = QualificationResult {
        validity_code: body.qualification_validity.clone(),
        processing_result_code: body.processing_result_code.clone(),
        processing_result_message: body.processing_result_message.clone(),
        medium: medium as i32,
        identity_method: identity as i32,
        confirmation_date: date_from_oqs(&header.qualification_confirmation_date),
        checked_at: time_from_oqs(&header.process_execution_time),
        qualifications: body.results.iter().map(qualification).collect(),
        consents: body.results.first().and_then(consents),
        prescription_issue_select: prescription,
        ..Default::default()
    };
    codes::normalize(&mut result);
    Ok(result)
}

fn record(q: &Qualification, c: Option<&ConsentRecord>) -> QualificationRecord {
    let none = ConsentState::default();
    let state = |s: Option<&ConsentState>| s.cloned().unwrap_or_else(|| none.clone());
    let c = c.cloned().unwrap_or_default();
    let (med, cli, hc, sur, lim, sd) = (
        state(c.medication.as_ref()),
        state(c.clinical.as_ref()),
        state(c.health_checkup.as_ref()),
        state(c.surgery.as_ref()),
        state(c.limit_certificate.as_ref()),
        state(c.specific_diseases.as_ref()),
    );
    let back = q.back_side.clone().unwrap_or_default();
    let m = q.medical_assistance.clone().unwrap_or_default();
    QualificationRecord {
        insured_card_classification: q.card_class_code.clone(),
        insurer_number: q.insurer_number.clone(),
        insured_card_symbol: q.symbol.clone(),
        insured_identification_number: q.number.clone(),
        insured_branch_number: q.branch.clone(),
        personal_family_classification: q.relationship_code.clone(),
        insured_name: q.insured_name.clone(),
        name: q.name.clone(),
        name_of_other: back.name,
        name_kana: q.name_kana.clone(),
        name_of_other_kana: back.name_kana,
        sex1: q.sex_code.clone(),
        sex2: back.sex_code,
        birthdate: date_to_oqs(&q.birth_date),
        address: q.address.clone(),
        post_number: q.post_number.clone(),
        qualification_date: date_to_oqs(&q.qualification_date),
        disqualification_date: date_to_oqs(&q.disqualification_date),
        insured_certificate_issuance_date: date_to_oqs(&q.issued_on),
        insured_card_valid_date: date_to_oqs(&q.valid_from),
        insured_card_expiration_date: date_to_oqs(&q.valid_to),
        insured_partial_contribution_ratio: q.copayment_ratio_code.clone(),
        preschool_classification: q.preschool_code.clone(),
        reason_of_loss: q.loss_reason_code.clone(),
        insurer_name: q.insurer_name.clone(),
        limit_cons_flg: lim.flag_code,
        limit_cons_time: time_to_oqs(&lim.consented_at),
        specific_diseases_cons_flg: sd.flag_code,
        specific_diseases_cons_time: time_to_oqs(&sd.consented_at),
        health_checkups_cons_flg: hc.flag_code,
        health_checkups_cons_time: time_to_oqs(&hc.consented_at),
        health_checkups_available_time: time_to_oqs(&hc.available_until),
        pharmacists_cons_flg: med.flag_code,
        pharmacists_cons_time: time_to_oqs(&med.consented_at),
        pharmacists_available_time: time_to_oqs(&med.available_until),
        diagnosis_cons_flg: cli.flag_code,
        diagnosis_cons_time: time_to_oqs(&cli.consented_at),
        diagnosis_available_time: time_to_oqs(&cli.available_until),
        operation_cons_flg: sur.flag_code,
        operation_cons_time: time_to_oqs(&sur.consented_at),
        operation_available_time: time_to_oqs(&sur.available_until),
        reference_number: q.reference_number.clone(),
        elderly_recipient: q
            .elderly_recipient
            .as_ref()
            .map(|e| ElderlyRecipientCertificateInfo {
                certificate_date: date_to_oqs(&e.issued_on),
                valid_start_date: date_to_oqs(&e.valid_from),
                valid_end_date: date_to_oqs(&e.valid_to),
                contribution_ratio: e.copayment_ratio_code.clone(),
            }),
        limit_certificate: q
            .limit_certificate
            .as_ref()
            .map(|l| LimitApplicationCertificateInfo {
                classification: l.class_code.clone(),
                classification_flag: l.category_code.clone(),
                certificate_date: date_to_oqs(&l.issued_on),
                valid_start_date: date_to_oqs(&l.valid_from),
                valid_end_date: date_to_oqs(&l.valid_to),
                long_term_date: date_to_oqs(&l.long_term_hospitalisation_date),
            }),
        specific_diseases: q
            .specific_diseases
            .iter()
            .map(|s| SpecificDiseasesCertificateInfo {
                disease_category: s.category_code.clone(),
                certificate_date: date_to_oqs(&s.issued_on),
                valid_start_date: date_to_oqs(&s.valid_from),
                valid_end_date: date_to_oqs(&s.valid_to),
                self_pay: if s.self_pay_yen == 0 {
                    String::new()
                } else {
                    s.self_pay_yen.to_string()
                },
            })
            .collect(),
        medical_assistance: MedicalAssistanceFields {
            public_expense_number: m.public_expense_number,
            recipient_number: m.recipient_number,
            welfare_office_name: m.welfare_office_name,
            welfare_office_name_kana: m.welfare_office_name_kana,
        },
        ..Default::default()
    }
}

/// A contract result as a result body (what the terminal would write for it).
pub fn from_result(r: &QualificationResult) -> ResultBody {
    ResultBody {
        processing_result_status: "1".into(),
        processing_result_code: r.processing_result_code.clone(),
        processing_result_message: r.processing_result_message.clone(),
        qualification_validity: r.validity_code.clone(),
        prescription_issue_select: r.prescription_issue_select.clone(),
        results: r
            .qualifications
            .iter()
            .map(|q| record(q, r.consents.as_ref()))
            .collect(),
        ..Default::default()
    }
}

/// The header the terminal writes for a completed result.
pub fn result_header(
    r: &QualificationResult,
    facility_code: &str,
    file_identifier: &str,
) -> MessageHeader {
    MessageHeader {
        process_execution_time: time_to_oqs(&r.checked_at),
        qualification_confirmation_date: date_to_oqs(&r.confirmation_date),
        medical_institution_code: facility_code.to_owned(),
        arbitrary_file_identifier: file_identifier.to_owned(),
        reference_classification: match r.medium() {
            Medium::InsuranceNumbers => "2".into(),
            Medium::Unspecified => String::new(),
            _ => "1".into(),
        },
        segment_of_result: "1".into(),
        ..Default::default()
    }
}
