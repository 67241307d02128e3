//! A flood of wrong activation codes is turned away, not hashed: memory stays bounded and the
//! callers beyond the queue are told when to come back. Alone in its file, so the process's
//! peak memory is this test's.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use shikaku_domain::secret::ActivationCode;
use shikaku_domain::upstream::{Upstream, UpstreamError};
use shikaku_simulator::SimulatorConfig;

/// Peak resident memory of this process so far (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_wrong_redemptions_stay_within_a_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    // The daemon's default cost: 19 MiB and two passes per hash.
    let config = SimulatorConfig::new(dir.path().join("simulator.sqlite"));
    let (simulator, _) = shikaku_simulator::build(&config).unwrap();
    let before = peak_rss_kib();

    let calls: Vec<_> = (0..100u64)
        .map(|i| {
            let simulator = simulator.clone();
            tokio::spawn(async move {
                let code = ActivationCode::parse(&format!("{:012}", 900_000_000_000 + i)).unwrap();
                simulator.redeem_activation_code(&code, "device-x").await
            })
        })
        .collect();
    let (mut not_found, mut retry_later) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Err(UpstreamError::CodeNotFound) => not_found += 1,
            Err(UpstreamError::RetryLater { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_secs(1));
                retry_later += 1;
            }
            other => panic!("a wrong code answered {other:?}"),
        }
    }

    let growth_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    println!("peak RSS growth {growth_mib} MiB; {not_found} hashed, {retry_later} turned away");
    // Two hashing threads' 19 MiB each, and slack; unbounded, this was 1.4 GiB.
    assert!(growth_mib < 100, "peak RSS grew {growth_mib} MiB");
    assert!(retry_later > 0, "nobody was turned away");
    assert!(not_found >= 2, "the gate let work through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visual_check_passwords_are_keyed_by_a_0600_file_beside_the_database() {
    use shikaku_domain::secret::VisualCheckPassword;
    use shikaku_domain::values::AccountId;

    let dir = tempfile::tempdir().unwrap();
    let mut config = SimulatorConfig::new(dir.path().join("simulator.sqlite"));
    config.hash_memory_kib = 64;
    config.hash_passes = 1;
    let key = dir.path().join("simulator.key");
    let account = AccountId::parse("staff01").unwrap();
    let issued = {
        let (simulator, _) = shikaku_simulator::build(&config).unwrap();
        simulator
            .issue_visual_check_password(&account)
            .await
            .unwrap()
    };
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    #[cfg(unix)]
    for file in ["simulator.sqlite", "simulator.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }

    // An offline search of the database alone, over every 4-digit password, finds nothing.
    let stored: String = rusqlite::Connection::open(dir.path().join("simulator.sqlite"))
        .unwrap()
        .query_row(
            "SELECT password_hash FROM accounts WHERE account_id = 'staff01'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stored = PasswordHash::new(&stored).unwrap();
    let found = (0..10_000)
        .map(|n| format!("{n:04}"))
        .filter(|guess| {
            Argon2::default()
                .verify_password(guess.as_bytes(), &stored)
                .is_ok()
        })
        .count();
    assert_eq!(found, 0, "a 4-digit password fell to an offline search");

    // Same key: the password verifies after a restart.
    let (simulator, _) = shikaku_simulator::build(&config).unwrap();
    simulator
        .verify_visual_check_password(&account, &issued.password)
        .await
        .unwrap();
    drop(simulator);

    // Without the key no stored hash can match any of the 10,000 passwords: a copied database
    // is useless, and the simulator, given a new key, asks for a new password.
    std::fs::remove_file(&key).unwrap();
    let (simulator, _) = shikaku_simulator::build(&config).unwrap();
    let again = simulator
        .verify_visual_check_password(&account, &issued.password)
        .await;
    assert_eq!(again, Err(UpstreamError::PasswordNotIssued));
    let wrong = VisualCheckPassword::parse("0000").unwrap();
    assert!(
        simulator
            .verify_visual_check_password(&account, &wrong)
            .await
            .is_err()
    );
}
