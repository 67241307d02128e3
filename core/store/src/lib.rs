//! shikaku's store on disk: one SQLite database in WAL mode holding the audit trail of every
//! operation and the issuance records. It never holds a PIN, a password or an activation code.
//!
//! All writes go through one writer thread that commits whatever has queued up as one
//! transaction (group commit) and only then answers each caller: an acknowledged write is on
//! disk (`synchronous = FULL` by default), yet a burst of checks costs one fsync, not one each.
//! A second thread copies the WAL into the database file as it goes (`checkpointer`), so no
//! caller waits for that copy.

mod backup;
mod bulk;
mod checkpointer;
mod modes;
mod reader;
mod reception;
mod retention;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{mpsc, oneshot};

pub use backup::{BackupReport, backup};
pub use bulk::{BulkCounts, BulkItemOutcome, BulkItemRecord, BulkJobRecord};
pub use modes::secure_data_dir;
pub use reception::{Decision, LinkRecord, PersonRecord, ReceptionRecord};
pub use retention::{Cutoff, PurgeReport};
pub use rows::Rows;
pub use writer::WriteOp;

/// The kinds of record the store keeps, so a missing one is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    ActivationCode,
    ReceptionEntry,
    PatientLink,
    BulkJob,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ActivationCode => "activation code",
            Self::ReceptionEntry => "reception entry",
            Self::PatientLink => "patient link",
            Self::BulkJob => "bulk check",
        })
    }
}

impl StoreError {
    fn not_found(record: Record, id: impl Into<String>) -> Self {
        Self::NotFound {
            record,
            id: id.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A file or directory of the store could not be created, read or narrowed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cut-off date {0:?} must be YYYY-MM-DD")]
    BadCutoff(String),
    #[error("store failure: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("the store's reader did not answer (it stopped, or the read panicked)")]
    ReaderGone,
    /// No record of that kind with that id (or date/sequence, or patient number).
    #[error("no {record} {id:?}")]
    NotFound { record: Record, id: String },
    /// The change contradicts what is stored, e.g. deciding an entry twice; says what is there.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The insurance is linked to this other patient number already.
    #[error("the insurance is linked to patient number {0} already")]
    LinkedToOther(String),
}

/// How hard SQLite works to make a commit survive a power cut (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit: survives power loss. The default.
    #[default]
    Full,
    /// fsync at checkpoints only: survives a crash or `kill -9` of the daemon, not a power cut.
    Normal,
}

/// One line of the audit trail: who did what, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: String,
    /// The RPC, e.g. "CheckByInsuranceNumbers".
    pub operation: String,
    /// The identity method or medium, e.g. "pin", "visual_check", "insurance_numbers".
    pub method: String,
    /// `x-shikaku-terminal` as the client claimed it, or "" when it sent none.
    pub terminal: String,
    /// `x-shikaku-operator` as the client claimed it, or "".
    pub operator: String,
    /// The authenticated client: its certificate name, "local", or "daemon" for its own work.
    pub client: String,
    /// The client's role.
    pub role: String,
    /// A keyed hash of the insurance numbers of the person the line concerns, or "".
    pub person: String,
    /// The caller's socket address.
    pub peer: String,
    /// "ok" or the gRPC code name.
    pub outcome: String,
    /// The validity code of a check, or the error reason.
    pub detail: String,
    /// What it concerned: a check id, an activation-code id, an account id.
    pub subject: String,
}

/// Which audit lines to read: every field narrows, empty (or 0) does not.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Lines before this sequence number (the previous page's last), or 0 for the newest.
    pub before_seq: i64,
    /// Lines at or after this RFC 3339 time (Japan time, as the lines are written).
    pub since: String,
    pub client: String,
    pub operation: String,
    /// The keyed hash of a person.
    pub person: String,
    pub limit: u32,
}

/// What shikaku remembers of an activation code: never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    pub id: String,
    pub device_memo: String,
    /// "pending", "redeemed" or "revoked".
    pub state: String,
    pub issued_at: String,
    pub usable_from: String,
    pub redeemed_at: Option<String>,
    pub revoked_at: Option<String>,
    pub device_id: Option<String>,
}

/// The store: a writer thread for changes, a reader thread for reads.
#[derive(Clone)]
pub struct Store {
    writes: mpsc::Sender<writer::Batch>,
    reads: mpsc::Sender<reader::Job>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// WAL pages (4 KiB) before a commit copies them into the database file; SQLite's default is 1000.
const WAL_PAGES_BEFORE_CHECKPOINT: i64 = 10_000;

/// Page cache of each connection, in KiB. rusqlite builds SQLite with one page cache shared by
/// every connection (SQLITE_ENABLE_MEMORY_MANAGEMENT), whose ceiling is the sum of these: the
/// writer, appending audit rows, grows into what the others leave unused, so each is kept
/// small. (A `soft_heap_limit` held it flat, but cost 14× at p99 under load: past the limit,
/// every SQLite allocation first frees pages under a process-wide mutex.) The writer keeps the
/// audit table's last pages and its indexes hot (SQLite's default, 2 MiB); reads are a page of
/// a list or a job's counts at a time; the checkpointer copies WAL frames past the cache. Each
/// is a ceiling the cache fills to and stays at, so the daemon's memory levels off within
/// minutes of a start.
const WRITER_CACHE_KIB: i64 = 2048;
const READER_CACHE_KIB: i64 = 1024;
const CHECKPOINTER_CACHE_KIB: i64 = 128;
/// Page cache of each connection's temporary database (statement journals, sorts), in KiB.
const TEMP_CACHE_KIB: i64 = 256;

fn open_connection(
    path: &Path,
    durability: Durability,
    cache_kib: i64,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows (a purge of old reception entries) are overwritten with zeros, not left in
    // free space where a copy of the file would still show them.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // The checkpointer thread copies the WAL into the database file as it goes; this threshold
    // is the writer's backstop, the point where its own checkpoint lets SQLite start the WAL
    // over. Audit commits rewrite the same last page again and again, so a longer WAL (about
    // 40 MB instead of 4) means fewer restarts of nearly the same pages.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES_BEFORE_CHECKPOINT)?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.pragma_update(Some("temp"), "cache_size", -TEMP_CACHE_KIB)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the writer.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            modes::create_private_dir(dir)?;
        }
        // 0600 before SQLite creates it 0644; its -wal and -shm files follow this file's mode.
        modes::create_private_file(path)?;
        let mut conn = open_connection(path, durability, WRITER_CACHE_KIB)?;
        schema::migrate(&mut conn)?;
        let reads = reader::spawn(open_connection(path, durability, READER_CACHE_KIB)?);
        let checkpointer = checkpointer::Checkpointer::spawn(open_connection(
            path,
            durability,
            CHECKPOINTER_CACHE_KIB,
        )?);
        let writes = writer::spawn(conn, checkpointer);
        Ok(Self {
            writes,
            reads,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `ops` atomically and returns once they are committed to disk.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.write_yielding(ops).await.map(drop)
    }

    /// Like `write`, answering the values the ops yield (a new 受付番号, a count, …) in order.
    pub async fn write_yielding(&self, ops: Vec<WriteOp>) -> Result<Vec<i64>, StoreError> {
        let (done, wait) = oneshot::channel();
        self.writes
            .send(writer::Batch { ops, done })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        wait.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Appends one audit record, durably.
    pub async fn audit(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Audit(record)]).await
    }

    /// Runs `f` on the reader thread and answers what it returns.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        let job: reader::Job = Box::new(move |conn| {
            // The caller may have gone (its client hung up); the answer is then dropped.
            let _ = done.send(f(conn).map_err(StoreError::from));
        });
        self.reads
            .send(job)
            .await
            .map_err(|_| StoreError::ReaderGone)?;
        answer.await.map_err(|_| StoreError::ReaderGone)?
    }

    /// Activation-code records, newest first, optionally only in one state, skipping
    /// `rows.skip` and at most `rows.limit` (`rows.after` unused).
    pub async fn activation_records(
        &self,
        state: Option<&'static str>,
        rows: Rows,
    ) -> Result<Vec<ActivationRecord>, StoreError> {
        let (limit, skip) = (rows::clamp(rows.limit), rows::clamp(rows.skip));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, device_memo, state, issued_at, usable_from, redeemed_at, revoked_at, device_id
                 FROM activation_codes WHERE (?1 IS NULL OR state = ?1) ORDER BY issued_at DESC, rowid DESC
                 LIMIT ?2 OFFSET ?3",
            )?;
            stmt.query_map(params![state, limit, skip], writer::activation_from_row)?
                .collect()
        })
        .await
    }

    pub async fn activation_record(&self, id: &str) -> Result<ActivationRecord, StoreError> {
        let key = id.to_owned();
        let found = self
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, device_memo, state, issued_at, usable_from, redeemed_at, revoked_at, device_id
                     FROM activation_codes WHERE id = ?1",
                )?;
                let mut rows = stmt.query_map(params![key], writer::activation_from_row)?;
                rows.next().transpose()
            })
            .await?;
        found.ok_or_else(|| StoreError::not_found(Record::ActivationCode, id))
    }

    /// The audit trail, oldest first (for operators and tests).
    pub async fn audit_records(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let filter = AuditFilter {
            limit,
            ..AuditFilter::default()
        };
        let mut v: Vec<AuditRecord> = self
            .audit_page(filter)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        v.reverse();
        Ok(v)
    }

    /// One page of the audit trail, newest first, with each line's sequence number.
    pub async fn audit_page(
        &self,
        filter: AuditFilter,
    ) -> Result<Vec<(i64, AuditRecord)>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, at, operation, method, terminal, operator, peer, outcome, detail,
                        subject, client, role, person
                 FROM audit
                 WHERE (?1 = 0 OR seq < ?1) AND (?2 = '' OR at >= ?2) AND (?3 = '' OR client = ?3)
                   AND (?4 = '' OR operation = ?4) AND (?5 = '' OR person = ?5)
                 ORDER BY seq DESC LIMIT ?6",
            )?;
            let f = &filter;
            let rows = stmt.query_map(
                params![
                    f.before_seq,
                    f.since,
                    f.client,
                    f.operation,
                    f.person,
                    f.limit
                ],
                |r| {
                    Ok((
                        r.get(0)?,
                        AuditRecord {
                            at: r.get(1)?,
                            operation: r.get(2)?,
                            method: r.get(3)?,
                            terminal: r.get(4)?,
                            operator: r.get(5)?,
                            peer: r.get(6)?,
                            outcome: r.get(7)?,
                            detail: r.get(8)?,
                            subject: r.get(9)?,
                            client: r.get(10)?,
                            role: r.get(11)?,
                            person: r.get(12)?,
                        },
                    ))
                },
            )?;
            rows.collect()
        })
        .await
    }
}
