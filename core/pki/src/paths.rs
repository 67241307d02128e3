//! Where the facility PKI keeps its files, all under `<data_dir>/tls`.

use std::path::{Path, PathBuf};

/// The file layout of `<data_dir>/tls`.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    dir: PathBuf,
}

impl TlsPaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tls"),
        }
    }

    /// `<data_dir>/tls`, mode 0700.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The facility CA's certificate, given to every client.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The facility CA's private key (0600); only `shikaku tls` reads it.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The daemon's server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The daemon's private key (0600).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// Copies of the issued client certificates, `<NAME>.pem`, kept for `list` and `revoke`.
    pub fn clients(&self) -> PathBuf {
        self.dir.join("clients")
    }

    /// Revoked serial numbers, one lower-case hex serial per line.
    pub fn revoked(&self) -> PathBuf {
        self.dir.join("revoked")
    }

    /// The kept copy of one client's certificate.
    pub(crate) fn client_cert(&self, name: &str) -> PathBuf {
        self.clients().join(format!("{name}.pem"))
    }
}
