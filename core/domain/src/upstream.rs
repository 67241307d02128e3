//! The upstream trait: what OQS (through the 資格確認端末, its Web API, or the simulator) answers.

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::patient::PatientNumber;
use crate::pb::{ConsentChoices, Medium, QualificationResult};
use crate::secret::{ActivationCode, VisualCheckPassword};
use crate::values::{AccountId, BranchNumber, CardNumber, CardSymbol, DeviceMemo, InsurerNumber};

/// How the patient's identity was confirmed for a card check.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// The card verified the PIN and signed the upstream's challenge.
    Pin {
        challenge: Vec<u8>,
        signature: Vec<u8>,
    },
    /// A staff account (whose password the upstream verified) vouched for a visual check.
    VisualCheck { account: AccountId },
    /// A face-auth reader matched the face.
    Face { reader: String },
}

/// A check by My Number card or smartphone.
#[derive(Debug, Clone)]
pub struct CardCheck {
    pub certificate: Vec<u8>,
    pub medium: Medium,
    pub evidence: Evidence,
    pub consents: ConsentChoices,
    pub confirmation_date: NaiveDate,
}

/// A check by the numbers of a 資格確認書 or old card.
#[derive(Debug, Clone)]
pub struct NumbersCheck {
    pub insurer: InsurerNumber,
    pub symbol: Option<CardSymbol>,
    pub number: CardNumber,
    pub branch: Option<BranchNumber>,
    pub birth_date: NaiveDate,
    pub limit_certificate_consent: bool,
    pub confirmation_date: NaiveDate,
}

/// 照会番号の登録: the facility's patient number (患者番号) registered with OQS for the person
/// holding these insurance numbers, so later results for them (face-auth results included)
/// carry it as `ReferenceNumber`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceNumberRegistration {
    /// 照会番号: the patient number to register.
    pub reference_number: PatientNumber,
    pub insurer: InsurerNumber,
    pub symbol: Option<CardSymbol>,
    pub number: CardNumber,
    pub branch: Option<BranchNumber>,
}

/// What OQS answered to a registration it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredReferenceNumber {
    /// 照会番号 as OQS echoed it (the one sent when it echoed none).
    pub reference_number: String,
    /// 処理結果コード / メッセージ: supplementary information on success, if any.
    pub processing_result_code: String,
    pub processing_result_message: String,
}

/// The 一括照会 kinds that ask OQS who is concerned rather than checking given patients: each
/// answers a list of people, however many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkQuery {
    /// 医療扶助 (OQSmutic): recipients with a 医療券・調剤券 for this 診療年月 (the first of the
    /// month stands for the month).
    MedicalAssistance { month: NaiveDate },
    /// 訪問診療 (OQSmuhvq): people who consented at a home visit between these dates.
    HomeVisit { from: NaiveDate, to: NaiveDate },
    /// オンライン診療 (OQSmuonq): people seen online (by 診察日) or who consented (by 同意日)
    /// between these dates.
    OnlineConsultation {
        by: OnlineDates,
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// Which dates an オンライン診療 query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineDates {
    /// 診察日 (ExaminationDateFrom/To).
    Examination,
    /// 同意日 (ConsentDateFrom/To).
    Consent,
}

/// A freshly issued activation code: the code itself exists only here.
#[derive(Debug)]
pub struct IssuedActivationCode {
    pub id: String,
    pub code: ActivationCode,
    pub issued_at: DateTime<FixedOffset>,
    pub usable_from: DateTime<FixedOffset>,
}

/// A freshly issued visual-check password.
#[derive(Debug)]
pub struct IssuedPassword {
    pub password: VisualCheckPassword,
    pub issued_at: DateTime<FixedOffset>,
    pub replaced: bool,
}

/// What can go wrong upstream. Each maps to one `ErrorReason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// Down or saturated, and the transport knows when to ask again (its circuit breaker is
    /// open, every terminal session is busy): clients get that delay as their retry hint.
    #[error("upstream unavailable: {reason} (retry in {} ms)", retry_after.as_millis())]
    RetryLater {
        reason: String,
        retry_after: std::time::Duration,
    },
    #[error("upstream did not answer in time")]
    Timeout,
    #[error("upstream error result {code}: {message}")]
    ErrorResult { code: String, message: String },
    #[error("the signature does not verify against the certificate")]
    SignatureInvalid,
    #[error("the certificate is not one oqs issued or knows")]
    CertificateUnknown,
    #[error("the certificate expired on {expired_on}, more than 3 months ago")]
    CertificateExpired { expired_on: NaiveDate },
    #[error(
        "visual-check password incorrect, {attempts_left} attempts left before the account locks"
    )]
    PasswordIncorrect { attempts_left: u8 },
    #[error("no visual-check password has been issued for this account")]
    PasswordNotIssued,
    #[error("account locked until {until}")]
    AccountLocked { until: DateTime<FixedOffset> },
    #[error("no oqs account {0:?}")]
    AccountNotFound(String),
    #[error("activation code not usable before {usable_from}")]
    CodeNotYetUsable { usable_from: DateTime<FixedOffset> },
    #[error("activation code already used")]
    CodeAlreadyUsed,
    #[error("activation code revoked")]
    CodeRevoked,
    #[error("no such activation code")]
    CodeNotFound,
    #[error("the facility already has {0} devices pending activation")]
    DeviceLimit(u32),
    #[error("the upstream does not support {0}")]
    Unsupported(&'static str),
    /// The upstream's plugin panicked or hung earlier; it stays failed until the daemon restarts.
    #[error("upstream plugin failed: {0}")]
    PluginFailed(String),
}

/// An unsolicited result: a check someone did at the terminal's own face-auth reader, which the
/// folder transport picks up from the `face` folder.
#[derive(Debug, Clone)]
pub struct UpstreamEvent {
    pub received_at: DateTime<FixedOffset>,
    /// Where it came from, for example the `face` file's name.
    pub source: String,
    pub result: QualificationResult,
    /// Signalled by whoever keeps the event once it is safely stored.
    pub receipt: Receipt,
}

/// How the keeper of an event tells its upstream that the event is stored, so the upstream may
/// let go of its own copy (the folder transport deletes the `face` file only then): a crash in
/// between delivers the event again rather than losing it.
#[derive(Debug, Clone, Default)]
pub struct Receipt(Option<std::sync::Arc<tokio::sync::Notify>>);

impl Receipt {
    /// A receipt, and what its signal wakes.
    pub fn new() -> (Self, std::sync::Arc<tokio::sync::Notify>) {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        (Self(Some(notify.clone())), notify)
    }

    /// Says the event is stored. Safe to call when nobody waits, or more than once.
    pub fn stored(&self) {
        if let Some(n) = &self.0 {
            n.notify_one();
        }
    }
}

#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// A fresh random challenge for the card to sign.
    async fn challenge(&self) -> Result<Vec<u8>, UpstreamError>;

    async fn check_by_card(&self, check: CardCheck) -> Result<QualificationResult, UpstreamError>;

    async fn check_by_numbers(
        &self,
        check: &NumbersCheck,
    ) -> Result<QualificationResult, UpstreamError>;

    async fn issue_activation_code(
        &self,
        memo: &DeviceMemo,
    ) -> Result<IssuedActivationCode, UpstreamError>;

    /// Redeems a code for a device; answers the code's id.
    async fn redeem_activation_code(
        &self,
        code: &ActivationCode,
        device_id: &str,
    ) -> Result<String, UpstreamError>;

    async fn revoke_activation_code(&self, id: &str) -> Result<(), UpstreamError>;

    async fn issue_visual_check_password(
        &self,
        account: &AccountId,
    ) -> Result<IssuedPassword, UpstreamError>;

    /// Verifies a staff password; five wrong ones lock the account for 30 minutes.
    async fn verify_visual_check_password(
        &self,
        account: &AccountId,
        password: &VisualCheckPassword,
    ) -> Result<(), UpstreamError>;

    /// Whether `bulk_check` sends one bulk upload (一括照会) rather than one check per patient.
    fn supports_bulk(&self) -> bool {
        false
    }

    /// Many checks by numbers as one upload; each answer in the order asked.
    async fn bulk_check(
        &self,
        _checks: &[NumbersCheck],
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        Err(UpstreamError::Unsupported("bulk checks"))
    }

    /// 照会番号の登録 for one person (OQSsiimm01). No default body: a wrapper (the metered
    /// upstream) must forward it, and an upstream without it says `Unsupported` itself.
    async fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
    ) -> Result<RegisteredReferenceNumber, UpstreamError>;

    /// One of the query kinds of 一括照会 (医療扶助, 訪問診療, オンライン診療): everyone OQS
    /// answers, in its order; one person's error does not fail the rest. No default body, for
    /// the same reason as `register_reference_number`.
    async fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError>;

    /// Unsolicited results from now on, for an upstream that has them.
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<UpstreamEvent>> {
        None
    }
}
