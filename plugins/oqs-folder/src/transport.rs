//! Requests and their results: write into `req`, wait for `res`, clean up.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::upstream::{
    BulkQuery, NumbersCheck, ReferenceNumberRegistration, RegisteredReferenceNumber, UpstreamError,
};
use shikaku_oqs_guard::Repeat;
use shikaku_oqs_guard::bulk::{self, BulkExchange, BulkJob, JobStep};
use shikaku_oqs_xml::names::{BulkKind, FileName, MessageKind};
use shikaku_oqs_xml::{Request, ResultMessage, XmlError};
use shikaku_oqs_xml::{map, registry};

use crate::FolderTransport;
use crate::files::{self, Look, PendingResult};
use crate::journal::{Entry, State};

fn set_file_identifier(request: &mut Request, id: &str) {
    match request {
        Request::QualificationCheck { header, .. }
        | Request::ReferenceNumberRegistration { header, .. }
        | Request::BulkUpload { header, .. }
        | Request::BulkDownload { header, .. } => header.arbitrary_file_identifier = id.to_owned(),
        Request::Info { header, .. } => header.arbitrary_file_identifier = id.to_owned(),
    }
}

fn encoding_error(e: XmlError) -> UpstreamError {
    match e {
        XmlError::Unencodable(_) => {
            UpstreamError::Unsupported("a character the configured request encoding cannot hold")
        }
        other => UpstreamError::Unavailable(format!("cannot write the request: {other}")),
    }
}

fn sleep_until(deadline: Instant, step: Duration) {
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(step.min(left));
}

impl FolderTransport {
    /// Names, journals and writes a request into `req`. `state` is `Sent` when a caller waits
    /// for it, `Abandoned` when only the sweeper will collect its result.
    pub(crate) fn send(
        &self,
        mut request: Request,
        state: State,
    ) -> Result<FileName, UpstreamError> {
        if !self.dirs.req.is_dir() {
            return Err(UpstreamError::Unavailable(format!(
                "the terminal's req folder {} is not reachable",
                self.dirs.req.display()
            )));
        }
        let name = loop {
            let suffix = self
                .suffixes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next()?;
            let name = FileName::request(request.kind(), suffix);
            // Another client of the terminal may use the same naming; never overwrite.
            if !self.dirs.req.join(name.to_string()).exists()
                && !files::result_paths(&self.dirs.res, &name)
                    .iter()
                    .any(|p| p.exists())
            {
                break name;
            }
        };
        set_file_identifier(&mut request, &name.suffix);
        let bytes = request
            .to_xml(self.config.request_encoding)
            .map_err(encoding_error)?;
        let file = name.to_string();
        self.journal
            .record(&Entry::new(file.clone(), state))
            .map_err(|e| UpstreamError::Unavailable(format!("cannot journal {file}: {e}")))?;
        if let Err(e) = files::write_atomically(&self.dirs.req, &file, &bytes) {
            self.journal.remove(&file);
            return Err(UpstreamError::Unavailable(format!(
                "cannot write {file} into the terminal's req folder: {e}"
            )));
        }
        Ok(name)
    }

    /// Removes what a finished request left: its result, the request if the terminal left it,
    /// and its journal entry.
    pub(crate) fn finish(&self, name: &FileName) {
        for path in files::result_paths(&self.dirs.res, name) {
            let _ = std::fs::remove_file(path);
        }
        files::withdraw(&self.dirs.req, &name.to_string());
        self.journal.remove(&name.to_string());
    }

    /// Waits for the result of `name` until `deadline`.
    pub(crate) fn wait(
        &self,
        name: &FileName,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError> {
        let result = name.result().to_string();
        let mut pending = PendingResult::new(&self.dirs.res, name);
        loop {
            match pending.look(&self.reading).0 {
                Look::Complete(m) => {
                    self.finish(name);
                    let echoed = m.header.arbitrary_file_identifier.trim();
                    if !echoed.is_empty() && echoed != name.suffix {
                        return Err(UpstreamError::Unavailable(format!(
                            "{result} answers another request ({echoed})"
                        )));
                    }
                    return Ok(*m);
                }
                Look::Malformed(e) => {
                    self.finish(name);
                    return Err(UpstreamError::Unavailable(format!(
                        "the terminal wrote an unreadable result {result}: {e}"
                    )));
                }
                Look::NotYet => {}
            }
            if Instant::now() >= deadline {
                return Err(self.abandon(name));
            }
            sleep_until(deadline, self.poll());
        }
    }

    /// The caller's deadline passed: take the request back if the terminal never took it,
    /// otherwise leave its result to the sweeper.
    fn abandon(&self, name: &FileName) -> UpstreamError {
        let file = name.to_string();
        if files::withdraw(&self.dirs.req, &file) {
            self.journal.remove(&file);
            UpstreamError::Unavailable(format!(
                "the terminal did not take {file} from req in time; is its link application running?"
            ))
        } else {
            let _ = self.journal.record(&Entry::new(file, State::Abandoned));
            UpstreamError::Timeout
        }
    }

    pub(crate) fn exchange(
        &self,
        request: Request,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError> {
        let name = self.send(request, State::Sent)?;
        self.wait(&name, deadline)
    }

    /// 資格確認 by insurance numbers (OQSsiquc01). Safe to repeat, so retried on faults.
    pub fn check_by_numbers(
        &self,
        check: &NumbersCheck,
        deadline: Instant,
    ) -> Result<QualificationResult, UpstreamError> {
        let request = map::numbers_request(check, &self.facility_code, "", &self.config.dialect);
        self.guard.run(Repeat::Safe, deadline, |attempt_deadline| {
            map::single_result(&self.exchange(request.clone(), attempt_deadline)?)
        })
    }

    /// 一括照会: one upload (never repeated), then polls until the result is ready. Answers
    /// each check's result in the order asked.
    pub fn bulk_check(
        &self,
        checks: &[NumbersCheck],
        deadline: Instant,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let upload = map::bulk_request(checks, &self.facility_code, "", &self.config.dialect);
        let job = BulkJob {
            kind: BulkKind::Qualification,
            facility_code: &self.facility_code,
            poll_every: Duration::from_millis(self.config.bulk_poll_ms),
        };
        let journalled = JournalledJob {
            transport: self,
            kind: job.kind,
            entry: RefCell::new(None),
        };
        let m = bulk::upload_and_poll(&self.guard, &journalled, job, &upload, deadline)?;
        Ok(map::bulk_results(checks.len(), &m))
    }

    /// 照会番号の登録 (OQSsiimm01). Registering the same number again changes nothing, so it is
    /// retried on faults like a check.
    pub fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
        deadline: Instant,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        let request = registry::registration_request(
            registration,
            &self.facility_code,
            "",
            &self.config.dialect,
        );
        let sent = registration.reference_number.as_str();
        self.guard.run(Repeat::Safe, deadline, |attempt_deadline| {
            registry::registration_result(&self.exchange(request.clone(), attempt_deadline)?, sent)
        })
    }

    /// 一括照会 of a query kind (医療扶助, 訪問診療, オンライン診療): one upload, then polls;
    /// answers everyone the result lists.
    pub fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
        deadline: Instant,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        let upload = registry::query_request(query, confirmation_date, &self.facility_code, "");
        let job = BulkJob {
            kind: registry::query_kind(query),
            facility_code: &self.facility_code,
            poll_every: Duration::from_millis(self.config.bulk_poll_ms),
        };
        let journalled = JournalledJob {
            transport: self,
            kind: job.kind,
            entry: RefCell::new(None),
        };
        let m = bulk::upload_and_poll(&self.guard, &journalled, job, &upload, deadline)?;
        Ok(registry::query_results(&m))
    }

    /// Journals a bulk job by its 受付番号, so a restart or a passed deadline polls it to its end.
    pub(crate) fn start_job(&self, reception: &str, state: State, kind: BulkKind) -> Entry {
        let mut job = Entry::new(format!("bulk-{reception}"), state);
        job.reception_number = Some(reception.to_owned());
        job.bulk_upload = Some(MessageKind::BulkUpload(kind).stem());
        let _ = self.journal.record(&job);
        job
    }

    fn leave_job(&self, job: &Entry) {
        let mut job = job.clone();
        job.state = State::Abandoned;
        let _ = self.journal.record(&job);
    }
}

/// A bulk job of this transport: each step is journalled, so a restart or a passed deadline
/// polls it to its end.
struct JournalledJob<'a> {
    transport: &'a FolderTransport,
    kind: BulkKind,
    entry: RefCell<Option<Entry>>,
}

impl BulkExchange for JournalledJob<'_> {
    fn send_and_wait(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError> {
        self.transport.exchange(request.clone(), deadline)
    }

    fn job(&self, reception: &str, step: JobStep) {
        let t = self.transport;
        match step {
            JobStep::Started => {
                *self.entry.borrow_mut() = Some(t.start_job(reception, State::Sent, self.kind));
            }
            JobStep::Left => {
                if let Some(job) = self.entry.borrow().as_ref() {
                    t.leave_job(job);
                }
            }
            JobStep::Ended => {
                if let Some(job) = self.entry.borrow().as_ref() {
                    t.journal.remove(&job.name);
                }
            }
        }
    }
}

impl FolderTransport {
    /// Sends a poll for an abandoned bulk job without waiting; the sweeper reads its result.
    pub(crate) fn poll_job(&self, reception: &str, kind: BulkKind) -> Result<(), UpstreamError> {
        let poll = map::bulk_download(kind, &self.facility_code, reception);
        self.send(poll, State::Abandoned).map(|_| ())
    }

    /// The bulk kind of a journalled job (資格確認一括照会 for entries that do not say).
    pub(crate) fn job_kind(entry: &Entry) -> BulkKind {
        BulkKind::ALL
            .into_iter()
            .find(|k| {
                entry.bulk_upload.as_deref() == Some(MessageKind::BulkUpload(*k).stem().as_str())
            })
            .unwrap_or(BulkKind::Qualification)
    }

    /// The kind of message a journalled name is.
    pub(crate) fn kind_of(name: &str) -> Option<MessageKind> {
        FileName::parse(name).map(|f| f.kind)
    }
}
