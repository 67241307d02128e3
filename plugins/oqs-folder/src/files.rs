//! Files the other side writes: when one is complete, and writing ours so the other side never
//! sees half of one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::names::FileName;
use shikaku_oqs_xml::{Dialect, Encoding, ResultMessage, XmlError};

use crate::config::{Completion, CompletionMode};

/// What a look at an expected file found.
#[derive(Debug)]
pub(crate) enum Look {
    /// Not there, or still being written.
    NotYet,
    Complete(Box<ResultMessage>),
    /// There, unchanged for the settle time, and not a readable result.
    Malformed(XmlError),
}

/// How to read results.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub completion: Completion,
    pub dialect: Dialect,
    pub limits: Limits,
    pub encoding: Option<Encoding>,
}

impl Reading {
    /// XML, or a zip holding XML.
    fn parse(&self, bytes: &[u8]) -> Result<ResultMessage, XmlError> {
        ResultMessage::read(bytes, &self.dialect, &self.limits, self.encoding)
    }
}

/// Watches one file another program writes, tolerating slow and partial writes.
#[derive(Debug)]
pub(crate) struct Pending {
    pub path: PathBuf,
    seen: Option<(u64, Option<SystemTime>)>,
    unchanged_since: Instant,
    last_error: Option<XmlError>,
}

impl Pending {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            seen: None,
            unchanged_since: Instant::now(),
            last_error: None,
        }
    }

    pub fn look(&mut self, reading: &Reading) -> Look {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            self.seen = None;
            return Look::NotYet;
        };
        let signature = (meta.len(), meta.modified().ok());
        let changed = self.seen != Some(signature);
        if changed {
            self.seen = Some(signature);
            self.unchanged_since = Instant::now();
        }
        let settled =
            self.unchanged_since.elapsed() >= Duration::from_millis(reading.completion.settle_ms);
        if reading.completion.mode == CompletionMode::Stable && !settled {
            return Look::NotYet;
        }
        if changed || self.last_error.is_none() || reading.completion.mode == CompletionMode::Stable
        {
            match std::fs::read(&self.path) {
                Ok(bytes) => match reading.parse(&bytes) {
                    Ok(m) => return Look::Complete(Box::new(m)),
                    Err(e) => self.last_error = Some(e),
                },
                Err(_) => return Look::NotYet,
            }
        }
        match (&self.last_error, settled) {
            (Some(e), true) => Look::Malformed(e.clone()),
            _ => Look::NotYet,
        }
    }
}

/// The result of one request, which comes as `…res_<suffix>.xml` or, zipped (bulk results), as
/// `…res_<suffix>.zip`: whichever is complete first.
#[derive(Debug)]
pub(crate) struct PendingResult {
    xml: Pending,
    zip: Pending,
}

impl PendingResult {
    pub fn new(res_dir: &Path, request: &FileName) -> Self {
        let [xml, zip] = result_paths(res_dir, request);
        Self {
            xml: Pending::new(xml),
            zip: Pending::new(zip),
        }
    }

    /// What a look found, and the file it found it in.
    pub fn look(&mut self, reading: &Reading) -> (Look, &Path) {
        match self.xml.look(reading) {
            Look::NotYet => {}
            found => return (found, &self.xml.path),
        }
        (self.zip.look(reading), &self.zip.path)
    }
}

/// Where the result of `request` may arrive: as XML, or zipped.
pub(crate) fn result_paths(res_dir: &Path, request: &FileName) -> [PathBuf; 2] {
    let xml = request.result();
    let zip = FileName {
        extension: "zip".into(),
        ..xml.clone()
    };
    [res_dir.join(xml.to_string()), res_dir.join(zip.to_string())]
}

/// The temporary name a file is written under before it is renamed into place; the terminal
/// ignores it (it is not an `OQS…req_….xml` name).
pub(crate) fn temporary(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp"))
}

/// Writes `name` into `dir` under a temporary name, then renames it into place.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary(dir, name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Takes a request back from `req` if the terminal has not taken it yet. Renaming first means
/// the terminal cannot take it half-way: either the rename wins (withdrawn) or the terminal did.
pub(crate) fn withdraw(dir: &Path, name: &str) -> bool {
    let from = dir.join(name);
    let aside = dir.join(format!(".{name}.withdrawn"));
    if std::fs::rename(&from, &aside).is_ok() {
        let _ = std::fs::remove_file(&aside);
        true
    } else {
        false
    }
}
