//! A simulated 資格確認端末 連携アプリ (the terminal's link application), for tests and demos.
//!
//! It watches `req`, takes each request file away (as the real one does), and writes the answer
//! into `res` under the same name with `req` turned into `res`, from the same fixture data set as
//! the embedded simulator. On command it drops face-auth results into `face`. It can be told to
//! misbehave ([`Fault`]): answer slowly, write a file in two halves, answer with an error result,
//! write malformed or truncated XML, take requests and never answer, or stop taking them at all.
//! [`https`] serves the same messages over HTTPS with mutual TLS for the Web API transport.
//! On command it answers completed bulk results zipped ([`Terminal::set_zip_bulk_results`]) and
//! drops result files in the shapes real terminals write ([`Terminal::drop_shape`]).

mod answer;
mod folder;
pub mod https;
pub mod pki;
mod zipped;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use shikaku_oqs_xml::{Dialect, Encoding};
use shikaku_simulator::Directory;

pub use answer::{CODE_BAD_REQUEST, CODE_UNKNOWN_RECEPTION, CODE_UNSUPPORTED};

/// How the terminal misbehaves, for every request from now on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answers at once, correctly.
    #[default]
    None,
    /// Waits this long before answering.
    Slow(Duration),
    /// Writes half the result, waits this long, then the rest (a slow share, a busy disk).
    SlowWrite(Duration),
    /// Answers every check with 処理結果状況 = 2 and this code.
    ErrorResult { code: String, message: String },
    /// Answers every request with SegmentOfResult = 9 (異常終了) and this error code.
    FileError { code: String, message: String },
    /// Writes a result that is not well-formed XML.
    Malformed,
    /// Writes only the first half of the result, and never the rest.
    Truncated,
    /// Takes each request from `req` and never answers.
    NeverAnswer,
    /// The link application is not running: requests stay in `req` untouched.
    Down,
}

/// The terminal's settings.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The share root; `req`, `res` and `face` are created inside.
    pub root: PathBuf,
    /// A fixture file instead of the embedded one.
    pub fixture: Option<PathBuf>,
    /// The encoding of the results it writes.
    pub encoding: Encoding,
    /// 医療機関コード; the fixture's when none.
    pub facility_code: Option<String>,
    /// How often `req` is listed.
    pub poll_interval: Duration,
    /// How long a bulk upload stays 処理中 (SegmentOfResult = 2).
    pub bulk_delay: Duration,
    pub dialect: Dialect,
}

impl TerminalConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            fixture: None,
            encoding: Encoding::Utf8,
            facility_code: None,
            poll_interval: Duration::from_millis(10),
            bulk_delay: Duration::from_millis(300),
            dialect: Dialect::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("terminal folders under {path}: {reason}")]
    Folders { path: String, reason: String },
    #[error("fixture: {0}")]
    Fixture(#[from] shikaku_simulator::SimulatorError),
    #[error("no person {0:?} in the fixture")]
    UnknownPerson(String),
    #[error("no result shape {0:?}; the shapes are: {shapes}", shapes = shikaku_simulator::shapes::names().join(", "))]
    UnknownShape(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("test certificates: {0}")]
    Certificates(String),
    #[error("https server: {0}")]
    Https(String),
}

/// Counters tests wait on.
#[derive(Debug, Default)]
pub struct Stats {
    /// Request files taken from `req` (or HTTPS requests received).
    pub taken: AtomicU64,
    /// Results written completely.
    pub answered: AtomicU64,
    /// Times `req` was looked at (so a test can wait for the terminal to have had its chance).
    pub scans: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub answerer: answer::Answerer,
    pub fault: Mutex<Fault>,
    pub stats: Stats,
    pub stop: AtomicBool,
    /// Completed bulk results are answered as a zip archive.
    pub zip_bulk: AtomicBool,
    pub req: PathBuf,
    pub res: PathBuf,
    pub face: PathBuf,
    pub poll_interval: Duration,
}

impl Shared {
    pub fn fault(&self) -> Fault {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A running simulated terminal.
#[derive(Debug)]
pub struct Terminal {
    shared: Arc<Shared>,
    watcher: Option<JoinHandle<()>>,
}

fn folder(path: &Path) -> Result<PathBuf, TerminalError> {
    std::fs::create_dir_all(path).map_err(|e| TerminalError::Folders {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(path.to_owned())
}

impl Terminal {
    /// Creates the folders and starts watching `req`.
    pub fn start(config: TerminalConfig) -> Result<Self, TerminalError> {
        let directory = Directory::load(config.fixture.as_deref())?;
        let facility_code = config
            .facility_code
            .clone()
            .unwrap_or_else(|| directory.facility_code().to_owned());
        let shared = Arc::new(Shared {
            answerer: answer::Answerer::new(
                directory,
                facility_code,
                config.encoding,
                config.dialect.clone(),
                config.bulk_delay,
            ),
            fault: Mutex::new(Fault::None),
            stats: Stats::default(),
            stop: AtomicBool::new(false),
            zip_bulk: AtomicBool::new(false),
            req: folder(&config.root.join("req"))?,
            res: folder(&config.root.join("res"))?,
            face: folder(&config.root.join("face"))?,
            poll_interval: config.poll_interval,
        });
        let s = shared.clone();
        let watcher = std::thread::Builder::new()
            .name("terminal-sim req".into())
            .spawn(move || folder::watch(&s))
            .map_err(|e| TerminalError::Folders {
                path: config.root.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            shared,
            watcher: Some(watcher),
        })
    }

    /// Changes how the terminal behaves from the next request on.
    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// From the next request on, completed bulk results are answered zipped (`….zip` in `res`,
    /// `application/zip` over HTTPS), or plain again.
    pub fn set_zip_bulk_results(&self, zip: bool) {
        self.shared.zip_bulk.store(zip, Ordering::SeqCst);
    }

    /// Writes the result file of a shape (`shikaku_simulator::shapes`) into `face`, in the
    /// terminal's encoding, as a face-auth result; answers its path.
    pub fn drop_shape(&self, shape: &str) -> Result<PathBuf, TerminalError> {
        let answerer = &self.shared.answerer;
        let text = shikaku_simulator::shapes::shape(shape, &answerer.facility_code)
            .ok_or_else(|| TerminalError::UnknownShape(shape.to_owned()))?;
        let bytes = match answerer.encoding {
            Encoding::Utf8 => text.into_bytes(),
            Encoding::ShiftJis => {
                let text = text
                    .replace("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\"")
                    .replace("<CharacterCodeIdentifier>0<", "<CharacterCodeIdentifier>1<");
                Encoding::ShiftJis
                    .encode(&text)
                    .map_err(|e| TerminalError::Write {
                        path: shape.to_owned(),
                        reason: e.to_string(),
                    })?
            }
        };
        let stamp = shikaku_domain::clock::now()
            .format("%Y%m%d%H%M%S")
            .to_string();
        let mut id = [0u8; 10];
        rand::fill(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let name = shikaku_oqs_xml::names::face_file_name(&answerer.facility_code, &id, &stamp);
        let path = self.shared.face.join(&name);
        folder::write_atomically(&self.shared.face, &name, &bytes).map_err(|e| {
            TerminalError::Write {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(path)
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn taken(&self) -> u64 {
        self.shared.stats.taken.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> u64 {
        self.shared.stats.answered.load(Ordering::SeqCst)
    }

    pub fn scans(&self) -> u64 {
        self.shared.stats.scans.load(Ordering::SeqCst)
    }

    pub fn facility_code(&self) -> &str {
        &self.shared.answerer.facility_code
    }

    pub fn req_dir(&self) -> &Path {
        &self.shared.req
    }

    pub fn res_dir(&self) -> &Path {
        &self.shared.res
    }

    pub fn face_dir(&self) -> &Path {
        &self.shared.face
    }

    /// Every person of the fixture, by id.
    pub fn people(&self) -> Vec<String> {
        self.shared.answerer.directory.person_ids()
    }

    /// Writes a face-auth result for a fixture person into `face`, atomically; answers its path.
    pub fn drop_face(&self, person: &str) -> Result<PathBuf, TerminalError> {
        let message = self
            .shared
            .answerer
            .face(person)
            .ok_or_else(|| TerminalError::UnknownPerson(person.to_owned()))?;
        let stamp = shikaku_domain::clock::now()
            .format("%Y%m%d%H%M%S")
            .to_string();
        let name = shikaku_oqs_xml::names::face_file_name(
            &self.shared.answerer.facility_code,
            &message.header.arbitrary_file_identifier,
            &stamp,
        );
        let bytes = self.shared.answerer.encode(&message);
        let path = self.shared.face.join(&name);
        folder::write_atomically(&self.shared.face, &name, &bytes).map_err(|e| {
            TerminalError::Write {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(path)
    }

    /// Starts the HTTPS side on `addr` (use port 0), with fresh test certificates.
    pub fn serve_https(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<https::HttpsServer, TerminalError> {
        https::HttpsServer::start(self.shared.clone(), addr)
    }

    /// Stops watching; requests in flight finish on their own threads.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.halt();
    }
}
