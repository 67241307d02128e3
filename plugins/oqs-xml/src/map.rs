//! Between the XML model and the contract: checks by numbers into requests, results into
//! `shikaku.v1.QualificationResult` (raw codes kept beside the enums), error results into
//! `UpstreamError`. The reverse direction (results into XML) serves the terminal simulator and
//! round-trip tests.

use shikaku_domain::codes;
use shikaku_domain::pb::{
    BackSideInfo, ConsentRecord, ConsentState, ElderlyRecipientCertificate, IdentityMethod,
    LimitCertificate, MedicalAssistance, MedicalTicket, Medium, Qualification, QualificationResult,
    SpecificDiseaseCertificate, UnparsedValue,
};
use shikaku_domain::upstream::{NumbersCheck, UpstreamError};
use shikaku_domain::values::check_digit;

use crate::dialect::Dialect;
use crate::model::{
    ElderlyRecipientCertificateInfo, LimitApplicationCertificateInfo, MedicalAssistanceFields,
    MedicalTicketInfo, MessageHeader, QualificationRecord, Request, ResultBody, ResultMessage,
    SearchInfo, SpecificDiseasesCertificateInfo,
};
use crate::names::BulkKind;
use crate::text::{
    date_from_oqs, date_to_oqs, month_from_oqs, month_to_oqs, time_from_oqs, time_to_oqs,
};

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

/// Collects what did not parse while one result is converted: the field it belongs to is left
/// empty (the contract documents it as a date, a month or a number) and the raw text is kept in
/// `QualificationResult.unparsed`, so nothing upstream sent is lost or passed off as valid.
#[derive(Debug, Default)]
struct Unparsed(Vec<UnparsedValue>);

impl Unparsed {
    fn keep(&mut self, at: &str, name: &str, raw: &str) {
        self.0.push(UnparsedValue {
            field: format!("{at}{name}"),
            raw: raw.to_owned(),
        });
    }

    /// yyyyMMdd → YYYY-MM-DD.
    fn date(&mut self, at: &str, name: &str, raw: &str) -> String {
        self.convert(at, name, raw, date_from_oqs)
    }

    /// yyyyMMddHHmmss (JST) → RFC 3339.
    fn time(&mut self, at: &str, name: &str, raw: &str) -> String {
        self.convert(at, name, raw, time_from_oqs)
    }

    /// yyyyMM → YYYY-MM.
    fn month(&mut self, at: &str, name: &str, raw: &str) -> String {
        self.convert(at, name, raw, |s| {
            month_from_oqs(s).unwrap_or_else(|| s.to_owned())
        })
    }

    /// The converters answer their input unchanged when it does not parse.
    fn convert(&mut self, at: &str, name: &str, raw: &str, f: impl Fn(&str) -> String) -> String {
        if raw.trim().is_empty() {
            return String::new();
        }
        let converted = f(raw);
        if converted == raw {
            self.keep(at, name, raw);
            String::new()
        } else {
            converted
        }
    }

    /// Whole yen; 0 when absent.
    fn yen(&mut self, at: &str, name: &str, raw: &str) -> u32 {
        if raw.trim().is_empty() {
            return 0;
        }
        raw.trim().parse().unwrap_or_else(|_| {
            self.keep(at, name, raw);
            0
        })
    }
}

/// One consent category; limit and specific-disease consents carry no 有効期限.
fn consent(
    u: &mut Unparsed,
    name: &str,
    flag: &str,
    at: &str,
    until: &str,
) -> Option<ConsentState> {
    let field = format!("consents.{name}.");
    (!flag.is_empty()).then(|| ConsentState {
        flag_code: flag.to_owned(),
        given: false,
        consented_at: u.time(&field, "consented_at", at),
        available_until: u.time(&field, "available_until", until),
    })
}

fn consents(r: &QualificationRecord, u: &mut Unparsed) -> Option<ConsentRecord> {
    // 薬剤: `PharmacistsInfo…` as the layout and most sources spell it; one public exporter
    // writes `PharmaceuticalInfo…` (with `…AcquisitionTime`), read when the first is absent.
    let medication = if r.pharmacists_cons_flg.is_empty() && !r.pharmaceutical_cons_flg.is_empty() {
        let at = if r.pharmaceutical_cons_time.is_empty() {
            &r.pharmaceutical_acquisition_time
        } else {
            &r.pharmaceutical_cons_time
        };
        consent(
            u,
            "medication",
            &r.pharmaceutical_cons_flg,
            at,
            &r.pharmaceutical_available_time,
        )
    } else {
        consent(
            u,
            "medication",
            &r.pharmacists_cons_flg,
            &r.pharmacists_cons_time,
            &r.pharmacists_available_time,
        )
    };
    let c = ConsentRecord {
        medication,
        clinical: consent(
            u,
            "clinical",
            &r.diagnosis_cons_flg,
            &r.diagnosis_cons_time,
            &r.diagnosis_available_time,
        ),
        health_checkup: consent(
            u,
            "health_checkup",
            &r.health_checkups_cons_flg,
            &r.health_checkups_cons_time,
            &r.health_checkups_available_time,
        ),
        surgery: consent(
            u,
            "surgery",
            &r.operation_cons_flg,
            &r.operation_cons_time,
            &r.operation_available_time,
        ),
        limit_certificate: consent(
            u,
            "limit_certificate",
            &r.limit_cons_flg,
            &r.limit_cons_time,
            "",
        ),
        specific_diseases: consent(
            u,
            "specific_diseases",
            &r.specific_diseases_cons_flg,
            &r.specific_diseases_cons_time,
            "",
        ),
        diagnosis_names: consent(
            u,
            "diagnosis_names",
            &r.diagnosis_name_cons_flg,
            &r.diagnosis_name_cons_time,
            &r.diagnosis_name_available_time,
        ),
        infections: consent(
            u,
            "infections",
            &r.infectious_cons_flg,
            &r.infectious_cons_time,
            &r.infectious_available_time,
        ),
        drug_allergies: consent(
            u,
            "drug_allergies",
            &r.contraindication_cons_flg,
            &r.contraindication_cons_time,
            &r.contraindication_available_time,
        ),
        other_allergies: consent(
            u,
            "other_allergies",
            &r.allergy_cons_flg,
            &r.allergy_cons_time,
            &r.allergy_available_time,
        ),
        lab_tests: consent(
            u,
            "lab_tests",
            &r.test_cons_flg,
            &r.test_cons_time,
            &r.test_available_time,
        ),
        prescriptions: consent(
            u,
            "prescriptions",
            &r.prescription_cons_flg,
            &r.prescription_cons_time,
            &r.prescription_available_time,
        ),
    };
    (c != ConsentRecord::default()).then_some(c)
}

/// A 公費負担者番号 that is not 8 digits with a valid 検証番号 (the Luhn-style rule insurer
/// numbers use, over the first 7 digits).
fn public_expense_number_invalid(number: &str) -> bool {
    let n = number.trim();
    if n.is_empty() {
        return false;
    }
    let digits: Option<Vec<u8>> = n
        .bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect();
    match digits.as_deref() {
        Some([body @ .., last]) if body.len() == 7 => check_digit(body) != *last,
        _ => true,
    }
}

/// Lines 1–3 (傷病名, 備考) in order, empty ones left out.
fn lines(values: [&str; 3]) -> Vec<String> {
    values
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn ticket(t: &MedicalTicketInfo, at: &str, u: &mut Unparsed) -> MedicalTicket {
    MedicalTicket {
        type_code: t.ticket_type.clone(),
        valid_from: u.date(at, "valid_from", &t.valid_date),
        valid_to: u.date(at, "valid_to", &t.expiration_date),
        issue_number: t.issue_number.clone(),
        treatment_month: u.month(at, "treatment_month", &t.medical_treatment_month),
        designated_institution_code: t.designated_medical_institution_code.clone(),
        designated_institution_flag_code: t.designated_medical_institution_flag.clone(),
        designated_institution_name: t.designated_medical_institution_name.clone(),
        prescription_issuer_code: t.prescription_issuer_medical_institution_code.clone(),
        prescription_issuer_name: t.prescription_issuer_medical_institution_name.clone(),
        injury_names: lines([&t.injury_name1, &t.injury_name2, &t.injury_name3]),
        treatment_type_code: t.medical_treatment_type.clone(),
        self_pay_yen: u.yen(at, "self_pay_yen", &t.self_pay_amount),
        district_contact_name: t.district_contact_name.clone(),
        handling_contact_name: t.handling_contact_name.clone(),
        single_or_combined_code: t.single_or_combined_use.clone(),
        social_insurance_status_code: t.status_of_social_insurance.clone(),
        consistency_flag_code: t.consistency_flag.clone(),
        infection_status_code: t.status_of_infection.clone(),
        elderly_medical_care_status_code: t.status_of_elderly_medical_care.clone(),
        prefectural_expenses_status_code: t.status_of_prefectural_expenses.clone(),
        remarks: lines([&t.remarks1, &t.remarks2, &t.remarks3]),
        ..Default::default()
    }
}

/// 医療扶助 (public assistance), when the record is one (証区分 A1) or carries its fields.
///
/// Sources disagree on where 公費負担者番号, 受給者番号 and 福祉事務所名 stand: the dialect's own
/// element names (one public client's `PublicExpenseNumber`, `BeneficiaryNumber`,
/// `WelfareOfficeName`), or — as terminals write an A1 result — the insurance elements
/// `InsurerNumber`, `InsuredIdentificationNumber` and `InsurerName`. Both are read, the named
/// ones first; the insurance fields of the qualification stay as sent.
fn assistance(r: &QualificationRecord, at: &str, u: &mut Unparsed) -> Option<MedicalAssistance> {
    let m = &r.medical_assistance;
    let a1 = r.insured_card_classification.trim() == "A1";
    if !a1 && *m == MedicalAssistanceFields::default() && r.medical_tickets.is_empty() {
        return None;
    }
    let pick = |own: &str, insurance: &str| {
        if own.is_empty() && a1 {
            insurance.to_owned()
        } else {
            own.to_owned()
        }
    };
    let public_expense_number = pick(&m.public_expense_number, &r.insurer_number);
    let at = format!("{at}medical_assistance.");
    Some(MedicalAssistance {
        welfare_office_name: pick(&m.welfare_office_name, &r.insurer_name),
        welfare_office_name_kana: m.welfare_office_name_kana.clone(),
        name: r.name.clone(),
        name_kana: r.name_kana.clone(),
        birth_date: u.date(&at, "birth_date", &r.birthdate),
        sex_code: r.sex1.clone(),
        card_class_code: r.insured_card_classification.clone(),
        public_expense_number_check_digit_invalid: public_expense_number_invalid(
            &public_expense_number,
        ),
        public_expense_number,
        recipient_number: pick(&m.recipient_number, &r.insured_identification_number),
        tickets: r
            .medical_tickets
            .iter()
            .enumerate()
            .map(|(i, t)| ticket(t, &format!("{at}tickets[{i}]."), u))
            .collect(),
        ..Default::default()
    })
}

fn qualification(r: &QualificationRecord, index: usize, u: &mut Unparsed) -> Qualification {
    let at = format!("qualifications[{index}].");
    let back =
        (!r.name_of_other.is_empty() || !r.name_of_other_kana.is_empty() || !r.sex2.is_empty())
            .then(|| BackSideInfo {
                name: r.name_of_other.clone(),
                name_kana: r.name_of_other_kana.clone(),
                sex_code: r.sex2.clone(),
                ..Default::default()
            });
    let specific_diseases: Vec<SpecificDiseaseCertificate> = r
        .specific_diseases
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = format!("{at}specific_diseases[{i}].");
            SpecificDiseaseCertificate {
                category_code: s.disease_category.clone(),
                issued_on: u.date(&at, "issued_on", &s.certificate_date),
                valid_from: u.date(&at, "valid_from", &s.valid_start_date),
                valid_to: u.date(&at, "valid_to", &s.valid_end_date),
                self_pay_yen: u.yen(&at, "self_pay_yen", &s.self_pay),
                ..Default::default()
            }
        })
        .collect();
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
        birth_date: u.date(&at, "birth_date", &r.birthdate),
        sex_code: r.sex1.clone(),
        address: r.address.clone(),
        post_number: r.post_number.clone(),
        issued_on: u.date(&at, "issued_on", &r.insured_certificate_issuance_date),
        valid_from: u.date(&at, "valid_from", &r.insured_card_valid_date),
        valid_to: u.date(&at, "valid_to", &r.insured_card_expiration_date),
        qualification_date: u.date(&at, "qualification_date", &r.qualification_date),
        disqualification_date: u.date(&at, "disqualification_date", &r.disqualification_date),
        loss_reason_code: r.reason_of_loss.clone(),
        copayment_ratio_code: r.insured_partial_contribution_ratio.clone(),
        preschool_code: r.preschool_classification.clone(),
        back_side: back,
        elderly_recipient: r.elderly_recipient.as_ref().map(|e| {
            let at = format!("{at}elderly_recipient.");
            ElderlyRecipientCertificate {
                issued_on: u.date(&at, "issued_on", &e.certificate_date),
                valid_from: u.date(&at, "valid_from", &e.valid_start_date),
                valid_to: u.date(&at, "valid_to", &e.valid_end_date),
                copayment_ratio_code: e.contribution_ratio.clone(),
                ..Default::default()
            }
        }),
        limit_certificate: r.limit_certificate.as_ref().map(|l| {
            let at = format!("{at}limit_certificate.");
            LimitCertificate {
                class_code: l.classification.clone(),
                category_code: l.classification_flag.clone(),
                issued_on: u.date(&at, "issued_on", &l.certificate_date),
                valid_from: u.date(&at, "valid_from", &l.valid_start_date),
                valid_to: u.date(&at, "valid_to", &l.valid_end_date),
                long_term_hospitalisation_date: u.date(
                    &at,
                    "long_term_hospitalisation_date",
                    &l.long_term_date,
                ),
                ..Default::default()
            }
        }),
        specific_diseases_unread: r.specific_diseases_cons_flg.trim() == "1"
            && specific_diseases.is_empty(),
        specific_diseases,
        medical_assistance: assistance(r, &at, u),
        reference_number: r.reference_number.clone(),
        arbitrary_identifier: r.arbitrary_identifier.clone(),
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
    let medium_code = match header.reference_classification.trim() {
        "" | "1" | "2" => String::new(),
        _ => header.reference_classification.clone(),
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
    let first = |pick: fn(&QualificationRecord) -> &String| {
        body.results
            .iter()
            .map(pick)
            .find(|v| !v.is_empty())
            .cloned()
            .unwrap_or_default()
    };
    let or = |a: &str, b: String| if a.is_empty() { b } else { a.to_owned() };
    let mut u = Unparsed::default();
    let mut result = QualificationResult {
        validity_code: body.qualification_validity.clone(),
        processing_result_code: body.processing_result_code.clone(),
        processing_result_message: body.processing_result_message.clone(),
        medium: medium as i32,
        identity_method: identity as i32,
        confirmation_date: u.date(
            "",
            "confirmation_date",
            &header.qualification_confirmation_date,
        ),
        checked_at: u.time("", "checked_at", &header.process_execution_time),
        qualifications: body
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| qualification(r, i, &mut u))
            .collect(),
        consents: body.results.first().and_then(|r| consents(r, &mut u)),
        prescription_issue_select: prescription,
        medium_code,
        reference_number: or(
            &body.reference_number,
            body.registration
                .as_ref()
                .map(|r| r.reference_number.clone())
                .unwrap_or_default(),
        ),
        arbitrary_identifier: or(
            &body.arbitrary_identifier,
            body.search_info
                .as_ref()
                .map(|s| s.arbitrary_identifier.clone())
                .unwrap_or_default(),
        ),
        qualification_confirmation_key: or(
            &body.qualification_confirmation_key,
            or(
                &header.qualification_confirmation_key,
                first(|r| &r.qualification_confirmation_key),
            ),
        ),
        ..Default::default()
    };
    result.unparsed = u.0;
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
    let (dn, inf, drug, other, test, rx) = (
        state(c.diagnosis_names.as_ref()),
        state(c.infections.as_ref()),
        state(c.drug_allergies.as_ref()),
        state(c.other_allergies.as_ref()),
        state(c.lab_tests.as_ref()),
        state(c.prescriptions.as_ref()),
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
        diagnosis_name_cons_flg: dn.flag_code,
        diagnosis_name_cons_time: time_to_oqs(&dn.consented_at),
        diagnosis_name_available_time: time_to_oqs(&dn.available_until),
        infectious_cons_flg: inf.flag_code,
        infectious_cons_time: time_to_oqs(&inf.consented_at),
        infectious_available_time: time_to_oqs(&inf.available_until),
        contraindication_cons_flg: drug.flag_code,
        contraindication_cons_time: time_to_oqs(&drug.consented_at),
        contraindication_available_time: time_to_oqs(&drug.available_until),
        allergy_cons_flg: other.flag_code,
        allergy_cons_time: time_to_oqs(&other.consented_at),
        allergy_available_time: time_to_oqs(&other.available_until),
        test_cons_flg: test.flag_code,
        test_cons_time: time_to_oqs(&test.consented_at),
        test_available_time: time_to_oqs(&test.available_until),
        prescription_cons_flg: rx.flag_code,
        prescription_cons_time: time_to_oqs(&rx.consented_at),
        prescription_available_time: time_to_oqs(&rx.available_until),
        reference_number: q.reference_number.clone(),
        arbitrary_identifier: q.arbitrary_identifier.clone(),
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
        medical_tickets: m.tickets.iter().map(ticket_info).collect(),
        medical_assistance: MedicalAssistanceFields {
            public_expense_number: m.public_expense_number,
            recipient_number: m.recipient_number,
            welfare_office_name: m.welfare_office_name,
            welfare_office_name_kana: m.welfare_office_name_kana,
        },
        ..Default::default()
    }
}

fn ticket_info(t: &MedicalTicket) -> MedicalTicketInfo {
    let line = |lines: &[String], i: usize| lines.get(i).cloned().unwrap_or_default();
    MedicalTicketInfo {
        ticket_type: t.type_code.clone(),
        valid_date: date_to_oqs(&t.valid_from),
        expiration_date: date_to_oqs(&t.valid_to),
        issue_number: t.issue_number.clone(),
        medical_treatment_month: month_to_oqs(&t.treatment_month),
        designated_medical_institution_code: t.designated_institution_code.clone(),
        designated_medical_institution_flag: t.designated_institution_flag_code.clone(),
        designated_medical_institution_name: t.designated_institution_name.clone(),
        prescription_issuer_medical_institution_code: t.prescription_issuer_code.clone(),
        prescription_issuer_medical_institution_name: t.prescription_issuer_name.clone(),
        injury_name1: line(&t.injury_names, 0),
        injury_name2: line(&t.injury_names, 1),
        injury_name3: line(&t.injury_names, 2),
        medical_treatment_type: t.treatment_type_code.clone(),
        self_pay_amount: if t.self_pay_yen == 0 {
            String::new()
        } else {
            t.self_pay_yen.to_string()
        },
        district_contact_name: t.district_contact_name.clone(),
        handling_contact_name: t.handling_contact_name.clone(),
        single_or_combined_use: t.single_or_combined_code.clone(),
        status_of_social_insurance: t.social_insurance_status_code.clone(),
        consistency_flag: t.consistency_flag_code.clone(),
        status_of_infection: t.infection_status_code.clone(),
        status_of_elderly_medical_care: t.elderly_medical_care_status_code.clone(),
        status_of_prefectural_expenses: t.prefectural_expenses_status_code.clone(),
        remarks1: line(&t.remarks, 0),
        remarks2: line(&t.remarks, 1),
        remarks3: line(&t.remarks, 2),
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
        reference_number: r.reference_number.clone(),
        arbitrary_identifier: r.arbitrary_identifier.clone(),
        qualification_confirmation_key: r.qualification_confirmation_key.clone(),
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
            Medium::Unspecified => r.medium_code.clone(),
            _ => "1".into(),
        },
        segment_of_result: "1".into(),
        ..Default::default()
    }
}
