//! File modes of the data directory: personal data at rest is readable by shikakud's user only
//! (the directory 0700, every file in it 0600), as the 安全管理ガイドライン asks of a clinic PC.
//!
//! SQLite creates a database's `-wal`, `-shm` and journal files with the database file's own
//! permissions, so creating the database file 0600 before SQLite opens it covers them too.

use std::path::Path;

use crate::StoreError;

/// Creates `dir` 0700 if it is missing and narrows what is there: the directory to 0700 and
/// each regular file directly in it to 0600. Subdirectories are left to their owners
/// (`tls/` is kept by shikaku-pki). Answers one line per fix, for the daemon to log.
#[cfg(unix)]
pub fn secure_data_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut fixed = Vec::new();
    create_private_dir(dir)?;
    if narrow(dir, 0o700)? {
        fixed.push(format!(
            "{} was readable by others: now 0700",
            dir.display()
        ));
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        // Not following links: a link's target is not ours to change. A file gone meanwhile
        // (the -wal of a connection closing) needs no fixing.
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        if meta.is_file() && narrow(&path, 0o600)? {
            fixed.push(format!(
                "{} was readable by others: now 0600",
                path.display()
            ));
        }
    }
    Ok(fixed)
}

/// Sets `path` to `mode` if its mode grants anything beyond it; answers whether it did.
#[cfg(unix)]
fn narrow(path: &Path, mode: u32) -> Result<bool, StoreError> {
    use std::os::unix::fs::PermissionsExt;

    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let current = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(e)),
    };
    if current & !mode == 0 {
        return Ok(false);
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// Elsewhere the directory is only created; access is the operating system's ACLs' business.
#[cfg(not(unix))]
pub fn secure_data_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        source,
    })?;
    Ok(Vec::new())
}

/// Creates `path` empty and 0600 if it does not exist (a database before SQLite opens it, a
/// backup before SQLite writes it); an existing file is left as it is.
pub(crate) fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates `dir` and its missing parents, 0700 on unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        source,
    })
}
