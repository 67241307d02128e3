//! Retention: personal data is deleted once its period is over (APPI; 医療情報システムの安全管理に
//! 関するガイドライン). Reception entries and bulk checks hold names, kana, birth dates and
//! insurance numbers; they go. Audit lines stay: they hold keyed hashes, never the person.
//! Patient links are the facility's current register, not history (an unlinked link is deleted
//! at once), so they have no period.
//!
//! Connections run with `secure_delete`, so a purged row's bytes are zeroed in the database
//! file; a truncating checkpoint afterwards empties the WAL, which still held old copies.

use rusqlite::{Transaction, params};

use crate::{Store, StoreError, WriteOp};

/// What to purge: everything dated strictly before these days (YYYY-MM-DD, Japan time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff {
    /// Reception entries of a 受付日 before this day.
    pub receptions_before: String,
    /// Bulk checks (jobs, their items and results) finished before this day; running ones stay.
    pub bulk_before: String,
}

impl Cutoff {
    /// The same day for every kind of record, as `shikaku purge --before DATE` gives it.
    pub fn all(before: &str) -> Self {
        Self {
            receptions_before: before.to_owned(),
            bulk_before: before.to_owned(),
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        for day in [&self.receptions_before, &self.bulk_before] {
            if !is_day(day) {
                return Err(StoreError::BadCutoff(day.clone()));
            }
        }
        Ok(())
    }
}

/// Whether `text` is a plausible YYYY-MM-DD: four digits, month 01–12, day 01–31.
fn is_day(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) {
        return false;
    }
    if !digits(8..10) {
        return false;
    }
    let number = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    (1..=12).contains(&number(5)) && (1..=31).contains(&number(8))
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeReport {
    pub reception_entries: u64,
    pub bulk_jobs: u64,
    pub bulk_items: u64,
    /// Whether the WAL was emptied afterwards; false when a reader held it (the next
    /// checkpoint overwrites it then).
    pub wal_emptied: bool,
}

/// Deletes in the writer's transaction; yields the three counts in `PurgeReport` order.
pub(crate) fn purge(tx: &Transaction<'_>, cutoff: &Cutoff) -> Result<Vec<i64>, StoreError> {
    let receptions = tx
        .prepare_cached("DELETE FROM receptions WHERE day < ?1")?
        .execute(params![cutoff.receptions_before])?;
    // A job's `finished_at` is RFC 3339; "2026-11-21T…" sorts after "2026-11-21", so `<` keeps
    // every job finished on the cut-off day itself.
    let old_jobs = "SELECT id FROM bulk_jobs WHERE state = 'done' AND finished_at < ?1";
    let items = tx
        .prepare_cached(&format!(
            "DELETE FROM bulk_items WHERE job_id IN ({old_jobs})"
        ))?
        .execute(params![cutoff.bulk_before])?;
    let jobs = tx
        .prepare_cached("DELETE FROM bulk_jobs WHERE state = 'done' AND finished_at < ?1")?
        .execute(params![cutoff.bulk_before])?;
    Ok(vec![receptions as i64, jobs as i64, items as i64])
}

impl Store {
    /// Deletes reception entries and finished bulk checks older than `cutoff`, then empties the
    /// WAL. Safe while the daemon serves: it runs on the writer like any other change.
    pub async fn purge(&self, cutoff: Cutoff) -> Result<PurgeReport, StoreError> {
        cutoff.check()?;
        let counts = self.write_yielding(vec![WriteOp::Purge(cutoff)]).await?;
        let count = |i: usize| counts.get(i).copied().unwrap_or_default() as u64;
        Ok(PurgeReport {
            reception_entries: count(0),
            bulk_jobs: count(1),
            bulk_items: count(2),
            wal_emptied: self.checkpoint_truncate().await?,
        })
    }

    /// Copies the WAL into the database file and truncates it to nothing; answers false when
    /// another connection's reader kept it from finishing.
    pub async fn checkpoint_truncate(&self) -> Result<bool, StoreError> {
        self.read(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map(|busy| busy == 0)
    }

    /// Rebuilds the database file without its free pages, giving the space back to the disk.
    /// It writes a copy of the whole database, so it takes as long and needs as much free space,
    /// and holds the write lock meanwhile: other connections' writes give up after 5 s.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        self.read(|c| c.execute_batch("VACUUM")).await?;
        self.checkpoint_truncate().await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::is_day;

    #[test]
    fn cut_off_days_are_yyyy_mm_dd() {
        assert!(is_day("2026-11-21"));
        for bad in [
            "2026-13-01",
            "2026-00-10",
            "2026-11-32",
            "26-11-21",
            "2026/11/21",
            "2026-1-210",
            "",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }
}
