//! Personal data at rest on the real daemon: the data directory's modes, fixed at start; the
//! retention purge at start, which leaves no trace of a person in any file; and a flood of
//! wrong activation codes that stays within a memory bound.

use std::path::Path;
use std::time::{Duration, Instant};

use shikaku_tests::pb::{ListAuditRecordsRequest, RedeemActivationCodeRequest};
use shikaku_tests::{TestDaemon, reason};
use tonic_types::StatusExt;

/// A fixture person's name and kana, as a reception entry's payload would hold them.
const NAME: &str = "診療　花子";
const KANA: &str = "ｼﾝﾘｮｳ ﾊﾅｺ";

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_0700_and_every_file_in_it_0600() {
    let d = TestDaemon::start().await;
    // Something in each database: an activation code (store and simulator).
    d.activation()
        .issue_activation_code(shikaku_tests::pb::IssueActivationCodeRequest {
            device_memo: "iPad".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let dir = d.dir.path();
    assert_eq!(mode(dir), 0o700);
    let names = file_names(dir);
    for expected in [
        "audit.key",
        "shikaku.sqlite",
        "shikaku.sqlite-wal",
        "shikaku.sqlite-shm",
        "simulator.key",
        "simulator.sqlite",
        "simulator.sqlite-wal",
        "simulator.sqlite-shm",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loose_data_directory_is_narrowed_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::start_prepared(
        |dir| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            // As an older shikakud left them: an empty database and a key, world-readable.
            for (name, bytes) in [("shikaku.sqlite", &[][..]), ("audit.key", &[7u8; 32][..])] {
                std::fs::write(dir.join(name), bytes).unwrap();
                std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644))
                    .unwrap();
            }
        },
        |_| {},
    )
    .await;
    let dir = d.dir.path();
    assert_eq!(mode(dir), 0o700);
    for name in file_names(dir) {
        assert_eq!(mode(&dir.join(&name)), 0o600, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_reception_entries_are_purged_at_start_from_every_file() {
    // Kept for ten years at first: its own purge at start, in the background, must not take
    // her entry before the restart below is the one that does.
    let d = TestDaemon::start_with(|c| c.retention.reception_days = 3660).await;
    let database = d.dir.path().join("shikaku.sqlite");
    // Her entry of 60 days ago and someone's of today, written beside the running daemon
    // (WAL lets a second writer take its turn).
    let today = shikaku_domain::clock::today();
    let old = (0..60).fold(today, |day, _| day.pred_opt().unwrap());
    let (old, new) = (
        shikaku_domain::values::iso(old),
        shikaku_domain::values::iso(today),
    );
    {
        let conn = rusqlite::Connection::open(&database).unwrap();
        for (day, payload) in [
            (&old, format!("{NAME} {KANA}")),
            (&new, "someone else".to_owned()),
        ] {
            conn.execute(
                "INSERT INTO receptions (facility, day, seq, received_at, patient_number, status, payload)
                 VALUES ('1311111114', ?1, 1, ?1 || 'T09:00:00+09:00', '', 'pending', ?2)",
                rusqlite::params![day, payload.into_bytes()],
            )
            .unwrap();
        }
    }
    // Each -wal before its database file: the daemon's checkpointer may move her page from the
    // WAL into the database and truncate the WAL between two reads. It writes the database
    // first, so read in this order one of the two holds her.
    let on_disk = file_names(d.dir.path())
        .iter()
        .rev()
        .any(|n| holds(&std::fs::read(d.dir.path().join(n)).unwrap(), NAME));
    assert!(on_disk, "her name is on disk before the purge");

    // A restart purges at start, in the background: wait for its audit line.
    let d = d.restart_with(|c| c.retention.reception_days = 30).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let records = d
            .audit()
            .list_audit_records(ListAuditRecordsRequest {
                operation: "RetentionPurge".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        if let Some(line) = records.into_iter().next() {
            break line;
        }
        assert!(Instant::now() < deadline, "no purge within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(line.client, "daemon");
    assert_eq!(line.detail, "reception_entries=1 bulk_jobs=0 bulk_items=0");
    assert!(!line.concerns_person);

    let days: Vec<String> = rusqlite::Connection::open(&database)
        .unwrap()
        .prepare("SELECT day FROM receptions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(days, [new], "today's entry stays");
    for name in file_names(d.dir.path()) {
        let bytes = std::fs::read(d.dir.path().join(&name)).unwrap();
        assert!(!holds(&bytes, NAME), "{name} holds her name");
        assert!(!holds(&bytes, KANA), "{name} holds her kana");
    }
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_wrong_activation_codes_stays_within_a_memory_bound() {
    // The default cost: 19 MiB and two passes per hash, as a clinic's daemon runs.
    let d = TestDaemon::start_with(|c| {
        c.simulator.hash_memory_kib = 19 * 1024;
        c.simulator.hash_passes = 2;
    })
    .await;
    let before = peak_rss_mib();
    let calls: Vec<_> = (0..100u64)
        .map(|i| {
            let mut client = d.activation();
            tokio::spawn(async move {
                client
                    .redeem_activation_code(RedeemActivationCodeRequest {
                        code: format!("{:012}", 900_000_000_000 + i),
                        device_id: "ipad-x".into(),
                    })
                    .await
            })
        })
        .collect();
    let (mut not_found, mut retry_later) = (0, 0);
    for call in calls {
        let status = call.await.unwrap().unwrap_err();
        match reason(&status).0.as_str() {
            "ACTIVATION_CODE_NOT_FOUND" => not_found += 1,
            "UPSTREAM_UNAVAILABLE" => {
                assert_eq!(status.code(), tonic::Code::Unavailable);
                let retry = status.get_error_details().retry_info().cloned();
                assert_eq!(
                    retry.and_then(|r| r.retry_delay),
                    Some(Duration::from_secs(1))
                );
                retry_later += 1;
            }
            other => panic!("a wrong code answered {other}: {status:?}"),
        }
    }
    let growth = peak_rss_mib().saturating_sub(before);
    println!("peak RSS growth {growth} MiB; {not_found} hashed, {retry_later} told to retry");
    assert!(growth < 200, "peak RSS grew {growth} MiB");
    assert!(retry_later > 0, "nobody was told to retry");
    assert!(not_found > 0, "nothing was hashed");
}
