//! How failures are reported: on stderr, as text or JSON, with the exit code scripts rely on.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::output::Format;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The daemon answered with a non-OK status (or could not be reached). Exit code 1.
    Rpc(Status),
    /// A secret was missing or unreadable on stdin: a usage error, exit code 2 like clap's own.
    Input(String),
    /// The answer arrived but could not be printed. Exit code 1.
    Output(String),
    /// The TLS flags name files that cannot be used: a usage error, exit code 2.
    Setup(String),
    /// A `shikaku tls` command failed on the data directory's files. Exit code 1.
    Pki(shikaku_pki::PkiError),
    /// `shikaku purge` or `backup` failed on the data directory's store. Exit code 1.
    Store(shikaku_store::StoreError),
    /// `shikaku health`: the daemon answered, and not SERVING (already printed). Exit code 1.
    NotServing,
    /// `shikaku doctor`: something needs action (already printed). Exit code 1.
    NeedsAction,
    /// Whoever read our output stopped reading (`| head`): stop quietly, as Unix tools do.
    StdoutClosed,
}

impl From<shikaku_pki::PkiError> for CliError {
    fn from(error: shikaku_pki::PkiError) -> Self {
        CliError::Pki(error)
    }
}

impl From<shikaku_store::StoreError> for CliError {
    fn from(error: shikaku_store::StoreError) -> Self {
        CliError::Store(error)
    }
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        CliError::Rpc(status)
    }
}

impl CliError {
    /// Prints the failure on stderr and returns the exit code.
    pub fn report(&self, format: Format) -> ExitCode {
        match self {
            CliError::Rpc(status) => {
                match format {
                    Format::Table => eprint!("{}", status_text(status)),
                    Format::Json => eprintln!("{}", status_json(status)),
                }
                ExitCode::from(1)
            }
            CliError::Input(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            CliError::Setup(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            CliError::Output(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
            CliError::Pki(error) => {
                eprintln!("error: {error}");
                ExitCode::from(1)
            }
            CliError::Store(error) => {
                eprintln!("error: {error}");
                ExitCode::from(1)
            }
            CliError::NotServing | CliError::NeedsAction => ExitCode::from(1),
            CliError::StdoutClosed => ExitCode::SUCCESS,
        }
    }
}

/// `error: <code>: <message>`, then one indented line per rich detail the daemon attached.
pub fn status_text(status: &Status) -> String {
    let mut text = format!("error: {}: {}\n", code_name(status.code()), message(status));
    let details = status.get_error_details();
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            text += &format!("  field {}: {}\n", violation.field, violation.description);
        }
    }
    if let Some(info) = details.error_info() {
        text += &format!("  reason {}", info.reason);
        for (key, value) in info.metadata.iter().collect::<BTreeMap<_, _>>() {
            text += &format!(" {key}={value}");
        }
        text += "\n";
    }
    text
}

/// The error as one JSON object. `reason`, `metadata` and `field_violations` appear only when the
/// daemon attached them.
pub fn status_json(status: &Status) -> String {
    let details = status.get_error_details();
    let info = details.error_info();
    let report = ErrorReport {
        code: code_name(status.code()),
        message: message(status),
        reason: info.map(|info| info.reason.as_str()),
        metadata: info
            .map(|info| info.metadata.iter().collect())
            .unwrap_or_default(),
        field_violations: details
            .bad_request()
            .map(|bad_request| {
                bad_request
                    .field_violations
                    .iter()
                    .map(|violation| FieldViolation {
                        field: &violation.field,
                        description: &violation.description,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    serde_json::to_string(&report).expect("a map of strings always serialises")
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<&'a String, &'a String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    field_violations: Vec<FieldViolation<'a>>,
}

#[derive(Serialize)]
struct FieldViolation<'a> {
    field: &'a str,
    description: &'a str,
}

/// The status message, followed by the causes tonic attaches when the error arose on this side
/// of the connection: "tcp connect error" alone does not say that the connection was refused.
fn message(status: &Status) -> String {
    let mut message = status.message().to_owned();
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let text = error.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = error.source();
    }
    message
}

/// The canonical gRPC name of a status code, as in the gRPC documentation and other clients.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    fn pin_incorrect() -> Status {
        let mut details = ErrorDetails::with_error_info(
            "PIN_INCORRECT",
            "shikaku.v1",
            HashMap::from([("tries_left".to_owned(), "2".to_owned())]),
        );
        details.set_bad_request(vec![FieldViolation::new("pin.pin", "wrong PIN")]);
        Status::with_error_details(Code::FailedPrecondition, "PIN incorrect", details)
    }

    #[test]
    fn text_lists_every_detail() {
        assert_eq!(
            status_text(&pin_incorrect()),
            "error: FAILED_PRECONDITION: PIN incorrect\n  field pin.pin: wrong PIN\n  reason PIN_INCORRECT tries_left=2\n"
        );
    }

    #[test]
    fn json_has_reason_metadata_and_violations() {
        let json: serde_json::Value = serde_json::from_str(&status_json(&pin_incorrect())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": "FAILED_PRECONDITION",
                "message": "PIN incorrect",
                "reason": "PIN_INCORRECT",
                "metadata": {"tries_left": "2"},
                "field_violations": [{"field": "pin.pin", "description": "wrong PIN"}],
            })
        );
    }

    #[test]
    fn json_without_details_has_only_code_and_message() {
        let json = status_json(&Status::unavailable("connection refused"));
        assert_eq!(
            json,
            r#"{"code":"UNAVAILABLE","message":"connection refused"}"#
        );
    }
}
