//! The conformance check a vendor runs against their library (`shikaku plugins check PATH`):
//! load it as the daemon would, exercise each operation, and report what passed and what not.
//!
//! It only reads: it never issues activation codes or passwords, so it is safe to run against a
//! transport wired to the real OQS.

use std::time::{Duration, Instant};

use shikaku_domain::certificate::CertificateInfo;
use shikaku_domain::clock;
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::{CardReader, ReaderError, sha256_digest_info};
use shikaku_domain::secret::Pin;
use shikaku_domain::upstream::{NumbersCheck, Upstream, UpstreamError};
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber, parse_date};

use crate::load::kind_name;
use crate::{Loaded, PluginReader, PluginSpec, PluginState, PluginUpstream, load};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One step of the check.
#[derive(Debug, Clone)]
pub struct Finding {
    pub step: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub took: Duration,
}

struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, step: &'static str, started: Instant, outcome: Outcome, detail: String) {
        self.0.push(Finding {
            step,
            outcome,
            detail,
            took: started.elapsed(),
        });
    }
}

/// Runs every check that applies to the plugin's kind. The card steps use `reader`, or the
/// first reader holding a card; `pin` unlocks the steps that need one (verify and sign).
pub async fn check(spec: &PluginSpec, reader: Option<&str>, pin: Option<&Pin>) -> Vec<Finding> {
    let mut report = Report(Vec::new());
    let started = Instant::now();
    let loaded = match load(spec) {
        Ok(loaded) => loaded,
        Err(e) => {
            report.add("load", started, Outcome::Fail, e.to_string());
            return report.0;
        }
    };
    let info = &loaded.handle().info;
    report.add(
        "load",
        started,
        Outcome::Pass,
        format!(
            "{} {} ({}, abi {}.{}, {}; {})",
            info.name,
            info.version,
            kind_name(info.kind),
            info.abi_major,
            info.abi_minor,
            if info.thread_safe {
                "thread-safe"
            } else {
                "serialised"
            },
            info.build_info
        ),
    );
    let handle = loaded.handle().clone();
    match loaded {
        Loaded::CardReader(r) | Loaded::SmartphoneReader(r) => {
            check_reader(&mut report, &r, reader, pin).await
        }
        Loaded::Upstream(u) => check_upstream(&mut report, &u).await,
    }
    let started = Instant::now();
    match handle.state() {
        PluginState::Ready => report.add("still ready", started, Outcome::Pass, String::new()),
        PluginState::Failed(why) => report.add("still ready", started, Outcome::Fail, why),
    }
    report.0
}

async fn check_reader(
    report: &mut Report,
    r: &PluginReader,
    wanted: Option<&str>,
    pin: Option<&Pin>,
) {
    let started = Instant::now();
    let readers = match r.list_readers().await {
        Ok(readers) => {
            let with_card = readers.iter().filter(|x| x.card_present).count();
            let first: Vec<_> = readers.iter().take(4).map(|x| x.name.as_str()).collect();
            let detail = format!(
                "{} readers, {with_card} with a card: {}{}",
                readers.len(),
                first.join(", "),
                if readers.len() > 4 { ", …" } else { "" }
            );
            report.add("list_readers", started, Outcome::Pass, detail);
            readers
        }
        Err(e) => {
            report.add("list_readers", started, Outcome::Fail, e.to_string());
            return;
        }
    };

    let started = Instant::now();
    match r.next_event(Duration::from_millis(500)).await {
        Ok(event) => report.add(
            "next_event",
            started,
            Outcome::Pass,
            match event {
                Some(e) => format!("{:?} on {}", e.kind, e.reader.name),
                None => "no event within 500 ms, answered at the deadline".into(),
            },
        ),
        Err(e) => report.add("next_event", started, Outcome::Fail, e.to_string()),
    }

    let started = Instant::now();
    match r.open("shikaku-conformance-no-such-reader").await {
        Err(ReaderError::NotFound(_)) => report.add(
            "open unknown reader",
            started,
            Outcome::Pass,
            "answers READER_NOT_FOUND".into(),
        ),
        Err(e) => report.add(
            "open unknown reader",
            started,
            Outcome::Fail,
            format!("should answer READER_NOT_FOUND, answered: {e}"),
        ),
        Ok(_) => report.add(
            "open unknown reader",
            started,
            Outcome::Fail,
            "opened a reader that does not exist".into(),
        ),
    }

    let chosen = match wanted {
        Some(name) => readers.iter().find(|x| x.name == name),
        None => readers.iter().find(|x| x.card_present),
    };
    let Some(reader) = chosen else {
        let why = match wanted {
            Some(name) => format!("no reader named {name:?}"),
            None => "no card on any reader: place one and run again".into(),
        };
        report.add("card operations", Instant::now(), Outcome::Skip, why);
        return;
    };
    let started = Instant::now();
    let mut session = match r.open(&reader.name).await {
        Ok(s) => {
            report.add("open", started, Outcome::Pass, reader.name.clone());
            s
        }
        Err(e) => {
            report.add("open", started, Outcome::Fail, e.to_string());
            return;
        }
    };
    let started = Instant::now();
    let medium = session.medium().await;
    match &medium {
        Ok(m) => report.add("medium", started, Outcome::Pass, m.as_str_name().into()),
        Err(e) => report.add("medium", started, Outcome::Fail, e.to_string()),
    }
    let mut verified = false;
    let started = Instant::now();
    let mut certificate = session.read_auth_certificate().await;
    if certificate == Err(ReaderError::PinRequired) {
        report.add(
            "read_auth_certificate before pin",
            started,
            Outcome::Pass,
            "an android phone: answers PIN_REQUIRED".into(),
        );
        let Some(pin) = pin else {
            report.add(
                "read_auth_certificate",
                Instant::now(),
                Outcome::Skip,
                "an android phone needs --pin".into(),
            );
            return;
        };
        let started = Instant::now();
        if let Err(e) = session.verify_pin(pin).await {
            report.add("verify_pin", started, Outcome::Fail, e.to_string());
            return;
        }
        report.add("verify_pin", started, Outcome::Pass, String::new());
        verified = true;
        certificate = session.read_auth_certificate().await;
    }
    let started = Instant::now();
    match certificate {
        Ok(der) => match CertificateInfo::parse(&der) {
            Ok(c) => report.add(
                "read_auth_certificate",
                started,
                Outcome::Pass,
                format!(
                    "{} bytes, serial {}, valid until {}",
                    der.len(),
                    c.serial,
                    c.expires_on
                ),
            ),
            Err(e) => report.add(
                "read_auth_certificate",
                started,
                Outcome::Fail,
                format!("{} bytes that are not an X.509 certificate: {e}", der.len()),
            ),
        },
        Err(e) => report.add(
            "read_auth_certificate",
            started,
            Outcome::Fail,
            e.to_string(),
        ),
    }
    if medium == Ok(Medium::Iphone) {
        // An iPhone unlocks its key with the phone's own biometrics: no PIN at the reader.
        report.add(
            "verify_pin",
            Instant::now(),
            Outcome::Skip,
            "an iphone takes no pin at the reader".into(),
        );
    } else if !verified {
        let Some(pin) = pin else {
            report.add(
                "verify_pin and sign",
                Instant::now(),
                Outcome::Skip,
                "no pin given (--pin, then the pin on stdin or in SHIKAKU_PIN)".into(),
            );
            return;
        };
        let started = Instant::now();
        match session.verify_pin(pin).await {
            Ok(()) => report.add("verify_pin", started, Outcome::Pass, String::new()),
            Err(e) => {
                report.add("verify_pin", started, Outcome::Fail, e.to_string());
                return;
            }
        }
    }
    let started = Instant::now();
    match session
        .sign(&sha256_digest_info(b"shikaku conformance"))
        .await
    {
        Ok(sig) if sig.len() == 256 => report.add(
            "sign",
            started,
            Outcome::Pass,
            "a 2048-bit signature".into(),
        ),
        Ok(sig) => report.add(
            "sign",
            started,
            Outcome::Fail,
            format!("{} bytes, expected 256 (RSA-2048)", sig.len()),
        ),
        Err(e) => report.add("sign", started, Outcome::Fail, e.to_string()),
    }
}

/// A check by numbers that reads nothing real: the embedded fixture's first person.
fn sample_check() -> NumbersCheck {
    NumbersCheck {
        insurer: InsurerNumber::parse("06130488").expect("a valid insurer number"),
        symbol: Some(CardSymbol::parse("12-34").expect("a valid symbol")),
        number: CardNumber::parse("4260").expect("a valid number"),
        branch: Some(BranchNumber::parse("01").expect("a valid branch")),
        birth_date: parse_date("1970-01-01").expect("a valid date"),
        limit_certificate_consent: false,
        confirmation_date: clock::today(),
    }
}

async fn check_upstream(report: &mut Report, u: &PluginUpstream) {
    let started = Instant::now();
    match u.challenge().await {
        Ok(c) if c.len() >= 16 => report.add(
            "challenge",
            started,
            Outcome::Pass,
            format!("{} bytes", c.len()),
        ),
        Ok(c) => report.add(
            "challenge",
            started,
            Outcome::Fail,
            format!("{} bytes: too short to be unpredictable", c.len()),
        ),
        Err(UpstreamError::Unsupported(_)) => report.add(
            "challenge",
            started,
            Outcome::Skip,
            "not supported: card checks by pin cannot work".into(),
        ),
        Err(e) => report.add("challenge", started, Outcome::Fail, e.to_string()),
    }
    let started = Instant::now();
    let check = sample_check();
    match u.check_by_numbers(&check).await {
        Ok(r) => report.add(
            "check_by_numbers",
            started,
            Outcome::Pass,
            format!("validity {}", r.validity().as_str_name()),
        ),
        // A clean error from the upstream is conformant: the sample person may not exist there.
        Err(
            e @ (UpstreamError::ErrorResult { .. }
            | UpstreamError::Unavailable(_)
            | UpstreamError::RetryLater { .. }),
        ) => report.add(
            "check_by_numbers",
            started,
            Outcome::Pass,
            format!("answered: {e}"),
        ),
        Err(e) => report.add("check_by_numbers", started, Outcome::Fail, e.to_string()),
    }
    let started = Instant::now();
    if u.supports_bulk() {
        match u.bulk_check(std::slice::from_ref(&check)).await {
            Ok(items) if items.len() == 1 => report.add(
                "bulk_check",
                started,
                Outcome::Pass,
                "1 answer for 1 check".into(),
            ),
            Ok(items) => report.add(
                "bulk_check",
                started,
                Outcome::Fail,
                format!("{} answers for 1 check", items.len()),
            ),
            Err(e) => report.add("bulk_check", started, Outcome::Fail, e.to_string()),
        }
    } else {
        report.add(
            "bulk_check",
            started,
            Outcome::Skip,
            "no bulk upload: the daemon checks one by one".into(),
        );
    }
}
