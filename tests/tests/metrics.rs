//! The Prometheus endpoint of the real daemon: after a check by numbers and a card check, a
//! scrape over plain HTTP shows each series with its labels and the counts those calls left.

use std::io::{Read, Write};
use std::net::SocketAddr;

use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{CheckByCardRequest, CheckInRequest, PinIdentity};
use shikaku_tests::{TestDaemon, taro_numbers};

/// GET `path` over a raw TCP connection; the status line and the body.
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The value of the one sample named exactly `series` (name and labels, as exposed).
fn value(text: &str, series: &str) -> f64 {
    let mut found = text
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse::<f64>().unwrap());
    let v = found
        .next()
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"));
    assert!(found.next().is_none(), "{series} twice");
    v
}

fn card(pin: &str) -> CheckByCardRequest {
    CheckByCardRequest {
        reader: "sim-taro".into(),
        identity: Some(Identity::Pin(PinIdentity {
            pin: pin.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

const Q: &str = r#"service="shikaku.v1.QualificationService""#;

#[tokio::test]
async fn a_scrape_shows_every_series_with_its_labels_and_counts() {
    let d = TestDaemon::start().await;
    let addr = d.running.metrics_addr.expect("metrics are on by default");
    assert!(addr.ip().is_loopback());

    d.qualification()
        .check_by_insurance_numbers(taro_numbers())
        .await
        .unwrap();
    d.qualification().check_by_card(card("1234")).await.unwrap();
    let wrong = d.qualification().check_by_card(card("9999")).await;
    assert_eq!(wrong.unwrap_err().code(), tonic::Code::Unauthenticated);
    let missing = CheckByCardRequest {
        reader: "no-such-reader".into(),
        ..card("1234")
    };
    assert!(d.qualification().check_by_card(missing).await.is_err());
    // A kiosk's check-in: a card check too, and an entry on the reception list.
    d.reception()
        .check_in(CheckInRequest {
            card: Some(card("1234")),
            ..Default::default()
        })
        .await
        .unwrap();

    let (status, text) = tokio::task::spawn_blocking(move || get(addr, "/metrics"))
        .await
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    if std::env::var_os("SHOW_METRICS").is_some() {
        println!("{text}");
    }
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text");

    // Calls by RPC and status code, and the latency of each unary RPC.
    let numbers = format!(r#"{Q},method="CheckByInsuranceNumbers""#);
    assert_eq!(
        value(
            &text,
            &format!(r#"shikaku_grpc_requests_total{{{numbers},code="OK"}}"#)
        ),
        1.0
    );
    let by_card = format!(r#"{Q},method="CheckByCard""#);
    assert_eq!(
        value(
            &text,
            &format!(r#"shikaku_grpc_requests_total{{{by_card},code="OK"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"shikaku_grpc_requests_total{{{by_card},code="UNAUTHENTICATED"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("shikaku_grpc_request_duration_seconds_count{{{by_card}}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"shikaku_grpc_request_duration_seconds_bucket{{le="+Inf",{numbers}}}"#)
        ),
        1.0
    );

    // Card checks by identity method and outcome: the validity, or the error's reason.
    assert_eq!(
        value(
            &text,
            r#"shikaku_card_checks_total{method="pin",outcome="VALIDITY_VALID"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"shikaku_card_checks_total{method="pin",outcome="PIN_INCORRECT"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"shikaku_card_checks_total{method="pin",outcome="READER_NOT_FOUND"}"#
        ),
        1.0
    );

    // The upstream (here the embedded simulator): a check by numbers, and the two card checks
    // that reached it (the challenge, then the check), none under way, out of 20 sessions.
    let sim = r#"transport="simulator""#;
    assert_eq!(
        value(
            &text,
            &format!(
                r#"shikaku_upstream_request_duration_seconds_count{{{sim},operation="check_by_numbers"}}"#
            )
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!(
                r#"shikaku_upstream_request_duration_seconds_count{{{sim},operation="check_by_card"}}"#
            )
        ),
        2.0
    );
    assert_eq!(
        value(&text, &format!("shikaku_upstream_in_flight{{{sim}}}")),
        0.0
    );
    assert_eq!(
        value(&text, &format!("shikaku_upstream_session_limit{{{sim}}}")),
        20.0
    );
    assert_eq!(
        value(&text, &format!("shikaku_upstream_failing_fast{{{sim}}}")),
        0.0
    );

    // Every audited call's line was committed and timed; the store has a size.
    assert!(value(&text, "shikaku_audit_commit_duration_seconds_count") >= 4.0);
    assert!(value(&text, "shikaku_store_bytes") > 0.0);
    assert_eq!(
        value(
            &text,
            r#"shikaku_plugin_ready{plugin="simulator",kind="PLUGIN_KIND_UPSTREAM"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "shikaku_watch_streams_open"), 0.0);
    assert_eq!(value(&text, "shikaku_bulk_jobs_running"), 0.0);
    assert_eq!(value(&text, "shikaku_bulk_jobs_total"), 0.0);
    // taro is no patient of this clinic yet: his entry waits for a clerk.
    assert_eq!(
        value(
            &text,
            r#"shikaku_reception_entries_total{status="pending"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"shikaku_grpc_requests_total{service="shikaku.v1.ReceptionService",method="CheckIn",code="OK"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!(
                r#"shikaku_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    // Nothing of the person checked.
    for personal in ["06130488", "4260", "1970-01-01", "1234"] {
        assert!(!text.contains(personal), "{personal} in the metrics");
    }

    let (status, _) = tokio::task::spawn_blocking(move || get(addr, "/other"))
        .await
        .unwrap();
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    d.running.stop().await.unwrap();
}

/// The sample Grafana dashboard asks only for series the daemon registers.
#[test]
fn the_sample_dashboard_uses_the_daemons_series() {
    let dashboard = include_str!("../../deploy/grafana-dashboard.json");
    let registered = include_str!("../../core/server/src/metrics.rs");
    let mut used = 0;
    for (at, _) in dashboard.match_indices("shikaku_") {
        let name: String = dashboard[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let family = ["_bucket", "_total", "_count", "_sum"]
            .iter()
            .fold(name.as_str(), |n, suffix| {
                n.strip_suffix(suffix).unwrap_or(n)
            });
        assert!(
            registered.contains(&format!("\"{family}\"")),
            "{name} is not a series of the daemon"
        );
        used += 1;
    }
    assert!(used >= 14, "{used}");
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let d = TestDaemon::start_with(|c| c.metrics.enabled = false).await;
    assert_eq!(d.running.metrics_addr, None);
    d.running.stop().await.unwrap();
}
