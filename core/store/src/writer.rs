//! The writer thread: group commit of everything queued, then one answer per caller.

use std::time::{Duration, Instant};

use rusqlite::{Connection, Row, Statement, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use crate::bulk::{BulkItemOutcome, BulkItemRecord, BulkJobRecord};
use crate::checkpointer::{COMMITS_PER_CHECKPOINT, Checkpointer};
use crate::reception::{Decision, LinkRecord, ReceptionRecord};
use crate::{ActivationRecord, AuditRecord, Record, StoreError};

/// One change to the store.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Audit(AuditRecord),
    InsertActivation(ActivationRecord),
    /// Moves a pending record to "redeemed" or "revoked"; fails if it is not pending.
    SettleActivation {
        id: String,
        state: &'static str,
        at: String,
        device_id: Option<String>,
    },
    /// Appends a reception entry with the next 受付番号 of its facility and day; yields the number.
    AppendReception(ReceptionRecord),
    /// Accepts or rejects a pending entry; `Conflict` if it is decided already.
    DecideReception(Decision),
    /// Links a patient number to a person's insurance; yields 1 if new, 0 if it existed already,
    /// `LinkedToOther` if the insurance is linked to another patient number.
    InsertLink(LinkRecord),
    /// Removes a patient number's links (or one of them); yields how many, `NotFound` for none.
    RemoveLinks {
        facility: String,
        patient_number: String,
        id: Option<String>,
    },
    /// Stores a bulk job and all its items.
    InsertBulkJob {
        job: BulkJobRecord,
        items: Vec<BulkItemRecord>,
    },
    /// Records one item's outcome.
    SettleBulkItem(BulkItemOutcome),
    /// Replaces a job's items (a query job's one pending query by the people OQS answered) and
    /// sets its total to match.
    ReplaceBulkItems {
        job_id: String,
        items: Vec<BulkItemRecord>,
    },
    /// Marks a job done.
    FinishBulkJob {
        id: String,
        finished_at: String,
    },
    /// Deletes what is older than the cut-off; yields how many reception entries, bulk jobs
    /// and bulk items.
    Purge(crate::Cutoff),
}

pub(crate) struct Batch {
    pub ops: Vec<WriteOp>,
    /// Answered with the values the ops yield (see `WriteOp`), in order.
    pub done: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

/// How many callers one transaction may serve; bounds latency under a flood.
const MAX_GROUP: usize = 1024;
/// Under load, a commit waits for company until about this many callers share it. Each commit
/// costs about 250 µs of CPU on a small VM (an fsync is two trips to the disk), so at 20k checks/s
/// groups of 20 spend 12 µs per check on commits and groups of 32 spend 8. Bigger groups
/// would need longer waits than a client with 64 calls in flight at 20k/s can absorb.
const TARGET_GROUP: usize = 32;
/// The longest a commit waits for company: the latency a caller may pay for sharing.
const MAX_WINDOW: Duration = Duration::from_micros(1000);

pub(crate) fn spawn(conn: Connection, checkpointer: Checkpointer) -> mpsc::Sender<Batch> {
    let (tx, rx) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("shikaku-store-writer".into())
        .spawn(move || run(conn, rx, &checkpointer))
        .expect("spawn the store writer thread");
    tx
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Batch>, checkpointer: &Checkpointer) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut arrivals = ArrivalRate::default();
    let mut commits = 0;
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        drain(&mut rx, &mut group);
        if let Some(window) = arrivals.window_for(group.len()) {
            wait_for_company(&mut rx, &mut group, window);
        }
        arrivals.record(group.len());
        commit_group(&mut conn, &mut group);
        commits += 1;
        if commits == COMMITS_PER_CHECKPOINT {
            checkpointer.nudge();
            commits = 0;
        }
    }
}

/// Sleeps through `window` in two halves and takes in whoever came. If nobody came in the first
/// half, the rest are all waiting on this commit (a client with a fixed number of calls in
/// flight, or a lull): waiting longer would only delay them.
fn wait_for_company(rx: &mut mpsc::Receiver<Batch>, group: &mut Vec<Batch>, window: Duration) {
    let before = group.len();
    std::thread::sleep(window / 2);
    drain(rx, group);
    if group.len() > before {
        std::thread::sleep(window / 2);
        drain(rx, group);
    }
}

/// How fast writes arrive, from the commits so far.
#[derive(Default)]
struct ArrivalRate {
    /// Writes per second, smoothed over the last few commits.
    per_second: f64,
    last_commit: Option<Instant>,
    last_group: usize,
}

impl ArrivalRate {
    /// How long a group of `len` should wait for company, if at all. A lone write at a quiet
    /// facility never waits, nor does a group that is big enough or whose company would be
    /// less than two more callers.
    fn window_for(&self, len: usize) -> Option<Duration> {
        if self.last_group <= 1 || len >= TARGET_GROUP || self.per_second <= 0.0 {
            return None;
        }
        let missing = (TARGET_GROUP - len) as f64;
        let window = Duration::from_secs_f64(missing / self.per_second).min(MAX_WINDOW);
        (window.as_secs_f64() * self.per_second >= 2.0).then_some(window)
    }

    fn record(&mut self, group: usize) {
        let now = Instant::now();
        if let Some(last) = self.last_commit {
            let seconds = now.duration_since(last).as_secs_f64().max(1e-6);
            self.per_second = 0.5 * self.per_second + 0.5 * group as f64 / seconds;
        }
        self.last_commit = Some(now);
        self.last_group = group;
    }
}

fn drain(rx: &mut mpsc::Receiver<Batch>, group: &mut Vec<Batch>) {
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(b) => group.push(b),
            Err(_) => break,
        }
    }
}

fn commit_group(conn: &mut Connection, group: &mut Vec<Batch>) {
    // IMMEDIATE takes the write lock first, waiting (busy timeout) for another connection that
    // holds it: a truncating checkpoint after a purge, or `shikaku purge` in another process.
    // A deferred transaction that read first would instead fail at once with SQLITE_BUSY when
    // it came to write.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(group, &e),
    };
    // Each caller's ops run under a savepoint so one caller's failure leaves the others intact.
    // Most callers bring one audit line: their statement is looked up once per group.
    let mut results = Vec::with_capacity(group.len());
    let mut audit = match tx.prepare_cached(AUDIT_INSERT) {
        Ok(statement) => statement,
        Err(e) => return fail_all(group, &e),
    };
    for batch in group.iter() {
        results.push(match batch.ops.as_slice() {
            [WriteOp::Audit(a)] => insert_audit(&mut audit, a).map(|()| Vec::new()),
            ops => apply(&tx, ops),
        });
    }
    drop(audit);
    if let Err(e) = tx.commit() {
        return fail_all(group, &e);
    }
    for (batch, result) in group.drain(..).zip(results) {
        let _ = batch.done.send(result);
    }
}

fn fail_all(group: &mut Vec<Batch>, e: &rusqlite::Error) {
    tracing::error!(error = %e, "store commit failed");
    for batch in group.drain(..) {
        let _ = batch
            .done
            .send(Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(e.to_string()),
            ))));
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, ops: &[WriteOp]) -> Result<Vec<i64>, StoreError> {
    // One statement is atomic by itself; only a caller with several needs a savepoint. This is
    // the hot path (one audit line per check), so statements are cached, not re-parsed.
    if let [op] = ops
        && op.is_one_statement()
    {
        return Ok(apply_one(tx, op)?.into_iter().collect());
    }
    tx.prepare_cached("SAVEPOINT caller")?.execute([])?;
    let mut yields = Vec::new();
    let result = ops
        .iter()
        .try_for_each(|op| apply_op(tx, op, &mut yields))
        .map(|()| yields);
    if result.is_err() {
        tx.prepare_cached("ROLLBACK TO caller")?.execute([])?;
    }
    tx.prepare_cached("RELEASE caller")?.execute([])?;
    result
}

impl WriteOp {
    /// Whether the op is a single statement, atomic without a savepoint.
    fn is_one_statement(&self) -> bool {
        matches!(
            self,
            Self::Audit(_)
                | Self::InsertActivation(_)
                | Self::SettleActivation { .. }
                | Self::SettleBulkItem(_)
                | Self::FinishBulkJob { .. }
        )
    }
}

/// Applies one op under its caller's savepoint, adding what it yields.
fn apply_op(
    tx: &rusqlite::Transaction<'_>,
    op: &WriteOp,
    yields: &mut Vec<i64>,
) -> Result<(), StoreError> {
    match op {
        // The one op that yields several values: its three counts.
        WriteOp::Purge(cutoff) => yields.extend(crate::retention::purge(tx, cutoff)?),
        op => yields.extend(apply_one(tx, op)?),
    }
    Ok(())
}

fn apply_one(tx: &rusqlite::Transaction<'_>, op: &WriteOp) -> Result<Option<i64>, StoreError> {
    match op {
        WriteOp::AppendReception(r) => return crate::reception::append(tx, r).map(Some),
        WriteOp::DecideReception(d) => crate::reception::decide(tx, d)?,
        WriteOp::InsertLink(l) => return crate::reception::insert_link(tx, l).map(Some),
        WriteOp::RemoveLinks {
            facility,
            patient_number,
            id,
        } => {
            return crate::reception::remove_links(tx, facility, patient_number, id.as_deref())
                .map(Some);
        }
        WriteOp::InsertBulkJob { job, items } => crate::bulk::insert_job(tx, job, items)?,
        WriteOp::SettleBulkItem(o) => crate::bulk::settle_item(tx, o)?,
        WriteOp::ReplaceBulkItems { job_id, items } => {
            crate::bulk::replace_items(tx, job_id, items)?
        }
        WriteOp::FinishBulkJob { id, finished_at } => crate::bulk::finish_job(tx, id, finished_at)?,
        WriteOp::Purge(_) => unreachable!("apply_op runs purges"),
        WriteOp::Audit(a) => {
            let mut statement = tx.prepare_cached(AUDIT_INSERT)?;
            insert_audit(&mut statement, a)?;
        }
        WriteOp::InsertActivation(r) => {
            tx.prepare_cached(
                "INSERT INTO activation_codes
                 (id, device_memo, state, issued_at, usable_from, redeemed_at, revoked_at, device_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                r.id,
                r.device_memo,
                r.state,
                r.issued_at,
                r.usable_from,
                r.redeemed_at,
                r.revoked_at,
                r.device_id
            ])?;
        }
        WriteOp::SettleActivation {
            id,
            state,
            at,
            device_id,
        } => {
            let column = if *state == "redeemed" {
                "redeemed_at"
            } else {
                "revoked_at"
            };
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE activation_codes SET state = ?2, {column} = ?3, device_id = COALESCE(?4, device_id)
                     WHERE id = ?1 AND state = 'pending'"
                ))?
                .execute(params![id, state, at, device_id])?;
            if n == 0 {
                return Err(StoreError::not_found(Record::ActivationCode, id.clone()));
            }
        }
    }
    Ok(None)
}

const AUDIT_INSERT: &str = "INSERT INTO audit
    (at, operation, method, terminal, operator, peer, outcome, detail, subject, client, role, person)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

fn insert_audit(statement: &mut Statement<'_>, a: &AuditRecord) -> Result<(), StoreError> {
    statement.execute(params![
        a.at,
        a.operation,
        a.method,
        a.terminal,
        a.operator,
        a.peer,
        a.outcome,
        a.detail,
        a.subject,
        a.client,
        a.role,
        a.person
    ])?;
    Ok(())
}

pub(crate) fn activation_from_row(r: &Row<'_>) -> rusqlite::Result<ActivationRecord> {
    Ok(ActivationRecord {
        id: r.get(0)?,
        device_memo: r.get(1)?,
        state: r.get(2)?,
        issued_at: r.get(3)?,
        usable_from: r.get(4)?,
        redeemed_at: r.get(5)?,
        revoked_at: r.get(6)?,
        device_id: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{ArrivalRate, MAX_WINDOW, TARGET_GROUP};
    use crate::{AuditRecord, Durability, Store};

    fn rate(per_second: f64, last_group: usize) -> ArrivalRate {
        ArrivalRate {
            per_second,
            last_commit: Some(Instant::now()),
            last_group,
        }
    }

    #[test]
    fn a_commit_waits_for_company_only_when_company_is_coming() {
        // A quiet facility: the last commit was alone.
        assert_eq!(rate(5.0, 1).window_for(1), None);
        // Busy, but the group is big enough already.
        assert_eq!(rate(20_000.0, 30).window_for(TARGET_GROUP), None);
        // Busy but slow: less than two more callers expected within the longest window.
        assert_eq!(rate(1_500.0, 2).window_for(2), None);
        // 20k writes/s and 12 waiting: about 1 ms to fill the group.
        let window = rate(20_000.0, 30).window_for(12).unwrap();
        assert!(
            window <= MAX_WINDOW && window >= Duration::from_micros(900),
            "{window:?}"
        );
        // A steady trickle never waits longer than the longest window.
        assert_eq!(rate(4_000.0, 4).window_for(2), Some(MAX_WINDOW));
    }

    fn record(i: usize) -> AuditRecord {
        AuditRecord {
            at: format!("2026-11-21T09:00:{:02}+09:00", i % 60),
            operation: "CheckByInsuranceNumbers".into(),
            method: "insurance_numbers".into(),
            terminal: "recept-1".into(),
            operator: String::new(),
            peer: "127.0.0.1:1".into(),
            outcome: "ok".into(),
            detail: "1".into(),
            subject: format!("chk-{i}"),
            client: "reception-1".into(),
            role: "reception".into(),
            person: String::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_committed_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let store = Store::open(&path, Durability::Full).unwrap();
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let s = store.clone();
                    tokio::spawn(async move { s.audit(record(i)).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
        let store = Store::open(&path, Durability::Full).unwrap();
        assert_eq!(store.audit_records(1000).await.unwrap().len(), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_the_wal_into_the_database_file_as_commits_go_by() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = Store::open(&path, Durability::Full).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        // One commit each, far below the writer's own checkpoint threshold.
        for i in 0..2 * crate::checkpointer::COMMITS_PER_CHECKPOINT as usize {
            store.audit(record(i)).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while size() == before {
            assert!(Instant::now() < deadline, "no checkpoint after 200 commits");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.audit_records(1000).await.unwrap().len(), 200);
    }
}
