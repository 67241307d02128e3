//! What the transport tests (`tests/tests/transport_*.rs`) share: a terminal simulator on real
//! temporary folders, the `[[plugins]]` entry of a transport plugin, one check by numbers per
//! result variant, the embedded simulator's answers to compare with, and the retry hint of a
//! status.

use std::path::Path;
use std::time::{Duration, Instant};

use shikaku_daemon::config::{PluginConfig, PluginKindName};
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::{Fault, Terminal, TerminalConfig};
use tempfile::TempDir;
use tonic_types::StatusExt;

use crate::{TestDaemon, pb, plugin, reason, taro_numbers};

/// The terminal simulator (資格確認端末) on `req`/`res`/`face` folders in a temporary share.
pub struct Share {
    pub terminal: Terminal,
    pub dir: TempDir,
}

impl Share {
    /// Starts the simulator writing results in `encoding`; it scans `req` every 5 ms.
    pub fn start(encoding: Encoding) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TerminalConfig::new(dir.path());
        config.encoding = encoding;
        config.poll_interval = Duration::from_millis(5);
        config.bulk_delay = Duration::from_millis(150);
        let terminal = Terminal::start(config).unwrap();
        Self { terminal, dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// A `[[plugins]]` entry for an upstream plugin of this workspace, each call's deadline
/// `timeout_ms`.
pub fn upstream_plugin(lib: &str, timeout_ms: u64, config: serde_json::Value) -> PluginConfig {
    PluginConfig {
        path: plugin(lib),
        sha256: None,
        kind: Some(PluginKindName::Upstream),
        max_concurrency: 64,
        timeout_ms,
        grace_ms: 1_000,
        config: config.as_object().cloned().expect("a JSON object"),
    }
}

fn numbers(
    insurer: &str,
    symbol: &str,
    number: &str,
    branch: &str,
    birth: &str,
) -> pb::CheckByInsuranceNumbersRequest {
    pb::CheckByInsuranceNumbersRequest {
        insurer_number: insurer.into(),
        symbol: symbol.into(),
        number: number.into(),
        branch: branch.into(),
        birth_date: birth.into(),
        limit_certificate_consent: true,
        confirmation_date: String::new(),
    }
}

/// One check per result variant the fixture reaches by numbers: valid (本人, 家族, 国保, 高齢受給者,
/// 限度額, 特定疾病, 未就学, 裏面), 無効, 無効（新しい資格あり）, 複数該当, 該当資格なし.
pub fn variants() -> Vec<(&'static str, pb::CheckByInsuranceNumbersRequest)> {
    vec![
        (
            "valid",
            numbers("06130488", "12-34", "4260", "01", "1970-01-01"),
        ),
        (
            "dependant",
            numbers("06130488", "12-34", "4260", "02", "1972-05-15"),
        ),
        (
            "kokuho",
            numbers("138057", "千代田", "1234567", "00", "1985-08-20"),
        ),
        (
            "elderly",
            numbers("01320027", "5", "88", "00", "1954-03-03"),
        ),
        (
            "limit-a",
            numbers("33120015", "7", "301", "00", "1968-11-30"),
        ),
        (
            "disease",
            numbers("06130488", "20-1", "555", "01", "1975-02-14"),
        ),
        (
            "child",
            numbers("06130488", "12-34", "4260", "03", "2022-09-09"),
        ),
        (
            "backside",
            numbers("06130488", "30-2", "77", "01", "1990-07-07"),
        ),
        (
            "invalid",
            numbers("06130488", "40-4", "404", "01", "1980-08-08"),
        ),
        (
            "newer",
            numbers("06130488", "50-5", "505", "01", "1988-09-09"),
        ),
        (
            "multiple",
            numbers("06130488", "60-6", "606", "01", "1992-10-10"),
        ),
        (
            "nomatch",
            numbers("06130488", "", "999999", "", "1999-09-09"),
        ),
    ]
}

/// One check by numbers through the daemon.
pub async fn check(
    d: &TestDaemon,
    request: &pb::CheckByInsuranceNumbersRequest,
) -> Result<pb::QualificationResult, tonic::Status> {
    d.qualification()
        .check_by_insurance_numbers(request.clone())
        .await
        .map(|r| r.into_inner().result.expect("a result"))
}

/// The terminal answers with an OQS error, as an error result and as an error file: each check
/// fails FAILED_PRECONDITION naming the code, and is not asked again. `after_each` adds what the
/// transport itself must leave behind.
pub async fn assert_error_answers_fail_with_their_code(
    d: &TestDaemon,
    t: &Terminal,
    mut after_each: impl FnMut(),
) {
    for (fault, code) in [
        (
            Fault::ErrorResult {
                code: "EOQE1234".into(),
                message: "資格情報の照会でエラーが発生しました".into(),
            },
            "EOQE1234",
        ),
        (
            Fault::FileError {
                code: "EOQE9001".into(),
                message: "異常終了".into(),
            },
            "EOQE9001",
        ),
    ] {
        let taken = t.taken();
        t.set_fault(fault);
        let e = check(d, &taro_numbers()).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        let (why, meta) = reason(&e);
        assert_eq!(why, "UPSTREAM_ERROR");
        assert_eq!(meta["code"], code);
        assert_eq!(t.taken(), taken + 1, "an answer is not asked again");
        after_each();
    }
}

/// The terminal answers malformed or truncated XML: a check is safe to repeat, so it is tried
/// three times, then fails UNAVAILABLE with a retry hint and a message containing `says`; the
/// next good answer goes through. `after_each` runs before the terminal is healed.
pub async fn assert_unreadable_answers_are_retried(
    d: &TestDaemon,
    t: &Terminal,
    says: &str,
    mut after_each: impl FnMut(),
) {
    for fault in [Fault::Malformed, Fault::Truncated] {
        let taken = t.taken();
        t.set_fault(fault.clone());
        let e = check(d, &taro_numbers()).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{fault:?}: {e:?}");
        assert_eq!(reason(&e).0, "UPSTREAM_UNAVAILABLE");
        assert!(e.message().contains(says), "{}", e.message());
        assert!(retry_delay(&e).is_some());
        assert_eq!(t.taken(), taken + 3, "a check is retried: {fault:?}");
        after_each();
        t.set_fault(Fault::None);
        assert_eq!(
            check(d, &taro_numbers()).await.unwrap().validity(),
            pb::Validity::Valid
        );
    }
}

/// The terminal answers completed bulk results zipped (`OQSmuquc02res_….zip`): a bulk check of
/// every variant through `d` is one upload, and every item comes back checked over gRPC with the
/// identifier it was sent with.
pub async fn assert_zipped_bulk_result_is_read(d: &TestDaemon, t: &Terminal) {
    t.set_zip_bulk_results(true);
    let items: Vec<pb::BulkCheckItem> = variants()
        .into_iter()
        .enumerate()
        .map(|(i, (_, request))| pb::BulkCheckItem {
            key: format!("row-{i}"),
            target: Some(pb::bulk_check_item::Target::Numbers(request)),
        })
        .collect();
    let job = d
        .bulk()
        .start_bulk_check(pb::StartBulkCheckRequest {
            items: items.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(job.mode(), pb::BulkCheckMode::BulkUpload);
    let mut stream = d
        .bulk()
        .watch_bulk_check(pb::WatchBulkCheckRequest {
            job_id: job.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    while tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("progress within 30 s")
        .unwrap()
        .is_some()
    {}
    let results = d
        .bulk()
        .get_bulk_check_results(pb::GetBulkCheckResultsRequest {
            job_id: job.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(results.items.len(), items.len());
    for (i, item) in results.items.iter().enumerate() {
        assert_eq!(item.state(), pb::BulkItemState::Checked, "row {i}");
        let r = item.result.as_ref().unwrap();
        assert_eq!(r.arbitrary_identifier, (i + 1).to_string(), "row {i}");
    }
    assert_eq!(
        results.items[0].result.as_ref().unwrap().qualifications[0].name,
        "診療　太郎"
    );
    t.set_zip_bulk_results(false);
}

/// Asserts that the upstream plugin `name` is loaded and ready.
pub async fn assert_upstream_ready(d: &TestDaemon, name: &str) {
    let plugins = d
        .plugins()
        .list_plugins(pb::ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .plugins;
    let upstream = plugins.iter().find(|p| p.name == name).unwrap();
    assert_eq!(
        (upstream.kind(), upstream.state()),
        (pb::PluginKind::Upstream, pb::PluginState::Ready)
    );
}

/// Checks every variant through `d` and asserts each answer is `want`'s (the embedded
/// simulator's), and that every validity code came up.
pub async fn assert_every_variant(d: &TestDaemon, want: &[pb::QualificationResult], label: &str) {
    let mut validities = std::collections::BTreeSet::new();
    for ((what, request), want) in variants().iter().zip(want) {
        let got = check(d, request)
            .await
            .unwrap_or_else(|e| panic!("{what} ({label}): {e:?}"));
        validities.insert(got.validity_code.clone());
        assert_eq!(&comparable(got), want, "{what} ({label})");
    }
    let all: std::collections::BTreeSet<String> =
        ["1", "2", "3", "4", "5"].map(String::from).into();
    assert_eq!(validities, all);
}

/// What the embedded simulator answers to every variant, through a daemon of its own.
pub async fn embedded_answers() -> Vec<pb::QualificationResult> {
    let d = TestDaemon::start().await;
    let mut out = Vec::new();
    for (what, request) in variants() {
        let r = check(&d, &request)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        out.push(comparable(r));
    }
    d.running.stop().await.unwrap();
    out
}

/// A result without what differs from one check to the next (its id and time).
pub fn comparable(mut r: pb::QualificationResult) -> pb::QualificationResult {
    assert!(!r.check_id.is_empty() && !r.checked_at.is_empty());
    r.check_id.clear();
    r.checked_at.clear();
    // Which upstream answered, not what it answered: the embedded simulator marks its own.
    r.simulated = false;
    r
}

/// The google.rpc.RetryInfo delay of a status, if it has one.
pub fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
}

/// The names in a folder, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Polls `cond` every 10 ms, failing after `secs`.
pub async fn wait_until(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `extra` laid over `base`, objects merged key by key (for a plugin config and a test's tweaks).
pub fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    match (&mut base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                let old = b.remove(&k).unwrap_or(serde_json::Value::Null);
                b.insert(k, merged(old, v));
            }
            base
        }
        (_, e) => e,
    }
}

/// 照会番号の登録 through `d`: taro's numbers get `number`, and a later check by numbers carries
/// it over gRPC; numbers nobody has are OQS's error, with its code.
pub async fn assert_reference_number_registers(d: &TestDaemon, number: &str) {
    let registered = d
        .reception()
        .register_reference_number(pb::RegisterReferenceNumberRequest {
            patient_number: number.into(),
            insurer_number: "06130488".into(),
            symbol: "12-34".into(),
            number: "4260".into(),
            branch: "01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .registration
        .unwrap();
    assert_eq!(registered.reference_number, number);
    assert!(!registered.registered_at.is_empty());
    let r = check(d, &taro_numbers()).await.unwrap();
    assert_eq!(r.reference_number, number);
    assert_eq!(r.qualifications[0].name, "診療　太郎");

    let e = d
        .reception()
        .register_reference_number(pb::RegisterReferenceNumberRequest {
            patient_number: "P-404".into(),
            insurer_number: "06130488".into(),
            number: "999999".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let (why, meta) = reason(&e);
    assert_eq!(why, "UPSTREAM_ERROR");
    assert_eq!(meta["code"], "SIMX0004");
}

/// Starts a bulk query through `d` and answers the finished job and its items.
pub async fn bulk_query(
    d: &TestDaemon,
    query: pb::bulk_query::Kind,
) -> (pb::BulkCheckJob, Vec<pb::BulkCheckItemResult>) {
    let job = d
        .bulk()
        .start_bulk_check(pb::StartBulkCheckRequest {
            query: Some(pb::BulkQuery { kind: Some(query) }),
            confirmation_date: "2026-11-22".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(job.mode(), pb::BulkCheckMode::BulkUpload);
    let mut stream = d
        .bulk()
        .watch_bulk_check(pb::WatchBulkCheckRequest {
            job_id: job.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    while tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("progress within 30 s")
        .unwrap()
        .is_some()
    {}
    let results = d
        .bulk()
        .get_bulk_check_results(pb::GetBulkCheckResultsRequest {
            job_id: job.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let job = results.job.unwrap();
    assert_eq!(job.state(), pb::BulkCheckState::Done);
    (job, results.items)
}

/// The names of the people a finished query found, each item checked.
fn names(items: &[pb::BulkCheckItemResult]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            assert_eq!(i.state(), pb::BulkItemState::Checked, "{i:?}");
            i.result.as_ref().unwrap().qualifications[0].name.clone()
        })
        .collect()
}

/// Each query kind of 一括照会 through `d`, against the fixture: 医療扶助 for 2026-09 finds the
/// recipient with that month's tickets, 訪問診療 and オンライン診療 the people whose dates fall in
/// the range, with every field over gRPC (taro's 照会番号 `taro_reference`, registered before,
/// is his item's key).
pub async fn assert_bulk_queries(d: &TestDaemon, taro_reference: &str) {
    use pb::bulk_query::Kind;
    let (job, items) = bulk_query(
        d,
        Kind::MedicalAssistance(pb::MedicalAssistanceQuery {
            treatment_month: "2026-09".into(),
        }),
    )
    .await;
    assert_eq!(job.kind(), pb::BulkCheckKind::MedicalAssistance);
    assert_eq!((job.total, job.checked), (1, 1));
    assert_eq!(names(&items), ["扶助　五郎"]);
    let q = &items[0].result.as_ref().unwrap().qualifications[0];
    let assistance = q.medical_assistance.as_ref().expect("医療扶助 over gRPC");
    assert_eq!(assistance.welfare_office_name, "千代田区福祉事務所");
    assert!(
        assistance
            .tickets
            .iter()
            .all(|t| t.treatment_month == "2026-09")
    );
    assert!(!assistance.tickets.is_empty());

    let (job, items) = bulk_query(
        d,
        Kind::HomeVisit(pb::HomeVisitQuery {
            consent_date_from: "2026-11-01".into(),
            consent_date_to: "2026-11-30".into(),
        }),
    )
    .await;
    assert_eq!(job.kind(), pb::BulkCheckKind::HomeVisit);
    assert_eq!(names(&items), ["診療　太郎"]);
    assert_eq!(items[0].key, taro_reference);
    let r = items[0].result.as_ref().unwrap();
    assert_eq!(r.reference_number, taro_reference);
    assert_eq!(r.validity(), pb::Validity::Valid);
    assert_eq!(r.qualifications[0].insurer_number.trim(), "06130488");

    let online = |from: &str, to: &str, dates: pb::OnlineConsultationDates| {
        Kind::OnlineConsultation(pb::OnlineConsultationQuery {
            date_from: from.into(),
            date_to: to.into(),
            dates: dates as i32,
        })
    };
    use pb::OnlineConsultationDates::{Consent, Examination};
    let (job, items) = bulk_query(d, online("2026-11-21", "2026-11-21", Examination)).await;
    assert_eq!(job.kind(), pb::BulkCheckKind::OnlineConsultation);
    assert_eq!(names(&items), ["診療　花子"]);
    let (_, items) = bulk_query(d, online("2026-11-01", "2026-11-15", Consent)).await;
    assert_eq!(names(&items), ["診療　花子"]);
    let (job, items) = bulk_query(d, online("2026-11-01", "2026-11-15", Examination)).await;
    assert_eq!(
        (job.total, items.len()),
        (0, 0),
        "nobody was seen online then"
    );
}
