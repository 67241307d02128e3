//! The Web API transport against the terminal simulator's real HTTPS server: mutual TLS, CA or
//! pinned server certificate, every result variant, the bulk query, and faults.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use shikaku_domain::pb::Validity;
use shikaku_domain::upstream::{NumbersCheck, UpstreamError};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};
use shikaku_oqs_guard::BreakerState;
use shikaku_oqs_webapi::{WebApiConfig, WebApiTransport};
use shikaku_oqs_xml::Encoding;
use shikaku_simulator::Directory;
use shikaku_terminal_sim::https::HttpsServer;
use shikaku_terminal_sim::{Fault, Terminal, TerminalConfig};

struct Rig {
    dir: tempfile::TempDir,
    terminal: Terminal,
    server: HttpsServer,
}

fn rig(encoding: Encoding) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TerminalConfig::new(dir.path().join("share"));
    c.encoding = encoding;
    c.bulk_delay = Duration::from_millis(150);
    let terminal = Terminal::start(c).unwrap();
    let server = terminal
        .serve_https("127.0.0.1:0".parse().unwrap())
        .unwrap();
    server.pki().write_to(&dir.path().join("certs")).unwrap();
    std::fs::write(
        dir.path().join("certs/stranger.pem"),
        &server.pki().stranger_cert_pem,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("certs/stranger.key"),
        &server.pki().stranger_key_pem,
    )
    .unwrap();
    Rig {
        dir,
        terminal,
        server,
    }
}

impl Rig {
    fn config(&self) -> WebApiConfig {
        let certs = self.dir.path().join("certs");
        let mut c = WebApiConfig::new(
            &self.server.base_url(),
            certs.join("client.pem"),
            certs.join("client.key"),
            self.terminal.facility_code(),
        );
        c.server_ca = Some(certs.join("ca.pem"));
        c.bulk_poll_ms = 50;
        c.guard.retry.base_backoff_ms = 10;
        c.guard.retry.max_backoff_ms = 40;
        c
    }

    fn pin(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(&self.server.pki().server_cert_der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn within(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

fn check(insurer: &str, symbol: &str, number: &str, branch: &str, birth: &str) -> NumbersCheck {
    NumbersCheck {
        insurer: InsurerNumber::parse(insurer).unwrap(),
        symbol: (!symbol.is_empty()).then(|| CardSymbol::parse(symbol).unwrap()),
        number: CardNumber::parse(number).unwrap(),
        branch: (!branch.is_empty()).then(|| BranchNumber::parse(branch).unwrap()),
        birth_date: NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap(),
        limit_certificate_consent: true,
        confirmation_date: NaiveDate::from_ymd_opt(2026, 9, 29).unwrap(),
    }
}

fn variants() -> Vec<NumbersCheck> {
    vec![
        check("06130488", "12-34", "4260", "01", "1970-01-01"),
        check("06130488", "12-34", "4260", "02", "1972-05-15"),
        check("138057", "千代田", "1234567", "00", "1985-08-20"),
        check("01320027", "5", "88", "00", "1954-03-03"),
        check("33120015", "7", "301", "00", "1968-11-30"),
        check("06130488", "20-1", "555", "01", "1975-02-14"),
        check("06130488", "12-34", "4260", "03", "2022-09-09"),
        check("06130488", "30-2", "77", "01", "1990-07-07"),
        check("06130488", "40-4", "404", "01", "1980-08-08"),
        check("06130488", "50-5", "505", "01", "1988-09-09"),
        check("06130488", "60-6", "606", "01", "1992-10-10"),
        check("06130488", "", "999999", "", "1999-09-09"),
    ]
}

#[test]
fn every_result_variant_in_both_encodings_with_ca_or_pin() {
    let directory = Directory::load(None).unwrap();
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(encoding);
        let by_ca = WebApiTransport::new(rig.config()).unwrap();
        let mut pinned = rig.config();
        pinned.server_ca = None;
        pinned.server_pins_sha256 = vec![rig.pin()];
        pinned.request_encoding = Encoding::ShiftJis;
        pinned.result_encoding = Some(encoding);
        let by_pin = WebApiTransport::new(pinned).unwrap();
        for transport in [&by_ca, &by_pin] {
            let mut validities = std::collections::BTreeSet::new();
            for c in variants() {
                let mut got = transport.check_by_numbers(&c, within(5_000)).unwrap();
                let mut want = directory.check_by_numbers(&c);
                validities.insert(got.validity_code.clone());
                got.checked_at.clear();
                want.checked_at.clear();
                assert_eq!(got, want);
            }
            assert_eq!(validities.len(), 5);
        }
        let results = by_ca.bulk_check(&variants(), within(10_000)).unwrap();
        assert_eq!(results.len(), variants().len());
        assert_eq!(
            results[3].as_ref().unwrap().qualifications[0].name,
            "高齢　次郎"
        );
    }
}

#[test]
fn a_zipped_bulk_result_is_read() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(encoding);
        rig.terminal.set_zip_bulk_results(true);
        let transport = WebApiTransport::new(rig.config()).unwrap();
        let directory = Directory::load(None).unwrap();
        let results = transport.bulk_check(&variants(), within(10_000)).unwrap();
        for (check, got) in variants().iter().zip(&results) {
            assert_eq!(
                got.as_ref().unwrap().qualifications,
                directory.check_by_numbers(check).qualifications
            );
        }
        assert_eq!(results[2].as_ref().unwrap().arbitrary_identifier, "3");
    }
}

#[test]
fn the_wrong_server_or_client_certificate_is_refused() {
    let rig = rig(Encoding::Utf8);
    let c = &variants()[0];
    let mut wrong_pin = rig.config();
    wrong_pin.server_ca = None;
    wrong_pin.server_pins_sha256 = vec!["00".repeat(32)];
    wrong_pin.guard.retry.max_attempts = 1;
    let e = WebApiTransport::new(wrong_pin)
        .unwrap()
        .check_by_numbers(c, within(3_000))
        .unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.contains("pinned")),
        "{e:?}"
    );

    let mut stranger = rig.config();
    stranger.client_certificate = rig.dir.path().join("certs/stranger.pem");
    stranger.client_key = rig.dir.path().join("certs/stranger.key");
    stranger.guard.retry.max_attempts = 1;
    let e = WebApiTransport::new(stranger)
        .unwrap()
        .check_by_numbers(c, within(3_000))
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");
    assert_eq!(rig.terminal.taken(), 0, "nothing reached the terminal");

    let mut both = rig.config();
    both.server_pins_sha256 = vec![rig.pin()];
    assert!(WebApiTransport::new(both).is_err());
    let mut plain = rig.config();
    plain.base_url = plain.base_url.replace("https", "http");
    assert!(WebApiTransport::new(plain).is_err());
}

#[test]
fn faults_come_out_as_the_expected_errors() {
    let rig = rig(Encoding::ShiftJis);
    let mut config = rig.config();
    config.guard.retry.max_attempts = 1;
    config.guard.breaker.failure_threshold = 2;
    config.guard.breaker.open_ms = 300;
    let t = WebApiTransport::new(config).unwrap();
    let c = &variants()[0];

    rig.terminal
        .set_fault(Fault::Slow(Duration::from_millis(200)));
    assert_eq!(
        t.check_by_numbers(c, within(3_000)).unwrap().validity(),
        Validity::Valid
    );

    rig.terminal.set_fault(Fault::ErrorResult {
        code: "EOQE1234".into(),
        message: "エラー".into(),
    });
    assert!(matches!(
        t.check_by_numbers(c, within(3_000)),
        Err(UpstreamError::ErrorResult { code, .. }) if code == "EOQE1234"
    ));

    for fault in [Fault::Malformed, Fault::Truncated] {
        rig.terminal.set_fault(fault);
        let e = t.check_by_numbers(c, within(3_000)).unwrap_err();
        assert!(
            matches!(&e, UpstreamError::Unavailable(m) if m.contains("unreadable")),
            "{e:?}"
        );
        rig.terminal.set_fault(Fault::None);
        t.check_by_numbers(c, within(3_000)).unwrap();
    }

    rig.terminal.set_fault(Fault::NeverAnswer);
    let started = Instant::now();
    assert_eq!(
        t.check_by_numbers(c, within(300)),
        Err(UpstreamError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_millis(800));

    rig.terminal.set_fault(Fault::Down);
    let e = t.check_by_numbers(c, within(3_000)).unwrap_err();
    assert!(
        matches!(&e, UpstreamError::RetryLater { reason, retry_after }
            if reason.contains("503") && *retry_after == Duration::from_secs(1)),
        "{e:?}"
    );
    assert!(matches!(
        t.guard().breaker().state(),
        BreakerState::Open { .. }
    ));
    let started = Instant::now();
    let e = t.check_by_numbers(c, within(3_000)).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(50));
    assert!(
        matches!(&e, UpstreamError::RetryLater { reason, retry_after }
            if reason.contains("keeps failing") && *retry_after > Duration::ZERO),
        "{e:?}"
    );

    rig.terminal.set_fault(Fault::None);
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match t.check_by_numbers(c, within(2_000)) {
            Ok(_) => break,
            Err(UpstreamError::Unavailable(_) | UpstreamError::RetryLater { .. })
                if Instant::now() < end =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(
        t.guard().breaker().state(),
        BreakerState::Closed { failures: 0 }
    );
}
