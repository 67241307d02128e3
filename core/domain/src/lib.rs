//! shikaku's domain: value types that cannot hold invalid values, the OQS code tables, and the
//! two traits the rest of the system plugs into — a card reader and an upstream.
//!
//! The qualification *result* is the `shikaku.v1.QualificationResult` protobuf message itself: it is
//! a record of what OQS said, carried unchanged to clients and across the plugin ABI, so a second
//! Rust copy of it would only add a conversion to keep in step. What has rules — numbers, dates,
//! secrets — gets its own type here.

pub mod certificate;
pub mod clock;
pub mod codes;
pub mod patient;
pub mod plugin;
pub mod reader;
pub mod secret;
pub mod upstream;
pub mod values;

pub use shikaku_proto::v1 as pb;

/// A value that broke a rule, and why, without the field name (the caller knows it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{0}")]
    Rule(String),
    #[error("check digit is {found}, expected {expected}")]
    CheckDigit { expected: u8, found: u8 },
}

impl ValueError {
    pub(crate) fn rule(text: impl Into<String>) -> Self {
        Self::Rule(text.into())
    }
}

/// A bad value in a named request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct FieldError {
    pub field: &'static str,
    pub error: ValueError,
}

/// Collects every bad field of a request, so a client learns all its mistakes at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` under `field` and returns the value when it was good.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, ValueError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(error) => {
                self.errors.push(FieldError { field, error });
                None
            }
        }
    }

    /// Records a rule broken by a combination of fields.
    pub fn fail(&mut self, field: &'static str, rule: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            error: ValueError::rule(rule),
        });
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
