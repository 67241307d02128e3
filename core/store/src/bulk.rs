//! Bulk checks (一括照会): a job and its items, each item's input and outcome kept so results can be
//! fetched later and an interrupted job can resume after a restart.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::rows::{Rows, clamp};
use crate::{Record, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkJobRecord {
    pub id: String,
    pub label: String,
    /// "running" or "done".
    pub state: String,
    /// "per_patient" or "bulk_upload".
    pub mode: String,
    pub concurrency: u32,
    pub confirmation_date: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub total: u32,
}

/// One item; `request` and `result` are the daemon's encoded messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItemRecord {
    pub job_id: String,
    pub idx: u32,
    pub key: String,
    pub request: Vec<u8>,
    /// "pending", "checked", "failed" or "invalid".
    pub state: String,
    pub result: Option<Vec<u8>>,
    pub error_reason: String,
    pub error_message: String,
    pub finished_at: Option<String>,
}

/// How one item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItemOutcome {
    pub job_id: String,
    pub idx: u32,
    /// "checked", "failed" or "invalid".
    pub state: &'static str,
    pub result: Option<Vec<u8>>,
    pub error_reason: String,
    pub error_message: String,
    pub finished_at: String,
}

/// Items of a job by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkCounts {
    pub pending: u32,
    pub checked: u32,
    pub failed: u32,
    pub invalid: u32,
}

pub(crate) fn insert_job(
    tx: &Transaction<'_>,
    job: &BulkJobRecord,
    items: &[BulkItemRecord],
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO bulk_jobs (id, label, state, mode, concurrency, confirmation_date, created_at,
             finished_at, total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        job.id,
        job.label,
        job.state,
        job.mode,
        job.concurrency,
        job.confirmation_date,
        job.created_at,
        job.finished_at,
        job.total
    ])?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO bulk_items (job_id, idx, key, request, state, result, error_reason,
             error_message, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for i in items {
        stmt.execute(params![
            i.job_id,
            i.idx,
            i.key,
            i.request,
            i.state,
            i.result,
            i.error_reason,
            i.error_message,
            i.finished_at
        ])?;
    }
    Ok(())
}

pub(crate) fn settle_item(tx: &Transaction<'_>, o: &BulkItemOutcome) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE bulk_items SET state = ?3, result = ?4, error_reason = ?5, error_message = ?6,
             finished_at = ?7
         WHERE job_id = ?1 AND idx = ?2",
    )?
    .execute(params![
        o.job_id,
        o.idx,
        o.state,
        o.result,
        o.error_reason,
        o.error_message,
        o.finished_at
    ])?;
    Ok(())
}

pub(crate) fn replace_items(
    tx: &Transaction<'_>,
    job_id: &str,
    items: &[BulkItemRecord],
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM bulk_items WHERE job_id = ?1")?
        .execute(params![job_id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO bulk_items (job_id, idx, key, request, state, result, error_reason,
             error_message, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for i in items {
        stmt.execute(params![
            job_id,
            i.idx,
            i.key,
            i.request,
            i.state,
            i.result,
            i.error_reason,
            i.error_message,
            i.finished_at
        ])?;
    }
    tx.prepare_cached("UPDATE bulk_jobs SET total = ?2 WHERE id = ?1")?
        .execute(params![job_id, items.len() as u32])?;
    Ok(())
}

pub(crate) fn finish_job(tx: &Transaction<'_>, id: &str, at: &str) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE bulk_jobs SET state = 'done', finished_at = ?2 WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

const JOB_COLUMNS: &str =
    "id, label, state, mode, concurrency, confirmation_date, created_at, finished_at, total";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<BulkJobRecord> {
    Ok(BulkJobRecord {
        id: r.get(0)?,
        label: r.get(1)?,
        state: r.get(2)?,
        mode: r.get(3)?,
        concurrency: r.get(4)?,
        confirmation_date: r.get(5)?,
        created_at: r.get(6)?,
        finished_at: r.get(7)?,
        total: r.get(8)?,
    })
}

fn item_from_row(r: &Row<'_>) -> rusqlite::Result<BulkItemRecord> {
    Ok(BulkItemRecord {
        job_id: r.get(0)?,
        idx: r.get(1)?,
        key: r.get(2)?,
        request: r.get(3)?,
        state: r.get(4)?,
        result: r.get(5)?,
        error_reason: r.get(6)?,
        error_message: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

impl Store {
    pub async fn bulk_job(&self, id: &str) -> Result<BulkJobRecord, StoreError> {
        let key = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM bulk_jobs WHERE id = ?1"
            ))?
            .query_row(params![key], job_from_row)
            .optional()
        })
        .await?
        .ok_or_else(|| StoreError::not_found(Record::BulkJob, id))
    }

    /// Jobs newest first; only running ones when `running_only`.
    pub async fn bulk_jobs(&self, running_only: bool) -> Result<Vec<BulkJobRecord>, StoreError> {
        self.bulk_job_rows(running_only, Rows::ALL).await
    }

    /// Jobs newest first, skipping `rows.skip` and at most `rows.limit` (`rows.after` unused).
    pub async fn bulk_job_rows(
        &self,
        running_only: bool,
        rows: Rows,
    ) -> Result<Vec<BulkJobRecord>, StoreError> {
        let (limit, skip) = (clamp(rows.limit), clamp(rows.skip));
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM bulk_jobs WHERE (?1 = 0 OR state = 'running')
                 ORDER BY created_at DESC, id LIMIT ?2 OFFSET ?3"
            ))?
            .query_map(params![running_only, limit, skip], job_from_row)?
            .collect()
        })
        .await
    }

    pub async fn bulk_counts(&self, id: &str) -> Result<BulkCounts, StoreError> {
        let key = id.to_owned();
        self.read(move |c| {
            let mut counts = BulkCounts::default();
            let mut stmt = c.prepare_cached(
                "SELECT state, COUNT(*) FROM bulk_items WHERE job_id = ?1 GROUP BY state",
            )?;
            let rows = stmt.query_map(params![key], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
            })?;
            for row in rows {
                let (state, n) = row?;
                match state.as_str() {
                    "pending" => counts.pending = n,
                    "checked" => counts.checked = n,
                    "failed" => counts.failed = n,
                    _ => counts.invalid = n,
                }
            }
            Ok(counts)
        })
        .await
    }

    /// A job's items in order; only pending ones when `pending_only`.
    pub async fn bulk_items(
        &self,
        id: &str,
        pending_only: bool,
    ) -> Result<Vec<BulkItemRecord>, StoreError> {
        self.bulk_item_rows(id, pending_only, Rows::ALL).await
    }

    /// A job's items in order: those with an index above `rows.after`, skipping `rows.skip`, at
    /// most `rows.limit`, so a page of a 10,000-patient job's results reads only that page.
    pub async fn bulk_item_rows(
        &self,
        id: &str,
        pending_only: bool,
        rows: Rows,
    ) -> Result<Vec<BulkItemRecord>, StoreError> {
        let key = id.to_owned();
        let (limit, skip) = (clamp(rows.limit), clamp(rows.skip));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT job_id, idx, key, request, state, result, error_reason, error_message,
                     finished_at
                 FROM bulk_items WHERE job_id = ?1 AND (?2 = 0 OR state = 'pending') AND idx > ?3
                 ORDER BY idx LIMIT ?4 OFFSET ?5",
            )?
            .query_map(
                params![key, pending_only, rows.after, limit, skip],
                item_from_row,
            )?
            .collect()
        })
        .await
    }
}
