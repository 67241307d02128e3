//! The one error type of the PKI crate.

use std::path::PathBuf;

/// Why a PKI operation failed. Messages name the file or the rule that was broken; they never
/// contain key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `tls init` was run on a data directory that already has a CA.
    #[error(
        "{} already exists; the facility CA is set up (use --force to replace it and every certificate it issued)",
        path.display()
    )]
    AlreadyInitialised { path: PathBuf },
    /// An operation needs the CA, but `tls init` has not been run.
    #[error("{} does not exist; run `shikaku tls init` first", path.display())]
    NotInitialised { path: PathBuf },
    /// A file holds something other than the certificate or key expected.
    #[error("{} is not a valid {what}: {reason}", path.display())]
    BadFile {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    /// A certificate handed in as bytes could not be read.
    #[error("not a valid certificate: {0}")]
    BadCertificate(String),
    /// The certificate is well-formed but does not carry a client identity.
    #[error("certificate carries no client identity: {0}")]
    NoIdentity(String),
    /// A client name breaks the naming rule.
    #[error("client name {0:?} is invalid: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    BadName(String),
    /// A role that is not one of the known roles.
    #[error("role {0:?} is unknown: expected kiosk, reception or admin")]
    BadRole(String),
    /// A host name for the server certificate is neither an IP address nor a DNS name.
    #[error(
        "host {0:?} is neither an IP address nor a DNS name (letters, digits, '-' and '.', at most 253 characters)"
    )]
    BadHost(String),
    /// The server certificate needs at least one name.
    #[error("no host names given for the server certificate")]
    NoHosts,
    /// `--days` out of range.
    #[error("days {0} is out of range: a client certificate lives 1 to 825 days")]
    BadDays(u32),
    /// A validity period that ends before it starts.
    #[error("the certificate's period is empty: not_after must be later than not_before")]
    BadPeriod,
    /// A client already holds a certificate that is still valid.
    #[error(
        "client {name} already has a certificate (serial {serial}); revoke it first with `shikaku tls revoke {name}`"
    )]
    ClientExists { name: String, serial: String },
    /// `revoke` of a client that has no certificate.
    #[error("client {name} has no certificate ({} does not exist)", path.display())]
    UnknownClient { name: String, path: PathBuf },
    /// rcgen refused to build or sign a certificate.
    #[error("cannot create the {what}: {reason}")]
    Generate { what: &'static str, reason: String },
}

impl PkiError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PkiError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn generate(what: &'static str, error: rcgen::Error) -> Self {
        PkiError::Generate {
            what,
            reason: error.to_string(),
        }
    }
}
