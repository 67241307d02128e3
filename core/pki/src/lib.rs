//! The facility PKI of shikakud (施設の証明書): a CA made by `shikaku tls init`, the daemon's
//! server certificate, and one client certificate per kiosk, receipt computer or administrator,
//! whose subject names the client (CN) and its role (OU).
//!
//! Everything lives in `<data_dir>/tls` (mode 0700; keys 0600):
//! `ca.pem`, `ca.key`, `server.pem`, `server.key`, `clients/<NAME>.pem` (copies of the issued
//! certificates, for `list` and `revoke`) and `revoked` (one lower-case hex serial per line).
//! The daemon reads the server's files with [`load_server`], names a caller with
//! [`client_identity`] and checks [`Revocations`] on every handshake.

mod authority;
mod cert;
mod error;
mod files;
mod list;
mod paths;
mod revocation;
mod role;
mod server;

pub use authority::{
    CLIENT_DAYS, InitReport, IssuedClient, MAX_CLIENT_DAYS, default_hosts, init, issue_client,
    issue_client_for_period,
};
pub use error::PkiError;
pub use list::{CertSummary, list};
pub use paths::TlsPaths;
pub use revocation::{Revocations, revoke};
pub use role::Role;
pub use server::{ClientIdentity, ServerFiles, client_identity, load_server};
