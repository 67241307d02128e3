//! The reception list (受付) and patient links (患者番号の紐付け).
//!
//! 受付番号 are assigned here, on the writer thread, inside the committing transaction: numbers
//! follow commit order, so a reader that sees number n also sees every number below it.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::rows::{Rows, clamp};
use crate::{Record, Store, StoreError};

/// A person as a link records them. `kana_key` is the normalised kana the candidates search uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonRecord {
    pub insurer_number: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
    pub name: String,
    pub name_kana: String,
    pub kana_key: String,
    pub birth_date: String,
    /// The OQS 性別 code: "1", "2", "3".
    pub sex: String,
}

/// One patient number linked to one person's insurance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub id: String,
    pub facility: String,
    pub patient_number: String,
    pub person: PersonRecord,
    pub linked_at: String,
    pub linked_by: String,
}

/// One reception entry. `payload` is the daemon's encoded entry; the columns are what changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptionRecord {
    pub facility: String,
    /// 受付日, YYYY-MM-DD.
    pub day: String,
    /// 受付番号; 0 on append (the writer assigns it).
    pub seq: i64,
    pub received_at: String,
    pub patient_number: String,
    /// "pending", "accepted" or "rejected".
    pub status: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub reject_reason: Option<String>,
    pub payload: Vec<u8>,
}

/// A clerk's (or automatic mode's) decision on a pending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub facility: String,
    pub day: String,
    pub seq: i64,
    /// "accepted" or "rejected".
    pub status: &'static str,
    pub at: String,
    pub by: String,
    pub reject_reason: Option<String>,
    /// The patient number the clerk confirmed, if any.
    pub patient_number: Option<String>,
}

pub(crate) fn append(tx: &Transaction<'_>, r: &ReceptionRecord) -> Result<i64, StoreError> {
    let seq: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM receptions WHERE facility = ?1 AND day = ?2",
        )?
        .query_row(params![r.facility, r.day], |row| row.get(0))?;
    tx.prepare_cached(
        "INSERT INTO receptions (facility, day, seq, received_at, patient_number, status,
             decided_at, decided_by, reject_reason, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        r.facility,
        r.day,
        seq,
        r.received_at,
        r.patient_number,
        r.status,
        r.decided_at,
        r.decided_by,
        r.reject_reason,
        r.payload
    ])?;
    Ok(seq)
}

pub(crate) fn decide(tx: &Transaction<'_>, d: &Decision) -> Result<(), StoreError> {
    let status: Option<String> = tx
        .prepare_cached(
            "SELECT status FROM receptions WHERE facility = ?1 AND day = ?2 AND seq = ?3",
        )?
        .query_row(params![d.facility, d.day, d.seq], |r| r.get(0))
        .optional()?;
    match status.as_deref() {
        None => {
            return Err(StoreError::not_found(
                Record::ReceptionEntry,
                format!("{}/{}", d.day, d.seq),
            ));
        }
        Some("pending") => {}
        Some(other) => return Err(StoreError::Conflict(other.to_owned())),
    }
    tx.prepare_cached(
        "UPDATE receptions SET status = ?4, decided_at = ?5, decided_by = ?6, reject_reason = ?7,
             patient_number = COALESCE(?8, patient_number)
         WHERE facility = ?1 AND day = ?2 AND seq = ?3",
    )?
    .execute(params![
        d.facility,
        d.day,
        d.seq,
        d.status,
        d.at,
        d.by,
        d.reject_reason,
        d.patient_number
    ])?;
    Ok(())
}

pub(crate) fn insert_link(tx: &Transaction<'_>, l: &LinkRecord) -> Result<i64, StoreError> {
    let p = &l.person;
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT patient_number FROM patient_links
             WHERE facility = ?1 AND insurer_number = ?2 AND symbol = ?3 AND number = ?4 AND branch = ?5",
        )?
        .query_row(
            params![l.facility, p.insurer_number, p.symbol, p.number, p.branch],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(n) if n == l.patient_number => return Ok(0),
        Some(other) => return Err(StoreError::LinkedToOther(other)),
        None => {}
    }
    tx.prepare_cached(
        "INSERT INTO patient_links (id, facility, patient_number, insurer_number, symbol, number,
             branch, name, name_kana, kana_key, birth_date, sex, linked_at, linked_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        l.id,
        l.facility,
        l.patient_number,
        p.insurer_number,
        p.symbol,
        p.number,
        p.branch,
        p.name,
        p.name_kana,
        p.kana_key,
        p.birth_date,
        p.sex,
        l.linked_at,
        l.linked_by
    ])?;
    Ok(1)
}

pub(crate) fn remove_links(
    tx: &Transaction<'_>,
    facility: &str,
    patient_number: &str,
    id: Option<&str>,
) -> Result<i64, StoreError> {
    let n = tx
        .prepare_cached(
            "DELETE FROM patient_links
             WHERE facility = ?1 AND patient_number = ?2 AND (?3 IS NULL OR id = ?3)",
        )?
        .execute(params![facility, patient_number, id])?;
    if n == 0 {
        return Err(StoreError::not_found(Record::PatientLink, patient_number));
    }
    Ok(n as i64)
}

const LINK_COLUMNS: &str = "id, facility, patient_number, insurer_number, symbol, number, branch,
    name, name_kana, kana_key, birth_date, sex, linked_at, linked_by";

fn link_from_row(r: &Row<'_>) -> rusqlite::Result<LinkRecord> {
    Ok(LinkRecord {
        id: r.get(0)?,
        facility: r.get(1)?,
        patient_number: r.get(2)?,
        person: PersonRecord {
            insurer_number: r.get(3)?,
            symbol: r.get(4)?,
            number: r.get(5)?,
            branch: r.get(6)?,
            name: r.get(7)?,
            name_kana: r.get(8)?,
            kana_key: r.get(9)?,
            birth_date: r.get(10)?,
            sex: r.get(11)?,
        },
        linked_at: r.get(12)?,
        linked_by: r.get(13)?,
    })
}

const RECEPTION_COLUMNS: &str = "facility, day, seq, received_at, patient_number, status,
    decided_at, decided_by, reject_reason, payload";

fn reception_from_row(r: &Row<'_>) -> rusqlite::Result<ReceptionRecord> {
    Ok(ReceptionRecord {
        facility: r.get(0)?,
        day: r.get(1)?,
        seq: r.get(2)?,
        received_at: r.get(3)?,
        patient_number: r.get(4)?,
        status: r.get(5)?,
        decided_at: r.get(6)?,
        decided_by: r.get(7)?,
        reject_reason: r.get(8)?,
        payload: r.get(9)?,
    })
}

impl Store {
    /// The link of exactly this insurance, if any.
    pub async fn link_by_insurance(
        &self,
        facility: &str,
        person: &PersonRecord,
    ) -> Result<Option<LinkRecord>, StoreError> {
        let (f, p) = (facility.to_owned(), person.clone());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM patient_links WHERE facility = ?1 AND insurer_number = ?2
                 AND symbol = ?3 AND number = ?4 AND branch = ?5"
            ))?
            .query_row(
                params![f, p.insurer_number, p.symbol, p.number, p.branch],
                link_from_row,
            )
            .optional()
        })
        .await
    }

    /// Links to people with the same kana name, birth date and sex (candidates for a person
    /// whose insurance changed), oldest first.
    pub async fn links_like(
        &self,
        facility: &str,
        kana_key: &str,
        birth_date: &str,
        sex: &str,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let args = (
            facility.to_owned(),
            kana_key.to_owned(),
            birth_date.to_owned(),
            sex.to_owned(),
        );
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM patient_links
                 WHERE facility = ?1 AND kana_key = ?2 AND birth_date = ?3 AND sex = ?4
                 ORDER BY linked_at, id"
            ))?
            .query_map(params![args.0, args.1, args.2, args.3], link_from_row)?
            .collect()
        })
        .await
    }

    /// Links of one patient number, or all of them, by patient number then age.
    pub async fn links(
        &self,
        facility: &str,
        patient_number: Option<&str>,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let (f, n) = (facility.to_owned(), patient_number.map(str::to_owned));
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM patient_links
                 WHERE facility = ?1 AND (?2 IS NULL OR patient_number = ?2)
                 ORDER BY patient_number, linked_at, id"
            ))?
            .query_map(params![f, n], link_from_row)?
            .collect()
        })
        .await
    }

    /// A day's entries in 受付番号 order: those after `after`, optionally in one state, skipping
    /// `rows.skip` and at most `rows.limit`, so no caller holds a whole busy day at once.
    pub async fn receptions(
        &self,
        facility: &str,
        day: &str,
        status: Option<&'static str>,
        rows: Rows,
    ) -> Result<Vec<ReceptionRecord>, StoreError> {
        let (f, d) = (facility.to_owned(), day.to_owned());
        let (limit, skip) = (clamp(rows.limit), clamp(rows.skip));
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {RECEPTION_COLUMNS} FROM receptions
                 WHERE facility = ?1 AND day = ?2 AND seq > ?3 AND (?4 IS NULL OR status = ?4)
                 ORDER BY seq LIMIT ?5 OFFSET ?6"
            ))?
            .query_map(
                params![f, d, rows.after, status, limit, skip],
                reception_from_row,
            )?
            .collect()
        })
        .await
    }

    pub async fn reception(
        &self,
        facility: &str,
        day: &str,
        seq: i64,
    ) -> Result<ReceptionRecord, StoreError> {
        let (f, d) = (facility.to_owned(), day.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {RECEPTION_COLUMNS} FROM receptions WHERE facility = ?1 AND day = ?2 AND seq = ?3"
            ))?
            .query_row(params![f, d, seq], reception_from_row)
            .optional()
        })
        .await?
        .ok_or_else(|| StoreError::not_found(Record::ReceptionEntry, format!("{day}/{seq}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, WriteOp};

    fn entry(day: &str) -> ReceptionRecord {
        ReceptionRecord {
            facility: "1311111114".into(),
            day: day.into(),
            seq: 0,
            received_at: format!("{day}T09:00:00+09:00"),
            patient_number: String::new(),
            status: "pending".into(),
            decided_at: None,
            decided_by: None,
            reject_reason: None,
            payload: vec![1, 2, 3],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_are_dense_per_day_and_follow_commit_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite"), Durability::Normal).unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let s = store.clone();
                let day = if i % 2 == 0 {
                    "2026-11-21"
                } else {
                    "2026-11-22"
                };
                tokio::spawn(async move {
                    s.write_yielding(vec![WriteOp::AppendReception(entry(day))])
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for day in ["2026-11-21", "2026-11-22"] {
            let seqs: Vec<i64> = store
                .receptions("1311111114", day, None, Rows::after(0, 100))
                .await
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect();
            assert_eq!(seqs, (1..=25).collect::<Vec<_>>());
        }
        let decide = |status| Decision {
            facility: "1311111114".into(),
            day: "2026-11-21".into(),
            seq: 3,
            status,
            at: "2026-11-21T09:01:00+09:00".into(),
            by: "clerk".into(),
            reject_reason: None,
            patient_number: Some("P-1".into()),
        };
        store
            .write(vec![WriteOp::DecideReception(decide("accepted"))])
            .await
            .unwrap();
        let again = store
            .write(vec![WriteOp::DecideReception(decide("rejected"))])
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(s)) if s == "accepted"));
        let r = store
            .reception("1311111114", "2026-11-21", 3)
            .await
            .unwrap();
        assert_eq!(
            (r.status.as_str(), r.patient_number.as_str()),
            ("accepted", "P-1")
        );
    }
}
