//! The 資格確認端末 Web API transport through the real daemon: shikakud loads the Web API plugin
//! (`.so`) as its upstream, and the terminal simulator answers over HTTPS on loopback with mutual
//! TLS (the server checked against the CA, or pinned). Every result variant in both encodings,
//! certificates that do not match, and the faults — slow answer, error result, malformed and
//! truncated bodies, no answer, a terminal that is down then back, a stuck request beside other
//! clients — each with its status.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::Fault;
use shikaku_terminal_sim::https::HttpsServer;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, ListPluginsRequest, ListReadersRequest, PinIdentity, Validity,
};
use shikaku_tests::transports::{
    Share, assert_bulk_queries, assert_error_answers_fail_with_their_code, assert_every_variant,
    assert_reference_number_registers, assert_unreadable_answers_are_retried,
    assert_upstream_ready, assert_zipped_bulk_result_is_read, check, embedded_answers, merged,
    retry_delay, upstream_plugin, variants, wait_until,
};
use shikaku_tests::{TestDaemon, reason, taro_numbers};
use tonic::Code;

const LIB: &str = "shikaku_oqs_webapi_plugin";

/// How the daemon knows the terminal's server certificate.
#[derive(Debug, Clone, Copy)]
enum Trust {
    /// Verified against the terminal's CA.
    Ca,
    /// Pinned by the SHA-256 of its DER.
    Pin,
}

struct Rig {
    share: Share,
    server: HttpsServer,
    d: TestDaemon,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Web API plugin's settings for tests: the facility's client certificate, the server
/// trusted as told, quick retries.
fn webapi_config(share: &Share, server: &HttpsServer, trust: Trust) -> serde_json::Value {
    let certs = certificates(share, server);
    let mut config = serde_json::json!({
        "base_url": server.base_url(),
        "client_certificate": certs.join("client.pem"),
        "client_key": certs.join("client.key"),
        "facility_code": share.terminal.facility_code(),
        "connect_timeout_ms": 2_000,
        "guard": { "retry": { "base_backoff_ms": 10, "max_backoff_ms": 40 } },
    });
    match trust {
        Trust::Ca => config["server_ca"] = certs.join("ca.pem").display().to_string().into(),
        Trust::Pin => {
            let pin = hex(&Sha256::digest(&server.pki().server_cert_der));
            config["server_pins_sha256"] = serde_json::json!([pin]);
        }
    }
    config
}

/// The terminal's test certificates as PEM files, and a client certificate from a CA the
/// terminal does not trust (stranger.pem, stranger.key).
fn certificates(share: &Share, server: &HttpsServer) -> PathBuf {
    let dir = share.root().join("certs");
    if !dir.exists() {
        let pki = server.pki();
        pki.write_to(&dir).unwrap();
        std::fs::write(dir.join("stranger.pem"), &pki.stranger_cert_pem).unwrap();
        std::fs::write(dir.join("stranger.key"), &pki.stranger_key_pem).unwrap();
    }
    dir
}

/// The daemon with the Web API plugin as its upstream, each call's deadline `timeout_ms`,
/// `extra` laid over the test settings.
async fn rig(encoding: Encoding, trust: Trust, timeout_ms: u64, extra: serde_json::Value) -> Rig {
    let share = Share::start(encoding);
    let server = share
        .terminal
        .serve_https("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let config = merged(webapi_config(&share, &server, trust), extra);
    let d = TestDaemon::start_with(|c| {
        c.plugins = vec![upstream_plugin(LIB, timeout_ms, config)];
    })
    .await;
    Rig { share, server, d }
}

async fn card_check(
    d: &TestDaemon,
) -> Result<tonic::Response<shikaku_tests::pb::CheckByCardResponse>, tonic::Status> {
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
}

/// A bulk check whose result comes back as a zip body over HTTPS.
#[tokio::test]
async fn a_zipped_bulk_result_is_read() {
    let rig = rig(
        Encoding::ShiftJis,
        Trust::Ca,
        10_000,
        serde_json::json!({ "bulk_poll_ms": 50 }),
    )
    .await;
    assert_zipped_bulk_result_is_read(&rig.d, &rig.share.terminal).await;
    rig.d.running.stop().await.unwrap();
}

/// 照会番号の登録 and the 医療扶助・訪問診療・オンライン診療 bulk queries over the real HTTPS
/// server (mutual TLS): the terminal remembers the registration, every field arrives over gRPC.
#[tokio::test]
async fn reference_numbers_and_bulk_queries_go_through_the_web_api() {
    let rig = rig(
        Encoding::Utf8,
        Trust::Ca,
        10_000,
        serde_json::json!({ "bulk_poll_ms": 50 }),
    )
    .await;
    assert_reference_number_registers(&rig.d, "P-777").await;
    assert_bulk_queries(&rig.d, "P-777").await;
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn every_result_variant_in_both_encodings_matches_the_embedded_simulator() {
    let want = embedded_answers().await;
    for (encoding, trust) in [
        (Encoding::Utf8, Trust::Ca),
        (Encoding::ShiftJis, Trust::Pin),
    ] {
        let rig = rig(
            encoding,
            trust,
            10_000,
            serde_json::json!({ "request_encoding": encoding, "result_encoding": encoding }),
        )
        .await;
        assert_upstream_ready(&rig.d, "oqs-webapi").await;
        assert_every_variant(&rig.d, &want, &format!("{encoding:?}, {trust:?}")).await;
        assert_eq!(rig.share.terminal.answered(), variants().len() as u64);
        // Card checks are not in the (unpublished) Web API this transport speaks.
        let e = card_check(&rig.d).await.unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
        rig.d.running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn certificates_that_do_not_match_are_unavailable() {
    let share = Share::start(Encoding::Utf8);
    let server = share
        .terminal
        .serve_https("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let certs = certificates(&share, &server);
    let cases = [
        (
            "a client certificate from a CA the terminal does not trust",
            serde_json::json!({
                "client_certificate": certs.join("stranger.pem"),
                "client_key": certs.join("stranger.key"),
            }),
            Trust::Ca,
        ),
        (
            "a server certificate that is not the pinned one",
            serde_json::json!({ "server_pins_sha256": [hex(&[7; 32])] }),
            Trust::Pin,
        ),
    ];
    for (what, extra, trust) in cases {
        let config = merged(webapi_config(&share, &server, trust), extra);
        let d = TestDaemon::start_with(|c| {
            c.plugins = vec![upstream_plugin(LIB, 5_000, config)];
        })
        .await;
        let e = check(&d, &taro_numbers()).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{what}: {e:?}");
        assert_eq!(reason(&e).0, "UPSTREAM_UNAVAILABLE");
        assert!(e.message().contains("web api"), "{what}: {}", e.message());
        d.running.stop().await.unwrap();
    }
    assert_eq!(share.terminal.answered(), 0, "no answer left the terminal");
}

#[tokio::test]
async fn slow_answers_error_results_and_unreadable_bodies() {
    let rig = rig(Encoding::ShiftJis, Trust::Ca, 5_000, serde_json::json!({})).await;
    let t = &rig.share.terminal;

    t.set_fault(Fault::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    let r = check(&rig.d, &taro_numbers()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.validity(), Validity::Valid);

    assert_error_answers_fail_with_their_code(&rig.d, t, || {}).await;
    assert_unreadable_answers_are_retried(&rig.d, t, "unreadable", || {}).await;
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn no_answer_is_deadline_exceeded() {
    let rig = rig(Encoding::Utf8, Trust::Ca, 600, serde_json::json!({})).await;
    rig.share.terminal.set_fault(Fault::NeverAnswer);
    let started = Instant::now();
    let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "kept to the deadline"
    );
    rig.share.terminal.set_fault(Fault::None);
    assert_eq!(
        check(&rig.d, &taro_numbers()).await.unwrap().validity(),
        Validity::Valid
    );
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_terminal_that_is_down_is_unavailable_with_its_retry_hint_then_back() {
    let rig = rig(
        Encoding::Utf8,
        Trust::Pin,
        3_000,
        serde_json::json!({ "guard": {
            "retry": { "max_attempts": 1 },
            "breaker": { "failure_threshold": 2, "open_ms": 1_500 },
        }}),
    )
    .await;
    let t = &rig.share.terminal;
    // The terminal answers 503 with Retry-After: 1; that hint reaches the client.
    t.set_fault(Fault::Down);
    for _ in 0..2 {
        let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("503"), "{}", e.message());
        assert_eq!(retry_delay(&e), Some(Duration::from_secs(1)));
    }
    // Now the breaker is open: failing fast, with the time until it probes.
    let started = Instant::now();
    let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "failed fast"
    );
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert_eq!(reason(&e).0, "UPSTREAM_UNAVAILABLE");
    let delay = retry_delay(&e).expect("RetryInfo");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_millis(1_500),
        "{delay:?}"
    );

    // Back: a client that waits as told gets through on its next call, and the breaker closes.
    t.set_fault(Fault::None);
    tokio::time::sleep(delay).await;
    for _ in 0..2 {
        assert_eq!(
            check(&rig.d, &taro_numbers()).await.unwrap().validity(),
            Validity::Valid
        );
    }
    assert_eq!(t.answered(), 2);
    rig.d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_request_does_not_hold_up_other_clients() {
    let rig = rig(Encoding::Utf8, Trust::Ca, 3_000, serde_json::json!({})).await;
    let t = &rig.share.terminal;
    t.set_fault(Fault::NeverAnswer);
    let stuck = {
        let mut client = rig.d.qualification();
        tokio::spawn(async move { client.check_by_insurance_numbers(taro_numbers()).await })
    };
    wait_until(5, "the terminal to get the request", async || {
        t.taken() == 1
    })
    .await;
    let quick = Duration::from_secs(1);
    let readers = tokio::time::timeout(
        quick,
        rig.d
            .qualification()
            .list_readers(ListReadersRequest::default()),
    )
    .await
    .expect("ListReaders answers at once")
    .unwrap()
    .into_inner()
    .readers;
    assert!(readers.iter().any(|r| r.name == "sim-taro"));
    let card = tokio::time::timeout(quick, card_check(&rig.d))
        .await
        .expect("CheckByCard answers at once");
    assert_eq!(card.unwrap_err().code(), Code::Unimplemented);
    tokio::time::timeout(
        quick,
        rig.d.plugins().list_plugins(ListPluginsRequest::default()),
    )
    .await
    .expect("ListPlugins answers at once")
    .unwrap();
    assert!(!stuck.is_finished(), "still waiting for the terminal");
    let e = stuck.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded);
    drop(rig.server);
    rig.d.running.stop().await.unwrap();
}
