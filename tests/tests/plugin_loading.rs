//! The plugin loader against real shared libraries built by the test: Rust plugins made with
//! the SDK, and a C plugin compiled against `shikaku_plugin.h` in every wrong (or old) shape.

use std::sync::Arc;
use std::time::Duration;

use shikaku_domain::pb::Medium;
use shikaku_domain::reader::{CardReader, ReaderError};
use shikaku_domain::secret::Pin;
use shikaku_domain::upstream::{Upstream, UpstreamError};
use shikaku_domain::values::DeviceMemo;
use shikaku_plugin_host::{LoadError, Loaded, PluginSpec, PluginState, load};
use shikaku_tests::{c_plugin, plugin};

fn reader(loaded: Loaded) -> Arc<shikaku_plugin_host::PluginReader> {
    match loaded {
        Loaded::CardReader(r) => r,
        _ => panic!("not a card reader"),
    }
}

fn upstream(loaded: Loaded) -> Arc<shikaku_plugin_host::PluginUpstream> {
    match loaded {
        Loaded::Upstream(u) => u,
        _ => panic!("not an upstream"),
    }
}

fn faulty(config: serde_json::Value) -> PluginSpec {
    let mut spec = PluginSpec::new(plugin("shikaku_fault_plugin"));
    spec.config = config;
    spec
}

#[tokio::test]
async fn the_simulated_reader_works_through_the_abi() {
    let r = reader(load(&PluginSpec::new(plugin("shikaku_sim_reader"))).expect("loads"));
    assert_eq!(r.handle().info.name, "simulated-readers");
    assert!(r.handle().info.thread_safe);
    let readers = r.list_readers().await.unwrap();
    assert!(
        readers
            .iter()
            .any(|x| x.name == "sim-taro" && x.card_present)
    );

    let mut session = r.open("sim-taro").await.unwrap();
    assert_eq!(session.medium().await.unwrap(), Medium::MyNumberCard);
    let cert = session.read_auth_certificate().await.unwrap();
    assert!(cert.len() > 500, "a DER certificate");
    let err = session
        .verify_pin(&Pin::parse("0000").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err, ReaderError::PinIncorrect { tries_left: 2 });
    session
        .verify_pin(&Pin::parse("1234").unwrap())
        .await
        .unwrap();
    let digest = shikaku_domain::reader::sha256_digest_info(b"challenge");
    assert_eq!(session.sign(&digest).await.unwrap().len(), 256);
    drop(session);

    assert!(matches!(
        r.open("no-such-reader").await.err().unwrap(),
        ReaderError::NotFound(name) if name == "no-such-reader"
    ));
}

#[tokio::test]
async fn the_simulator_upstream_works_through_the_abi() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = PluginSpec::new(plugin("shikaku_sim_upstream"));
    spec.config = serde_json::json!({
        "state_path": dir.path().join("sim.sqlite"),
        "hash_memory_kib": 64, "hash_passes": 1, "activation_delay_secs": 0,
    });
    let u = upstream(load(&spec).expect("loads"));
    assert_eq!(u.challenge().await.unwrap().len(), 32);
    let issued = u
        .issue_activation_code(&DeviceMemo::parse("受付タブレット").unwrap())
        .await
        .unwrap();
    assert_eq!(issued.code.expose().len(), 12);
    u.revoke_activation_code(&issued.id).await.unwrap();
    assert_eq!(
        u.redeem_activation_code(&issued.code, "device-1").await,
        Err(UpstreamError::CodeRevoked)
    );
}

#[tokio::test]
async fn a_wrong_abi_major_is_refused_with_both_versions_named() {
    let err = load(&PluginSpec::new(c_plugin(&["ABI_MAJOR=2"])))
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::AbiMajor { major: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("built for plugin abi 2.0, this daemon accepts major 1")
    );

    let err = load(&PluginSpec::new(c_plugin(&[
        "ABI_MAJOR=2",
        "ENTRY=shikaku_plugin_entry_v2",
    ])))
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("it exports shikaku_plugin_entry_v2"),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_kind_is_refused() {
    let err = load(&PluginSpec::new(c_plugin(&["KIND=7"]))).err().unwrap();
    assert!(
        matches!(err, LoadError::UnknownKind { kind: 7, .. }),
        "{err}"
    );

    let mut spec = PluginSpec::new(c_plugin(&[]));
    spec.kind = Some("card_reader".into());
    let err = load(&spec).err().unwrap();
    assert!(
        err.to_string()
            .contains("it is a upstream plugin, the config expects card_reader"),
        "{err}"
    );
}

#[tokio::test]
async fn a_library_without_the_entry_symbol_is_refused() {
    let err = load(&PluginSpec::new(c_plugin(&["ENTRY=some_other_function"])))
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NoEntrySymbol { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no entry symbol shikaku_plugin_entry_v1")
    );
}

#[tokio::test]
async fn a_sha256_mismatch_is_refused_before_loading() {
    let path = c_plugin(&[]);
    let mut spec = PluginSpec::new(&path);
    spec.sha256 = Some("00".repeat(32));
    let err = load(&spec).err().unwrap();
    assert!(matches!(err, LoadError::Sha256Mismatch { .. }), "{err}");

    use sha2::Digest;
    let real: String = sha2::Sha256::digest(std::fs::read(&path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    spec.sha256 = Some(real.to_uppercase());
    assert!(
        load(&spec).is_ok(),
        "the right digest loads, in either case"
    );
}

#[tokio::test]
async fn an_older_minor_plugin_loads_and_its_missing_calls_are_unsupported() {
    let u = upstream(load(&PluginSpec::new(c_plugin(&[]))).expect("an abi 1.0 plugin loads"));
    assert_eq!(
        (u.handle().info.abi_major, u.handle().info.abi_minor),
        (1, 0)
    );
    assert_eq!(u.challenge().await.unwrap()[0], 0x5a);
    assert!(!u.supports_bulk(), "bulk_check came in 1.1");
    assert!(u.subscribe().is_none(), "next_event came in 1.1");
    assert!(matches!(
        u.issue_activation_code(&DeviceMemo::parse("x").unwrap())
            .await
            .err()
            .unwrap(),
        UpstreamError::Unsupported(_)
    ));
}

#[tokio::test]
async fn a_panic_becomes_an_error_and_marks_the_plugin_failed() {
    let r = reader(load(&faulty(serde_json::json!({"panic_in": "open"}))).unwrap());
    assert!(r.list_readers().await.is_ok());
    let err = r.open("faulty-0").await.err().unwrap();
    assert!(
        matches!(&err, ReaderError::PluginFailed(why) if why.contains("asked to panic in open")),
        "{err:?}"
    );
    assert!(matches!(r.handle().state(), PluginState::Failed(_)));
    // Later calls fail fast without entering the plugin.
    assert!(matches!(
        r.list_readers().await,
        Err(ReaderError::PluginFailed(_))
    ));
}

#[tokio::test]
async fn a_hang_exceeds_the_deadline_and_marks_the_plugin_failed() {
    let mut spec = faulty(serde_json::json!({"hang_in": "list_readers", "hang_ms": 3000}));
    spec.timeout = Duration::from_millis(200);
    spec.grace = Duration::from_millis(200);
    let r = reader(load(&spec).unwrap());
    let started = std::time::Instant::now();
    assert_eq!(r.list_readers().await.unwrap_err(), ReaderError::Timeout);
    assert!(started.elapsed() < Duration::from_millis(2000));
    assert!(matches!(r.handle().state(), PluginState::Failed(why) if why.contains("deadline")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_calls_run_at_once_on_a_thread_safe_plugin() {
    let mut spec = faulty(serde_json::json!({"rendezvous": 64}));
    spec.timeout = Duration::from_secs(20);
    let r = reader(load(&spec).unwrap());
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.list_readers().await })
        })
        .collect();
    for call in calls {
        let readers = call.await.unwrap().expect("every call met the others");
        assert_eq!(readers[0].description, "max in flight 64");
    }
}
