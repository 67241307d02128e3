//! The daemon with its simulator and simulated readers loaded from shared libraries instead of
//! compiled in — proof that the plugin ABI carries every operation — and with a misbehaving
//! plugin beside them, which fails alone while the daemon keeps serving.

use std::collections::BTreeMap;

use shikaku_daemon::config::PluginConfig;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, IssueActivationCodeRequest, IssueVisualCheckPasswordRequest,
    ListPluginsRequest, ListReadersRequest, Medium, PinIdentity, PluginKind, PluginState, Validity,
    VisualCheckIdentity,
};
use shikaku_tests::{TestDaemon, plugin, reason, taro_numbers};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn entry(lib: &str, config: serde_json::Value) -> PluginConfig {
    PluginConfig {
        path: plugin(lib),
        sha256: None,
        kind: None,
        max_concurrency: 64,
        timeout_ms: 10_000,
        grace_ms: 1_000,
        config: config.as_object().cloned().unwrap_or_default(),
    }
}

/// A daemon whose upstream and readers all come from `.so` files.
async fn daemon_on_plugins(extra: Vec<PluginConfig>) -> TestDaemon {
    TestDaemon::start_with(|c| {
        c.simulator.readers = false;
        let state = c.data_dir.join("simulator.sqlite");
        c.plugins = vec![
            entry("shikaku_sim_reader", serde_json::json!({})),
            entry(
                "shikaku_sim_upstream",
                serde_json::json!({
                    "state_path": state, "activation_delay_secs": 0,
                    "hash_memory_kib": 64, "hash_passes": 1,
                }),
            ),
        ];
        c.plugins.extend(extra);
    })
    .await
}

async fn health(d: &TestDaemon, service: &str) -> ServingStatus {
    HealthClient::new(d.channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[tokio::test]
async fn every_operation_works_through_plugins_loaded_from_shared_libraries() {
    let d = daemon_on_plugins(vec![]).await;

    let plugins = d
        .plugins()
        .list_plugins(ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let kinds: BTreeMap<String, (PluginKind, PluginState, String)> = plugins
        .iter()
        .map(|p| (p.name.clone(), (p.kind(), p.state(), p.source.clone())))
        .collect();
    assert_eq!(kinds.len(), 2, "only the loaded plugins: {kinds:?}");
    assert_eq!(kinds["oqs-simulator"].0, PluginKind::Upstream);
    assert_eq!(kinds["simulated-readers"].0, PluginKind::CardReader);
    assert!(
        kinds.values().all(|(_, s, source)| *s == PluginState::Ready
            && source.ends_with(std::env::consts::DLL_SUFFIX))
    );
    assert_eq!(
        health(&d, "shikaku.plugin.oqs-simulator").await,
        ServingStatus::Serving
    );

    let readers = d
        .qualification()
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    assert!(readers.iter().any(|r| r.name == "sim-taro"));

    // PIN check: the reader plugin signs, the upstream plugin verifies.
    let r = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(r.medium(), Medium::MyNumberCard);

    // A wrong PIN keeps its tries-left across the boundary.
    let err = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "sim-hanako".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "0000".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (why, meta) = reason(&err);
    assert_eq!(why, "PIN_INCORRECT");
    assert_eq!(meta["tries_left"], "2");

    // Visual check: a password issued and verified by the upstream plugin.
    let password = d
        .visual_check()
        .issue_visual_check_password(IssueVisualCheckPasswordRequest {
            account_id: "staff01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .password;
    let r = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "sim-kokuho".into(),
            identity: Some(Identity::VisualCheck(VisualCheckIdentity {
                account_id: "staff01".into(),
                password,
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert!(r.visual_check_performed);

    let r = d
        .qualification()
        .check_by_insurance_numbers(taro_numbers())
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(r.validity(), Validity::Valid);

    let issued = d
        .activation()
        .issue_activation_code(IssueActivationCodeRequest {
            device_memo: "往診用タブレット".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.code.chars().filter(char::is_ascii_digit).count(), 12);
}

#[tokio::test]
async fn a_panicking_plugin_fails_alone_and_the_daemon_keeps_serving() {
    let d = daemon_on_plugins(vec![entry(
        "shikaku_fault_plugin",
        serde_json::json!({"panic_in": "open"}),
    )])
    .await;

    let err = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "faulty-0".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err).0, "PLUGIN_FAILED");

    let faulty = d
        .plugins()
        .list_plugins(ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins
        .into_iter()
        .find(|p| p.name == "faulty")
        .unwrap();
    assert_eq!(faulty.state(), PluginState::Failed);
    assert!(
        faulty.failure.contains("asked to panic"),
        "{}",
        faulty.failure
    );
    assert_eq!(
        health(&d, "shikaku.plugin.faulty").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        health(&d, "shikaku.v1.QualificationService").await,
        ServingStatus::Serving
    );

    // Everything else still works, and the failed plugin's readers drop out of the list.
    let readers = d
        .qualification()
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    assert!(readers.iter().any(|r| r.name == "sim-taro"));
    assert!(!readers.iter().any(|r| r.name == "faulty-0"));
    d.qualification()
        .check_by_card(CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .expect("the simulated readers still serve");
}

#[tokio::test]
async fn a_hanging_plugin_exceeds_its_deadline_and_the_daemon_stays_alive() {
    let mut hang = entry(
        "shikaku_fault_plugin",
        serde_json::json!({"hang_in": "open", "hang_ms": 3000}),
    );
    hang.timeout_ms = 300;
    hang.grace_ms = 200;
    let d = daemon_on_plugins(vec![hang]).await;

    let err = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "faulty-0".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    d.qualification()
        .check_by_insurance_numbers(taro_numbers())
        .await
        .expect("the daemon still answers");
    assert_eq!(
        health(&d, "shikaku.plugin.faulty").await,
        ServingStatus::NotServing
    );
}

#[tokio::test]
async fn a_bad_plugin_stops_the_daemon_from_starting_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = shikaku_tests::test_config(&dir);
    let mut bad = entry("shikaku_fault_plugin", serde_json::json!({}));
    bad.sha256 = Some("ab".repeat(32));
    config.plugins = vec![bad];
    let err = shikaku_daemon::Running::start(&config).await.err().unwrap();
    assert!(
        err.to_string().contains("sha-256 is") && err.to_string().contains("the config requires"),
        "{err}"
    );
}
