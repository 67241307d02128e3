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
