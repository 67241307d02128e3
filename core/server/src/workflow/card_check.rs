//! The card check, step by step.
//!
//! PIN: open the reader → read the certificate (an Android phone first needs its PIN) → refuse an
//! expired certificate before spending a PIN try → VERIFY the PIN (the card counts tries) → sign
//! the upstream's challenge → let go of the card → the upstream verifies the signature against the
//! certificate and answers. Visual check: read the certificate, the upstream verifies the staff
//! password. Face: the face-auth reader matches the face, then the certificate is read.

use std::sync::Arc;

use chrono::NaiveDate;
use shikaku_domain::certificate::{CertificateInfo, classify_expiry};
use shikaku_domain::clock;
use shikaku_domain::pb::{CheckByCardRequest, ConsentChoices, Medium, QualificationResult};
use shikaku_domain::reader::{CardSession, ReaderError, sha256_digest_info};
use shikaku_domain::secret::{Pin, VisualCheckPassword};
use shikaku_domain::upstream::{CardCheck, Evidence, Upstream, UpstreamError};
use shikaku_domain::values::AccountId;

use crate::audit::{Caller, Note};
use crate::context::{Context, Readers};
use crate::error::ServiceError;
use crate::validate::validate_card;

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

/// Today in Japan, or the requested 資格確認日.
pub fn confirmation_date(s: &str) -> Result<NaiveDate, shikaku_domain::ValueError> {
    if s.trim().is_empty() {
        Ok(clock::today())
    } else {
        shikaku_domain::values::parse_date(s)
    }
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
