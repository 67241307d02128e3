//! What the daemon reads to serve TLS, and the identity a client certificate carries.

use std::path::Path;

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use crate::cert::{CertFacts, pem_to_der};
use crate::files;
use crate::{PkiError, Role, TlsPaths};

/// The server's files, when `tls init` has been run.
pub struct ServerFiles {
    /// The facility CA, which client certificates must chain to.
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    /// The server's private key, cleared from memory when dropped.
    pub key_pem: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ServerFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFiles").finish_non_exhaustive()
    }
}

/// The server's files (None when tls/server.pem does not exist). Each file is checked to hold
/// what it should, and server.key must not be readable by others, so a mistake is reported with
/// the file's name at start-up rather than as a failed handshake later.
pub fn load_server(data_dir: &Path) -> Result<Option<ServerFiles>, PkiError> {
    let paths = TlsPaths::new(data_dir);
    let cert_path = paths.server_cert();
    if !cert_path.exists() {
        return Ok(None);
    }
    let ca_path = paths.ca_cert();
    let ca_pem = files::read(&ca_path)?;
    pem_to_der(&ca_path, &ca_pem)?;
    let cert_pem = files::read(&cert_path)?;
    CertFacts::from_pem_file(&cert_path)?;
    let key_path = paths.server_key();
    check_private(&key_path)?;
    let key_pem = files::read_secret(&key_path)?;
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| PkiError::BadFile {
        path: key_path.clone(),
        what: "PEM private key",
        reason: error.to_string(),
    })?;
    Ok(Some(ServerFiles {
        ca_pem,
        cert_pem,
        key_pem,
    }))
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|error| PkiError::io("read", path, error))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        Ok(())
    } else {
        Err(PkiError::BadFile {
            path: path.to_owned(),
            what: "private key",
            reason: format!(
                "it is readable by other users (mode {:o}); run chmod 600 on it",
                mode & 0o777
            ),
        })
    }
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), PkiError> {
    Ok(())
}

/// The identity a client certificate (DER) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject CN.
    pub name: String,
    /// Subject OU.
    pub role: Role,
    /// Lower-case hex, no colons, as in the `revoked` file.
    pub serial: String,
}

/// Reads the identity from a client certificate. It does not verify the certificate: the TLS
/// handshake has done that by the time the daemon asks.
pub fn client_identity(cert_der: &[u8]) -> Result<ClientIdentity, PkiError> {
    let facts = CertFacts::from_der(cert_der).map_err(PkiError::BadCertificate)?;
    let name = facts
        .common_name
        .ok_or_else(|| PkiError::NoIdentity("its subject has no common name (CN)".into()))?;
    crate::authority::check_name(&name).map_err(|_| {
        PkiError::NoIdentity(format!("its common name {name:?} is not a client name"))
    })?;
    let unit = facts
        .unit
        .ok_or_else(|| PkiError::NoIdentity("its subject has no role (OU)".into()))?;
    let role = unit
        .parse()
        .map_err(|_| PkiError::NoIdentity(format!("its role (OU) {unit:?} is unknown")))?;
    Ok(ClientIdentity {
        name,
        role,
        serial: facts.serial,
    })
}
