//! `shikaku backup` and `shikaku purge` on a real data directory's store.

use std::path::Path;
use std::process::{Command, Output};

use shikaku_store::{Durability, ReceptionRecord, Store, WriteOp};

const NAME: &str = "診療　花子";

fn shikaku(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shikaku"))
        .args(args)
        .env("SHIKAKU_DATA_DIR", data_dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn entry(day: &str) -> ReceptionRecord {
    ReceptionRecord {
        facility: "1311111114".into(),
        day: day.into(),
        seq: 0,
        received_at: format!("{day}T09:00:00+09:00"),
        patient_number: String::new(),
        status: "pending".into(),
        decided_at: None,
        decided_by: None,
        reject_reason: None,
        payload: format!("name={NAME}").into_bytes(),
    }
}

fn holds_name(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            std::fs::read(p)
                .unwrap()
                .windows(NAME.len())
                .any(|w| w == NAME.as_bytes())
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn backup_then_purge_on_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&data.join("shikaku.sqlite"), Durability::Full).unwrap();
        for day in ["2026-10-01", "2026-10-02", "2026-12-01"] {
            store
                .write(vec![WriteOp::AppendReception(entry(day))])
                .await
                .unwrap();
        }
    });

    let backup = dir.path().join("backup.sqlite");
    let out = shikaku(&["backup", backup.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Backed up"),
        "{}",
        text(&out.stdout)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = shikaku(&["backup", backup.to_str().unwrap()], &data);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("exists already"),
        "{}",
        text(&again.stderr)
    );

    let out = shikaku(
        &["--json", "purge", "--before", "2026-11-01", "--vacuum"],
        &data,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["reception_entries"], 2, "{report}");
    assert_eq!(report["vacuumed"], true, "{report}");
    assert_eq!(
        holds_name(&data),
        ["shikaku.sqlite"],
        "only today's entry is left"
    );
    assert!(
        !holds_name(dir.path()).is_empty(),
        "the backup still has them all"
    );

    let bad = shikaku(&["purge", "--before", "1 Nov"], &data);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        text(&bad.stderr).trim(),
        "error: cut-off date \"1 Nov\" must be YYYY-MM-DD"
    );
    let nowhere = shikaku(
        &["purge", "--before", "2026-11-01"],
        &dir.path().join("nope"),
    );
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(!dir.path().join("nope").exists(), "no store is created");
}
