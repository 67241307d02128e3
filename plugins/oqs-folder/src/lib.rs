//! The 資格確認端末 folder transport: a receipt computer's way to OQS through the facility's
//! qualification-check terminal and its shared folders.
//!
//! - A check writes `OQSsiquc01req_<suffix>.xml` into `req` (temporary name, then rename), waits
//!   for `OQSsiquc01res_<suffix>.xml` in `res` until the deadline, parses it, and removes what it
//!   wrote and read. The bulk query (一括照会) uploads `OQSmuquc01req`, gets a 受付番号, and
//!   asks with `OQSmuquc02req` until the result is ready.
//! - [`FolderTransport::next_event`] turns each face-auth result dropped into `face` into an
//!   `UpstreamEvent`.
//! - Every request goes through [`shikaku_oqs_guard::Guard`]: deadline, safe retries, circuit
//!   breaker, at most 20 sessions.
//!
//! The methods are synchronous and shaped like the plugin SDK's `UpstreamPlugin`
//! (`check_by_numbers`, `bulk_check`, `next_event`), so the plugin is a thin wrapper.
//!
//! # What survives a crash (the recovery rule)
//!
//! Each request is recorded in a journal (`<state_dir>/inflight/`) before it is written to `req`
//! and removed from it only after its result has been dealt with. When the transport starts:
//!
//! - a request still in `req` never reached the terminal: it is withdrawn, not sent again (its
//!   caller already had an error and may ask again — resending would answer nobody);
//! - a request the terminal took is in OQS's hands: its result is collected when it comes and
//!   delivered once as an event (source `res/<file>`), then removed; a bulk job with a 受付番号
//!   is polled to its end the same way. Nothing OQS answered is lost, nothing is asked twice.
//!
//! The same holds during a run for requests whose caller's deadline passed. Events are delivered
//! at least once: a file is removed only when the next event is asked for, so a crash in between
//! delivers it again under the same `source`. Files not in the journal belong to other clients
//! of the terminal and are never touched.

pub mod config;
mod events;
mod files;
mod journal;
mod suffix;
mod transport;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shikaku_domain::upstream::UpstreamError;
use shikaku_domain::values::FacilityCode;
use shikaku_oqs_guard::Guard;
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::names::FileName;

pub use config::{Completion, CompletionMode, FaceAfter, FaceConfig, FolderConfig, LateResults};
pub use shikaku_oqs_guard as guard;

use crate::files::Reading;
use crate::journal::{Entry, Journal, State};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderError {
    #[error("folder transport configuration: {0}")]
    Config(String),
    #[error("terminal folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error("folder transport state {path}: {reason}")]
    State { path: String, reason: String },
    #[error("today's request sequence is used up; widen {{seq:N}} in the suffix")]
    SequenceExhausted,
}

impl From<FolderError> for UpstreamError {
    fn from(e: FolderError) -> Self {
        UpstreamError::Unavailable(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    pub req: PathBuf,
    pub res: PathBuf,
    pub face: PathBuf,
    pub rejected: PathBuf,
}

/// What to do once an event has been taken (asked past).
#[derive(Debug, Clone)]
pub(crate) enum Ack {
    /// Remove a late result and its journal entry.
    Late { journal: String, res: PathBuf },
    /// Delete (or remember, when kept) a face file.
    Face { path: PathBuf, name: String },
    /// Part of a batch whose last event carries the clean-up.
    Nothing,
}

#[derive(Debug, Default)]
pub(crate) struct Events {
    pub queue: VecDeque<(shikaku_domain::upstream::UpstreamEvent, Ack)>,
    pub unacked: Vec<Ack>,
    /// Files already queued, so a scan does not queue them twice.
    pub queued: HashSet<String>,
    /// Face files delivered and kept (`face.after = "keep"`).
    pub kept: HashSet<String>,
    /// Files being watched until complete.
    pub watching: HashMap<String, files::Pending>,
    /// Results of abandoned requests being watched until complete, by request name.
    pub late: HashMap<String, files::PendingResult>,
    pub last_face_scan: Option<Instant>,
    /// Bulk jobs with a poll out, by 受付番号, and when each was last asked.
    pub bulk_polled: HashMap<String, Instant>,
}

/// The folder transport to one terminal.
#[derive(Debug)]
pub struct FolderTransport {
    dirs: Dirs,
    facility_code: String,
    config: FolderConfig,
    reading: Reading,
    guard: Guard,
    journal: Journal,
    suffixes: Mutex<suffix::Suffixes>,
    events: Mutex<Events>,
}

fn folder_error(path: &Path, e: impl std::fmt::Display) -> FolderError {
    FolderError::Folder {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The terminal's three folders a configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    pub req: PathBuf,
    pub res: PathBuf,
    pub face: PathBuf,
}

impl FolderConfig {
    /// `req`, `res` and `face`: each its own `*_dir` when set, else under `root`. Also what
    /// `shikaku doctor` looks at.
    pub fn folders(&self) -> Result<Folders, FolderError> {
        let pick = |own: &Option<PathBuf>, sub: &str| -> Result<PathBuf, FolderError> {
            own.clone()
                .or_else(|| self.root.as_ref().map(|r| r.join(sub)))
                .ok_or_else(|| FolderError::Config(format!("set root or {sub}_dir")))
        };
        Ok(Folders {
            req: pick(&self.req_dir, "req")?,
            res: pick(&self.res_dir, "res")?,
            face: pick(&self.face_dir, "face")?,
        })
    }
}

impl FolderTransport {
    /// From `[plugins.config]` as JSON.
    pub fn from_json(config: &serde_json::Value) -> Result<Self, FolderError> {
        let config: FolderConfig = serde_json::from_value(config.clone())
            .map_err(|e| FolderError::Config(e.to_string()))?;
        Self::new(config)
    }

    /// Checks the settings, opens the journal and finishes or discards what an earlier run left.
    pub fn new(config: FolderConfig) -> Result<Self, FolderError> {
        let facility = FacilityCode::parse(&config.facility_code)
            .map_err(|e| FolderError::Config(format!("facility_code: {e}")))?;
        let folders = config.folders()?;
        let dirs = Dirs {
            req: folders.req,
            res: folders.res,
            face: folders.face,
            rejected: config.state_dir.join("rejected"),
        };
        for d in [&dirs.req, &dirs.res] {
            if !d.is_dir() {
                return Err(folder_error(d, "not a reachable folder"));
            }
        }
        for (what, ms) in [
            ("poll_ms", config.poll_ms),
            ("face.poll_ms", config.face.poll_ms),
            ("bulk_poll_ms", config.bulk_poll_ms),
        ] {
            if ms == 0 {
                return Err(FolderError::Config(format!("{what} must be at least 1")));
            }
        }
        if config.face.prefix.is_empty() {
            return Err(FolderError::Config("face.prefix must not be empty".into()));
        }
        let state = |e: std::io::Error| FolderError::State {
            path: config.state_dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&config.state_dir).map_err(state)?;
        let journal = Journal::open(&config.state_dir).map_err(state)?;
        let suffixes =
            suffix::Suffixes::new(&config.suffix, &config.client_tag, &config.state_dir)?;
        let guard = Guard::new(&config.guard).map_err(|e| FolderError::Config(e.to_string()))?;
        let reading = Reading {
            completion: config.completion.clone(),
            dialect: config.dialect.clone(),
            limits: Limits {
                max_bytes: config.max_result_bytes,
                ..Limits::default()
            },
            encoding: config.result_encoding,
        };
        let transport = Self {
            dirs,
            facility_code: facility.as_str().to_owned(),
            config,
            reading,
            guard,
            journal,
            suffixes: Mutex::new(suffixes),
            events: Mutex::new(Events::default()),
        };
        transport.recover();
        Ok(transport)
    }

    /// The guards around the terminal (breaker state, sessions in use), for health reports.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Requests and bulk jobs still journalled (in flight, or awaiting a late result).
    pub fn in_flight(&self) -> usize {
        self.journal.entries().len()
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.config.poll_ms)
    }

    /// The recovery rule (see the crate docs): withdraw what the terminal never took, collect
    /// what it did.
    fn recover(&self) {
        self.journal.discard_partial();
        for mut entry in self.journal.entries() {
            if entry.reception_number.is_some() {
                if entry.state == State::Sent {
                    entry.state = State::Abandoned;
                    let _ = self.journal.record(&entry);
                }
                continue;
            }
            let half_written =
                std::fs::remove_file(files::temporary(&self.dirs.req, &entry.name)).is_ok();
            if half_written || FileName::parse(&entry.name).is_none() {
                self.journal.remove(&entry.name);
                continue;
            }
            if files::withdraw(&self.dirs.req, &entry.name) {
                tracing::info!(request = %entry.name, "withdrew a request an earlier run left in req");
                self.journal.remove(&entry.name);
            } else if entry.state == State::Sent {
                tracing::info!(request = %entry.name, "an earlier run's request is with the terminal; its result will be delivered as an event");
                let _ = self
                    .journal
                    .record(&Entry::new(entry.name.clone(), State::Abandoned));
            }
        }
    }
}
