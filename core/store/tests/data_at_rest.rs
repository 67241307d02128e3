//! Personal data at rest: file modes, retention purges that leave no trace in any database
//! file, and online backups that restore with every acknowledged write.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use shikaku_store::{
    AuditRecord, BulkItemOutcome, BulkItemRecord, BulkJobRecord, Cutoff, Durability,
    ReceptionRecord, Rows, Store, WriteOp,
};

/// A fixture person (the embedded simulator's 診療 花子), as a reception entry would hold her.
const NAME: &str = "診療　花子";
const KANA: &str = "ｼﾝﾘｮｳ ﾊﾅｺ";
const FACILITY: &str = "1311111114";

fn entry(day: &str, payload: &[u8]) -> ReceptionRecord {
    ReceptionRecord {
        facility: FACILITY.into(),
        day: day.into(),
        seq: 0,
        received_at: format!("{day}T09:00:00+09:00"),
        patient_number: String::new(),
        status: "pending".into(),
        decided_at: None,
        decided_by: None,
        reject_reason: None,
        payload: payload.to_vec(),
    }
}

fn person_payload() -> Vec<u8> {
    format!("name={NAME};kana={KANA};birth=1985-04-12").into_bytes()
}

fn audit(i: u64) -> AuditRecord {
    AuditRecord {
        at: "2026-12-03T09:00:00+09:00".into(),
        operation: "CheckByInsuranceNumbers".into(),
        method: "insurance_numbers".into(),
        terminal: "recept-1".into(),
        operator: String::new(),
        peer: "127.0.0.1:1".into(),
        outcome: "ok".into(),
        detail: "1".into(),
        subject: format!("chk_{i}"),
        client: "local".into(),
        role: "admin".into(),
        person: String::new(),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file directly in `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_directory_is_0700_and_every_file_in_it_0600() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    // As shikakud starts: the directory first, then the store.
    assert_eq!(
        shikaku_store::secure_data_dir(&dir).unwrap(),
        Vec::<String>::new()
    );
    let store = Store::open(&dir.join("shikaku.sqlite"), Durability::Full).unwrap();
    store
        .write(vec![WriteOp::AppendReception(entry(
            "2026-12-03",
            &person_payload(),
        ))])
        .await
        .unwrap();
    store.audit(audit(1)).await.unwrap();

    assert_eq!(mode(&dir), 0o700);
    let names: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["shikaku.sqlite", "shikaku.sqlite-shm", "shikaku.sqlite-wal"],
        "the database and its WAL files"
    );
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let backup = root.path().join("backup.sqlite");
    shikaku_store::backup(&dir.join("shikaku.sqlite"), &backup).unwrap();
    assert_eq!(mode(&backup), 0o600, "the backup");
}

#[cfg(unix)]
#[test]
fn a_loose_data_directory_is_narrowed_and_each_fix_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, m) in [
        ("shikaku.sqlite", 0o644),
        ("audit.key", 0o640),
        ("simulator.key", 0o600),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
    }

    let fixed = shikaku_store::secure_data_dir(&dir).unwrap();

    assert_eq!(fixed.len(), 3, "{fixed:?}");
    assert!(
        fixed
            .iter()
            .any(|f| f.contains("audit.key") && f.contains("0600")),
        "{fixed:?}"
    );
    assert_eq!(mode(&dir), 0o700);
    for (name, _) in files(&dir) {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
    assert!(
        shikaku_store::secure_data_dir(&dir).unwrap().is_empty(),
        "nothing left to fix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_removes_a_person_from_every_database_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let store = Store::open(&dir.join("shikaku.sqlite"), Durability::Full).unwrap();
    let old_day = "2026-10-01";
    store
        .write(vec![WriteOp::AppendReception(entry(
            old_day,
            &person_payload(),
        ))])
        .await
        .unwrap();
    // A big entry too, whose payload spills onto overflow pages.
    let big = person_payload().repeat(400);
    store
        .write(vec![WriteOp::AppendReception(entry(old_day, &big))])
        .await
        .unwrap();
    let job = BulkJobRecord {
        id: "bulk_old".into(),
        label: "October".into(),
        state: "running".into(),
        mode: "per_patient".into(),
        concurrency: 1,
        confirmation_date: old_day.into(),
        created_at: format!("{old_day}T08:00:00+09:00"),
        finished_at: None,
        total: 1,
    };
    let item = BulkItemRecord {
        job_id: "bulk_old".into(),
        idx: 0,
        key: "row-1".into(),
        request: person_payload(),
        state: "pending".into(),
        result: None,
        error_reason: String::new(),
        error_message: String::new(),
        finished_at: None,
    };
    store
        .write(vec![WriteOp::InsertBulkJob {
            job,
            items: vec![item],
        }])
        .await
        .unwrap();
    store
        .write(vec![
            WriteOp::SettleBulkItem(BulkItemOutcome {
                job_id: "bulk_old".into(),
                idx: 0,
                state: "checked",
                result: Some(person_payload()),
                error_reason: String::new(),
                error_message: String::new(),
                finished_at: format!("{old_day}T08:01:00+09:00"),
            }),
            WriteOp::FinishBulkJob {
                id: "bulk_old".into(),
                finished_at: format!("{old_day}T08:01:00+09:00"),
            },
        ])
        .await
        .unwrap();
    // Today's entry, without her, stays.
    store
        .write(vec![WriteOp::AppendReception(entry(
            "2026-12-03",
            b"someone else",
        ))])
        .await
        .unwrap();
    store.audit(audit(1)).await.unwrap();
    assert!(store.checkpoint_truncate().await.unwrap());
    let before: Vec<_> = files(&dir)
        .into_iter()
        .filter(|(_, b)| contains(b, NAME))
        .collect();
    assert!(!before.is_empty(), "the name is on disk before the purge");

    let report = store.purge(Cutoff::all("2026-11-01")).await.unwrap();

    assert_eq!(
        (
            report.reception_entries,
            report.bulk_jobs,
            report.bulk_items
        ),
        (2, 1, 1)
    );
    assert!(report.wal_emptied);
    for (name, bytes) in files(&dir) {
        assert!(!contains(&bytes, NAME), "{name} still holds the name");
        assert!(!contains(&bytes, KANA), "{name} still holds the kana");
    }
    assert!(
        store
            .receptions(FACILITY, old_day, None, Rows::after(0, 1000))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .receptions(FACILITY, "2026-12-03", None, Rows::after(0, 1000))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.audit_records(10).await.unwrap().len(),
        1,
        "audit lines stay"
    );

    let size = std::fs::metadata(dir.join("shikaku.sqlite")).unwrap().len();
    store.vacuum().await.unwrap();
    assert!(
        std::fs::metadata(dir.join("shikaku.sqlite")).unwrap().len() < size,
        "vacuum gives space back"
    );

    let bad = store.purge(Cutoff::all("2026-11-1")).await.unwrap_err();
    assert_eq!(
        bad.to_string(),
        "cut-off date \"2026-11-1\" must be YYYY-MM-DD"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_with_every_acknowledged_record() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let database = dir.join("shikaku.sqlite");
    let store = Store::open(&database, Durability::Full).unwrap();

    // Four writers acknowledge audit lines as fast as the store commits them.
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (store, acknowledged, stop, next) = (
                store.clone(),
                acknowledged.clone(),
                stop.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    store.audit(audit(i)).await.unwrap();
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while acknowledged.load(Ordering::SeqCst) < 500 {
        tokio::task::yield_now().await;
    }

    let backup = root.path().join("backup.sqlite");
    let acknowledged_before = acknowledged.load(Ordering::SeqCst);
    let (from, to) = (database.clone(), backup.clone());
    let report = tokio::task::spawn_blocking(move || shikaku_store::backup(&from, &to))
        .await
        .unwrap()
        .unwrap();
    let acknowledged_after = acknowledged.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        acknowledged_after > acknowledged_before,
        "writes went on during the backup"
    );
    assert_eq!(report.bytes, std::fs::metadata(&backup).unwrap().len());

    // Restore as the README says: the backup becomes the database of a fresh data directory.
    let restored = root.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("shikaku.sqlite")).unwrap();
    let store = Store::open(&restored.join("shikaku.sqlite"), Durability::Full).unwrap();
    let lines = store.audit_records(1_000_000).await.unwrap();
    assert!(
        lines.len() as u64 >= acknowledged_before,
        "{} lines restored, {acknowledged_before} acknowledged before the backup began",
        lines.len()
    );
    // Nothing torn: every restored line is whole and distinct.
    let subjects: std::collections::HashSet<_> = lines.iter().map(|l| l.subject.clone()).collect();
    assert_eq!(subjects.len(), lines.len());

    let again = shikaku_store::backup(&database, &backup).unwrap_err();
    assert!(again.to_string().contains("exists already"), "{again}");
}
