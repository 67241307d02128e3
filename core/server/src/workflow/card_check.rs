//! The card check, step by step, from the request: its validation (secrets taken out of the
//! message, field names as CheckByCard and CheckIn each give them) lives here beside the steps.
//!
//! PIN: open the reader → read the certificate (an Android phone first needs its PIN) → refuse an
//! expired certificate before spending a PIN try → VERIFY the PIN (the card counts tries) → sign
//! the upstream's challenge → let go of the card → the upstream verifies the signature against the
//! certificate and answers. Visual check: read the certificate, the upstream verifies the staff
//! password. Face: the face-auth reader matches the face, then the certificate is read.

use std::sync::Arc;

use chrono::NaiveDate;
use shikaku_domain::certificate::{CertificateInfo, classify_expiry};
use shikaku_domain::pb::check_by_card_request::Identity as PbIdentity;
use shikaku_domain::pb::{
    CheckByCardRequest, Consent, ConsentChoices, Medium, QualificationResult,
};
use shikaku_domain::reader::{CardSession, ReaderError, sha256_digest_info};
use shikaku_domain::secret::{Pin, VisualCheckPassword};
use shikaku_domain::upstream::{CardCheck, Evidence, Upstream, UpstreamError};
use shikaku_domain::values::{AccountId, parse_reader_name};
use shikaku_domain::{FieldError, Validator};
use zeroize::Zeroize;

use crate::audit::{Caller, Note};
use crate::context::{Context, Readers};
use crate::error::ServiceError;
use crate::validate::{confirmation_date, optional};

/// The identity method, validated.
#[derive(Debug)]
pub enum Identity {
    Pin {
        /// None only for an iPhone, which unlocks by biometrics on the phone.
        pin: Option<Pin>,
        /// The patient was warned that a wrong PIN now locks the card.
        last_try_acknowledged: bool,
    },
    VisualCheck {
        account: AccountId,
        password: VisualCheckPassword,
    },
    Face,
}

impl Identity {
    pub fn method_name(&self) -> &'static str {
        match self {
            Self::Pin { .. } => "pin",
            Self::VisualCheck { .. } => "visual_check",
            Self::Face => "face",
        }
    }
}

/// Refuses a certificate that expired more than 3 months ago, before the card spends a PIN try.
fn check_expiry(certificate: &[u8], date: NaiveDate) -> Result<(), ServiceError> {
    let info = CertificateInfo::parse(certificate)
        .map_err(|e| ServiceError::Reader(ReaderError::Failure(e.to_string())))?;
    classify_expiry(info.expires_on, date)
        .map(|_| ())
        .map_err(|expired_on| UpstreamError::CertificateExpired { expired_on }.into())
}

fn pin_of(pin: &Option<Pin>) -> Result<&Pin, ServiceError> {
    pin.as_ref().ok_or_else(|| {
        ServiceError::field(
            "pin.pin",
            shikaku_domain::ValueError::Rule("must be exactly 4 digits".into()),
        )
    })
}

/// Remembers, per card, how many PIN tries the card last said it had left, so a check on a card
/// with one try left can be refused before its PIN is sent (PIN_LAST_TRY) unless the patient was
/// warned. In memory only, for an hour: a card reset at the municipal office starts afresh.
#[derive(Debug, Default)]
pub struct PinGuard {
    cards: std::sync::Mutex<std::collections::HashMap<[u8; 32], (u8, std::time::Instant)>>,
}

impl PinGuard {
    const REMEMBER: std::time::Duration = std::time::Duration::from_secs(3600);
    const MAX_CARDS: usize = 10_000;

    fn key(certificate: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(certificate).into()
    }

    fn on_last_try(&self, card: &[u8; 32]) -> bool {
        let cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
        cards
            .get(card)
            .is_some_and(|(left, at)| *left == 1 && at.elapsed() < Self::REMEMBER)
    }

    fn record(&self, card: [u8; 32], outcome: &Result<(), ReaderError>) {
        let mut cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Err(ReaderError::PinIncorrect { tries_left }) => {
                if cards.len() >= Self::MAX_CARDS {
                    cards.retain(|_, (_, at)| at.elapsed() < Self::REMEMBER);
                }
                if cards.len() < Self::MAX_CARDS {
                    cards.insert(card, (*tries_left, std::time::Instant::now()));
                }
            }
            _ => {
                cards.remove(&card);
            }
        }
    }
}

/// VERIFY on a card whose certificate was read, minding the guard.
async fn verify_card_pin(
    session: &mut Box<dyn CardSession>,
    guard: &PinGuard,
    certificate: &[u8],
    pin: &Pin,
    last_try_acknowledged: bool,
) -> Result<(), ServiceError> {
    let card = PinGuard::key(certificate);
    if !last_try_acknowledged && guard.on_last_try(&card) {
        return Err(ServiceError::PinLastTry);
    }
    let outcome = session.verify_pin(pin).await;
    guard.record(card, &outcome);
    Ok(outcome?)
}

/// Runs one card check on an open session.
pub async fn check_by_card(
    mut session: Box<dyn CardSession>,
    upstream: &Arc<dyn Upstream>,
    guard: &PinGuard,
    reader: &str,
    identity: Identity,
    consents: ConsentChoices,
    confirmation_date: NaiveDate,
) -> Result<QualificationResult, ServiceError> {
    let medium = session.medium().await?;
    let (certificate, evidence) = match &identity {
        Identity::Pin {
            pin,
            last_try_acknowledged,
        } => {
            let certificate = if medium == Medium::Android {
                session.verify_pin(pin_of(pin)?).await?;
                let c = session.read_auth_certificate().await?;
                check_expiry(&c, confirmation_date)?;
                c
            } else {
                let c = session.read_auth_certificate().await?;
                check_expiry(&c, confirmation_date)?;
                if medium != Medium::Iphone {
                    let pin = pin_of(pin)?;
                    verify_card_pin(&mut session, guard, &c, pin, *last_try_acknowledged).await?;
                }
                c
            };
            let challenge = upstream.challenge().await?;
            let signature = session.sign(&sha256_digest_info(&challenge)).await?;
            (
                certificate,
                Evidence::Pin {
                    challenge,
                    signature,
                },
            )
        }
        Identity::VisualCheck { account, password } => {
            if medium == Medium::Android {
                return Err(ReaderError::PinRequired.into());
            }
            let c = session.read_auth_certificate().await?;
            check_expiry(&c, confirmation_date)?;
            upstream
                .verify_visual_check_password(account, password)
                .await?;
            (
                c,
                Evidence::VisualCheck {
                    account: account.clone(),
                },
            )
        }
        Identity::Face => {
            session.authenticate_face().await?;
            let c = session.read_auth_certificate().await?;
            check_expiry(&c, confirmation_date)?;
            (
                c,
                Evidence::Face {
                    reader: reader.to_owned(),
                },
            )
        }
    };
    // The card is read: let it go before waiting on the upstream.
    drop(session);
    drop(identity);
    let result = upstream
        .check_by_card(CardCheck {
            certificate,
            medium,
            evidence,
            consents,
            confirmation_date,
        })
        .await?;
    Ok(result)
}

/// The card check CheckByCard and CheckIn both run, from their request: validate (taking the secrets out of the
/// request), keep a kiosk to its own readers, check, and note the method and the person for the
/// audit line. Answers the reader and the result.
pub async fn for_request(
    ctx: &Context,
    readers: &Arc<Readers>,
    caller: &Caller,
    note: &mut Note,
    card: &mut CheckByCardRequest,
) -> Result<(String, QualificationResult), ServiceError> {
    let validated = validate_card(card);
    if let Ok((_, identity, _)) = &validated {
        note.method = identity.method_name();
    }
    let (reader, identity, date) = validated?;
    if !caller.may_use_reader(&reader) {
        return Err(ServiceError::ReaderNotAllowed {
            client: caller.client.clone(),
            reader,
        });
    }
    let consents = card.consents.take().unwrap_or_default();
    let result = run_card_check(ctx, readers, &reader, identity, consents, date).await?;
    note.person = ctx.people.of_result(&result);
    Ok((reader, result))
}

/// Validates a card request, taking its secrets out of the message (and wiping them there).
pub fn validate_card(
    req: &mut CheckByCardRequest,
) -> Result<(String, Identity, chrono::NaiveDate), ServiceError> {
    let mut v = Validator::new();
    let reader = v.check("reader", parse_reader_name(&req.reader));
    let date = v.check(
        "confirmation_date",
        confirmation_date(&req.confirmation_date),
    );
    let identity = match req.identity.as_mut() {
        None => {
            v.fail("identity", "choose one of pin, visual_check or face");
            None
        }
        Some(PbIdentity::Pin(p)) => {
            // An empty PIN is allowed for an iPhone; the workflow asks for it otherwise.
            let pin = v.check("pin.pin", optional(&p.pin, Pin::parse));
            p.pin.zeroize();
            pin.map(|pin| Identity::Pin {
                pin,
                last_try_acknowledged: p.last_try_acknowledged,
            })
        }
        Some(PbIdentity::VisualCheck(vc)) => {
            let account = v.check("visual_check.account_id", AccountId::parse(&vc.account_id));
            let password = if vc.password.is_empty() {
                v.fail(
                    "visual_check.password",
                    "the staff account's 4-digit visual-check password is required",
                );
                None
            } else {
                v.check(
                    "visual_check.password",
                    VisualCheckPassword::parse(&vc.password),
                )
            };
            vc.password.zeroize();
            account
                .zip(password)
                .map(|(account, password)| Identity::VisualCheck { account, password })
        }
        Some(PbIdentity::Face(_)) => Some(Identity::Face),
    };
    if let Some(c) = &req.consents {
        consents(&mut v, c);
    }
    v.finish()?;
    Ok((
        reader.expect("validated"),
        identity.expect("validated"),
        date.expect("validated"),
    ))
}

/// CheckByCard's field names, as they are nested in a CheckIn request.
pub fn under_card(errors: Vec<FieldError>) -> ServiceError {
    let errors = errors
        .into_iter()
        .map(|e| FieldError {
            field: CARD_FIELDS
                .iter()
                .find(|(plain, _)| *plain == e.field)
                .map_or(e.field, |(_, nested)| *nested),
            error: e.error,
        })
        .collect();
    ServiceError::Invalid(errors)
}

/// Every field a card check names in its errors, and its name nested in a CheckIn request.
const CARD_FIELDS: [(&str, &str); 18] = [
    ("reader", "card.reader"),
    ("confirmation_date", "card.confirmation_date"),
    ("identity", "card.identity"),
    ("pin.pin", "card.pin.pin"),
    ("visual_check.account_id", "card.visual_check.account_id"),
    ("visual_check.password", "card.visual_check.password"),
    ("consents.medication", "card.consents.medication"),
    ("consents.clinical", "card.consents.clinical"),
    ("consents.health_checkup", "card.consents.health_checkup"),
    ("consents.surgery", "card.consents.surgery"),
    (
        "consents.limit_certificate",
        "card.consents.limit_certificate",
    ),
    (
        "consents.specific_diseases",
        "card.consents.specific_diseases",
    ),
    ("consents.diagnosis_names", "card.consents.diagnosis_names"),
    ("consents.infections", "card.consents.infections"),
    ("consents.drug_allergies", "card.consents.drug_allergies"),
    ("consents.other_allergies", "card.consents.other_allergies"),
    ("consents.lab_tests", "card.consents.lab_tests"),
    ("consents.prescriptions", "card.consents.prescriptions"),
];

/// Every consent a card check carries must be one `Consent` knows: an unknown value is a
/// mistake, never read as "not asked".
fn consents(v: &mut Validator, c: &ConsentChoices) {
    let values = [
        c.medication,
        c.clinical,
        c.health_checkup,
        c.surgery,
        c.limit_certificate,
        c.specific_diseases,
        c.diagnosis_names,
        c.infections,
        c.drug_allergies,
        c.other_allergies,
        c.lab_tests,
        c.prescriptions,
    ];
    // The consent fields, in the order of `values`, are the last twelve of CARD_FIELDS.
    let fields = CARD_FIELDS[6..].iter().map(|(plain, _)| *plain);
    for (field, value) in fields.zip(values) {
        if Consent::try_from(value).is_err() {
            v.fail(field, format!("{value} is not a Consent (0, 1 or 2)"));
        }
    }
}

/// Runs a validated card check on its reader.
async fn run_card_check(
    ctx: &Context,
    readers: &Arc<Readers>,
    reader: &str,
    identity: Identity,
    consents: ConsentChoices,
    date: chrono::NaiveDate,
) -> Result<QualificationResult, ServiceError> {
    let method = identity.method_name();
    let checked = async {
        let plugin = readers.find(reader).await?;
        let session = plugin.open(reader).await?;
        let _in_use = readers.mark_in_use(reader);
        let run = check_by_card(
            session,
            &ctx.upstream,
            &ctx.pin_guard,
            reader,
            identity,
            consents,
            date,
        );
        tokio::time::timeout(ctx.check_timeout, run)
            .await
            .map_err(|_| ServiceError::Timeout(ctx.check_timeout))?
    }
    .await;
    // The outcome is a code: the result's validity, or the error's reason; never whose card.
    let outcome = match &checked {
        Ok(result) => shikaku_domain::pb::Validity::try_from(result.validity)
            .unwrap_or(shikaku_domain::pb::Validity::Unknown)
            .as_str_name(),
        Err(e) => e.reason(),
    };
    ctx.metrics.card_check(method, outcome);
    tracing::info!(method, reader, outcome, "card check");
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_consent_is_named_under_card_in_a_check_in() {
        let mut req = CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(PbIdentity::Face(Default::default())),
            consents: Some(ConsentChoices {
                prescriptions: 9,
                ..Default::default()
            }),
            ..Default::default()
        };
        let Err(ServiceError::Invalid(errors)) = validate_card(&mut req) else {
            panic!("a consent of 9 passed");
        };
        assert_eq!(errors[0].field, "consents.prescriptions");
        let ServiceError::Invalid(nested) = under_card(errors) else {
            unreachable!()
        };
        assert_eq!(nested[0].field, "card.consents.prescriptions");
    }

    #[test]
    fn the_guard_stops_only_at_the_last_try_and_forgets_on_success_or_lock() {
        let guard = PinGuard::default();
        let card = PinGuard::key(b"certificate of hanako");
        let other = PinGuard::key(b"certificate of taro");
        assert!(!guard.on_last_try(&card), "an unknown card is not stopped");
        guard.record(card, &Err(ReaderError::PinIncorrect { tries_left: 2 }));
        assert!(!guard.on_last_try(&card));
        guard.record(card, &Err(ReaderError::PinIncorrect { tries_left: 1 }));
        assert!(guard.on_last_try(&card));
        assert!(!guard.on_last_try(&other), "only that card");
        guard.record(card, &Ok(()));
        assert!(!guard.on_last_try(&card), "a right PIN resets the count");
        guard.record(card, &Err(ReaderError::PinIncorrect { tries_left: 1 }));
        guard.record(card, &Err(ReaderError::CardLocked));
        assert!(
            !guard.on_last_try(&card),
            "a locked card answers for itself"
        );
    }
}
