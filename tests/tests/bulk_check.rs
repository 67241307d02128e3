//! BulkCheckService: a 1,000-patient bulk query with progress, results stored and fetched later
//! (also after a restart), bad rows reported per item, and the CLI's CSV in and out.

use std::process::Command;
use std::time::Duration;

use shikaku_tests::pb::bulk_check_item::Target;
use shikaku_tests::pb::link_patient_request::Person;
use shikaku_tests::pb::{
    BulkCheckItem, BulkCheckState, BulkItemState, CheckByInsuranceNumbersRequest,
    GetBulkCheckResultsRequest, LinkPatientRequest, LinkedPerson, ListBulkChecksRequest, Sex,
    StartBulkCheckRequest, Validity, WatchBulkCheckRequest, WatchBulkCheckResponse,
};
use shikaku_tests::{TestDaemon, bin, reason, violations};
use tonic::Code;

/// Fixture people checkable by numbers: insurer, symbol, number, branch, birth date, validity.
const PEOPLE: &[(&str, &str, &str, &str, &str, Validity)] = &[
    (
        "06130488",
        "12-34",
        "4260",
        "01",
        "1970-01-01",
        Validity::Valid,
    ),
    (
        "06130488",
        "12-34",
        "4260",
        "02",
        "1972-05-15",
        Validity::Valid,
    ),
    (
        "138057",
        "千代田",
        "1234567",
        "00",
        "1985-08-20",
        Validity::Valid,
    ),
    ("01320027", "5", "88", "00", "1954-03-03", Validity::Valid),
    ("33120015", "7", "301", "00", "1968-11-30", Validity::Valid),
    (
        "06130488",
        "20-1",
        "555",
        "01",
        "1975-02-14",
        Validity::Valid,
    ),
    (
        "06130488",
        "40-4",
        "404",
        "01",
        "1980-08-08",
        Validity::Invalid,
    ),
    (
        "06130488",
        "50-5",
        "505",
        "01",
        "1988-09-09",
        Validity::InvalidNewerQualification,
    ),
    (
        "06130488",
        "99-9",
        "999",
        "01",
        "1999-09-09",
        Validity::NoMatch,
    ),
];

/// `n` scheduled patients, made by cycling through the fixture people; every 100th row is a
/// patient number (linked to taro) and every 250th, from row 124, has a wrong check digit.
fn schedule(n: usize) -> Vec<BulkCheckItem> {
    (0..n)
        .map(|i| {
            let target = if i % 100 == 99 {
                Target::PatientNumber("01234".into())
            } else {
                let p = PEOPLE[i % PEOPLE.len()];
                Target::Numbers(CheckByInsuranceNumbersRequest {
                    insurer_number: if i % 250 == 124 { "06130489" } else { p.0 }.into(),
                    symbol: p.1.into(),
                    number: p.2.into(),
                    branch: p.3.into(),
                    birth_date: p.4.into(),
                    ..Default::default()
                })
            };
            BulkCheckItem {
                key: format!("row-{i}"),
                target: Some(target),
            }
        })
        .collect()
}

fn expected_validity(i: usize) -> Option<Validity> {
    match i {
        i if i % 250 == 124 => None,
        i if i % 100 == 99 => Some(Validity::Valid),
        i => Some(PEOPLE[i % PEOPLE.len()].5),
    }
}

async fn link_taro(d: &TestDaemon) {
    d.reception()
        .link_patient(LinkPatientRequest {
            patient_number: "01234".into(),
            person: Some(Person::Details(LinkedPerson {
                insurer_number: "06130488".into(),
                symbol: "12-34".into(),
                number: "4260".into(),
                branch: "01".into(),
                name: "診療　太郎".into(),
                name_kana: "ｼﾝﾘｮｳ ﾀﾛｳ".into(),
                birth_date: "1970-01-01".into(),
                sex: Sex::Male as i32,
            })),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Follows a job's progress to its end (bounded at 60 s).
async fn follow(d: &TestDaemon, job_id: &str) -> Vec<WatchBulkCheckResponse> {
    let mut stream = d
        .bulk()
        .watch_bulk_check(WatchBulkCheckRequest {
            job_id: job_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .expect("progress within 60 s")
            .unwrap();
        match next {
            Some(p) => seen.push(p),
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_patients_with_progress_and_stored_results() {
    let d = TestDaemon::start_with(|c| c.bulk.concurrency = 8).await;
    link_taro(&d).await;
    let items = schedule(1000);
    let job = d
        .bulk()
        .start_bulk_check(StartBulkCheckRequest {
            items,
            confirmation_date: String::new(),
            label: "翌日予約".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!((job.total, job.concurrency), (1000, 8));
    // Bad rows are known at once and never sent.
    assert_eq!(job.invalid, 4);

    let progress = follow(&d, &job.id).await;
    let finished: Vec<u32> = progress.iter().map(|p| p.finished).collect();
    assert!(finished.windows(2).all(|w| w[0] < w[1]), "{finished:?}");
    let last = progress.last().unwrap().job.clone().unwrap();
    assert_eq!(last.state(), BulkCheckState::Done);
    assert_eq!((last.checked, last.failed, last.invalid), (996, 0, 4));
    assert!(!last.finished_at.is_empty());

    let results = d
        .bulk()
        .get_bulk_check_results(GetBulkCheckResultsRequest {
            job_id: job.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(results.items.len(), 1000);
    for (i, item) in results.items.iter().enumerate() {
        assert_eq!(
            (item.index as usize, item.key.as_str()),
            (i, format!("row-{i}").as_str())
        );
        match expected_validity(i) {
            Some(v) => {
                assert_eq!(item.state(), BulkItemState::Checked, "row {i}");
                assert_eq!(item.result.as_ref().unwrap().validity(), v, "row {i}");
            }
            None => {
                assert_eq!(item.state(), BulkItemState::Invalid, "row {i}");
                assert_eq!(item.error_reason, "CHECK_DIGIT_MISMATCH");
                assert!(
                    item.error_message.contains("insurer_number"),
                    "{}",
                    item.error_message
                );
            }
        }
    }

    // Stored: still there after a restart.
    let d = d.restart_with(|_| {}).await;
    let again = d
        .bulk()
        .get_bulk_check_results(GetBulkCheckResultsRequest {
            job_id: job.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.job.unwrap().checked, 996);
    // In pages, each read alone from the store: the same rows, once each, in order.
    let (mut paged, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let page = d
            .bulk()
            .get_bulk_check_results(GetBulkCheckResultsRequest {
                job_id: job.id.clone(),
                page_size: 300,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.items.iter().map(|i| (i.index, i.state)));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let whole: Vec<_> = results.items.iter().map(|i| (i.index, i.state)).collect();
    assert_eq!((paged, pages), (whole, 4));
    let jobs = d
        .bulk()
        .list_bulk_checks(ListBulkChecksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].label, "翌日予約");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_short_by_a_restart_finishes_after_it() {
    let d = TestDaemon::start_with(|c| c.bulk.concurrency = 1).await;
    let job = d
        .bulk()
        .start_bulk_check(StartBulkCheckRequest {
            items: schedule(400),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    // Stop at once: whatever had not run stays pending in the store and runs on the next start.
    let d = d.restart_with(|c| c.bulk.concurrency = 4).await;
    let progress = follow(&d, &job.id).await;
    let last = progress.last().unwrap().job.clone().unwrap();
    assert_eq!(last.state(), BulkCheckState::Done);
    assert_eq!(last.checked + last.failed + last.invalid, 400);
    // Row 99 names a patient number nobody linked: it fails with the reason, the rest go on.
    let results = d
        .bulk()
        .get_bulk_check_results(GetBulkCheckResultsRequest {
            job_id: job.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(results.items[99].state(), BulkItemState::Failed);
    assert_eq!(results.items[99].error_reason, "PATIENT_LINK_NOT_FOUND");
    assert_eq!(last.failed, 4);
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let d = TestDaemon::start().await;
    let e = d
        .bulk()
        .start_bulk_check(StartBulkCheckRequest {
            items: vec![],
            confirmation_date: "2026-02-30".into(),
            label: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&e).into_iter().map(|v| v.0).collect();
    assert_eq!(fields, ["items", "confirmation_date"]);
    let e = d
        .bulk()
        .watch_bulk_check(WatchBulkCheckRequest {
            job_id: "blk_0000000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(reason(&e).0, "BULK_CHECK_NOT_FOUND");
    let e = d
        .bulk()
        .get_bulk_check_results(GetBulkCheckResultsRequest {
            job_id: "../etc".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "job_id");
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_a_csv_and_writes_the_results_as_csv() {
    let d = TestDaemon::start().await;
    let input = d.dir.path().join("tomorrow.csv");
    let mut csv = String::from("key,insurer_number,symbol,number,branch,birth_date\n");
    for i in 0..60 {
        let p = PEOPLE[i % PEOPLE.len()];
        csv += &format!("r{i},{},{},{},{},{}\n", p.0, p.1, p.2, p.3, p.4);
    }
    std::fs::write(&input, csv).unwrap();
    let output = d.dir.path().join("results.csv");
    let cli = tokio::task::spawn_blocking({
        let (url, input, output) = (d.running.url(), input.clone(), output.clone());
        move || {
            Command::new(bin("shikaku"))
                .args(["--addr", &url, "bulk", "start", "--csv"])
                .arg(&input)
                .arg("--out")
                .arg(&output)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let written = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 61);
    assert!(lines[0].starts_with("index,key,state,validity,insurer_number"));
    assert!(
        lines[1].starts_with("0,r0,checked,valid,06130488,全国健康保険協会東京支部"),
        "{}",
        lines[1]
    );
    assert!(
        lines[7].starts_with("6,r6,checked,invalid,"),
        "{}",
        lines[7]
    );
    assert!(
        lines[9].starts_with("8,r8,checked,no match,"),
        "{}",
        lines[9]
    );

    // A file with a wrong column is a usage error naming it.
    std::fs::write(&input, "insurer,number\n1,2\n").unwrap();
    let url = d.running.url();
    let bad = tokio::task::spawn_blocking(move || {
        Command::new(bin("shikaku"))
            .args(["--addr", &url, "bulk", "start", "--csv"])
            .arg(&input)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown column \"insurer\""));
    d.running.stop().await.unwrap();
}
