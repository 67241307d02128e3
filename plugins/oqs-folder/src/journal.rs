//! The journal of requests in flight: one small file per request, written (durably) before the
//! request goes into `req` and removed once its result has been dealt with. It is what lets a
//! restarted transport finish or discard what an earlier run left, and it marks which files in
//! the shared folders are ours: files not in the journal belong to other clients and are never
//! touched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where a journalled request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Written to `req`; its caller is waiting.
    Sent,
    /// Its caller stopped waiting (deadline, restart) after the terminal took it; the result is
    /// collected when it comes and delivered as an event.
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The request file's name in `req`; for a bulk job, `bulk-<reception number>`.
    pub name: String,
    pub state: State,
    /// When the state was last set, milliseconds since the epoch.
    pub since_ms: u64,
    /// A bulk job's 受付番号 (its polls are journalled as requests of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reception_number: Option<String>,
    /// A bulk job's upload stem (`OQSmutic01`), so its polls ask with the right kind; absent
    /// in entries written before the query kinds (資格確認一括照会 then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_upload: Option<String>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Entry {
    pub fn new(name: impl Into<String>, state: State) -> Self {
        Self {
            name: name.into(),
            state,
            since_ms: now_ms(),
            reception_number: None,
            bulk_upload: None,
        }
    }
}

/// Writes a file so that after a crash it holds either the old or the new content.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        let dir = state_dir.join("inflight");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn record(&self, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        write_durably(&self.path(&entry.name), &bytes)
    }

    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path(name));
    }

    /// Removes temporary files a crash left mid-write (their entries never took effect).
    pub fn discard_partial(&self) {
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Every entry, oldest first; unreadable ones are dropped.
    pub fn entries(&self) -> Vec<Entry> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in dir.flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            {
                Some(entry) => out.push(entry),
                None => {
                    tracing::warn!(file = %path.display(), "dropping an unreadable journal entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        out.sort_by(|a, b| a.since_ms.cmp(&b.since_ms).then(a.name.cmp(&b.name)));
        out
    }
}
