//! The folder side: take requests from `req`, write results into `res`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::names::{Direction, FileName};

use crate::{Fault, Shared};

/// A request file younger than this that does not parse may still be being written.
const SETTLE: Duration = Duration::from_millis(500);

pub(crate) fn watch(shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.fault() != Fault::Down
            && let Ok(entries) = std::fs::read_dir(&shared.req)
        {
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let Some(file) = FileName::parse(&name) else {
                    continue;
                };
                if file.direction != Direction::Request {
                    continue;
                }
                take(shared, &entry.path(), file);
            }
        }
        shared.stats.scans.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(shared.poll_interval);
    }
}

/// Reads a request whole, removes it from `req`, and answers on its own thread.
fn take(shared: &Arc<Shared>, path: &Path, file: FileName) {
    // The fault in force when the request is taken is the one it meets.
    let fault = shared.fault();
    if fault == Fault::Down {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let complete = shikaku_oqs_xml::dom::Document::parse(&bytes, &Limits::default()).is_ok();
    let young = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_none_or(|age| age < SETTLE);
    if !complete && young {
        return;
    }
    if std::fs::remove_file(path).is_err() {
        return;
    }
    shared.stats.taken.fetch_add(1, Ordering::SeqCst);
    let s = shared.clone();
    let _ = std::thread::Builder::new()
        .name("terminal-sim answer".into())
        .spawn(move || respond(&s, &file, &bytes, fault));
}

fn respond(shared: &Shared, file: &FileName, request: &[u8], fault: Fault) {
    let answer = crate::https::answer_bytes(shared, file.kind, request, &fault);
    let Some(crate::https::Answer { bytes, zipped }) = answer else {
        return;
    };
    if let Fault::Slow(d) = fault {
        std::thread::sleep(d);
    }
    let mut result = file.result();
    if zipped {
        result.extension = "zip".into();
    }
    let path = shared.res.join(result.to_string());
    let written = match fault {
        Fault::SlowWrite(d) => write_in_halves(&path, &bytes, d),
        _ => std::fs::write(&path, &bytes),
    };
    if written.is_ok() && !matches!(fault, Fault::Truncated) {
        shared.stats.answered.fetch_add(1, Ordering::SeqCst);
    }
}

fn write_in_halves(path: &Path, bytes: &[u8], pause: Duration) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half])?;
    f.flush()?;
    std::thread::sleep(pause);
    f.write_all(&bytes[half..])?;
    f.flush()
}

/// Writes under a temporary name, then renames, so a reader never sees half a file.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}
