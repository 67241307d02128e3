//! Migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the audit trail and activation-code records.
    "CREATE TABLE audit (
         seq       INTEGER PRIMARY KEY AUTOINCREMENT,
         at        TEXT NOT NULL,
         operation TEXT NOT NULL,
         method    TEXT NOT NULL,
         terminal  TEXT NOT NULL,
         operator  TEXT NOT NULL,
         peer      TEXT NOT NULL,
         outcome   TEXT NOT NULL,
         detail    TEXT NOT NULL,
         subject   TEXT NOT NULL
     );
     CREATE INDEX audit_at ON audit(at);
     CREATE TABLE activation_codes (
         id          TEXT PRIMARY KEY,
         device_memo TEXT NOT NULL,
         state       TEXT NOT NULL CHECK (state IN ('pending', 'redeemed', 'revoked')),
         issued_at   TEXT NOT NULL,
         usable_from TEXT NOT NULL,
         redeemed_at TEXT,
         revoked_at  TEXT,
         device_id   TEXT
     );",
    // 2: patient links (患者番号の紐付け), the reception list (受付) and bulk checks (一括照会).
    // Reception payloads and bulk inputs/results are encoded protobuf messages the store does not
    // read; the columns beside them are what it selects and changes on.
    "CREATE TABLE patient_links (
         id             TEXT PRIMARY KEY,
         facility       TEXT NOT NULL,
         patient_number TEXT NOT NULL,
         insurer_number TEXT NOT NULL,
         symbol         TEXT NOT NULL,
         number         TEXT NOT NULL,
         branch         TEXT NOT NULL,
         name           TEXT NOT NULL,
         name_kana      TEXT NOT NULL,
         kana_key       TEXT NOT NULL,
         birth_date     TEXT NOT NULL,
         sex            TEXT NOT NULL,
         linked_at      TEXT NOT NULL,
         linked_by      TEXT NOT NULL,
         UNIQUE (facility, insurer_number, symbol, number, branch)
     );
     CREATE INDEX patient_links_person ON patient_links(facility, kana_key, birth_date, sex);
     CREATE INDEX patient_links_number ON patient_links(facility, patient_number);
     CREATE TABLE receptions (
         facility       TEXT NOT NULL,
         day            TEXT NOT NULL,
         seq            INTEGER NOT NULL CHECK (seq > 0),
         received_at    TEXT NOT NULL,
         patient_number TEXT NOT NULL,
         status         TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
         decided_at     TEXT,
         decided_by     TEXT,
         reject_reason  TEXT,
         payload        BLOB NOT NULL,
         PRIMARY KEY (facility, day, seq)
     ) WITHOUT ROWID;
     CREATE TABLE bulk_jobs (
         id                TEXT PRIMARY KEY,
         label             TEXT NOT NULL,
         state             TEXT NOT NULL CHECK (state IN ('running', 'done')),
         mode              TEXT NOT NULL,
         concurrency       INTEGER NOT NULL,
         confirmation_date TEXT NOT NULL,
         created_at        TEXT NOT NULL,
         finished_at       TEXT,
         total             INTEGER NOT NULL
     );
     CREATE TABLE bulk_items (
         job_id        TEXT NOT NULL REFERENCES bulk_jobs(id),
         idx           INTEGER NOT NULL,
         key           TEXT NOT NULL,
         request       BLOB NOT NULL,
         state         TEXT NOT NULL CHECK (state IN ('pending', 'checked', 'failed', 'invalid')),
         result        BLOB,
         error_reason  TEXT NOT NULL DEFAULT '',
         error_message TEXT NOT NULL DEFAULT '',
         finished_at   TEXT,
         PRIMARY KEY (job_id, idx)
     ) WITHOUT ROWID;",
    // 3: the audit table without AUTOINCREMENT and the unused index on `at`. Rows are never
    // deleted, so plain rowids still only grow; each audit commit now writes the table's last
    // page instead of that page, an index page and the sqlite_sequence page.
    "CREATE TABLE audit_v3 (
         seq       INTEGER PRIMARY KEY,
         at        TEXT NOT NULL,
         operation TEXT NOT NULL,
         method    TEXT NOT NULL,
         terminal  TEXT NOT NULL,
         operator  TEXT NOT NULL,
         peer      TEXT NOT NULL,
         outcome   TEXT NOT NULL,
         detail    TEXT NOT NULL,
         subject   TEXT NOT NULL
     );
     INSERT INTO audit_v3 SELECT * FROM audit;
     DROP TABLE audit;
     DELETE FROM sqlite_sequence WHERE name = 'audit';
     ALTER TABLE audit_v3 RENAME TO audit;",
    // 4: who called, authenticated (the client certificate's name and role), and the keyed
    // hash of the person a line concerns, so "who looked up this patient" can be answered
    // without keeping the person's numbers. `terminal` and `operator` stay as what the client
    // claimed about itself.
    "ALTER TABLE audit ADD COLUMN client TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN role TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN person TEXT NOT NULL DEFAULT '';",
];

pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{MIGRATIONS, migrate};

    #[test]
    fn the_audit_rebuild_keeps_every_line_and_its_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        for i in 0..3 {
            conn.execute(
                "INSERT INTO audit (at, operation, method, terminal, operator, peer, outcome, detail, subject)
                 VALUES ('2026-11-21T09:00:00+09:00', 'CheckByInsuranceNumbers', 'insurance_numbers', 't', '', 'p', 'ok', '1', ?1)",
                [format!("chk_{i}")],
            )
            .unwrap();
        }

        migrate(&mut conn).unwrap();

        conn.execute(
            "INSERT INTO audit (at, operation, method, terminal, operator, peer, outcome, detail, subject)
             VALUES ('2026-11-21T09:01:00+09:00', 'CheckByInsuranceNumbers', 'insurance_numbers', 't', '', 'p', 'ok', '1', 'chk_3')",
            [],
        )
        .unwrap();
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT seq, subject FROM audit ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(i64, String)> = (0..4).map(|i| (i + 1, format!("chk_{i}"))).collect();
        assert_eq!(rows, want);
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }
}
