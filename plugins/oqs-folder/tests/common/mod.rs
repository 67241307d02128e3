//! A real terminal simulator on real folders, and a folder transport pointed at them.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use shikaku_domain::upstream::NumbersCheck;
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};
use shikaku_oqs_folder::{FolderConfig, FolderTransport};
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::{Terminal, TerminalConfig};
use tempfile::TempDir;

pub struct Rig {
    pub dir: TempDir,
    pub terminal: Terminal,
    pub config: FolderConfig,
    pub transport: FolderTransport,
}

/// Fast settings for tests: short polls and settle times, few retries.
pub fn config(dir: &Path, facility: &str) -> FolderConfig {
    let mut c = FolderConfig::new(dir.join("share"), dir.join("state"), facility);
    c.poll_ms = 5;
    c.face.poll_ms = 10;
    c.completion.settle_ms = 300;
    c.bulk_poll_ms = 50;
    c.guard.retry.base_backoff_ms = 10;
    c.guard.retry.max_backoff_ms = 40;
    c
}

pub fn rig(results: Encoding, tweak: impl FnOnce(&mut FolderConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut tc = TerminalConfig::new(dir.path().join("share"));
    tc.encoding = results;
    tc.poll_interval = Duration::from_millis(5);
    tc.bulk_delay = Duration::from_millis(150);
    let terminal = Terminal::start(tc).unwrap();
    let mut config = config(dir.path(), terminal.facility_code());
    tweak(&mut config);
    let transport = FolderTransport::new(config.clone()).unwrap();
    Rig {
        dir,
        terminal,
        config,
        transport,
    }
}

impl Rig {
    /// A second transport on the same folders and state, as after a restart.
    pub fn restart(&mut self) {
        self.transport = FolderTransport::new(self.config.clone()).unwrap();
    }

    /// Nothing of ours is left anywhere: no request, no result, no journal entry, no temporary.
    pub fn assert_clean(&self) {
        for d in [self.terminal.req_dir(), self.terminal.res_dir()] {
            assert_eq!(files(d), Vec::<String>::new(), "left in {}", d.display());
        }
        assert_eq!(self.transport.in_flight(), 0, "journal entries left");
    }

    /// Events until none comes for `quiet`.
    pub fn drain_events(&self, quiet: Duration) -> Vec<shikaku_domain::upstream::UpstreamEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.transport.next_event(Instant::now() + quiet).unwrap() {
            out.push(e);
        }
        out
    }
}

pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn within(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

/// Waits for `cond`, failing after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn check(insurer: &str, symbol: &str, number: &str, branch: &str, birth: &str) -> NumbersCheck {
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

/// One check per result variant the fixture reaches by numbers.
pub fn variants() -> Vec<(&'static str, NumbersCheck)> {
    vec![
        (
            "valid",
            check("06130488", "12-34", "4260", "01", "1970-01-01"),
        ),
        (
            "dependant",
            check("06130488", "12-34", "4260", "02", "1972-05-15"),
        ),
        (
            "kokuho",
            check("138057", "千代田", "1234567", "00", "1985-08-20"),
        ),
        ("elderly", check("01320027", "5", "88", "00", "1954-03-03")),
        ("limit-a", check("33120015", "7", "301", "00", "1968-11-30")),
        (
            "disease",
            check("06130488", "20-1", "555", "01", "1975-02-14"),
        ),
        (
            "child",
            check("06130488", "12-34", "4260", "03", "2022-09-09"),
        ),
        (
            "backside",
            check("06130488", "30-2", "77", "01", "1990-07-07"),
        ),
        (
            "invalid",
            check("06130488", "40-4", "404", "01", "1980-08-08"),
        ),
        (
            "newer",
            check("06130488", "50-5", "505", "01", "1988-09-09"),
        ),
        (
            "multiple",
            check("06130488", "60-6", "606", "01", "1992-10-10"),
        ),
        ("nomatch", check("06130488", "", "999999", "", "1999-09-09")),
    ]
}
