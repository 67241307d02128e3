//! Revocation: `tls/revoked` lists revoked serials, one lower-case hex serial per line, with an
//! optional `# name` comment. `revoke` appends to it; the daemon's [`Revocations`] re-reads it
//! when it changes, so a revocation takes effect without a restart.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::authority::check_name;
use crate::cert::CertFacts;
use crate::files::{self, Access};
use crate::{PkiError, TlsPaths};

/// Appends the serial of clients/NAME.pem to `revoked` (idempotent). Takes effect without a
/// restart (the daemon re-reads it).
pub fn revoke(data_dir: &Path, name: &str) -> Result<String, PkiError> {
    check_name(name)?;
    let paths = TlsPaths::new(data_dir);
    let kept = paths.client_cert(name);
    if !kept.exists() {
        return Err(PkiError::UnknownClient {
            name: name.to_owned(),
            path: kept,
        });
    }
    let (facts, _) = CertFacts::from_pem_file(&kept)?;
    let revoked_path = paths.revoked();
    let mut text = match std::fs::read_to_string(&revoked_path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => String::new(),
        Err(error) => return Err(PkiError::io("read", revoked_path, error)),
    };
    if parse(&text).contains(&facts.serial) {
        return Ok(facts.serial);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &format!("{} # {name}\n", facts.serial);
    files::write(&revoked_path, text.as_bytes(), Access::Public)?;
    Ok(facts.serial)
}

/// The serials in a revocation file; a missing file revokes nothing.
pub(crate) fn read_revoked(path: &Path) -> Result<HashSet<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse(&text)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(HashSet::new()),
        Err(error) => Err(PkiError::io("read", path, error)),
    }
}

/// One serial per line; `#` starts a comment; case is ignored.
fn parse(text: &str) -> HashSet<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|serial| !serial.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Serial numbers in `revoked`, re-read when the file's modification time or size changes
/// (cheap to call per handshake: one `stat` when nothing changed).
///
/// A revocation file that exists but cannot be read revokes every certificate until it can be
/// read again: failing open would let a revoked client back in.
#[derive(Debug)]
pub struct Revocations {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// What the file looked like when last read; `None` before the first read.
    seen: Option<Stamp>,
    serials: Loaded,
}

#[derive(Debug, Default)]
enum Loaded {
    #[default]
    Nothing,
    Serials(HashSet<String>),
    Unreadable,
}

/// Enough of a file's metadata to notice that it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    Missing,
    Unreadable,
    File {
        modified: Option<SystemTime>,
        len: u64,
        /// A rewrite by rename (as `revoke` does) gives a new inode even within one clock tick.
        inode: u64,
    },
}

impl Revocations {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: TlsPaths::new(data_dir).revoked(),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether `serial` (lower-case hex, as in [`crate::ClientIdentity`]) is revoked.
    pub fn is_revoked(&self, serial: &str) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamp = self.stamp();
        if state.seen.as_ref() != Some(&stamp) {
            state.serials = match stamp {
                Stamp::Missing => Loaded::Nothing,
                Stamp::Unreadable => Loaded::Unreadable,
                Stamp::File { .. } => match read_revoked(&self.path) {
                    Ok(serials) => Loaded::Serials(serials),
                    Err(_) => Loaded::Unreadable,
                },
            };
            state.seen = Some(stamp);
        }
        match &state.serials {
            Loaded::Nothing => false,
            Loaded::Serials(serials) => serials.contains(&serial.to_ascii_lowercase()),
            Loaded::Unreadable => true,
        }
    }

    fn stamp(&self) -> Stamp {
        match std::fs::metadata(&self.path) {
            Ok(metadata) => Stamp::File {
                modified: metadata.modified().ok(),
                len: metadata.len(),
                inode: inode(&metadata),
            },
            Err(error) if error.kind() == ErrorKind::NotFound => Stamp::Missing,
            Err(_) => Stamp::Unreadable,
        }
    }
}

#[cfg(unix)]
fn inode(metadata: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_metadata: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_case_are_ignored() {
        let serials = parse("# revoked\n\n4A0b # kiosk-1\n  5c  \n");
        assert_eq!(serials, HashSet::from(["4a0b".to_owned(), "5c".to_owned()]));
    }
}
