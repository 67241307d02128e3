//! `shikaku bulk` with the CSV files of a Japanese clinic's Excel: Shift_JIS (CP932) with Japanese
//! headers, CRLF and `1970/1/1` dates in, Shift_JIS out (`--encoding sjis`); UTF-8 with a BOM in,
//! plain UTF-8 out — through the real daemon and the real CLI binary.

use std::process::Command;

use encoding_rs::SHIFT_JIS;
use shikaku_tests::{TestDaemon, bin};

/// Runs `shikaku bulk start --csv INPUT --out OUTPUT` plus `extra`, and returns the output file.
async fn bulk(d: &TestDaemon, input: &[u8], extra: &'static [&'static str]) -> Vec<u8> {
    let dir = d.dir.path();
    let (input_path, output_path) = (dir.join("patients.csv"), dir.join("results.csv"));
    std::fs::write(&input_path, input).unwrap();
    let url = d.running.url();
    let out = {
        let (input_path, output_path) = (input_path.clone(), output_path.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(bin("shikaku"))
                .args(["--addr", &url, "bulk", "start", "--csv"])
                .arg(&input_path)
                .arg("--out")
                .arg(&output_path)
                .args(extra)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&output_path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cp932_file_from_excel_comes_back_in_cp932() {
    let d = TestDaemon::start().await;
    let sheet = "保険者番号,記号,番号,枝番,生年月日,患者番号\r\n\
                 06130488,12-34,4260,01,1970/1/1,\r\n\
                 138057,千代田,1234567,00,1985/8/20,\r\n\
                 06130488,40-4,404,01,1980-08-08,\r\n";
    let (cp932, _, unmappable) = SHIFT_JIS.encode(sheet);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&cp932).is_err(),
        "the input is really CP932"
    );

    let written = bulk(&d, &cp932, &["--encoding", "sjis"]).await;

    assert!(
        std::str::from_utf8(&written).is_err(),
        "the results are CP932"
    );
    let (text, had_errors) = SHIFT_JIS.decode_without_bom_handling(&written);
    assert!(!had_errors);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("index,key,state,validity,insurer_number,insurer_name,symbol"));
    assert!(
        lines[1].starts_with("0,1,checked,valid,06130488,全国健康保険協会東京支部,12-34,4260,01,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(
            "1,2,checked,valid,138057,千代田区,千代田,1234567,00,国保　一郎,ｺｸﾎ ｲﾁﾛｳ,1985-08-20"
        ),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("2,3,checked,invalid,"), "{}", lines[3]);
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_file_with_a_bom_comes_back_in_plain_utf8() {
    let d = TestDaemon::start().await;
    let sheet = "\u{feff}key,insurer_number,symbol,number,branch,birth_date\n\
                 a1,138057,千代田,1234567,00,1985-08-20\n";

    let written = bulk(&d, sheet.as_bytes(), &[]).await;

    let text = String::from_utf8(written).expect("UTF-8 results");
    assert!(text.starts_with("index,key,"), "no BOM: {text}");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("0,a1,checked,valid,138057,千代田区,千代田,"),
        "{text}"
    );
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_neither_encoding_is_refused_naming_the_line() {
    let d = TestDaemon::start().await;
    let path = d.dir.path().join("broken.csv");
    std::fs::write(&path, b"insurer_number\n06130488\n\x82\xFF\n").unwrap();
    let url = d.running.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin("shikaku"))
            .args(["--addr", &url, "bulk", "start", "--csv"])
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3: neither UTF-8 nor Shift_JIS (CP932)"),
        "{err}"
    );
    d.running.stop().await.unwrap();
}
