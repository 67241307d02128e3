//! The daemon's one error type and its one mapping to `tonic::Status`, with the rich error
//! model: BadRequest field violations and an ErrorInfo whose reason clients can branch on.

use std::collections::HashMap;
use std::time::Duration;

use shikaku_contract::{errors, messages};
use shikaku_domain::FieldError;
use shikaku_domain::pb::{ERROR_DOMAIN, ErrorReason};
use shikaku_domain::reader::ReaderError;
use shikaku_domain::upstream::UpstreamError;
use shikaku_domain::{ValueError, clock};
use shikaku_store::{Record, StoreError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {}", list(.0))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Reader(#[from] ReaderError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the check took longer than {0:?}")]
    Timeout(Duration),
    /// A record the request names does not exist: its reason, and the metadata naming it.
    #[error("no {what} {value:?}")]
    NotFound {
        reason: ErrorReason,
        what: &'static str,
        key: &'static str,
        value: String,
    },
    /// The client's configuration does not name this reader.
    #[error("client {client} may not use reader {reader:?}")]
    ReaderNotAllowed { client: String, reader: String },
    /// The client holds as many watch streams as it may.
    #[error("this client already holds {0} watch streams open; close one first")]
    TooManyStreams(usize),
    /// The card has one PIN try left and the request does not say the patient was warned.
    #[error(
        "the card has one pin try left and a wrong pin locks it: warn the patient, then repeat the check with last_try_acknowledged"
    )]
    PinLastTry,
    /// The upstream's result would make a reception entry larger than the list may carry.
    #[error(
        "the upstream's result makes a reception entry of {bytes} bytes, more than the {limit} a receipt computer's watch carries: check this patient at the terminal"
    )]
    EntryTooLarge { bytes: usize, limit: usize },
    /// The request contradicts what is stored (deciding an entry twice, a link to another number).
    #[error("{message}")]
    Conflict {
        reason: ErrorReason,
        message: String,
        key: &'static str,
        value: String,
    },
}

/// A row of the contract's one error table, as tonic wants it.
fn table(class: errors::ErrorClass) -> (Code, ErrorReason, Vec<(&'static str, String)>) {
    (Code::from_i32(class.code), class.reason, class.metadata)
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<Vec<FieldError>> for ServiceError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

impl ServiceError {
    /// The single-field form, for checks made one at a time.
    pub fn field(field: &'static str, error: ValueError) -> Self {
        Self::Invalid(vec![FieldError { field, error }])
    }

    /// The gRPC code, the stable reason and its metadata.
    fn classify(&self) -> (Code, ErrorReason, Vec<(&'static str, String)>) {
        use ErrorReason as R;
        match self {
            Self::Invalid(errors) => {
                let check_digit = errors
                    .iter()
                    .find(|e| matches!(e.error, ValueError::CheckDigit { .. }));
                match check_digit {
                    Some(e) => (
                        Code::InvalidArgument,
                        R::CheckDigitMismatch,
                        vec![("field", e.field.to_owned())],
                    ),
                    None => (Code::InvalidArgument, R::InvalidField, vec![]),
                }
            }
            Self::Reader(e) => table(errors::reader(e)),
            Self::Upstream(e) => table(errors::upstream(e)),
            Self::Store(StoreError::NotFound { record, id }) => {
                let (reason, key) = match record {
                    Record::ActivationCode => (R::ActivationCodeNotFound, "id"),
                    Record::ReceptionEntry => (R::ReceptionNotFound, "id"),
                    Record::PatientLink => (R::PatientLinkNotFound, "patient_number"),
                    Record::BulkJob => (R::BulkCheckNotFound, "job_id"),
                };
                (Code::NotFound, reason, vec![(key, id.clone())])
            }
            Self::Store(_) => (Code::Internal, R::Unspecified, vec![]),
            Self::Timeout(_) => (Code::DeadlineExceeded, R::Unspecified, vec![]),
            Self::ReaderNotAllowed { client, reader } => (
                Code::PermissionDenied,
                R::ReaderNotAllowed,
                vec![("reader", reader.clone()), ("client", client.clone())],
            ),
            Self::TooManyStreams(n) => (
                Code::ResourceExhausted,
                R::TooManyStreams,
                vec![("limit", n.to_string())],
            ),
            Self::PinLastTry => (
                Code::FailedPrecondition,
                R::PinLastTry,
                vec![("tries_left", "1".into())],
            ),
            // As gRPC itself answers a message over its limit.
            Self::EntryTooLarge { bytes, limit } => (
                Code::ResourceExhausted,
                R::UpstreamError,
                vec![("bytes", bytes.to_string()), ("limit", limit.to_string())],
            ),
            Self::NotFound {
                reason, key, value, ..
            } => (Code::NotFound, *reason, vec![(*key, value.clone())]),
            Self::Conflict {
                reason, key, value, ..
            } => (
                Code::FailedPrecondition,
                *reason,
                vec![(*key, value.clone())],
            ),
        }
    }

    /// The reason name, as the audit trail records it.
    pub fn reason(&self) -> &'static str {
        self.classify().1.as_str_name()
    }

    pub fn code(&self) -> Code {
        self.classify().0
    }

    /// How long a client should wait before retrying, where that is known.
    fn retry_after(&self) -> Option<Duration> {
        let until = match self {
            Self::Upstream(UpstreamError::RetryLater { retry_after, .. }) => {
                return Some(*retry_after);
            }
            Self::Upstream(UpstreamError::Unavailable(_) | UpstreamError::Timeout) => {
                return Some(Duration::from_secs(5));
            }
            Self::Upstream(UpstreamError::AccountLocked { until }) => *until,
            Self::Upstream(UpstreamError::CodeNotYetUsable { usable_from }) => *usable_from,
            _ => return None,
        };
        Some((until - clock::now()).to_std().unwrap_or_default())
    }
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        let (code, reason, metadata) = e.classify();
        // Internal failures are logged in full and reported without their internals.
        let message = if code == Code::Internal {
            tracing::error!(error = %e, "internal error");
            "internal error; see the daemon's log".to_owned()
        } else {
            e.to_string()
        };
        let mut details = ErrorDetails::new();
        if let ServiceError::Invalid(errors) = &e {
            details.set_bad_request(
                errors
                    .iter()
                    .map(|f| FieldViolation::new(f.field, f.error.to_string()))
                    .collect::<Vec<_>>(),
            );
        }
        if reason != ErrorReason::Unspecified {
            let metadata: HashMap<String, String> = metadata
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            details.set_error_info(reason.as_str_name(), ERROR_DOMAIN, metadata);
        }
        if let Some(after) = e.retry_after() {
            details.set_retry_info(Some(after));
        }
        details.set_localized_message(messages::LOCALE, messages::ja(reason));
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use shikaku_contract::errors::{every_reader_error, every_upstream_error};
    use shikaku_contract::wire;

    use super::*;

    fn seen(e: ServiceError) -> (Code, String) {
        let status = Status::from(e);
        let reason = status
            .get_details_error_info()
            .map(|i| i.reason)
            .unwrap_or_default();
        (status.code(), reason)
    }

    /// A client sees the same code and reason for an error whether it arose in the daemon or
    /// crossed the plugin wire first.
    #[test]
    fn every_error_reads_the_same_from_the_daemon_and_through_a_plugin() {
        for e in every_reader_error() {
            let (code, w) = wire::reader_error_to_wire(&e);
            let crossed = wire::reader_error_from_wire(code, w);
            let class = errors::reader(&e);
            let expected = (
                Code::from_i32(class.code),
                class.reason.as_str_name().to_owned(),
            );
            assert_eq!(seen(e.clone().into()), expected, "{e:?}");
            assert_eq!(seen(crossed.into()), expected, "{e:?} through the wire");
        }
        for e in every_upstream_error() {
            let (code, w) = wire::upstream_error_to_wire(&e);
            let crossed = wire::upstream_error_from_wire(code, w);
            let class = errors::upstream(&e);
            let expected = (
                Code::from_i32(class.code),
                class.reason.as_str_name().to_owned(),
            );
            assert_eq!(seen(e.clone().into()), expected, "{e:?}");
            assert_eq!(seen(crossed.into()), expected, "{e:?} through the wire");
        }
    }
}
