//! The 資格確認端末 folder transport through the real daemon: shikakud loads the folder plugin
//! (`.so`) as its upstream, and the terminal simulator answers in real temporary folders. Every
//! result variant in both encodings, face-auth results on the reception list, and the faults —
//! slow answer, error result, malformed and truncated files, no answer, a terminal that is down
//! then back, a stuck request beside other clients, and shikakud killed mid-request — each with
//! its status, nothing lost, nothing answered twice and no file left behind.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shikaku_oqs_xml::Encoding;
use shikaku_simulator::Directory;
use shikaku_terminal_sim::Fault;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, ListPluginsRequest, ListReadersRequest, ListReceptionsRequest, PinIdentity,
    ReceptionEntry, ReceptionSource, Validity, WatchReceptionsRequest,
};
use shikaku_tests::transports::{
    Share, assert_bulk_queries, assert_error_answers_fail_with_their_code, assert_every_variant,
    assert_reference_number_registers, assert_unreadable_answers_are_retried,
    assert_upstream_ready, assert_zipped_bulk_result_is_read, check, embedded_answers, files,
    merged, retry_delay, upstream_plugin, variants, wait_until,
};
use shikaku_tests::{TestDaemon, bin, pb, plugin, reason, taro_numbers};
use tonic::Code;

const LIB: &str = "shikaku_oqs_folder_plugin";

/// The folder plugin's settings for tests: quick polls, settle times and retries.
fn folder_config(share: &Share, state_dir: &Path) -> serde_json::Value {
    serde_json::json!({
        "root": share.root(),
        "state_dir": state_dir,
        "facility_code": share.terminal.facility_code(),
        "poll_ms": 5,
        "completion": { "settle_ms": 200 },
        "face": { "poll_ms": 20 },
        "abandon_after_ms": 1_500,
        "guard": { "retry": { "base_backoff_ms": 10, "max_backoff_ms": 40 } },
    })
}

struct Rig {
    share: Share,
    d: TestDaemon,
}

/// The daemon with the folder plugin as its upstream, each call's deadline `timeout_ms`,
/// `extra` laid over the test settings.
async fn rig(encoding: Encoding, timeout_ms: u64, extra: serde_json::Value) -> Rig {
    let share = Share::start(encoding);
    let d = TestDaemon::start_with(|c| {
        let config = merged(folder_config(&share, &c.data_dir.join("oqs-folder")), extra);
        c.plugins = vec![upstream_plugin(LIB, timeout_ms, config)];
    })
    .await;
    Rig { share, d }
}

impl Rig {
    fn inflight(&self) -> Vec<String> {
        files(&self.d.dir.path().join("oqs-folder/inflight"))
    }

    /// Nothing of ours is left: no request in `req`, no result in `res`, no journal entry.
    fn assert_clean(&self) {
        let t = &self.share.terminal;
        assert_eq!(files(t.req_dir()), Vec::<String>::new(), "left in req");
        assert_eq!(files(t.res_dir()), Vec::<String>::new(), "left in res");
        assert_eq!(self.inflight(), Vec::<String>::new(), "left in the journal");
    }

    async fn receptions(&self) -> Vec<ReceptionEntry> {
        self.d
            .reception()
            .list_receptions(ListReceptionsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .entries
    }
}

#[tokio::test]
async fn every_result_variant_in_both_encodings_matches_the_embedded_simulator() {
    let want = embedded_answers().await;
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(
            encoding,
            10_000,
            serde_json::json!({
                "request_encoding": encoding,
                "result_encoding": encoding,
            }),
        )
        .await;
        assert_upstream_ready(&rig.d, "oqs-folder").await;
        assert_every_variant(&rig.d, &want, &format!("{encoding:?}")).await;
        assert_eq!(rig.share.terminal.answered(), variants().len() as u64);
        rig.assert_clean();
        rig.d.running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn card_checks_are_unimplemented_and_face_results_reach_the_reception_list() {
    let rig = rig(Encoding::ShiftJis, 10_000, serde_json::json!({})).await;
    let e = rig
        .d
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
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented, "{e:?}");

    let mut watch = rig
        .d
        .reception()
        .watch_receptions(WatchReceptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let people = ["taro", "kokuho", "welfare"];
    for p in people {
        rig.share.terminal.drop_face(p).unwrap();
    }
    let mut watched = Vec::new();
    while watched.len() < people.len() {
        let entry = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("a face result within 10 s")
            .unwrap()
            .unwrap()
            .entry
            .unwrap();
        watched.push(entry);
    }
    let directory = Directory::load(None).unwrap();
    let mut want: Vec<String> = people
        .iter()
        .map(|p| directory.person(p).unwrap().qualifications[0].name.clone())
        .collect();
    let mut got: Vec<String> = watched.iter().map(|e| e.name.clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for e in &watched {
        assert_eq!(e.source(), ReceptionSource::FaceAuthReader);
        assert!(
            e.reader.starts_with("face/OQSsiquc01res_face_"),
            "{}",
            e.reader
        );
        assert!(
            e.result
                .as_ref()
                .is_some_and(|r| !r.validity_code.is_empty())
        );
    }
    assert_eq!(rig.receptions().await.len(), people.len());
    let face = rig.share.terminal.face_dir().to_owned();
    wait_until(5, "the face files to be taken", async || {
        files(&face).is_empty()
    })
    .await;
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

/// Face files in the shapes real terminals write reach the reception list over gRPC with every
/// new field: 医療扶助 tickets and numbers, the 2025 consents, 照会番号, flat 特定疾病, raw dates.
#[tokio::test]
async fn new_result_fields_arrive_over_grpc_from_face_files() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let rig = rig(encoding, 10_000, serde_json::json!({})).await;
        let mut watch = rig
            .d
            .reception()
            .watch_receptions(WatchReceptionsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let shapes = [
            "medical-assistance-terminal",
            "consents-2025",
            "specific-diseases-flat",
            "cut-date",
        ];
        for shape in shapes {
            rig.share.terminal.drop_shape(shape).unwrap();
        }
        let mut results = Vec::new();
        while results.len() < shapes.len() {
            let entry = tokio::time::timeout(Duration::from_secs(10), watch.message())
                .await
                .expect("a face result within 10 s")
                .unwrap()
                .unwrap();
            results.push(entry.entry.unwrap().result.unwrap());
        }
        let find = |what: &str, f: &dyn Fn(&pb::QualificationResult) -> bool| {
            results
                .iter()
                .find(|r| f(r))
                .unwrap_or_else(|| panic!("no {what} in {encoding:?}"))
                .clone()
        };

        let a1 = find("medical assistance", &|r| r.validity_code == "6");
        assert_eq!(a1.validity(), Validity::ValidUnregistered);
        let aid = a1.qualifications[0].medical_assistance.clone().unwrap();
        assert_eq!(aid.public_expense_number, "12136017");
        assert!(aid.public_expense_number_check_digit_invalid);
        assert_eq!(aid.recipient_number, "7654321");
        assert_eq!(aid.welfare_office_name, "千代田区福祉事務所");
        assert_eq!(aid.tickets.len(), 2);
        assert_eq!(aid.tickets[0].r#type(), pb::TicketType::Medical);
        assert_eq!(
            aid.tickets[0].injury_names,
            ["高血圧症", "脂質異常症", "腰痛症"]
        );
        assert_eq!(aid.tickets[0].self_pay_yen, 3400);
        assert_eq!(aid.tickets[0].treatment_month, "2026-09");

        let consents = find("2025 consents", &|r| r.medium_code == "A");
        let c = consents.consents.clone().unwrap();
        for (what, state) in [
            ("diagnosis names", &c.diagnosis_names),
            ("infections", &c.infections),
            ("drug allergies", &c.drug_allergies),
            ("lab tests", &c.lab_tests),
            ("prescriptions", &c.prescriptions),
            ("medication", &c.medication),
        ] {
            let state = state.as_ref().unwrap_or_else(|| panic!("{what}"));
            assert!(state.given, "{what}");
            assert!(!state.consented_at.is_empty() && !state.available_until.is_empty());
        }
        assert_eq!(c.other_allergies.unwrap().flag_code, "0");
        assert_eq!(consents.qualification_confirmation_key, "QCK-0001");
        assert_eq!(consents.qualifications[0].reference_number, "P-000123");

        let flat = find("flat 特定疾病", &|r| {
            r.qualifications
                .first()
                .is_some_and(|q| q.specific_diseases.len() == 2)
        });
        assert_eq!(
            flat.qualifications[0].specific_diseases[1].self_pay_yen,
            20000
        );

        let cut = find("a cut date", &|r| !r.unparsed.is_empty());
        assert_eq!(cut.qualifications[0].birth_date, "");
        assert!(
            cut.unparsed
                .iter()
                .any(|u| u.field == "qualifications[0].birth_date" && u.raw == "202410（カット）")
        );
        let face = rig.share.terminal.face_dir().to_owned();
        wait_until(5, "the face files to be taken", async || {
            files(&face).is_empty()
        })
        .await;
        rig.d.running.stop().await.unwrap();
    }
}

/// A bulk check whose result the terminal answers zipped (`OQSmuquc02res_….zip`): every item
/// checked over gRPC, and the zip cleaned up like any answer.
#[tokio::test]
async fn a_zipped_bulk_result_is_read_and_cleaned_up() {
    let rig = rig(
        Encoding::ShiftJis,
        10_000,
        serde_json::json!({ "bulk_poll_ms": 50 }),
    )
    .await;
    assert_zipped_bulk_result_is_read(&rig.d, &rig.share.terminal).await;
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

/// 照会番号の登録 (OQSsiimm01) and the 医療扶助・訪問診療・オンライン診療 bulk queries
/// (OQSmutic / OQSmuhvq / OQSmuonq, 01 then 02) through real folders in Shift_JIS: the terminal
/// remembers the registration, every field arrives over gRPC, nothing is left behind.
#[tokio::test]
async fn reference_numbers_and_bulk_queries_go_through_the_folders() {
    let rig = rig(
        Encoding::ShiftJis,
        10_000,
        serde_json::json!({ "bulk_poll_ms": 50 }),
    )
    .await;
    assert_reference_number_registers(&rig.d, "P-777").await;
    assert_bulk_queries(&rig.d, "P-777").await;

    // Taro's face file now carries his 照会番号: the desk finds P-777 by it, though P-777 is
    // linked only under insurance he no longer has.
    rig.d
        .reception()
        .link_patient(pb::LinkPatientRequest {
            patient_number: "P-777".into(),
            person: Some(pb::link_patient_request::Person::Details(
                pb::LinkedPerson {
                    insurer_number: "01320027".into(),
                    number: "1".into(),
                    name_kana: "ｼﾝﾘｮｳ ﾀﾛｳ".into(),
                    birth_date: "1970-01-01".into(),
                    sex: pb::Sex::Male as i32,
                    ..Default::default()
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut watch = rig
        .d
        .reception()
        .watch_receptions(WatchReceptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    rig.share.terminal.drop_face("taro").unwrap();
    let entry = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a face result within 10 s")
        .unwrap()
        .unwrap()
        .entry
        .unwrap();
    assert_eq!(entry.source(), ReceptionSource::FaceAuthReader);
    assert_eq!(entry.result.as_ref().unwrap().reference_number, "P-777");
    assert_eq!(
        (entry.r#match(), entry.patient_number.as_str()),
        (pb::PatientMatch::Linked, "P-777")
    );
    let face = rig.share.terminal.face_dir().to_owned();
    wait_until(5, "the face file to be taken", async || {
        files(&face).is_empty()
    })
    .await;
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_answer_within_the_deadline_is_ok() {
    let rig = rig(Encoding::Utf8, 5_000, serde_json::json!({})).await;
    rig.share
        .terminal
        .set_fault(Fault::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    let r = check(&rig.d, &taro_numbers()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(r.validity(), Validity::Valid);
    rig.share
        .terminal
        .set_fault(Fault::SlowWrite(Duration::from_millis(100)));
    let r = check(&rig.d, &taro_numbers()).await.unwrap();
    assert_eq!(r.validity(), Validity::Valid);
    assert_eq!(
        rig.share.terminal.taken(),
        2,
        "a half-written file is waited for, not retried"
    );
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_error_result_is_failed_precondition_with_its_code() {
    let rig = rig(Encoding::ShiftJis, 5_000, serde_json::json!({})).await;
    assert_error_answers_fail_with_their_code(&rig.d, &rig.share.terminal, || rig.assert_clean())
        .await;
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_and_truncated_results_are_unavailable() {
    let rig = rig(Encoding::Utf8, 5_000, serde_json::json!({})).await;
    // A check is safe to repeat: three attempts, each cleaned up.
    assert_unreadable_answers_are_retried(&rig.d, &rig.share.terminal, "unreadable result", || {
        rig.assert_clean()
    })
    .await;
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn no_answer_is_deadline_exceeded_and_a_late_answer_reaches_the_list() {
    let rig = rig(Encoding::Utf8, 600, serde_json::json!({})).await;
    let t = &rig.share.terminal;
    t.set_fault(Fault::NeverAnswer);
    let started = Instant::now();
    let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "kept to the deadline"
    );
    assert_eq!(rig.inflight().len(), 1, "remembered until given up");
    wait_until(10, "giving up on the unanswered request", async || {
        rig.inflight().is_empty()
    })
    .await;
    rig.assert_clean();

    // An answer after the deadline is not lost: it reaches the list, once.
    t.set_fault(Fault::Slow(Duration::from_millis(1_200)));
    let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    wait_until(10, "the late answer on the list", async || {
        !rig.receptions().await.is_empty()
    })
    .await;
    let list = rig.receptions().await;
    assert_eq!(list.len(), 1);
    assert!(
        list[0].reader.starts_with("res/OQSsiquc01res_"),
        "{}",
        list[0].reader
    );
    assert_eq!(list[0].validity(), Validity::Valid);
    wait_until(10, "the late answer's file to be removed", async || {
        rig.inflight().is_empty() && files(rig.share.terminal.res_dir()).is_empty()
    })
    .await;
    rig.assert_clean();
    assert_eq!(t.taken(), 2);
    rig.d.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_terminal_that_is_down_is_unavailable_with_the_breakers_retry_hint_then_back() {
    let rig = rig(
        Encoding::Utf8,
        300,
        serde_json::json!({ "guard": {
            "retry": { "max_attempts": 1 },
            "breaker": { "failure_threshold": 2, "open_ms": 1_500 },
        }}),
    )
    .await;
    let t = &rig.share.terminal;
    t.set_fault(Fault::Down);
    for _ in 0..2 {
        let e = check(&rig.d, &taro_numbers()).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().contains("did not take"), "{}", e.message());
        rig.assert_clean();
    }
    // The breaker is open: failing fast, nothing written, a retry hint of when it probes.
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
    assert_eq!(t.taken(), 0);
    rig.assert_clean();

    // The terminal is back; a client that waits as told gets through on its next call (the
    // probe), and the breaker closes.
    t.set_fault(Fault::None);
    tokio::time::sleep(delay).await;
    assert_eq!(
        check(&rig.d, &taro_numbers()).await.unwrap().validity(),
        Validity::Valid
    );
    assert_eq!(
        check(&rig.d, &taro_numbers()).await.unwrap().validity(),
        Validity::Valid
    );
    assert_eq!(t.taken(), 2);
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_request_does_not_hold_up_other_clients() {
    let rig = rig(
        Encoding::Utf8,
        3_000,
        serde_json::json!({ "guard": { "max_sessions": 2 } }),
    )
    .await;
    let t = &rig.share.terminal;
    t.set_fault(Fault::NeverAnswer);
    let stuck = {
        let mut client = rig.d.qualification();
        tokio::spawn(async move { client.check_by_insurance_numbers(taro_numbers()).await })
    };
    wait_until(5, "the terminal to take the request", async || {
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
    let card = tokio::time::timeout(
        quick,
        rig.d.qualification().check_by_card(CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
    )
    .await
    .expect("CheckByCard answers at once");
    assert_eq!(card.unwrap_err().code(), Code::Unimplemented);
    tokio::time::timeout(quick, rig.receptions())
        .await
        .expect("ListReceptions answers at once");
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

    // Checks from many clients run side by side, at most max_sessions at the terminal.
    t.set_fault(Fault::Slow(Duration::from_millis(300)));
    let (taken, answered) = (t.taken(), t.answered());
    let checks: Vec<_> = (0..4)
        .map(|_| {
            let mut client = rig.d.qualification();
            tokio::spawn(async move { client.check_by_insurance_numbers(taro_numbers()).await })
        })
        .collect();
    let mut peak = 0;
    while !checks.iter().all(|c| c.is_finished()) {
        // `taken` before `answered`: a sample can only undercount what is at the terminal.
        let at_terminal = (t.taken() - taken) - (t.answered() - answered);
        peak = peak.max(at_terminal);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for c in checks {
        assert_eq!(
            c.await
                .unwrap()
                .unwrap()
                .into_inner()
                .result
                .unwrap()
                .validity(),
            Validity::Valid
        );
    }
    assert_eq!(peak, 2, "both sessions used, never more");
    wait_until(10, "the unanswered request to be given up", async || {
        rig.inflight().is_empty()
    })
    .await;
    rig.assert_clean();
    rig.d.running.stop().await.unwrap();
}

/// The real `shikakud` binary with the folder plugin, on `data` and the share.
struct Process {
    child: Child,
    url: String,
}

fn start_process(data: &Path, share: &Share) -> Process {
    let config = data.join("shikaku.toml");
    let state = data.join("oqs-folder");
    std::fs::write(
        &config,
        format!(
            r#"
[[plugins]]
path = "{}"
kind = "upstream"
timeout_ms = 10000
[plugins.config]
root = "{}"
state_dir = "{}"
facility_code = "{}"
poll_ms = 5
abandon_after_ms = 60000
[plugins.config.face]
poll_ms = 20
"#,
            plugin(LIB).display(),
            share.root().display(),
            state.display(),
            share.terminal.facility_code()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin("shikakud"))
        .env("SHIKAKU_METRICS__LISTEN", "127.0.0.1:0")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--log", "info", "--data-dir"])
        .arg(data)
        .current_dir(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    // A copy for the suite's log scan (`tests/log_scan.rs`).
    let mut copy = shikaku_tests::child_log("shikakud");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(copy, "{line}");
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx.recv().expect("shikakud exited before serving");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log (shown when a test fails) so the daemon never blocks on the pipe.
    std::thread::spawn(move || {
        while let Ok(line) = rx.recv() {
            eprintln!("shikakud: {line}");
        }
    });
    Process {
        child,
        url: format!("http://{addr}"),
    }
}

impl Process {
    async fn client(
        &self,
    ) -> pb::qualification_service_client::QualificationServiceClient<tonic::transport::Channel>
    {
        pb::qualification_service_client::QualificationServiceClient::connect(self.url.clone())
            .await
            .unwrap()
    }

    async fn receptions(&self) -> Vec<ReceptionEntry> {
        pb::reception_service_client::ReceptionServiceClient::connect(self.url.clone())
            .await
            .unwrap()
            .list_receptions(ListReceptionsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .entries
    }

    /// `kill -9`: no shutdown, nothing flushed.
    fn kill9(self) {
        drop(self);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL, also when a test fails half-way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn journal(data: &Path) -> Vec<String> {
    files(&data.join("oqs-folder/inflight"))
}

/// A check sent to a daemon that is then killed: its error, once the call ends.
fn send_check(
    p: &Process,
) -> tokio::task::JoinHandle<Result<pb::CheckByInsuranceNumbersResponse, tonic::Status>> {
    let url = p.url.clone();
    tokio::spawn(async move {
        pb::qualification_service_client::QualificationServiceClient::connect(url)
            .await
            .unwrap()
            .check_by_insurance_numbers(taro_numbers())
            .await
            .map(|r| r.into_inner())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_the_request_waits_in_req_it_is_withdrawn_on_restart() {
    let data = tempfile::tempdir().unwrap();
    let share = Share::start(Encoding::Utf8);
    let t = &share.terminal;
    t.set_fault(Fault::Down);
    let p = start_process(data.path(), &share);
    let call = send_check(&p);
    let req = t.req_dir().to_owned();
    wait_until(10, "the request in req", async || {
        files(&req).iter().any(|f| f.starts_with("OQSsiquc01req_"))
    })
    .await;
    p.kill9();
    assert!(call.await.unwrap().is_err(), "the caller learns it failed");
    assert_eq!(journal(data.path()).len(), 1);
    assert_eq!(files(&req).len(), 1, "killed mid-request");

    // Restarted while the terminal is still down: the request nobody waits for is withdrawn,
    // not left for the terminal to answer to nobody.
    let p = start_process(data.path(), &share);
    assert_eq!(files(&req), Vec::<String>::new());
    assert_eq!(journal(data.path()), Vec::<String>::new());
    t.set_fault(Fault::None);
    let r = p
        .client()
        .await
        .check_by_insurance_numbers(taro_numbers())
        .await
        .unwrap();
    assert_eq!(r.into_inner().result.unwrap().validity(), Validity::Valid);
    assert_eq!(t.taken(), 1, "only the new request reached the terminal");
    assert_eq!(files(&req), Vec::<String>::new());
    assert_eq!(files(t.res_dir()), Vec::<String>::new());
    assert_eq!(journal(data.path()), Vec::<String>::new());
    p.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_terminal_took_the_request_its_answer_reaches_the_list_once() {
    let data = tempfile::tempdir().unwrap();
    let share = Share::start(Encoding::ShiftJis);
    let t = &share.terminal;
    t.set_fault(Fault::Slow(Duration::from_millis(800)));
    let p = start_process(data.path(), &share);
    let call = send_check(&p);
    wait_until(10, "the terminal to take the request", async || {
        t.taken() == 1
    })
    .await;
    p.kill9();
    assert!(call.await.unwrap().is_err());
    // The terminal answers while shikakud is down.
    wait_until(10, "the answer in res", async || t.answered() == 1).await;
    assert_eq!(files(t.res_dir()).len(), 1);

    let p = start_process(data.path(), &share);
    wait_until(15, "the answer on the reception list", async || {
        !p.receptions().await.is_empty()
    })
    .await;
    let list = p.receptions().await;
    assert_eq!(list.len(), 1);
    assert!(
        list[0].reader.starts_with("res/OQSsiquc01res_"),
        "{}",
        list[0].reader
    );
    assert_eq!(list[0].validity(), Validity::Valid);
    let res = t.res_dir().to_owned();
    wait_until(
        10,
        "the answer's file and journal entry to go",
        async || files(&res).is_empty() && journal(data.path()).is_empty(),
    )
    .await;
    p.kill9();

    // Another restart delivers nothing again (a face result dropped after it comes through
    // alone), and nothing was asked twice.
    let p = start_process(data.path(), &share);
    t.drop_face("kokuho").unwrap();
    wait_until(15, "the face result on the list", async || {
        p.receptions().await.len() > 1
    })
    .await;
    let list = p.receptions().await;
    assert_eq!(list.len(), 2, "answered once: {list:?}");
    assert!(list[1].reader.starts_with("face/"), "{}", list[1].reader);
    assert_eq!(t.taken(), 1);
    assert_eq!(files(t.req_dir()), Vec::<String>::new());
    assert_eq!(files(t.res_dir()), Vec::<String>::new());
    p.kill9();
}
