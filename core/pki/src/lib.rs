//! Placeholder of the agreed API; the real crate replaces this file.
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Kiosk,
    Reception,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Kiosk, Role::Reception, Role::Admin];
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Reception => "reception",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}")]
    Other(String),
}

pub struct ClientIdentity {
    pub name: String,
    pub role: Role,
    pub serial: String,
}

pub fn client_identity(_cert_der: &[u8]) -> Result<ClientIdentity, PkiError> {
    Err(PkiError::Other("placeholder".into()))
}

pub struct ServerFiles {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: zeroize::Zeroizing<Vec<u8>>,
}

pub fn load_server(_data_dir: &Path) -> Result<Option<ServerFiles>, PkiError> {
    Ok(None)
}

pub struct TlsPaths {
    dir: PathBuf,
}

impl TlsPaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tls"),
        }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

pub struct Revocations;

impl Revocations {
    pub fn new(_data_dir: &Path) -> Self {
        Self
    }
    pub fn is_revoked(&self, _serial: &str) -> bool {
        false
    }
}
