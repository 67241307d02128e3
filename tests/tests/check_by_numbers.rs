//! CheckByInsuranceNumbers: every result variant reachable by numbers, and every bad input.

use shikaku_tests::pb::{
    CardClass, CheckByInsuranceNumbersRequest, LimitCategory, Relationship, Validity,
};
use shikaku_tests::{TestDaemon, reason, taro_numbers, violations};

async fn check(
    d: &TestDaemon,
    req: CheckByInsuranceNumbersRequest,
) -> Result<shikaku_tests::pb::QualificationResult, tonic::Status> {
    d.qualification()
        .check_by_insurance_numbers(req)
        .await
        .map(|r| r.into_inner().result.unwrap())
}

fn numbers(
    insurer: &str,
    symbol: &str,
    number: &str,
    branch: &str,
    birth: &str,
) -> CheckByInsuranceNumbersRequest {
    CheckByInsuranceNumbersRequest {
        insurer_number: insurer.into(),
        symbol: symbol.into(),
        number: number.into(),
        branch: branch.into(),
        birth_date: birth.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn result_variants() {
    let d = TestDaemon::start().await;

    let r = check(&d, taro_numbers()).await.unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(r.validity_code, "1");
    assert!(r.check_id.starts_with("chk_"));
    let q = &r.qualifications[0];
    assert_eq!(q.name, "診療　太郎");
    assert_eq!(q.card_class(), CardClass::General);
    assert_eq!(q.copayment_percent, 30);
    assert_eq!(q.relationship(), Relationship::Insured);

    // A dependant carries the insured person's name.
    let r = check(&d, numbers("06130488", "12-34", "4260", "02", "19720515"))
        .await
        .unwrap();
    let q = &r.qualifications[0];
    assert_eq!(q.relationship(), Relationship::Dependant);
    assert_eq!(q.insured_name, "診療　太郎");

    // 国保: a 6-digit insurer number, also accepted space-padded as OQS writes it.
    let r = check(
        &d,
        numbers("  138057", "千代田", "1234567", "00", "1985-08-20"),
    )
    .await
    .unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(r.qualifications[0].insurer_name, "千代田区");

    // 未就学.
    let r = check(&d, numbers("06130488", "12-34", "4260", "03", "2022-09-09"))
        .await
        .unwrap();
    assert!(r.qualifications[0].preschool);

    // 裏面記載.
    let r = check(&d, numbers("06130488", "30-2", "77", "01", "1990-07-07"))
        .await
        .unwrap();
    let back = r.qualifications[0].back_side.as_ref().unwrap();
    assert_eq!(back.sex_code, "2");

    // 高齢受給者証 and a B-code 限度額, given only with consent.
    let mut req = numbers("01320027", "5", "88", "00", "1954-03-03");
    let r = check(&d, req.clone()).await.unwrap();
    assert!(r.qualifications[0].limit_certificate.is_none());
    let elderly = r.qualifications[0].elderly_recipient.as_ref().unwrap();
    assert_eq!(elderly.copayment_percent, 20);
    req.limit_certificate_consent = true;
    let r = check(&d, req).await.unwrap();
    let limit = r.qualifications[0].limit_certificate.as_ref().unwrap();
    assert_eq!(limit.category(), LimitCategory::B03);

    // An A-code 限度額 with its long-term hospitalisation date.
    let mut req = numbers("33120015", "7", "301", "00", "1968-11-30");
    req.limit_certificate_consent = true;
    let r = check(&d, req).await.unwrap();
    let limit = r.qualifications[0].limit_certificate.as_ref().unwrap();
    assert_eq!(limit.category(), LimitCategory::A05);
    assert_eq!(limit.long_term_hospitalisation_date, "2026-09-01");

    // Three 特定疾病.
    let r = check(&d, numbers("06130488", "20-1", "555", "01", "1975-02-14"))
        .await
        .unwrap();
    assert_eq!(r.qualifications[0].specific_diseases.len(), 3);
    assert_eq!(r.qualifications[0].specific_diseases[2].self_pay_yen, 20000);

    // Invalid, and invalid with a newer qualification.
    let r = check(&d, numbers("06130488", "40-4", "404", "01", "1980-08-08"))
        .await
        .unwrap();
    assert_eq!(r.validity(), Validity::Invalid);
    let r = check(&d, numbers("06130488", "50-5", "505", "01", "1988-09-09"))
        .await
        .unwrap();
    assert_eq!(r.validity(), Validity::InvalidNewerQualification);

    // No match is an answer, not an error.
    let r = check(&d, numbers("06130488", "12-34", "9999", "01", "1970-01-01"))
        .await
        .unwrap();
    assert_eq!(r.validity(), Validity::NoMatch);
    assert!(r.qualifications.is_empty());

    // Without a branch number the family's shared number matches several people of that birth
    // date only when they share it; the multiple-match person matches on either insurer.
    let r = check(&d, numbers("06130488", "60-6", "606", "01", "1992-10-10"))
        .await
        .unwrap();
    assert_eq!(r.validity(), Validity::MultipleMatches);
    assert_eq!(r.qualifications.len(), 2);

    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_before_any_upstream_call() {
    let d = TestDaemon::start().await;

    let mut req = taro_numbers();
    req.insurer_number = "06130489".into();
    let e = check(&d, req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let (why, meta) = reason(&e);
    assert_eq!(why, "CHECK_DIGIT_MISMATCH");
    assert_eq!(meta["field"], "insurer_number");
    assert_eq!(
        violations(&e),
        vec![(
            "insurer_number".to_owned(),
            "check digit is 9, expected 8".to_owned()
        )]
    );

    // Several bad fields are reported together.
    let req = numbers("0613048", "", "", "1", "1970-02-30");
    let e = check(&d, req).await.unwrap_err();
    assert_eq!(reason(&e).0, "INVALID_FIELD");
    let fields: Vec<String> = violations(&e).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["insurer_number", "number", "branch", "birth_date"]);

    let mut req = taro_numbers();
    req.birth_date = "2999-01-01".into();
    let e = check(&d, req).await.unwrap_err();
    assert_eq!(violations(&e)[0].1, "must not be in the future");

    let mut req = taro_numbers();
    req.confirmation_date = "2026/11/21".into();
    let e = check(&d, req).await.unwrap_err();
    assert_eq!(violations(&e)[0].0, "confirmation_date");

    d.running.stop().await.unwrap();
}
