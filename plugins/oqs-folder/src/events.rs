//! Unsolicited results: face-auth results from `face`, and results that came after their caller
//! stopped waiting (collected by the sweeper). Each becomes an `UpstreamEvent`.

use std::path::Path;
use std::time::{Duration, Instant};

use shikaku_domain::clock;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::upstream::{UpstreamError, UpstreamEvent};
use shikaku_oqs_xml::map::{self, Segment};
use shikaku_oqs_xml::names::{self, FileName, MessageKind};
use shikaku_oqs_xml::{MessageHeader, ResultBody, ResultMessage};

use crate::config::{FaceAfter, LateResults};
use crate::files::{self, Look, Pending, PendingResult};
use crate::journal::{Entry, State, now_ms};
use crate::{Ack, Events, FolderTransport};

/// A result as an event's payload; an error result keeps its code and message.
fn payload(header: &MessageHeader, body: &ResultBody) -> QualificationResult {
    match map::to_result(header, body) {
        Ok(r) => r,
        Err(UpstreamError::ErrorResult { code, message }) => QualificationResult {
            processing_result_code: code,
            processing_result_message: message,
            checked_at: clock::rfc3339(clock::now()),
            ..Default::default()
        },
        Err(other) => QualificationResult {
            processing_result_message: other.to_string(),
            ..Default::default()
        },
    }
}

fn event(source: String, result: QualificationResult) -> UpstreamEvent {
    UpstreamEvent {
        received_at: clock::now(),
        source,
        result,
        receipt: Default::default(),
    }
}

impl FolderTransport {
    fn lock_events(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next unsolicited result, or `None` at the deadline. Taking an event acknowledges the
    /// one before it, whose file is removed only then.
    pub fn next_event(&self, deadline: Instant) -> Result<Option<UpstreamEvent>, UpstreamError> {
        let acks: Vec<Ack> = std::mem::take(&mut self.lock_events().unacked);
        for ack in acks {
            self.acknowledge(ack);
        }
        loop {
            self.sweep();
            self.scan_face();
            {
                let mut ev = self.lock_events();
                if let Some((event, ack)) = ev.queue.pop_front() {
                    ev.unacked.push(ack);
                    return Ok(Some(event));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            std::thread::sleep(self.poll().max(Duration::from_millis(10)).min(left));
        }
    }

    fn acknowledge(&self, ack: Ack) {
        match ack {
            Ack::Late { journal, res } => {
                let _ = std::fs::remove_file(&res);
                self.journal.remove(&journal);
                self.lock_events().queued.remove(&journal);
            }
            Ack::Face { path, name } => {
                let mut ev = self.lock_events();
                ev.queued.remove(&name);
                match self.config.face.after {
                    FaceAfter::Delete => {
                        let _ = std::fs::remove_file(&path);
                    }
                    FaceAfter::Keep => {
                        ev.kept.insert(name);
                    }
                }
            }
            Ack::Nothing => {}
        }
    }

    /// Collects results of abandoned requests, keeps abandoned bulk jobs polling, and gives up
    /// on requests whose result has not come after `abandon_after_ms`.
    pub fn sweep(&self) {
        let give_up = self.config.abandon_after_ms;
        for entry in self.journal.entries() {
            if entry.state != State::Abandoned {
                continue;
            }
            let expired = now_ms().saturating_sub(entry.since_ms) > give_up;
            if let Some(reception) = entry.reception_number.clone() {
                self.sweep_job(&entry, &reception, expired);
                continue;
            }
            if self.lock_events().queued.contains(&entry.name) {
                continue;
            }
            let Some(name) = FileName::parse(&entry.name) else {
                self.journal.remove(&entry.name);
                continue;
            };
            let (look, res) = {
                let mut ev = self.lock_events();
                let (look, res) = ev
                    .late
                    .entry(entry.name.clone())
                    .or_insert_with(|| PendingResult::new(&self.dirs.res, &name))
                    .look(&self.reading);
                (look, res.to_owned())
            };
            match look {
                Look::Complete(m) => {
                    self.lock_events().late.remove(&entry.name);
                    self.late_result(&entry, &name, &res, *m);
                }
                Look::Malformed(e) => {
                    tracing::warn!(file = %res.display(), error = %e, "discarding an unreadable late result");
                    self.lock_events().late.remove(&entry.name);
                    self.finish(&name);
                }
                Look::NotYet if expired => {
                    tracing::warn!(request = %entry.name, "no result came for an abandoned request; giving up on it");
                    self.lock_events().late.remove(&entry.name);
                    self.finish(&name);
                }
                Look::NotYet => {}
            }
        }
    }

    /// A result whose caller is gone: an event (or several, for a bulk result), a bulk job to
    /// follow, or nothing.
    fn late_result(&self, entry: &Entry, name: &FileName, res: &Path, m: ResultMessage) {
        files::withdraw(&self.dirs.req, &entry.name);
        // The file as it came: `….xml`, or `….zip` for a zipped result.
        let file = res.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let source = format!("res/{file}");
        let ack = Ack::Late {
            journal: entry.name.clone(),
            res: res.to_owned(),
        };
        let mut out: Vec<UpstreamEvent> = Vec::new();
        match name.kind {
            MessageKind::BulkUpload(kind) => {
                let reception = [&m.body.reception_number, &m.header.reception_number]
                    .into_iter()
                    .map(|r| r.trim())
                    .find(|r| !r.is_empty())
                    .map(str::to_owned);
                if let Some(r) = reception {
                    self.start_job(&r, State::Abandoned, kind);
                }
            }
            MessageKind::BulkDownload(_) => {
                let reception = m.header.reception_number.trim().to_owned();
                let job = format!("bulk-{reception}");
                match map::segment(&m.header) {
                    Segment::InProgress => {}
                    Segment::Completed => {
                        for (i, unit) in m.units.iter().enumerate() {
                            out.push(event(
                                format!("{source}#{}", i + 1),
                                payload(&m.header, unit),
                            ));
                        }
                        self.journal.remove(&job);
                    }
                    Segment::Failed(e) => {
                        tracing::warn!(reception = %reception, error = %e, "an abandoned bulk job failed");
                        self.journal.remove(&job);
                    }
                }
                self.lock_events().bulk_polled.remove(&reception);
            }
            _ => out.push(event(source, payload(&m.header, &m.body))),
        }
        if self.config.late_results == LateResults::Discard || out.is_empty() {
            self.acknowledge(ack);
            return;
        }
        let mut ev = self.lock_events();
        ev.queued.insert(entry.name.clone());
        let last = out.len() - 1;
        for (i, e) in out.into_iter().enumerate() {
            ev.queue
                .push_back((e, if i == last { ack.clone() } else { Ack::Nothing }));
        }
    }

    fn sweep_job(&self, entry: &Entry, reception: &str, expired: bool) {
        if expired {
            tracing::warn!(
                reception,
                "an abandoned bulk job never finished; giving up on it"
            );
            self.journal.remove(&entry.name);
            return;
        }
        let due = {
            let ev = self.lock_events();
            ev.bulk_polled
                .get(reception)
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(self.config.bulk_poll_ms))
        };
        let poll_out = self.journal.entries().iter().any(|e| {
            e.state == State::Abandoned
                && Self::kind_of(&e.name).is_some_and(|k| matches!(k, MessageKind::BulkDownload(_)))
        });
        if due && !poll_out {
            match self.poll_job(reception, Self::job_kind(entry)) {
                Ok(()) => {
                    self.lock_events()
                        .bulk_polled
                        .insert(reception.to_owned(), Instant::now());
                }
                Err(e) => {
                    tracing::debug!(reception, error = %e, "cannot poll an abandoned bulk job yet")
                }
            }
        }
    }

    /// Queues each complete face file not yet queued or delivered.
    fn scan_face(&self) {
        if !self.config.face.enabled {
            return;
        }
        {
            let mut ev = self.lock_events();
            if ev
                .last_face_scan
                .is_some_and(|t| t.elapsed() < Duration::from_millis(self.config.face.poll_ms))
            {
                return;
            }
            ev.last_face_scan = Some(Instant::now());
        }
        let Ok(dir) = std::fs::read_dir(&self.dirs.face) else {
            tracing::debug!(folder = %self.dirs.face.display(), "the face folder is not reachable");
            return;
        };
        let mut present = std::collections::HashSet::new();
        for entry in dir.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !names::is_face_file(&name, &self.config.face.prefix) {
                continue;
            }
            present.insert(name.clone());
            let path = entry.path();
            let look = {
                let mut ev = self.lock_events();
                if ev.queued.contains(&name) || ev.kept.contains(&name) {
                    continue;
                }
                ev.watching
                    .entry(name.clone())
                    .or_insert_with(|| Pending::new(path.clone()))
                    .look(&self.reading)
            };
            match look {
                Look::NotYet => {}
                Look::Complete(m) => {
                    let mut ev = self.lock_events();
                    ev.watching.remove(&name);
                    ev.queued.insert(name.clone());
                    ev.queue.push_back((
                        event(format!("face/{name}"), payload(&m.header, &m.body)),
                        Ack::Face { path, name },
                    ));
                }
                Look::Malformed(e) => {
                    self.lock_events().watching.remove(&name);
                    let _ = std::fs::create_dir_all(&self.dirs.rejected);
                    let aside = self.dirs.rejected.join(&name);
                    tracing::warn!(file = %path.display(), error = %e, kept = %aside.display(), "an unreadable face file was moved aside");
                    if std::fs::rename(&path, &aside).is_err() {
                        let _ = std::fs::copy(&path, &aside);
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        // Forget kept files once they are gone, so the set does not grow forever.
        self.lock_events().kept.retain(|n| present.contains(n));
    }
}
