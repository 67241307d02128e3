//! CheckByCard: each medium and identity method through the simulated readers, every result
//! variant a card can give, and each way a card check fails.

use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, ConsentChoices, Expiry, FaceIdentity, IdentityMethod,
    IssueVisualCheckPasswordRequest, Medium, PinIdentity, QualificationResult, Validity,
    VisualCheckIdentity,
};
use shikaku_tests::{TestDaemon, reason, violations};
use tonic::Code;

fn pin(reader: &str, pin: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::Pin(PinIdentity {
            pin: pin.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The same PIN check, with the patient warned that a wrong PIN locks the card.
fn last_try(mut request: CheckByCardRequest) -> CheckByCardRequest {
    if let Some(Identity::Pin(p)) = request.identity.as_mut() {
        p.last_try_acknowledged = true;
    }
    request
}

fn visual(reader: &str, account: &str, password: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::VisualCheck(VisualCheckIdentity {
            account_id: account.into(),
            password: password.into(),
        })),
        ..Default::default()
    }
}

fn face(reader: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: reader.into(),
        identity: Some(Identity::Face(FaceIdentity {})),
        ..Default::default()
    }
}

async fn check(
    d: &TestDaemon,
    req: CheckByCardRequest,
) -> Result<QualificationResult, tonic::Status> {
    d.qualification()
        .check_by_card(req)
        .await
        .map(|r| r.into_inner().result.unwrap())
}

#[tokio::test]
async fn pin_checks_give_every_card_variant() {
    let d = TestDaemon::start().await;
    let r = check(&d, pin("sim-taro", "1234")).await.unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(r.medium(), Medium::MyNumberCard);
    assert_eq!(r.identity_method(), IdentityMethod::Pin);
    assert!(!r.visual_check_performed);
    assert_eq!(r.certificate.as_ref().unwrap().expiry(), Expiry::Valid);

    for (reader, pin_, validity) in [
        ("sim-invalid", "1111", Validity::Invalid),
        ("sim-newer", "1212", Validity::InvalidNewerQualification),
        ("sim-nomatch", "1313", Validity::NoMatch),
        ("sim-multiple", "1414", Validity::MultipleMatches),
        (
            "sim-welfare-unregistered",
            "7778",
            Validity::ValidUnregistered,
        ),
    ] {
        let r = check(&d, pin(reader, pin_)).await.unwrap();
        assert_eq!(r.validity(), validity, "{reader}");
    }

    let r = check(&d, pin("sim-welfare", "7777")).await.unwrap();
    let aid = r.qualifications[0].medical_assistance.as_ref().unwrap();
    assert_eq!(aid.welfare_office_name, "千代田区福祉事務所");

    let r = check(&d, pin("sim-disease", "6666")).await.unwrap();
    assert_eq!(r.qualifications[0].specific_diseases.len(), 3);

    // Expiring within 3 months: a warning; expired less than 3 months ago: still accepted.
    let r = check(&d, pin("sim-expiring", "1234")).await.unwrap();
    assert_eq!(
        r.certificate.as_ref().unwrap().expiry(),
        Expiry::ExpiringSoon
    );
    assert!(!r.processing_result_message.is_empty());
    let r = check(&d, pin("sim-grace", "1234")).await.unwrap();
    assert_eq!(
        r.certificate.as_ref().unwrap().expiry(),
        Expiry::ExpiredInGrace
    );
    assert_eq!(r.validity(), Validity::Valid);

    // Not registered for insurance use: no qualification, and the flag says why.
    let r = check(&d, pin("sim-unregistered", "1234")).await.unwrap();
    assert!(r.not_registered_for_insurance_use);
    assert!(r.qualifications.is_empty());

    // Consent travels with the check; 包括同意 gives every category.
    let mut req = pin("sim-elderly", "4444");
    req.consents = Some(ConsentChoices {
        comprehensive: true,
        ..Default::default()
    });
    let r = check(&d, req).await.unwrap();
    let c = r.consents.as_ref().unwrap();
    assert!(c.medication.as_ref().unwrap().given && c.clinical.as_ref().unwrap().given);
    assert!(r.qualifications[0].limit_certificate.is_some());
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn expired_certificates_are_refused_before_a_pin_try() {
    let d = TestDaemon::start().await;
    let e = check(&d, pin("sim-expired", "0000")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let (why, meta) = reason(&e);
    assert_eq!(why, "CERTIFICATE_EXPIRED");
    assert!(meta.contains_key("expired_on"));
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_pins_count_down_and_lock_the_card() {
    let d = TestDaemon::start().await;
    let e = check(&d, pin("sim-hanako", "0000")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        reason(&e),
        (
            "PIN_INCORRECT".into(),
            [("tries_left".to_owned(), "2".to_owned())].into()
        )
    );
    let e = check(&d, pin("sim-hanako", "0001")).await.unwrap_err();
    assert_eq!(reason(&e).1["tries_left"], "1");
    // One try left: refused before the PIN is sent until the patient was warned.
    let e = check(&d, pin("sim-hanako", "2222")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "PIN_LAST_TRY");
    // A right PIN, acknowledged, resets the counter.
    check(&d, last_try(pin("sim-hanako", "2222")))
        .await
        .unwrap();
    for left in ["2", "1"] {
        let e = check(&d, pin("sim-hanako", "9999")).await.unwrap_err();
        assert_eq!(reason(&e).1["tries_left"], left);
    }
    // A client looping on wrong PINs stops here, before the card locks.
    for _ in 0..3 {
        let e = check(&d, pin("sim-hanako", "9999")).await.unwrap_err();
        assert_eq!(reason(&e).0, "PIN_LAST_TRY");
    }
    // With the warning acknowledged, the third wrong PIN locks the card as before.
    let e = check(&d, last_try(pin("sim-hanako", "9999")))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "CARD_LOCKED");
    // Locked means locked, even with the right PIN.
    let e = check(&d, pin("sim-hanako", "2222")).await.unwrap_err();
    assert_eq!(reason(&e).0, "CARD_LOCKED");
    let e = check(&d, pin("sim-locked", "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(reason(&e).0, "CARD_LOCKED");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn smartphones() {
    let d = TestDaemon::start().await;
    let r = check(&d, pin("sim-android", "2468")).await.unwrap();
    assert_eq!(r.medium(), Medium::Android);
    // An Android phone needs its PIN: no visual check.
    let e = check(&d, visual("sim-android", "staff01", "1234"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "PIN_REQUIRED");
    // An iPhone unlocks by biometrics on the phone: no PIN at the reader.
    let r = check(&d, pin("sim-iphone", "")).await.unwrap();
    assert_eq!(r.medium(), Medium::Iphone);
    assert_eq!(r.validity(), Validity::Valid);
    // A card still needs its PIN.
    let e = check(&d, pin("sim-taro", "")).await.unwrap_err();
    assert_eq!(violations(&e)[0].0, "pin.pin");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn face_authentication() {
    let d = TestDaemon::start().await;
    let r = check(&d, face("sim-kokuho")).await.unwrap();
    assert_eq!(r.identity_method(), IdentityMethod::Face);
    let e = check(&d, face("sim-facefail")).await.unwrap_err();
    assert_eq!(reason(&e).0, "FACE_NOT_MATCHED");
    let e = check(&d, face("sim-generic")).await.unwrap_err();
    assert_eq!(reason(&e).0, "FACE_AUTH_UNSUPPORTED");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn visual_check_needs_the_staff_password_and_locks_after_five_wrong() {
    let d = TestDaemon::start().await;
    let e = check(&d, visual("sim-taro", "staff01", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violations(&e)[0].0, "visual_check.password");
    let e = check(&d, visual("sim-taro", "staff01", "1234"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "VISUAL_CHECK_PASSWORD_NOT_ISSUED");
    let e = check(&d, visual("sim-taro", "nobody", "1234"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(reason(&e).0, "ACCOUNT_NOT_FOUND");

    let issued = d
        .visual_check()
        .issue_visual_check_password(IssueVisualCheckPasswordRequest {
            account_id: "staff01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.password.len(), 4);
    assert!(!issued.replaced);
    let good = issued.password.clone();
    let wrong = if good == "0000" { "1111" } else { "0000" };

    let r = check(&d, visual("sim-taro", "staff01", &good))
        .await
        .unwrap();
    assert!(r.visual_check_performed);
    assert_eq!(r.identity_method(), IdentityMethod::VisualCheck);
    assert_eq!(r.visual_check_account_id, "staff01");

    for left in ["4", "3", "2", "1"] {
        let e = check(&d, visual("sim-taro", "staff01", wrong))
            .await
            .unwrap_err();
        assert_eq!(
            reason(&e),
            (
                "VISUAL_CHECK_PASSWORD_INCORRECT".into(),
                [("attempts_left".to_owned(), left.to_owned())].into()
            )
        );
    }
    let e = check(&d, visual("sim-taro", "staff01", wrong))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "ACCOUNT_LOCKED");
    assert!(reason(&e).1.contains_key("locked_until"));
    // Locked for 30 minutes: even the right password is refused.
    let e = check(&d, visual("sim-taro", "staff01", &good))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "ACCOUNT_LOCKED");

    // Re-issuing replaces the password; the old one stops working.
    let again = d
        .visual_check()
        .issue_visual_check_password(IssueVisualCheckPasswordRequest {
            account_id: "staff01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.replaced);
    check(&d, visual("sim-taro", "staff01", &again.password))
        .await
        .unwrap();
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn reader_problems() {
    let d = TestDaemon::start().await;
    let e = check(&d, pin("no-such-reader", "1234")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        reason(&e),
        (
            "READER_NOT_FOUND".into(),
            [("reader".to_owned(), "no-such-reader".to_owned())].into()
        )
    );
    let e = check(&d, pin("sim-empty", "1234")).await.unwrap_err();
    assert_eq!(reason(&e).0, "NO_CARD");
    let e = check(&d, pin("sim-other", "1234")).await.unwrap_err();
    assert_eq!(reason(&e).0, "NOT_A_MY_NUMBER_CARD");
    let e = check(&d, pin("sim-taro", "12345")).await.unwrap_err();
    assert_eq!(
        violations(&e),
        vec![("pin.pin".to_owned(), "must be exactly 4 digits".to_owned())]
    );
    let e = check(
        &d,
        CheckByCardRequest {
            reader: "sim-taro".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violations(&e)[0].0, "identity");
    // The status never echoes the PIN.
    assert!(!e.message().contains("12345"));
    d.running.stop().await.unwrap();
}
