//! 一括照会 (bulk inquiry), the same for every transport: upload once (never repeated), read the
//! 受付番号 from the receipt, then ask for the result with it while the terminal answers 処理中
//! (SegmentOfResult = 2), until the result is complete, failed, or the deadline is near.
//!
//! A transport gives only its own way to exchange one message ([`BulkExchange`]) and may keep
//! a journal of the job ([`JobStep`]); the loop and its defaults live here once.

use std::time::{Duration, Instant};

use shikaku_domain::upstream::UpstreamError;
use shikaku_oqs_xml::map::{self, Segment};
use shikaku_oqs_xml::names::BulkKind;
use shikaku_oqs_xml::{Request, ResultMessage};

use crate::{Guard, Repeat};

/// How often a bulk result is asked for while it is 処理中, by default (ms).
pub fn default_poll_ms() -> u64 {
    1_000
}

/// The largest result file accepted by default (bytes): a bulk result of a few thousand
/// patients fits.
pub fn default_max_result_bytes() -> usize {
    64 * 1024 * 1024
}

/// Where a bulk job stands, for a transport that journals its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// The upload was accepted under this 受付番号: the job exists upstream from now on.
    Started,
    /// The caller stops waiting (deadline, fault) while the job may still finish upstream.
    Left,
    /// The job ended: its result (or its failure) has been read.
    Ended,
}

/// One transport's way to send a message to the terminal and read its answer.
pub trait BulkExchange {
    /// Sends `request` and waits for its answer until `deadline`.
    fn send_and_wait(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError>;

    /// Told each step of a job under its 受付番号; nothing by default.
    fn job(&self, _reception: &str, _step: JobStep) {}
}

/// What a bulk job needs besides its upload.
#[derive(Debug, Clone, Copy)]
pub struct BulkJob<'a> {
    pub kind: BulkKind,
    /// 医療機関コード written into each poll.
    pub facility_code: &'a str,
    /// The wait between polls while the result is 処理中.
    pub poll_every: Duration,
}

/// Uploads once, then polls until the result is complete; answers the complete result file.
pub fn upload_and_poll(
    guard: &Guard,
    transport: &impl BulkExchange,
    job: BulkJob<'_>,
    upload: &Request,
    deadline: Instant,
) -> Result<ResultMessage, UpstreamError> {
    let receipt = guard.run(Repeat::Never, deadline, |d| {
        transport.send_and_wait(upload, d)
    })?;
    let reception = map::bulk_reception_number(&receipt)?;
    transport.job(&reception, JobStep::Started);
    let poll = map::bulk_download(job.kind, job.facility_code, &reception);
    loop {
        let m = match guard.run(Repeat::Safe, deadline, |d| {
            transport.send_and_wait(&poll, d)
        }) {
            Ok(m) => m,
            Err(e) => {
                transport.job(&reception, JobStep::Left);
                return Err(e);
            }
        };
        match map::segment(&m.header) {
            Segment::InProgress => {
                if Instant::now() + job.poll_every >= deadline {
                    transport.job(&reception, JobStep::Left);
                    return Err(UpstreamError::Timeout);
                }
                std::thread::sleep(job.poll_every);
            }
            Segment::Failed(e) => {
                transport.job(&reception, JobStep::Ended);
                return Err(e);
            }
            Segment::Completed => {
                transport.job(&reception, JobStep::Ended);
                return Ok(m);
            }
        }
    }
}
