//! The tables for a qualification check: a summary of the check, then one table per
//! qualification OQS returned, showing every field it filled in.

use shikaku_proto::v1::{
    BackSideInfo, CardClass, CertificateState, ConsentRecord, DiseaseCategory,
    ElderlyRecipientCertificate, Expiry, IdentityMethod, LimitCategory, LimitCertificate,
    LimitCertificateClass, LossReason, MedicalAssistance, MedicalTicket, Medium, Qualification,
    QualificationResult, Relationship, Sex, SingleOrCombined, SpecificDiseaseCertificate,
    TicketType, Validity,
};

use crate::output::{Details, enum_text, enum_word, period, yes_no};

/// A check's answer, CheckByCardResponse's or CheckByInsuranceNumbersResponse's `result`.
pub fn render_check(result: Option<&QualificationResult>) -> String {
    match result {
        Some(result) => render_result(result),
        None => "the daemon returned no result".to_owned(),
    }
}

pub fn render_result(result: &QualificationResult) -> String {
    let mut text = summary(result).render();
    let count = result.qualifications.len();
    if count == 0 && result.validity == Validity::NoMatch as i32 {
        text += "\nno qualification found (該当資格なし)";
    } else if count == 0 {
        text += "\nno qualifications returned";
    }
    for (index, qualification) in result.qualifications.iter().enumerate() {
        text += &format!("\n\nqualification {} of {count} (資格情報)\n", index + 1);
        text += &qualification_details(qualification).render();
    }
    text
}

fn summary(result: &QualificationResult) -> Details {
    let mut details = Details::default();
    details
        .row("check id 確認ID", &result.check_id)
        .row(
            "SIMULATED 模擬応答",
            if result.simulated {
                "made up by the embedded OQS simulator, not a real qualification"
            } else {
                ""
            },
        )
        .row(
            "validity 資格有効性",
            enum_text(
                result.validity,
                &result.validity_code,
                Validity::as_str_name,
            ),
        )
        .row(
            "processing result 処理結果",
            join(
                &result.processing_result_code,
                &result.processing_result_message,
            ),
        )
        .row("medium 提示媒体", medium(result))
        .row(
            "identity method 本人確認",
            enum_text(result.identity_method, "", IdentityMethod::as_str_name),
        )
        .row("visual check 目視確認", visual_check(result));
    if let Some(certificate) = &result.certificate {
        details.row(
            "certificate expiry 電子証明書有効期限",
            certificate_expiry(certificate),
        );
    }
    details.row(
        "registered for insurance use 保険証利用登録",
        insurance_use_registration(result),
    );
    details
        .row("confirmation date 資格確認日", &result.confirmation_date)
        .row("checked at 確認日時", &result.checked_at)
        .row(
            "prescription 処方箋発行形態",
            prescription(&result.prescription_issue_select),
        )
        .row("reference number 照会番号", &result.reference_number)
        .row("identifier 任意の識別子", &result.arbitrary_identifier)
        .row(
            "confirmation key 資格確認キー",
            &result.qualification_confirmation_key,
        )
        .row("unreadable values 読めない値", unparsed(result));
    if let Some(consents) = &result.consents {
        consent_rows(&mut details, consents);
    }
    details
}

/// 照会区分: a code beyond the ones `medium` names is shown as sent.
fn medium(result: &QualificationResult) -> String {
    if result.medium == Medium::Unspecified as i32 && !result.medium_code.is_empty() {
        format!("other ({})", result.medium_code)
    } else {
        enum_text(result.medium, "", Medium::as_str_name)
    }
}

/// Values that should have been dates but were not, with where they belong.
fn unparsed(result: &QualificationResult) -> String {
    result
        .unparsed
        .iter()
        .map(|u| format!("{}: {}", u.field, u.raw))
        .collect::<Vec<_>>()
        .join(", ")
}

fn visual_check(result: &QualificationResult) -> String {
    match (
        result.visual_check_performed,
        result.visual_check_account_id.as_str(),
    ) {
        (false, _) => "no".to_owned(),
        (true, "") => "yes".to_owned(),
        (true, account) => format!("yes, by {account}"),
    }
}

/// Registration only exists for a card or phone, so other checks leave the row out.
fn insurance_use_registration(result: &QualificationResult) -> &'static str {
    if result.not_registered_for_insurance_use {
        "no: register at the face-auth reader or Myna Portal, then check again"
    } else if matches!(
        Medium::try_from(result.medium),
        Ok(Medium::MyNumberCard | Medium::Android | Medium::Iphone)
    ) {
        "yes"
    } else {
        ""
    }
}

fn certificate_expiry(certificate: &CertificateState) -> String {
    let expiry = enum_text(certificate.expiry, "", Expiry::as_str_name);
    match (expiry.is_empty(), certificate.expires_on.is_empty()) {
        (_, true) => expiry,
        (true, false) => format!("until {}", certificate.expires_on),
        (false, false) => format!("{expiry}, until {}", certificate.expires_on),
    }
}

fn prescription(code: &str) -> String {
    match code {
        "" => String::new(),
        "1" => "electronic 電子 (1)".to_owned(),
        "2" => "paper 紙 (2)".to_owned(),
        other => format!("unknown ({other})"),
    }
}

/// The consent rows: which categories were consented to and until when, in two rows rather than
/// six mostly-"no" ones.
fn consent_rows(details: &mut Details, consents: &ConsentRecord) {
    let categories = [
        ("medication 薬剤", &consents.medication),
        ("clinical 診療", &consents.clinical),
        ("health checkup 特定健診", &consents.health_checkup),
        ("surgery 手術", &consents.surgery),
        ("limit certificate 限度額", &consents.limit_certificate),
        ("specific diseases 特定疾病", &consents.specific_diseases),
        ("diagnosis names 傷病名", &consents.diagnosis_names),
        ("infections 感染症", &consents.infections),
        ("drug allergies 薬剤アレルギー等", &consents.drug_allergies),
        (
            "other allergies その他アレルギー等",
            &consents.other_allergies,
        ),
        ("lab tests 検査", &consents.lab_tests),
        ("prescriptions 処方", &consents.prescriptions),
    ];
    let mut given = Vec::new();
    let mut expired = Vec::new();
    let mut until: Vec<&str> = Vec::new();
    for (name, state) in categories {
        let Some(state) = state else { continue };
        if state.given {
            given.push(name);
            if !state.available_until.is_empty() && !until.contains(&state.available_until.as_str())
            {
                until.push(&state.available_until);
            }
        } else if state.flag_code == EXPIRED_CONSENT {
            expired.push(name);
        }
    }
    let given_text = if given.is_empty() {
        "none".to_owned()
    } else if given.len() == categories.len() {
        "all 全て".to_owned()
    } else {
        given.join(", ")
    };
    details
        .row("consents given 同意", given_text)
        .row("consents until 同意有効期限", until.join(", "))
        .row("consents expired 同意期限切れ", expired.join(", "));
}

/// The raw consent flag OQS uses for a consent that has lapsed.
const EXPIRED_CONSENT: &str = "2";

fn qualification_details(q: &Qualification) -> Details {
    let mut details = Details::default();
    details
        .row(
            "card class 被保険者証区分",
            enum_text(q.card_class, &q.card_class_code, CardClass::as_str_name),
        )
        .row("insurer number 保険者番号", &q.insurer_number)
        .row("insurer name 保険者名称", &q.insurer_name)
        .row("symbol 記号", &q.symbol)
        .row("number 番号", &q.number)
        .row("branch 枝番", &q.branch)
        .row(
            "relationship 本人・家族",
            enum_text(
                q.relationship,
                &q.relationship_code,
                Relationship::as_str_name,
            ),
        )
        .row("insured name 被保険者氏名", &q.insured_name)
        .row("name 氏名", &q.name)
        .row("kana 氏名カナ", &q.name_kana)
        .row("birth date 生年月日", &q.birth_date)
        .row("sex 性別", enum_text(q.sex, &q.sex_code, Sex::as_str_name))
        .row("address 住所", &q.address)
        .row("post number 郵便番号", &q.post_number)
        .row("issued on 交付年月日", &q.issued_on)
        .row("valid 有効期間", period(&q.valid_from, &q.valid_to))
        .row("qualification date 資格取得年月日", &q.qualification_date)
        .row(
            "disqualification date 資格喪失年月日",
            &q.disqualification_date,
        )
        .row(
            "loss reason 資格喪失事由",
            enum_text(q.loss_reason, &q.loss_reason_code, LossReason::as_str_name),
        )
        .row(
            "copayment 負担割合",
            copayment(q.copayment_percent, &q.copayment_ratio_code),
        )
        .row("preschool 未就学", flag(q.preschool, &q.preschool_code))
        .row("reference number 照会番号", &q.reference_number)
        .row("identifier 任意の識別子", &q.arbitrary_identifier);
    if q.specific_diseases_unread {
        details.row(
            "specific diseases 特定疾病",
            "consented, but no certificate could be read: see the patient's 受療証",
        );
    }
    if let Some(back_side) = &q.back_side {
        back_side_rows(&mut details, back_side);
    }
    if let Some(elderly) = &q.elderly_recipient {
        elderly_rows(&mut details, elderly);
    }
    if let Some(limit) = &q.limit_certificate {
        limit_rows(&mut details, limit);
    }
    for (index, disease) in q.specific_diseases.iter().enumerate() {
        disease_rows(&mut details, index + 1, disease);
    }
    if let Some(assistance) = &q.medical_assistance {
        assistance_rows(&mut details, assistance);
    }
    details
}

fn back_side_rows(details: &mut Details, back_side: &BackSideInfo) {
    details
        .row("back side: name 裏面記載 氏名", &back_side.name)
        .row("back side: kana 裏面記載 カナ", &back_side.name_kana)
        .row(
            "back side: sex 裏面記載 性別",
            enum_text(back_side.sex, &back_side.sex_code, Sex::as_str_name),
        );
}

fn elderly_rows(details: &mut Details, elderly: &ElderlyRecipientCertificate) {
    details
        .row(
            "elderly cert.: issued 高齢受給者証 交付",
            &elderly.issued_on,
        )
        .row(
            "elderly cert.: valid 高齢受給者証 有効期間",
            period(&elderly.valid_from, &elderly.valid_to),
        )
        .row(
            "elderly cert.: copayment 高齢受給者証 負担割合",
            copayment(elderly.copayment_percent, &elderly.copayment_ratio_code),
        );
}

fn limit_rows(details: &mut Details, limit: &LimitCertificate) {
    details
        .row(
            "limit cert.: class 限度額適用認定証 区分",
            enum_text(
                limit.class,
                &limit.class_code,
                LimitCertificateClass::as_str_name,
            ),
        )
        .row(
            "limit cert.: category 限度額 適用区分",
            limit_category(limit.category, &limit.category_code),
        )
        .row("limit cert.: issued 限度額 交付", &limit.issued_on)
        .row(
            "limit cert.: valid 限度額 有効期間",
            period(&limit.valid_from, &limit.valid_to),
        )
        .row(
            "limit cert.: long-term stay 長期入院該当",
            &limit.long_term_hospitalisation_date,
        );
}

fn disease_rows(details: &mut Details, number: usize, disease: &SpecificDiseaseCertificate) {
    let label = |field: &str| format!("specific disease {number}: {field}");
    details
        .row(
            &label("category 特定疾病 認定疾病区分"),
            enum_text(
                disease.category,
                &disease.category_code,
                DiseaseCategory::as_str_name,
            ),
        )
        .row(&label("issued 交付"), &disease.issued_on)
        .row(
            &label("valid 有効期間"),
            period(&disease.valid_from, &disease.valid_to),
        )
        .row(
            &label("self-pay limit 自己負担限度額"),
            yen(disease.self_pay_yen),
        );
}

fn assistance_rows(details: &mut Details, assistance: &MedicalAssistance) {
    details
        .row(
            "assistance: welfare office 医療扶助 福祉事務所",
            &assistance.welfare_office_name,
        )
        .row(
            "assistance: office kana 福祉事務所カナ",
            &assistance.welfare_office_name_kana,
        )
        .row("assistance: name 医療扶助 氏名", &assistance.name)
        .row("assistance: kana 医療扶助 カナ", &assistance.name_kana)
        .row(
            "assistance: birth date 医療扶助 生年月日",
            &assistance.birth_date,
        )
        .row(
            "assistance: sex 医療扶助 性別",
            enum_text(assistance.sex, &assistance.sex_code, Sex::as_str_name),
        )
        .row(
            "assistance: card class 医療扶助 証区分",
            enum_text(
                assistance.card_class,
                &assistance.card_class_code,
                CardClass::as_str_name,
            ),
        )
        .row(
            "assistance: public expense no. 公費負担者番号",
            &assistance.public_expense_number,
        )
        .row(
            "assistance: recipient no. 受給者番号",
            &assistance.recipient_number,
        );
    if assistance.public_expense_number_check_digit_invalid {
        details.row(
            "assistance: check digit 検証番号",
            "does not hold for the 公費負担者番号 (shown as sent)",
        );
    }
    for (index, ticket) in assistance.tickets.iter().enumerate() {
        ticket_rows(details, index + 1, ticket);
    }
}

fn ticket_rows(details: &mut Details, number: usize, ticket: &MedicalTicket) {
    let label = |field: &str| format!("ticket {number}: {field}");
    details
        .row(
            &label("type 医療券・調剤券別"),
            enum_text(ticket.r#type, &ticket.type_code, TicketType::as_str_name),
        )
        .row(
            &label("valid 有効期間"),
            period(&ticket.valid_from, &ticket.valid_to),
        )
        .row(&label("issue no. 交付番号"), &ticket.issue_number)
        .row(&label("month 診療年月"), &ticket.treatment_month)
        .row(
            &label("institution 指定医療機関"),
            join(
                &ticket.designated_institution_code,
                &ticket.designated_institution_name,
            ),
        )
        .row(
            &label("institution flag 指定医療機関フラグ"),
            &ticket.designated_institution_flag_code,
        )
        .row(
            &label("prescribed by 処方箋発行医療機関"),
            join(
                &ticket.prescription_issuer_code,
                &ticket.prescription_issuer_name,
            ),
        )
        .row(&label("injuries 傷病名"), ticket.injury_names.join(", "))
        .row(&label("treatment 診療別"), &ticket.treatment_type_code)
        .row(&label("self-pay 本人支払額"), yen(ticket.self_pay_yen))
        .row(
            &label("district contact 地区担当員"),
            &ticket.district_contact_name,
        )
        .row(
            &label("handled by 取扱担当者"),
            &ticket.handling_contact_name,
        )
        .row(
            &label("single/combined 単独・併用別"),
            enum_text(
                ticket.single_or_combined,
                &ticket.single_or_combined_code,
                SingleOrCombined::as_str_name,
            ),
        )
        .row(&label("status 状況"), ticket_status(ticket))
        .row(&label("remarks 備考"), ticket.remarks.join(", "));
}

/// The 状況 flags, each with its raw code, in one row.
fn ticket_status(ticket: &MedicalTicket) -> String {
    [
        ("社保", &ticket.social_insurance_status_code),
        ("整合性", &ticket.consistency_flag_code),
        ("感染症", &ticket.infection_status_code),
        ("後期高齢", &ticket.elderly_medical_care_status_code),
        ("都道府県費", &ticket.prefectural_expenses_status_code),
    ]
    .into_iter()
    .filter(|(_, code)| !code.is_empty())
    .map(|(name, code)| format!("{name} {code}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// `30% (030)`: the percentage with OQS's raw 3-digit ratio.
fn copayment(percent: u32, raw_code: &str) -> String {
    match (percent, raw_code) {
        (0, "") => String::new(),
        (_, "") => format!("{percent}%"),
        _ => format!("{percent}% ({raw_code})"),
    }
}

/// A yes/no flag that OQS sends as a code: shown when either the flag or the code is set.
fn flag(value: bool, raw_code: &str) -> String {
    match (value, raw_code) {
        (false, "") => String::new(),
        (_, "") => yes_no(value).to_owned(),
        _ => format!("{} ({raw_code})", yes_no(value)),
    }
}

fn yen(amount: u32) -> String {
    if amount == 0 {
        String::new()
    } else {
        format!("¥{amount}")
    }
}

/// 適用区分 with the name printed on the certificate (ア, 一般Ⅱ, …), which staff read more easily
/// than the code alone.
fn limit_category(value: i32, raw_code: &str) -> String {
    let printed_name = match LimitCategory::try_from(value) {
        Ok(LimitCategory::A01) => "ア",
        Ok(LimitCategory::A02) => "イ",
        Ok(LimitCategory::A03) => "ウ",
        Ok(LimitCategory::A04) => "エ",
        Ok(LimitCategory::A05) => "オ",
        Ok(LimitCategory::A06) => "オ（境）",
        Ok(LimitCategory::B01) => "現役並みⅢ",
        Ok(LimitCategory::B02) => "現役並みⅡ",
        Ok(LimitCategory::B03) => "現役並みⅠ",
        Ok(LimitCategory::B04) => "一般",
        Ok(LimitCategory::B05) => "低所得Ⅱ",
        Ok(LimitCategory::B06) => "低所得Ⅰ",
        Ok(LimitCategory::B07) => "低所得Ⅰ（老福）",
        Ok(LimitCategory::B08) => "低所得Ⅰ（境）",
        Ok(LimitCategory::B09) => "一般Ⅱ",
        Ok(LimitCategory::B10) => "一般Ⅰ",
        _ => return enum_text(value, raw_code, LimitCategory::as_str_name),
    };
    let code = if raw_code.is_empty() {
        enum_word(value, LimitCategory::as_str_name).to_uppercase()
    } else {
        raw_code.to_owned()
    };
    format!("{code} {printed_name}")
}

/// Two optional parts separated by a space, such as a result code and its message.
fn join(first: &str, second: &str) -> String {
    [first, second]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QualificationResult {
        QualificationResult {
            check_id: "chk-1".to_owned(),
            validity: Validity::Valid as i32,
            validity_code: "1".to_owned(),
            medium: Medium::MyNumberCard as i32,
            identity_method: IdentityMethod::Pin as i32,
            certificate: Some(CertificateState {
                expiry: Expiry::ExpiringSoon as i32,
                expires_on: "2026-12-31".to_owned(),
            }),
            qualifications: vec![Qualification {
                card_class: CardClass::General as i32,
                card_class_code: "01".to_owned(),
                insurer_number: "06130488".to_owned(),
                name: "山田 太郎".to_owned(),
                copayment_ratio_code: "030".to_owned(),
                copayment_percent: 30,
                limit_certificate: Some(LimitCertificate {
                    category: LimitCategory::A03 as i32,
                    category_code: "A03".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn summary_shows_enums_with_codes() {
        let text = render_result(&sample());
        assert!(text.contains("valid (1)"));
        assert!(text.contains("my number card (1)"));
        assert!(text.contains("expiring soon (2), until 2026-12-31"));
        assert!(text.contains("qualification 1 of 1"));
    }

    #[test]
    fn qualification_shows_only_filled_fields() {
        let text = render_result(&sample());
        assert!(text.contains("general (01)"));
        assert!(text.contains("山田 太郎"));
        assert!(text.contains("30% (030)"));
        assert!(text.contains("A03 ウ"));
        assert!(!text.contains("symbol 記号"));
        assert!(!text.contains("elderly"));
    }

    #[test]
    fn medical_assistance_tickets_and_new_fields_are_shown() {
        let result = QualificationResult {
            validity: Validity::ValidUnregistered as i32,
            validity_code: "6".to_owned(),
            medium_code: "A".to_owned(),
            reference_number: "P-1".to_owned(),
            unparsed: vec![shikaku_proto::v1::UnparsedValue {
                field: "qualifications[0].birth_date".to_owned(),
                raw: "202410（カット）".to_owned(),
            }],
            qualifications: vec![Qualification {
                specific_diseases_unread: true,
                medical_assistance: Some(MedicalAssistance {
                    public_expense_number: "12136017".to_owned(),
                    public_expense_number_check_digit_invalid: true,
                    tickets: vec![MedicalTicket {
                        r#type: TicketType::Medical as i32,
                        type_code: "1".to_owned(),
                        issue_number: "0009876".to_owned(),
                        injury_names: vec!["高血圧症".to_owned(), "腰痛症".to_owned()],
                        self_pay_yen: 3400,
                        consistency_flag_code: "0".to_owned(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = render_result(&result);
        assert!(text.contains("valid unregistered (6)"), "{text}");
        assert!(text.contains("other (A)"));
        assert!(text.contains("P-1"));
        assert!(text.contains("qualifications[0].birth_date: 202410（カット）"));
        assert!(text.contains("no certificate could be read"));
        assert!(text.contains("does not hold for the 公費負担者番号"));
        assert!(text.contains("ticket 1: type 医療券・調剤券別"));
        assert!(text.contains("medical (1)"));
        assert!(text.contains("高血圧症, 腰痛症"));
        assert!(text.contains("¥3400"));
        assert!(text.contains("整合性 0"));
    }

    #[test]
    fn no_match_is_said_in_words() {
        let result = QualificationResult {
            validity: Validity::NoMatch as i32,
            validity_code: "4".to_owned(),
            ..Default::default()
        };
        assert!(render_result(&result).contains("該当資格なし"));
    }
}
