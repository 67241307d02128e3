//! OQS code tables (別紙5-1 業務コード, as far as public sources give them) and their enums.
//!
//! A result travels with its raw codes; `normalize` fills each enum from its code, so every
//! source of results — the simulator's fixtures, the folder interface's XML, a plugin — shares one
//! mapping. A code not in a table becomes the `UNKNOWN` variant and keeps its raw value.

use crate::pb::{
    CardClass, DiseaseCategory, LimitCategory, LimitCertificateClass, LossReason,
    QualificationResult, Relationship, Sex, SingleOrCombined, TicketType, Validity,
};

/// 資格有効性 (OQSCD006).
pub fn validity(code: &str) -> Validity {
    match code.trim() {
        "1" => Validity::Valid,
        "2" => Validity::Invalid,
        "3" => Validity::InvalidNewerQualification,
        "4" => Validity::NoMatch,
        "5" => Validity::MultipleMatches,
        "6" => Validity::ValidUnregistered,
        "" => Validity::Unspecified,
        _ => Validity::Unknown,
    }
}

/// 被保険者証区分.
pub fn card_class(code: &str) -> CardClass {
    match code.trim() {
        "01" => CardClass::General,
        "02" => CardClass::Retired,
        "03" => CardClass::ShortTermGeneral,
        "04" => CardClass::ShortTermRetired,
        "05" => CardClass::QualificationCertificate,
        "06" => CardClass::SpecialRetired,
        "07" => CardClass::SelfDefenseForces,
        "A1" => CardClass::MedicalAssistance,
        "" => CardClass::Unspecified,
        _ => CardClass::Unknown,
    }
}

/// 本人・家族の別.
pub fn relationship(code: &str) -> Relationship {
    match code.trim() {
        "1" => Relationship::Insured,
        "2" => Relationship::Dependant,
        "" => Relationship::Unspecified,
        _ => Relationship::Unknown,
    }
}

/// 性別.
pub fn sex(code: &str) -> Sex {
    match code.trim() {
        "1" => Sex::Male,
        "2" => Sex::Female,
        "3" => Sex::NotSet,
        "" => Sex::Unspecified,
        _ => Sex::Unknown,
    }
}

/// 資格喪失事由.
pub fn loss_reason(code: &str) -> LossReason {
    match code.trim() {
        "01" => LossReason::Death,
        "02" => LossReason::PublicAssistance,
        "03" => LossReason::OtherInsurance,
        "99" => LossReason::Other,
        "" => LossReason::Unspecified,
        _ => LossReason::Unknown,
    }
}

/// 限度額証区分.
pub fn limit_certificate_class(code: &str) -> LimitCertificateClass {
    match code.trim() {
        "01" => LimitCertificateClass::Limit,
        "02" => LimitCertificateClass::LimitAndReduction,
        "03" => LimitCertificateClass::Reduction,
        "" => LimitCertificateClass::Unspecified,
        _ => LimitCertificateClass::Unknown,
    }
}

/// 適用区分 (OQSCD012).
pub fn limit_category(code: &str) -> LimitCategory {
    let code = code.trim();
    if code.is_empty() {
        return LimitCategory::Unspecified;
    }
    LimitCategory::from_str_name(&format!("LIMIT_CATEGORY_{code}"))
        .unwrap_or(LimitCategory::Unknown)
}

/// 認定疾病区分 (OQSCD013).
pub fn disease_category(code: &str) -> DiseaseCategory {
    match code.trim() {
        "1" => DiseaseCategory::ChronicRenalFailure,
        "2" => DiseaseCategory::CongenitalCoagulationDisorder,
        "3" => DiseaseCategory::HivFromCoagulationFactor,
        "" => DiseaseCategory::Unspecified,
        _ => DiseaseCategory::Unknown,
    }
}

/// 医療券・調剤券別 (table not public; 1 and 2 as one public client reads them).
pub fn ticket_type(code: &str) -> TicketType {
    match code.trim() {
        "1" => TicketType::Medical,
        "2" => TicketType::Dispensing,
        "" => TicketType::Unspecified,
        _ => TicketType::Unknown,
    }
}

/// 単独・併用別 (table not public; 1 and 2 as one public client reads them).
pub fn single_or_combined(code: &str) -> SingleOrCombined {
    match code.trim() {
        "1" => SingleOrCombined::Single,
        "2" => SingleOrCombined::Combined,
        "" => SingleOrCombined::Unspecified,
        _ => SingleOrCombined::Unknown,
    }
}

/// 一部負担金割合: a 3-digit percentage ("030" = 30%); 0 when absent or malformed.
pub fn copayment_percent(code: &str) -> u32 {
    let code = code.trim();
    if code.len() == 3 {
        code.parse().unwrap_or(0)
    } else {
        0
    }
}

/// 未就学区分: "1" = 未就学.
pub fn preschool(code: &str) -> bool {
    code.trim() == "1"
}

/// Fills every enum (and derived value) of a result from its raw codes.
pub fn normalize(r: &mut QualificationResult) {
    r.validity = validity(&r.validity_code) as i32;
    for q in &mut r.qualifications {
        q.card_class = card_class(&q.card_class_code) as i32;
        q.relationship = relationship(&q.relationship_code) as i32;
        q.sex = sex(&q.sex_code) as i32;
        q.loss_reason = loss_reason(&q.loss_reason_code) as i32;
        q.copayment_percent = copayment_percent(&q.copayment_ratio_code);
        q.preschool = preschool(&q.preschool_code);
        if let Some(b) = &mut q.back_side {
            b.sex = sex(&b.sex_code) as i32;
        }
        if let Some(e) = &mut q.elderly_recipient {
            e.copayment_percent = copayment_percent(&e.copayment_ratio_code);
        }
        if let Some(l) = &mut q.limit_certificate {
            l.class = limit_certificate_class(&l.class_code) as i32;
            l.category = limit_category(&l.category_code) as i32;
        }
        for s in &mut q.specific_diseases {
            s.category = disease_category(&s.category_code) as i32;
        }
        if let Some(m) = &mut q.medical_assistance {
            m.sex = sex(&m.sex_code) as i32;
            m.card_class = card_class(&m.card_class_code) as i32;
            for t in &mut m.tickets {
                t.r#type = ticket_type(&t.type_code) as i32;
                t.single_or_combined = single_or_combined(&t.single_or_combined_code) as i32;
            }
        }
    }
    if let Some(c) = &mut r.consents {
        for s in [
            &mut c.medication,
            &mut c.clinical,
            &mut c.health_checkup,
            &mut c.surgery,
            &mut c.limit_certificate,
            &mut c.specific_diseases,
            &mut c.diagnosis_names,
            &mut c.infections,
            &mut c.drug_allergies,
            &mut c.other_allergies,
            &mut c.lab_tests,
            &mut c.prescriptions,
        ]
        .into_iter()
        .flatten()
        {
            s.given = s.flag_code.trim() == "1";
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_keep_their_raw_value() {
        let mut r = QualificationResult {
            validity_code: "7".into(),
            qualifications: vec![crate::pb::Qualification {
                card_class_code: "B9".into(),
                copayment_ratio_code: "030".into(),
                limit_certificate: Some(crate::pb::LimitCertificate {
                    category_code: "B09".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        normalize(&mut r);
        assert_eq!(r.validity(), Validity::Unknown);
        assert_eq!(r.validity_code, "7");
        let q = &r.qualifications[0];
        assert_eq!(q.card_class(), CardClass::Unknown);
        assert_eq!(q.copayment_percent, 30);
        assert_eq!(
            q.limit_certificate.as_ref().unwrap().category(),
            LimitCategory::B09
        );
    }
}
