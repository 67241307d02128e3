//! Files the other side writes: when one is complete, and writing ours so the other side never
//! sees half of one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use shikaku_oqs_xml::dom::{Document, Limits};
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
    fn parse(&self, bytes: &[u8]) -> Result<ResultMessage, XmlError> {
        let doc = Document::parse(bytes, &self.limits)?;
        if let Some(expected) = self.encoding
            && doc.encoding != expected
        {
            return Err(XmlError::EncodingMismatch {
                declared: doc.encoding.xml_name(),
                identified: expected.xml_name(),
            });
        }
        ResultMessage::from_document(&doc, &self.dialect)
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
