//! The simulated OQS: answers checks from the fixture, verifies card signatures and staff
//! passwords, and issues activation codes and visual-check passwords.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use rand::{Rng, RngCore};
use rusqlite::{OptionalExtension, params};
use shikaku_domain::certificate::{CertificateInfo, classify_expiry};
use shikaku_domain::clock;
use shikaku_domain::pb::{
    Consent, ConsentChoices, ConsentRecord, ConsentState, Expiry, IdentityMethod, Medium,
    QualificationResult,
};
use shikaku_domain::reader::sha256_digest_info;
use shikaku_domain::secret::{ActivationCode, VisualCheckPassword};
use shikaku_domain::upstream::{
    BulkQuery, CardCheck, Evidence, IssuedActivationCode, IssuedPassword, NumbersCheck,
    ReferenceNumberRegistration, RegisteredReferenceNumber, Upstream, UpstreamError, UpstreamEvent,
};
use shikaku_domain::values::{AccountId, DeviceMemo, iso};
use tokio::sync::broadcast;

use crate::SimulatorConfig;
use crate::directory::Directory;
use crate::fixture::Fixture;
use crate::hashing::HashPool;
use crate::pki::{self, Pki};
use crate::state::State;

/// The simulator's code for a registration of numbers it knows nobody by (the real codes,
/// 別紙6-1, are not public).
pub const CODE_NOT_FOUND: &str = "SIMX0004";

/// Wrong visual-check passwords before an account locks, and for how long.
const MAX_PASSWORD_FAILURES: i64 = 5;
const LOCKOUT: Duration = Duration::from_secs(30 * 60);
/// How long a challenge may wait for its signature.
const CHALLENGE_TTL: Duration = Duration::from_secs(120);

pub struct Simulator {
    /// The fixture's people and their results.
    directory: Directory,
    /// Card id → (person index, registered for insurance use).
    cards: HashMap<String, (usize, bool)>,
    accounts: Vec<String>,
    pki: Pki,
    state: Arc<State>,
    /// Runs argon2 work (activation codes, visual-check passwords) on bounded threads.
    hashes: HashPool,
    challenges: Mutex<HashMap<Vec<u8>, Instant>>,
    activation_delay: Duration,
    max_pending: u32,
    /// Unsolicited results, as the terminal's own face-auth reader produces them.
    events: broadcast::Sender<UpstreamEvent>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("people", &self.directory.people.len())
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(format!("simulator state: {e}"))
}

fn from_unix(secs: i64) -> DateTime<FixedOffset> {
    clock::jst()
        .timestamp_opt(secs, 0)
        .single()
        .unwrap_or_else(clock::now)
}

impl Simulator {
    pub(crate) fn new(fixture: Fixture, pki: Pki, state: State, config: &SimulatorConfig) -> Self {
        let state = Arc::new(state);
        let directory = Directory::new(fixture.facility_code, fixture.person);
        // What earlier runs registered: OQS keeps 照会番号 until they are replaced.
        let kept: Vec<(String, String)> = {
            let conn = state.conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.prepare("SELECT person_id, reference_number FROM reference_numbers")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()
                })
                .unwrap_or_default()
        };
        for (person, number) in kept {
            directory.restore(&person, &number);
        }
        let cards = fixture
            .card
            .iter()
            .filter_map(|c| {
                directory
                    .ids
                    .get(&c.person)
                    .map(|pi| (c.id.clone(), (*pi, c.registered)))
            })
            .collect();
        Self {
            directory,
            cards,
            accounts: fixture.account.into_iter().map(|a| a.id).collect(),
            pki,
            hashes: HashPool::new(state.clone()),
            state,
            challenges: Mutex::new(HashMap::new()),
            activation_delay: config.activation_delay,
            max_pending: config.max_pending_devices,
            events: broadcast::channel(256).0,
        }
    }

    /// Plays a check done at the terminal's own face-auth reader (顔認証付きカードリーダー) with the
    /// fixture card `card_id`: its result goes to every subscriber, as the folder transport
    /// reports a `face` file. Answers the result sent.
    pub fn emit_face_result(&self, card_id: &str) -> Result<QualificationResult, UpstreamError> {
        let &(person, registered) = self
            .cards
            .get(card_id)
            .ok_or(UpstreamError::CertificateUnknown)?;
        let now = clock::now();
        let mut result = if registered {
            self.directory.result_of(person)
        } else {
            QualificationResult {
                not_registered_for_insurance_use: true,
                ..Default::default()
            }
        };
        result.medium = Medium::MyNumberCard as i32;
        result.identity_method = IdentityMethod::Face as i32;
        result.confirmation_date = iso(now.date_naive());
        result.checked_at = clock::rfc3339(now);
        result.simulated = true;
        let event = UpstreamEvent {
            received_at: now,
            source: format!("face/{card_id}-{}.xml", now.timestamp_millis()),
            result: result.clone(),
            receipt: Default::default(),
        };
        // Nobody listening is not an error: the terminal writes its file regardless.
        let _ = self.events.send(event);
        Ok(result)
    }

    /// Runs state work (argon2, SQLite) off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&State) -> Result<T, UpstreamError> + Send + 'static,
    ) -> Result<T, UpstreamError> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(unavailable)?
    }

    fn take_challenge(&self, challenge: &[u8]) -> bool {
        let mut map = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| t.elapsed() < CHALLENGE_TTL);
        map.remove(challenge).is_some()
    }

    fn known_account(&self, account: &AccountId) -> Result<(), UpstreamError> {
        if self.accounts.iter().any(|a| a == account.as_str()) {
            Ok(())
        } else {
            Err(UpstreamError::AccountNotFound(account.to_string()))
        }
    }
}

fn consent_state(choice: Consent, comprehensive: bool, now: DateTime<FixedOffset>) -> ConsentState {
    let given = comprehensive || choice == Consent::Given;
    if given {
        ConsentState {
            flag_code: "1".into(),
            given: true,
            consented_at: clock::rfc3339(now),
            available_until: clock::rfc3339(now + chrono::Duration::days(1)),
        }
    } else {
        ConsentState {
            flag_code: "0".into(),
            ..Default::default()
        }
    }
}

fn consent_record(c: &ConsentChoices, now: DateTime<FixedOffset>) -> ConsentRecord {
    let all = c.comprehensive;
    ConsentRecord {
        medication: Some(consent_state(c.medication(), all, now)),
        clinical: Some(consent_state(c.clinical(), all, now)),
        health_checkup: Some(consent_state(c.health_checkup(), all, now)),
        surgery: Some(consent_state(c.surgery(), all, now)),
        limit_certificate: Some(consent_state(c.limit_certificate(), all, now)),
        specific_diseases: Some(consent_state(c.specific_diseases(), all, now)),
        diagnosis_names: Some(consent_state(c.diagnosis_names(), all, now)),
        infections: Some(consent_state(c.infections(), all, now)),
        drug_allergies: Some(consent_state(c.drug_allergies(), all, now)),
        other_allergies: Some(consent_state(c.other_allergies(), all, now)),
        lab_tests: Some(consent_state(c.lab_tests(), all, now)),
        prescriptions: Some(consent_state(c.prescriptions(), all, now)),
    }
}

/// Without the patient's consent OQS leaves out the 限度額適用認定証.
fn apply_limit_consent(result: &mut QualificationResult, consented: bool) {
    if !consented {
        for q in &mut result.qualifications {
            q.limit_certificate = None;
        }
    }
}

#[async_trait]
impl Upstream for Simulator {
    fn subscribe(&self) -> Option<broadcast::Receiver<UpstreamEvent>> {
        Some(self.events.subscribe())
    }

    async fn challenge(&self) -> Result<Vec<u8>, UpstreamError> {
        let mut c = vec![0u8; 32];
        rand::rng().fill_bytes(&mut c);
        self.challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.clone(), Instant::now());
        Ok(c)
    }

    async fn check_by_card(&self, check: CardCheck) -> Result<QualificationResult, UpstreamError> {
        let public = self
            .pki
            .verify_chain(&check.certificate)
            .ok_or(UpstreamError::CertificateUnknown)?;
        let info = CertificateInfo::parse(&check.certificate)
            .map_err(|_| UpstreamError::CertificateUnknown)?;
        let expiry = classify_expiry(info.expires_on, check.confirmation_date)
            .map_err(|expired_on| UpstreamError::CertificateExpired { expired_on })?;
        let card = self
            .pki
            .serials
            .get(&info.serial)
            .ok_or(UpstreamError::CertificateUnknown)?;
        let &(person, registered) = self
            .cards
            .get(card)
            .ok_or(UpstreamError::CertificateUnknown)?;

        let (identity, account) = match &check.evidence {
            Evidence::Pin {
                challenge,
                signature,
            } => {
                if !self.take_challenge(challenge) {
                    return Err(UpstreamError::SignatureInvalid);
                }
                let digest_info = sha256_digest_info(challenge);
                let sig = signature.clone();
                let ok = tokio::task::spawn_blocking(move || {
                    pki::verify_digest_info(&public, &digest_info, &sig)
                })
                .await
                .unwrap_or(false);
                if !ok {
                    return Err(UpstreamError::SignatureInvalid);
                }
                (IdentityMethod::Pin, String::new())
            }
            Evidence::VisualCheck { account } => {
                self.known_account(account)?;
                (IdentityMethod::VisualCheck, account.to_string())
            }
            Evidence::Face { .. } => (IdentityMethod::Face, String::new()),
        };

        let now = clock::now();
        let mut result = if registered {
            self.directory.result_of(person)
        } else {
            QualificationResult {
                not_registered_for_insurance_use: true,
                processing_result_code: "SIME001".into(),
                processing_result_message: "健康保険証利用登録がされていません".into(),
                ..Default::default()
            }
        };
        let consents = consent_record(&check.consents, now);
        let limit_given = consents.limit_certificate.as_ref().is_some_and(|c| c.given);
        apply_limit_consent(&mut result, limit_given);
        if expiry == Expiry::ExpiringSoon && result.processing_result_code.is_empty() {
            result.processing_result_code = "SIMW001".into();
            result.processing_result_message =
                "利用者証明用電子証明書の有効期限が3か月以内に切れます".into();
        }
        result.medium = check.medium as i32;
        result.identity_method = identity as i32;
        result.visual_check_performed = identity == IdentityMethod::VisualCheck;
        result.visual_check_account_id = account;
        result.confirmation_date = iso(check.confirmation_date);
        result.checked_at = clock::rfc3339(now);
        result.consents = Some(consents);
        result.certificate = Some(shikaku_domain::pb::CertificateState {
            expiry: expiry as i32,
            expires_on: iso(info.expires_on),
        });
        result.simulated = true;
        Ok(result)
    }

    async fn check_by_numbers(
        &self,
        check: &NumbersCheck,
    ) -> Result<QualificationResult, UpstreamError> {
        let mut result = self.directory.check_by_numbers(check);
        result.simulated = true;
        Ok(result)
    }

    async fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        let person =
            self.directory
                .register(registration)
                .map_err(|e| UpstreamError::ErrorResult {
                    code: CODE_NOT_FOUND.into(),
                    message: e.to_string(),
                })?;
        let number = registration.reference_number.as_str().to_owned();
        self.blocking(move |state| {
            let conn = state.conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.execute(
                "INSERT INTO reference_numbers (person_id, reference_number) VALUES (?1, ?2)
                 ON CONFLICT (person_id) DO UPDATE SET reference_number = excluded.reference_number",
                params![person, number],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await?;
        Ok(RegisteredReferenceNumber {
            reference_number: registration.reference_number.as_str().to_owned(),
            ..Default::default()
        })
    }

    async fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        Ok(self
            .directory
            .query(query, confirmation_date)
            .into_iter()
            .map(|mut r| {
                r.simulated = true;
                Ok(r)
            })
            .collect())
    }

    async fn issue_activation_code(
        &self,
        memo: &DeviceMemo,
    ) -> Result<IssuedActivationCode, UpstreamError> {
        let memo = memo.as_str().to_owned();
        let delay = self.activation_delay;
        let max = self.max_pending;
        self.hashes.run(move |state| {
            let mut digits = [0u8; 12];
            let mut rng = rand::rng();
            for d in &mut digits {
                *d = b'0' + rng.random_range(0..10u8);
            }
            let code = ActivationCode::from_digits(digits);
            zeroize::Zeroize::zeroize(&mut digits);
            let hash = state.code_hash(code.expose());
            let id = format!("ac_{:016x}", rng.random::<u64>());
            let issued_at = clock::now();
            let usable_from = issued_at + chrono::Duration::from_std(delay).unwrap_or_default();
            let conn = state.lock();
            let pending: u32 = conn
                .query_row(
                    "SELECT COUNT(*) FROM activation_codes WHERE state = 'pending'",
                    [],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            if pending >= max {
                return Err(UpstreamError::DeviceLimit(max));
            }
            conn.execute(
                "INSERT INTO activation_codes (id, code_hash, device_memo, state, issued_at, usable_from)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
                params![id, hash, memo, issued_at.timestamp(), usable_from.timestamp()],
            )
            .map_err(unavailable)?;
            Ok(IssuedActivationCode {
                id,
                code,
                issued_at,
                usable_from,
            })
        })
        .await
    }

    async fn redeem_activation_code(
        &self,
        code: &ActivationCode,
        device_id: &str,
    ) -> Result<String, UpstreamError> {
        let code = code.clone();
        let device = device_id.to_owned();
        self.hashes
            .run(move |state| {
                let hash = state.code_hash(code.expose());
                let conn = state.lock();
                let row: Option<(String, String, i64)> = conn
                    .query_row(
                        "SELECT id, state, usable_from FROM activation_codes WHERE code_hash = ?1",
                        params![hash],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let (id, st, usable_from) = row.ok_or(UpstreamError::CodeNotFound)?;
                match st.as_str() {
                    "revoked" => return Err(UpstreamError::CodeRevoked),
                    "redeemed" => return Err(UpstreamError::CodeAlreadyUsed),
                    _ => {}
                }
                if clock::now().timestamp() < usable_from {
                    return Err(UpstreamError::CodeNotYetUsable {
                        usable_from: from_unix(usable_from),
                    });
                }
                conn.execute(
                    "UPDATE activation_codes SET state = 'redeemed', device_id = ?2 WHERE id = ?1",
                    params![id, device],
                )
                .map_err(unavailable)?;
                Ok(id)
            })
            .await
    }

    async fn revoke_activation_code(&self, id: &str) -> Result<(), UpstreamError> {
        let id = id.to_owned();
        self.blocking(move |state| {
            let conn = state.lock();
            let st: Option<String> = conn
                .query_row(
                    "SELECT state FROM activation_codes WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            match st.as_deref() {
                None => Err(UpstreamError::CodeNotFound),
                Some("revoked") => Err(UpstreamError::CodeRevoked),
                Some("redeemed") => Err(UpstreamError::CodeAlreadyUsed),
                Some(_) => {
                    conn.execute(
                        "UPDATE activation_codes SET state = 'revoked' WHERE id = ?1",
                        params![id],
                    )
                    .map_err(unavailable)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn issue_visual_check_password(
        &self,
        account: &AccountId,
    ) -> Result<IssuedPassword, UpstreamError> {
        self.known_account(account)?;
        let account = account.to_string();
        self.hashes
            .run(move |state| {
                let mut digits = [0u8; 4];
                let mut rng = rand::rng();
                for d in &mut digits {
                    *d = b'0' + rng.random_range(0..10u8);
                }
                let text = String::from_utf8_lossy(&digits).into_owned();
                let password = VisualCheckPassword::parse(&text).expect("4 digits");
                zeroize::Zeroize::zeroize(&mut digits);
                drop(zeroize::Zeroizing::new(text));
                let hash = state.password_hash(password.expose());
                let issued_at = clock::now();
                let conn = state.lock();
                let had: bool = conn
                    .query_row(
                        "SELECT password_hash IS NOT NULL FROM accounts WHERE account_id = ?1",
                        params![account],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?
                    .unwrap_or(false);
                // Issuing replaces the password and, being an administrator's act, clears a lockout.
                conn.execute(
                "INSERT INTO accounts (account_id, password_hash, issued_at, failures, locked_until)
                 VALUES (?1, ?2, ?3, 0, NULL)
                 ON CONFLICT(account_id) DO UPDATE SET password_hash = ?2, issued_at = ?3,
                     failures = 0, locked_until = NULL",
                params![account, hash, issued_at.timestamp()],
            )
            .map_err(unavailable)?;
                Ok(IssuedPassword {
                    password,
                    issued_at,
                    replaced: had,
                })
            })
            .await
    }

    async fn verify_visual_check_password(
        &self,
        account: &AccountId,
        password: &VisualCheckPassword,
    ) -> Result<(), UpstreamError> {
        self.known_account(account)?;
        let account = account.to_string();
        let password = password.clone();
        self.hashes.run(move |state| {
            let now = clock::now().timestamp();
            let row: Option<(Option<String>, i64, Option<i64>)> = state
                .lock()
                .query_row(
                    "SELECT password_hash, failures, locked_until FROM accounts WHERE account_id = ?1",
                    params![account],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(unavailable)?;
            let (hash, failures, locked_until) = row.unwrap_or((None, 0, None));
            if let Some(until) = locked_until.filter(|u| *u > now) {
                return Err(UpstreamError::AccountLocked {
                    until: from_unix(until),
                });
            }
            let hash = hash.ok_or(UpstreamError::PasswordNotIssued)?;
            if state.password_matches(password.expose(), &hash) {
                state
                    .lock()
                    .execute(
                        "UPDATE accounts SET failures = 0, locked_until = NULL WHERE account_id = ?1",
                        params![account],
                    )
                    .map_err(unavailable)?;
                return Ok(());
            }
            // A lock that has run out starts a fresh count.
            let failures = if locked_until.is_some() { 1 } else { failures + 1 };
            let lock = (failures >= MAX_PASSWORD_FAILURES).then(|| now + LOCKOUT.as_secs() as i64);
            state
                .lock()
                .execute(
                    "UPDATE accounts SET failures = ?2, locked_until = ?3 WHERE account_id = ?1",
                    params![account, if lock.is_some() { 0 } else { failures }, lock],
                )
                .map_err(unavailable)?;
            match lock {
                Some(until) => Err(UpstreamError::AccountLocked {
                    until: from_unix(until),
                }),
                None => Err(UpstreamError::PasswordIncorrect {
                    attempts_left: (MAX_PASSWORD_FAILURES - failures) as u8,
                }),
            }
        })
        .await
    }
}
