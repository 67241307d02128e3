//! Online backup: a consistent copy of the database while the daemon serves.
//!
//! `VACUUM INTO` copies what one read transaction sees, so the copy holds every commit up to
//! its start and none after; the writer goes on meanwhile (WAL readers do not block it).
//!
//! Restore: stop shikakud, copy the backup to `DATA_DIR/shikaku.sqlite`, delete
//! `shikaku.sqlite-wal` and `shikaku.sqlite-shm`, start shikakud.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;
use crate::modes;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the database at `database` into the new file `to`, created 0600. Refuses an
/// existing `to`, so a backup never overwrites anything.
pub fn backup(database: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    if to.exists() {
        return Err(StoreError::Io {
            path: to.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the backup file exists already; name a new file",
            ),
        });
    }
    // Never creating: a wrong --data-dir must not leave an empty database behind.
    let conn = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: database.to_owned(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // SQLite fills an empty file it finds; created here, it is 0600 from the start.
    modes::create_private_file(to)?;
    let target = to.to_str().ok_or_else(|| StoreError::Io {
        path: to.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the backup path must be valid UTF-8",
        ),
    })?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(to);
        return Err(e.into());
    }
    let bytes = std::fs::metadata(to)
        .map_err(|source| StoreError::Io {
            path: to.to_owned(),
            source,
        })?
        .len();
    Ok(BackupReport {
        path: to.to_owned(),
        bytes,
    })
}
