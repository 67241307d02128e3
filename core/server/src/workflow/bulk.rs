//! Bulk checks (一括照会): many checks by insurance numbers as one job, stored item by item so
//! progress can be watched, results fetched later, and a job cut short by a restart resumed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use shikaku_domain::patient::PatientNumber;
use shikaku_domain::pb::bulk_check_item::Target;
use shikaku_domain::pb::{
    BulkCheckItem, BulkCheckItemResult, BulkCheckJob, BulkCheckKind, BulkCheckMode, BulkCheckState,
    BulkItemState, BulkQuery as PbBulkQuery, CheckByInsuranceNumbersRequest, ErrorReason,
    QualificationResult, WatchBulkCheckResponse,
};
use shikaku_domain::upstream::{BulkQuery, NumbersCheck, UpstreamError};
use shikaku_domain::values::parse_date;
use shikaku_domain::{ValueError, clock};
use shikaku_store::{
    BulkCounts, BulkItemOutcome, BulkItemRecord, BulkJobRecord, StoreError, WriteOp,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::audit::{self, Caller, Entry};
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::{validate_numbers, validate_query};

/// The stored mode of a query job starts with this, then the kind (`query:home_visit`).
const QUERY_MODE: &str = "query:";

fn query_mode(q: &BulkQuery) -> String {
    let kind = match q {
        BulkQuery::MedicalAssistance { .. } => "medical_assistance",
        BulkQuery::HomeVisit { .. } => "home_visit",
        BulkQuery::OnlineConsultation { .. } => "online_consultation",
    };
    format!("{QUERY_MODE}{kind}")
}

fn kind_of_mode(mode: &str) -> BulkCheckKind {
    match mode.strip_prefix(QUERY_MODE) {
        None => BulkCheckKind::Qualification,
        Some("medical_assistance") => BulkCheckKind::MedicalAssistance,
        Some("home_visit") => BulkCheckKind::HomeVisit,
        Some("online_consultation") => BulkCheckKind::OnlineConsultation,
        Some(_) => BulkCheckKind::Unspecified,
    }
}

/// Tries per item when the upstream is unavailable or slow.
const TRIES: u32 = 3;
/// How often a progress watcher is updated at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The bulk-check runner's settings and the wake-up for progress watchers.
pub struct Jobs {
    concurrency: u32,
    /// Counts settled items across all jobs; watchers wake on it and read the store.
    settled: watch::Sender<u64>,
}

impl Jobs {
    pub fn new(concurrency: u32) -> Self {
        Self {
            concurrency: concurrency.max(1),
            settled: watch::channel(0).0,
        }
    }

    fn bump(&self) {
        self.settled.send_modify(|n| *n += 1);
    }
}

pub fn job_pb(j: &BulkJobRecord, c: BulkCounts) -> BulkCheckJob {
    BulkCheckJob {
        id: j.id.clone(),
        label: j.label.clone(),
        state: if j.state == "done" {
            BulkCheckState::Done
        } else {
            BulkCheckState::Running
        } as i32,
        mode: if j.mode == "bulk_upload" || j.mode.starts_with(QUERY_MODE) {
            BulkCheckMode::BulkUpload
        } else {
            BulkCheckMode::PerPatient
        } as i32,
        kind: kind_of_mode(&j.mode) as i32,
        concurrency: j.concurrency,
        confirmation_date: j.confirmation_date.clone(),
        created_at: j.created_at.clone(),
        finished_at: j.finished_at.clone().unwrap_or_default(),
        total: j.total,
        checked: c.checked,
        failed: c.failed,
        invalid: c.invalid,
    }
}

pub fn item_pb(i: BulkItemRecord) -> BulkCheckItemResult {
    let state = match i.state.as_str() {
        "pending" => BulkItemState::Pending,
        "checked" => BulkItemState::Checked,
        "failed" => BulkItemState::Failed,
        _ => BulkItemState::Invalid,
    };
    BulkCheckItemResult {
        index: i.idx,
        key: i.key,
        state: state as i32,
        result: i
            .result
            .and_then(|b| QualificationResult::decode(b.as_slice()).ok()),
        error_reason: i.error_reason,
        error_message: i.error_message,
        finished_at: i.finished_at.unwrap_or_default(),
    }
}

pub async fn job_of(ctx: &Context, id: &str) -> Result<BulkCheckJob, ServiceError> {
    let job = ctx.store.bulk_job(id).await?;
    Ok(job_pb(&job, ctx.store.bulk_counts(id).await?))
}

/// How an item ended, before it is stored.
enum Outcome {
    Checked(Box<QualificationResult>),
    Failed(ServiceError),
    Invalid(ServiceError),
}

fn outcome_record(job: &str, idx: u32, outcome: Outcome) -> BulkItemOutcome {
    let (state, result, error) = match outcome {
        Outcome::Checked(r) => ("checked", Some(r.encode_to_vec()), None),
        Outcome::Failed(e) => ("failed", None, Some(e)),
        Outcome::Invalid(e) => ("invalid", None, Some(e)),
    };
    BulkItemOutcome {
        job_id: job.to_owned(),
        idx,
        state,
        result,
        error_reason: error
            .as_ref()
            .map(|e| e.reason().to_owned())
            .unwrap_or_default(),
        error_message: error.map(|e| e.to_string()).unwrap_or_default(),
        finished_at: clock::rfc3339(clock::now()),
    }
}

/// The numbers check an item stands for: as given, or from its patient number's newest link.
async fn resolve(ctx: &Context, item: &BulkCheckItem, date: &str) -> Result<NumbersCheck, Outcome> {
    let mut numbers = match &item.target {
        Some(Target::Numbers(n)) => n.clone(),
        Some(Target::PatientNumber(p)) => {
            let number = PatientNumber::parse(p)
                .map_err(|e| Outcome::Invalid(ServiceError::field("patient_number", e)))?;
            let links = ctx
                .store
                .links(ctx.reception.facility(), Some(number.as_str()))
                .await
                .map_err(|e| Outcome::Failed(e.into()))?;
            let Some(link) = links
                .into_iter()
                .max_by(|a, b| a.linked_at.cmp(&b.linked_at))
            else {
                return Err(Outcome::Failed(ServiceError::NotFound {
                    reason: ErrorReason::PatientLinkNotFound,
                    what: "patient link for",
                    key: "patient_number",
                    value: number.to_string(),
                }));
            };
            CheckByInsuranceNumbersRequest {
                insurer_number: link.person.insurer_number,
                symbol: link.person.symbol,
                number: link.person.number,
                branch: link.person.branch,
                birth_date: link.person.birth_date,
                ..Default::default()
            }
        }
        None => {
            return Err(Outcome::Invalid(ServiceError::field(
                "target",
                ValueError::Rule("give insurance numbers or a patient number".into()),
            )));
        }
    };
    numbers.confirmation_date = date.to_owned();
    validate_numbers(&numbers).map_err(Outcome::Invalid)
}

fn retryable(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Unavailable(_) | UpstreamError::RetryLater { .. } | UpstreamError::Timeout
    )
}

/// One check, retried a little when the upstream is unavailable.
async fn check_one(ctx: &Context, check: &NumbersCheck) -> Outcome {
    let mut wait = Duration::from_millis(200);
    for attempt in 1..=TRIES {
        match tokio::time::timeout(ctx.check_timeout, ctx.upstream.check_by_numbers(check)).await {
            Ok(Ok(r)) => return Outcome::Checked(Box::new(r)),
            Ok(Err(e)) if attempt < TRIES && retryable(&e) => {}
            Ok(Err(e)) => return Outcome::Failed(e.into()),
            Err(_) if attempt < TRIES => {}
            Err(_) => return Outcome::Failed(UpstreamError::Timeout.into()),
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    Outcome::Failed(UpstreamError::Timeout.into())
}

async fn settle(ctx: &Context, job: &str, idx: u32, outcome: Outcome) -> Result<(), StoreError> {
    ctx.metrics.bulk_row(match outcome {
        Outcome::Checked(_) => "checked",
        Outcome::Failed(_) => "failed",
        Outcome::Invalid(_) => "invalid",
    });
    ctx.store
        .write(vec![WriteOp::SettleBulkItem(outcome_record(
            job, idx, outcome,
        ))])
        .await?;
    ctx.bulk.bump();
    Ok(())
}

/// Runs a job's pending items to the end, or until the daemon shuts down (they stay pending
/// and run again on the next start).
async fn run_job(ctx: Arc<Context>, id: String) -> Result<(), ServiceError> {
    let job = ctx.store.bulk_job(&id).await?;
    let pending = ctx.store.bulk_items(&id, true).await?;
    let mut shutdown = Box::pin(ctx.shutting_down());
    if job.mode.starts_with(QUERY_MODE) {
        if let Some(item) = pending.first() {
            let asked = PbBulkQuery::decode(item.request.as_slice()).unwrap_or_default();
            let answers = match (validate_query(&asked), parse_date(&job.confirmation_date)) {
                (Ok(query), Ok(date)) => {
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        a = ctx.upstream.bulk_query(&query, date) => a.map_err(ServiceError::from),
                    }
                }
                (Err(e), _) => Err(e),
                (_, Err(e)) => Err(ServiceError::field("confirmation_date", e)),
            };
            match answers {
                Ok(people) => answered(&ctx, &id, people).await?,
                Err(e) => settle(&ctx, &id, item.idx, Outcome::Failed(e)).await?,
            }
        }
    } else if job.mode == "bulk_upload" {
        let mut checks = Vec::new();
        for item in &pending {
            let parsed = BulkCheckItem::decode(item.request.as_slice()).unwrap_or_default();
            match resolve(&ctx, &parsed, &job.confirmation_date).await {
                Ok(c) => checks.push((item.idx, c)),
                Err(outcome) => settle(&ctx, &id, item.idx, outcome).await?,
            }
        }
        let list: Vec<NumbersCheck> = checks.iter().map(|(_, c)| c.clone()).collect();
        let answers = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            a = ctx.upstream.bulk_check(&list) => a,
        };
        for (n, (idx, _)) in checks.iter().enumerate() {
            let outcome = match &answers {
                Ok(all) => match all.get(n) {
                    Some(Ok(r)) => Outcome::Checked(Box::new(r.clone())),
                    Some(Err(e)) => Outcome::Failed(e.clone().into()),
                    None => Outcome::Failed(
                        UpstreamError::Unavailable("the bulk answer is missing this item".into())
                            .into(),
                    ),
                },
                Err(e) => Outcome::Failed(e.clone().into()),
            };
            settle(&ctx, &id, *idx, outcome).await?;
        }
    } else {
        let queue = Arc::new(Mutex::new(VecDeque::from(pending)));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..job.concurrency.max(1) {
            let (ctx, queue, id, date) = (
                ctx.clone(),
                queue.clone(),
                id.clone(),
                job.confirmation_date.clone(),
            );
            workers.spawn(async move {
                let shutdown = ctx.shutting_down();
                tokio::pin!(shutdown);
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(item) = next else { return Ok(()) };
                    let parsed = BulkCheckItem::decode(item.request.as_slice()).unwrap_or_default();
                    let work = async {
                        match resolve(&ctx, &parsed, &date).await {
                            Ok(check) => check_one(&ctx, &check).await,
                            Err(outcome) => outcome,
                        }
                    };
                    let outcome = tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        o = work => o,
                    };
                    settle(&ctx, &id, item.idx, outcome).await?;
                }
            });
        }
        let mut first_error: Option<StoreError> = None;
        while let Some(done) = workers.join_next().await {
            if let Ok(Err(e)) = done {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        if *ctx.shutdown.borrow() {
            return Ok(());
        }
    }
    let counts = ctx.store.bulk_counts(&id).await?;
    if counts.pending == 0 {
        ctx.store
            .write(vec![WriteOp::FinishBulkJob {
                id: id.clone(),
                finished_at: clock::rfc3339(clock::now()),
            }])
            .await?;
        ctx.bulk.bump();
        let entry = Entry {
            operation: "BulkCheckFinished",
            method: if job.mode.starts_with(QUERY_MODE) {
                "query"
            } else {
                "insurance_numbers"
            },
            detail: format!(
                "checked={} failed={} invalid={}",
                counts.checked, counts.failed, counts.invalid
            ),
            subject: id.clone(),
            person: String::new(),
        };
        audit::finish(&ctx, &Caller::daemon(), entry, Ok(()))
            .await
            .map_err(|s| ServiceError::Store(StoreError::Conflict(s.message().to_owned())))?;
    }
    Ok(())
}

/// Stores everyone a query answered as the job's items, each settled: its 照会番号 (when OQS
/// has one) is the item's key.
async fn answered(
    ctx: &Context,
    id: &str,
    people: Vec<Result<QualificationResult, UpstreamError>>,
) -> Result<(), StoreError> {
    let items = people
        .into_iter()
        .enumerate()
        .map(|(idx, answer)| {
            let key = answer
                .as_ref()
                .map(|r| r.reference_number.chars().take(64).collect())
                .unwrap_or_default();
            let outcome = match answer {
                Ok(r) => Outcome::Checked(Box::new(r)),
                Err(e) => Outcome::Failed(e.into()),
            };
            let o = outcome_record(id, idx as u32, outcome);
            BulkItemRecord {
                job_id: id.to_owned(),
                idx: idx as u32,
                key,
                request: Vec::new(),
                state: o.state.to_owned(),
                result: o.result,
                error_reason: o.error_reason,
                error_message: o.error_message,
                finished_at: Some(o.finished_at),
            }
        })
        .collect();
    ctx.store
        .write(vec![WriteOp::ReplaceBulkItems {
            job_id: id.to_owned(),
            items,
        }])
        .await?;
    ctx.bulk.bump();
    Ok(())
}

pub fn spawn_job(ctx: Arc<Context>, id: String) {
    tokio::spawn(async move {
        let _running = ctx.metrics.bulk_job_started();
        if let Err(e) = run_job(ctx.clone(), id.clone()).await {
            tracing::error!(job = %id, error = %e, "bulk check stopped; it resumes on the next start");
        }
    });
}

/// Resumes the jobs a previous run left unfinished.
pub fn resume_unfinished(ctx: Arc<Context>) {
    tokio::spawn(async move {
        match ctx.store.bulk_jobs(true).await {
            Ok(jobs) => {
                for job in jobs {
                    tracing::info!(job = %job.id, "resuming bulk check");
                    spawn_job(ctx.clone(), job.id);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list unfinished bulk checks"),
        }
    });
}

/// Stores a new query job (医療扶助, 訪問診療, オンライン診療): one pending item, the query,
/// replaced by the people OQS answers once it has. Runs once `spawn_job` is called.
pub async fn create_query(
    ctx: &Context,
    id: &str,
    label: String,
    date: String,
    asked: &PbBulkQuery,
    query: &BulkQuery,
) -> Result<BulkCheckJob, ServiceError> {
    let now = clock::rfc3339(clock::now());
    let job = BulkJobRecord {
        id: id.to_owned(),
        label,
        state: "running".into(),
        mode: query_mode(query),
        concurrency: 1,
        confirmation_date: date,
        created_at: now,
        finished_at: None,
        total: 1,
    };
    let item = BulkItemRecord {
        job_id: id.to_owned(),
        idx: 0,
        key: String::new(),
        request: asked.encode_to_vec(),
        state: "pending".into(),
        result: None,
        error_reason: String::new(),
        error_message: String::new(),
        finished_at: None,
    };
    ctx.store
        .write(vec![WriteOp::InsertBulkJob {
            job: job.clone(),
            items: vec![item],
        }])
        .await?;
    let counts = ctx.store.bulk_counts(id).await?;
    Ok(job_pb(&job, counts))
}

/// Stores a new job with its items: numbers are checked now, so a bad row is reported at once and
/// never sent; patient numbers are resolved when the item runs. The job runs once `spawn_job`
/// is called, after the caller has audited the start.
pub async fn create(
    ctx: &Context,
    id: &str,
    label: String,
    date: String,
    requested: &[BulkCheckItem],
) -> Result<BulkCheckJob, ServiceError> {
    let bulk_upload = ctx.upstream.supports_bulk();
    let now = clock::rfc3339(clock::now());
    let job = BulkJobRecord {
        id: id.to_owned(),
        label,
        state: "running".into(),
        mode: if bulk_upload {
            "bulk_upload"
        } else {
            "per_patient"
        }
        .into(),
        concurrency: ctx.bulk.concurrency,
        confirmation_date: date.clone(),
        created_at: now.clone(),
        finished_at: None,
        total: requested.len() as u32,
    };
    let items = requested
        .iter()
        .enumerate()
        .map(|(idx, item)| {
            let invalid = match &item.target {
                Some(Target::Numbers(n)) => {
                    let mut n = n.clone();
                    n.confirmation_date = date.clone();
                    validate_numbers(&n).err()
                }
                Some(Target::PatientNumber(p)) => PatientNumber::parse(p)
                    .err()
                    .map(|e| ServiceError::field("patient_number", e)),
                None => Some(ServiceError::field(
                    "target",
                    ValueError::Rule("give insurance numbers or a patient number".into()),
                )),
            };
            let base = BulkItemRecord {
                job_id: id.to_owned(),
                idx: idx as u32,
                key: item.key.trim().to_owned(),
                request: item.encode_to_vec(),
                state: "pending".into(),
                result: None,
                error_reason: String::new(),
                error_message: String::new(),
                finished_at: None,
            };
            match invalid {
                None => base,
                Some(e) => BulkItemRecord {
                    state: "invalid".into(),
                    error_reason: e.reason().to_owned(),
                    error_message: e.to_string(),
                    finished_at: Some(now.clone()),
                    ..base
                },
            }
        })
        .collect();
    ctx.store
        .write(vec![WriteOp::InsertBulkJob {
            job: job.clone(),
            items,
        }])
        .await?;
    let counts = ctx.store.bulk_counts(id).await?;
    Ok(job_pb(&job, counts))
}

/// Streams a job's progress: now, then at most every `PROGRESS_EVERY` as items settle, until it
/// is done, the client goes away or the daemon shuts down.
pub fn watch(
    ctx: Arc<Context>,
    id: String,
) -> ReceiverStream<Result<WatchBulkCheckResponse, ServiceError>> {
    let mut settled = ctx.bulk.settled.subscribe();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let shutdown = ctx.shutting_down();
        tokio::pin!(shutdown);
        let mut last: Option<BulkCheckJob> = None;
        loop {
            settled.borrow_and_update();
            let job = match job_of(&ctx, &id).await {
                Ok(j) => j,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let done = job.state() == BulkCheckState::Done;
            let finished = job.checked + job.failed + job.invalid;
            // The last item settles in one commit and the job is marked done in the next: the
            // watcher waits for the second, so every update it sends advances.
            let between = !done && finished == job.total;
            if last.as_ref() != Some(&job) && !between {
                let progress = WatchBulkCheckResponse {
                    finished,
                    job: Some(job.clone()),
                };
                tokio::select! {
                    _ = &mut shutdown => return,
                    sent = tx.send(Ok(progress)) => if sent.is_err() { return },
                }
                last = Some(job);
            }
            if done {
                return;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tx.closed() => return,
                changed = settled.changed() => if changed.is_err() { return },
            }
            // Coalesce a burst of settled items into one update.
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(PROGRESS_EVERY) => {}
            }
        }
    });
    ReceiverStream::new(rx)
}
