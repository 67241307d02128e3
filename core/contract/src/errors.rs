//! The one table from domain errors to what a caller sees: the gRPC status code, the stable
//! `shikaku.v1.ErrorReason`, and the metadata that goes with it.
//!
//! The daemon turns a reader or upstream error into a `tonic::Status` with this table, and the
//! plugin wire sends the same code across the ABI, so both sides agree by construction. Where two
//! domain errors share a public reason (a reader failure and a failed plugin are both
//! `PLUGIN_FAILED` to a client), the wire needs to tell them apart to rebuild the error on the
//! host's side: `wire_reason` is that name, and it equals the public reason's name everywhere else.

use shikaku_domain::clock;
use shikaku_domain::pb::ErrorReason;
use shikaku_domain::reader::ReaderError;
use shikaku_domain::upstream::UpstreamError;
use shikaku_plugin_abi::status;

/// Wire-only reasons for errors that share their public reason with another error.
pub mod wire_reason {
    pub const SIGNATURE_INVALID: &str = "SIGNATURE_INVALID";
    pub const CERTIFICATE_UNKNOWN: &str = "CERTIFICATE_UNKNOWN";
    pub const UNSUPPORTED: &str = "UNSUPPORTED";
    pub const FAILURE: &str = "FAILURE";
}

/// How one error is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorClass {
    /// The gRPC status code (`shikaku_plugin_abi::status`, the numbers gRPC uses).
    pub code: i32,
    /// The stable reason clients branch on.
    pub reason: ErrorReason,
    /// The reason's name on the plugin wire.
    pub wire_reason: &'static str,
    /// The ErrorInfo metadata: what the reason refers to.
    pub metadata: Vec<(&'static str, String)>,
}

impl ErrorClass {
    fn new(code: i32, reason: ErrorReason) -> Self {
        Self {
            code,
            reason,
            wire_reason: reason.as_str_name(),
            metadata: Vec::new(),
        }
    }

    fn on_wire(mut self, wire_reason: &'static str) -> Self {
        self.wire_reason = wire_reason;
        self
    }

    fn with(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
        self
    }
}

/// A wrong PIN, password, face or signature: the patient's or staff member's identity failed.
/// UNAUTHENTICATED, never PERMISSION_DENIED, which means "this client may not call this"
/// (reason ROLE_NOT_ALLOWED), so a client can tell the two apart by code alone.
const IDENTITY_FAILED: i32 = status::UNAUTHENTICATED;

/// How a reader error is reported.
pub fn reader(e: &ReaderError) -> ErrorClass {
    use ErrorReason as R;
    use status::*;
    match e {
        ReaderError::NotFound(r) => ErrorClass::new(NOT_FOUND, R::ReaderNotFound).with("reader", r),
        ReaderError::NoCard => ErrorClass::new(FAILED_PRECONDITION, R::NoCard),
        ReaderError::NotMyNumberCard => ErrorClass::new(FAILED_PRECONDITION, R::NotAMyNumberCard),
        ReaderError::PinIncorrect { tries_left } => {
            ErrorClass::new(IDENTITY_FAILED, R::PinIncorrect).with("tries_left", tries_left)
        }
        ReaderError::CardLocked => {
            ErrorClass::new(FAILED_PRECONDITION, R::CardLocked).with("tries_left", 0)
        }
        ReaderError::CardRemoved => ErrorClass::new(ABORTED, R::CardRemoved),
        ReaderError::Busy => ErrorClass::new(ABORTED, R::ReaderBusy),
        ReaderError::PinRequired => ErrorClass::new(FAILED_PRECONDITION, R::PinRequired),
        ReaderError::PhoneLocked => ErrorClass::new(FAILED_PRECONDITION, R::PhoneLocked),
        ReaderError::FaceAuthUnsupported => {
            ErrorClass::new(FAILED_PRECONDITION, R::FaceAuthUnsupported)
        }
        ReaderError::FaceNotMatched => ErrorClass::new(IDENTITY_FAILED, R::FaceNotMatched),
        ReaderError::Failure(_) => {
            ErrorClass::new(UNAVAILABLE, R::PluginFailed).on_wire(wire_reason::FAILURE)
        }
        ReaderError::Timeout => {
            ErrorClass::new(DEADLINE_EXCEEDED, R::PluginFailed).on_wire(wire_reason::FAILURE)
        }
        ReaderError::PluginFailed(_) => ErrorClass::new(UNAVAILABLE, R::PluginFailed),
    }
}

/// How an upstream error is reported.
pub fn upstream(e: &UpstreamError) -> ErrorClass {
    use ErrorReason as R;
    use status::*;
    match e {
        UpstreamError::Unavailable(_) | UpstreamError::RetryLater { .. } => {
            ErrorClass::new(UNAVAILABLE, R::UpstreamUnavailable)
        }
        UpstreamError::Timeout => ErrorClass::new(DEADLINE_EXCEEDED, R::UpstreamUnavailable),
        UpstreamError::ErrorResult { code, .. } => {
            ErrorClass::new(FAILED_PRECONDITION, R::UpstreamError).with("code", code)
        }
        UpstreamError::SignatureInvalid => ErrorClass::new(IDENTITY_FAILED, R::UpstreamError)
            .on_wire(wire_reason::SIGNATURE_INVALID)
            .with("code", "signature_invalid"),
        UpstreamError::CertificateUnknown => ErrorClass::new(FAILED_PRECONDITION, R::UpstreamError)
            .on_wire(wire_reason::CERTIFICATE_UNKNOWN)
            .with("code", "certificate_unknown"),
        UpstreamError::CertificateExpired { expired_on } => {
            ErrorClass::new(FAILED_PRECONDITION, R::CertificateExpired)
                .with("expired_on", expired_on)
        }
        UpstreamError::PasswordIncorrect { attempts_left } => {
            ErrorClass::new(IDENTITY_FAILED, R::VisualCheckPasswordIncorrect)
                .with("attempts_left", attempts_left)
        }
        UpstreamError::PasswordNotIssued => {
            ErrorClass::new(FAILED_PRECONDITION, R::VisualCheckPasswordNotIssued)
        }
        UpstreamError::AccountLocked { until } => {
            ErrorClass::new(FAILED_PRECONDITION, R::AccountLocked)
                .with("locked_until", clock::rfc3339(*until))
        }
        UpstreamError::AccountNotFound(a) => {
            ErrorClass::new(NOT_FOUND, R::AccountNotFound).with("account_id", a)
        }
        UpstreamError::CodeNotYetUsable { usable_from } => {
            ErrorClass::new(FAILED_PRECONDITION, R::ActivationCodeNotYetUsable)
                .with("usable_from", clock::rfc3339(*usable_from))
        }
        UpstreamError::CodeAlreadyUsed => {
            ErrorClass::new(FAILED_PRECONDITION, R::ActivationCodeAlreadyUsed)
        }
        UpstreamError::CodeRevoked => {
            ErrorClass::new(FAILED_PRECONDITION, R::ActivationCodeRevoked)
        }
        UpstreamError::CodeNotFound => ErrorClass::new(NOT_FOUND, R::ActivationCodeNotFound),
        UpstreamError::DeviceLimit(n) => {
            ErrorClass::new(RESOURCE_EXHAUSTED, R::DeviceLimitReached).with("limit", n)
        }
        UpstreamError::Unsupported(_) => {
            ErrorClass::new(UNIMPLEMENTED, R::UpstreamError).on_wire(wire_reason::UNSUPPORTED)
        }
        UpstreamError::PluginFailed(_) => ErrorClass::new(UNAVAILABLE, R::PluginFailed),
    }
}

/// One value of every reader error, for tests that walk the whole table. A new variant does not
/// compile until it is added here.
pub fn every_reader_error() -> Vec<ReaderError> {
    let all = vec![
        ReaderError::NotFound("desk-1".into()),
        ReaderError::NoCard,
        ReaderError::NotMyNumberCard,
        ReaderError::PinIncorrect { tries_left: 2 },
        ReaderError::CardLocked,
        ReaderError::CardRemoved,
        ReaderError::Busy,
        ReaderError::PinRequired,
        ReaderError::PhoneLocked,
        ReaderError::FaceAuthUnsupported,
        ReaderError::FaceNotMatched,
        ReaderError::Failure("no answer to select".into()),
        ReaderError::Timeout,
        ReaderError::PluginFailed("panicked".into()),
    ];
    for e in &all {
        match e {
            ReaderError::NotFound(_)
            | ReaderError::NoCard
            | ReaderError::NotMyNumberCard
            | ReaderError::PinIncorrect { .. }
            | ReaderError::CardLocked
            | ReaderError::CardRemoved
            | ReaderError::Busy
            | ReaderError::PinRequired
            | ReaderError::PhoneLocked
            | ReaderError::FaceAuthUnsupported
            | ReaderError::FaceNotMatched
            | ReaderError::Failure(_)
            | ReaderError::Timeout
            | ReaderError::PluginFailed(_) => {}
        }
    }
    all
}

/// One value of every upstream error, for tests that walk the whole table. A new variant does
/// not compile until it is added here.
pub fn every_upstream_error() -> Vec<UpstreamError> {
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:00+09:00").expect("a time");
    let all = vec![
        UpstreamError::Unavailable("terminal down".into()),
        UpstreamError::RetryLater {
            reason: "circuit open".into(),
            retry_after: std::time::Duration::from_millis(1500),
        },
        UpstreamError::Timeout,
        UpstreamError::ErrorResult {
            code: "1001".into(),
            message: "処理エラー".into(),
        },
        UpstreamError::SignatureInvalid,
        UpstreamError::CertificateUnknown,
        UpstreamError::CertificateExpired {
            expired_on: at.date_naive(),
        },
        UpstreamError::PasswordIncorrect { attempts_left: 3 },
        UpstreamError::PasswordNotIssued,
        UpstreamError::AccountLocked { until: at },
        UpstreamError::AccountNotFound("staff01".into()),
        UpstreamError::CodeNotYetUsable { usable_from: at },
        UpstreamError::CodeAlreadyUsed,
        UpstreamError::CodeRevoked,
        UpstreamError::CodeNotFound,
        UpstreamError::DeviceLimit(20),
        UpstreamError::Unsupported("this operation"),
        UpstreamError::PluginFailed("hung".into()),
    ];
    for e in &all {
        match e {
            UpstreamError::Unavailable(_)
            | UpstreamError::RetryLater { .. }
            | UpstreamError::Timeout
            | UpstreamError::ErrorResult { .. }
            | UpstreamError::SignatureInvalid
            | UpstreamError::CertificateUnknown
            | UpstreamError::CertificateExpired { .. }
            | UpstreamError::PasswordIncorrect { .. }
            | UpstreamError::PasswordNotIssued
            | UpstreamError::AccountLocked { .. }
            | UpstreamError::AccountNotFound(_)
            | UpstreamError::CodeNotYetUsable { .. }
            | UpstreamError::CodeAlreadyUsed
            | UpstreamError::CodeRevoked
            | UpstreamError::CodeNotFound
            | UpstreamError::DeviceLimit(_)
            | UpstreamError::Unsupported(_)
            | UpstreamError::PluginFailed(_) => {}
        }
    }
    all
}
