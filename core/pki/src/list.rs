//! `tls list`: every certificate the facility PKI holds, with its expiry and revocation.

use std::path::Path;

use chrono::Utc;

use crate::cert::CertFacts;
use crate::revocation::read_revoked;
use crate::{PkiError, Role, TlsPaths};

/// One certificate as `list` shows it.
#[derive(Debug, Clone)]
pub struct CertSummary {
    /// The subject's common name: the client's name, the server's first host, the CA's name.
    pub name: String,
    /// "ca" | "server" | "client".
    pub kind: String,
    /// The role of a client certificate (None for the CA and the server, or an unknown role).
    pub role: Option<Role>,
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
    pub revoked: bool,
    /// Whole days until expiry; negative once expired.
    pub days_left: i64,
}

/// The CA, the server certificate and every kept client certificate (by name).
pub fn list(data_dir: &Path) -> Result<Vec<CertSummary>, PkiError> {
    let paths = TlsPaths::new(data_dir);
    if !paths.ca_cert().exists() {
        return Err(PkiError::NotInitialised {
            path: paths.ca_cert(),
        });
    }
    let revoked = read_revoked(&paths.revoked())?;
    let summary = |kind: &str, facts: CertFacts, fallback_name: String| {
        let days_left = (facts.not_after - Utc::now()).num_days();
        CertSummary {
            name: facts.common_name.clone().unwrap_or(fallback_name),
            kind: kind.to_owned(),
            role: facts.unit.as_deref().and_then(|unit| unit.parse().ok()),
            revoked: revoked.contains(&facts.serial),
            not_after: facts.not_after_text(),
            serial: facts.serial,
            days_left,
        }
    };

    let mut summaries = vec![summary(
        "ca",
        CertFacts::from_pem_file(&paths.ca_cert())?.0,
        "ca".into(),
    )];
    if paths.server_cert().exists() {
        let (facts, _) = CertFacts::from_pem_file(&paths.server_cert())?;
        summaries.push(summary("server", facts, "server".into()));
    }
    let mut clients = Vec::new();
    let clients_dir = paths.clients();
    if clients_dir.is_dir() {
        let entries = std::fs::read_dir(&clients_dir)
            .map_err(|error| PkiError::io("read", &clients_dir, error))?;
        for entry in entries {
            let path = entry
                .map_err(|error| PkiError::io("read", &clients_dir, error))?
                .path();
            let is_pem = path.extension().is_some_and(|extension| extension == "pem");
            let Some(name) = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
            else {
                continue;
            };
            if is_pem && !name.starts_with('.') {
                let (facts, _) = CertFacts::from_pem_file(&path)?;
                clients.push(summary("client", facts, name));
            }
        }
    }
    clients.sort_by(|a, b| a.name.cmp(&b.name));
    summaries.extend(clients);
    Ok(summaries)
}
