//! A receipt computer (レセコン) keeping shikakud's reception list open: it prints each entry once,
//! in order, and after a disconnect or a daemon restart reconnects and resumes after the last
//! entry it recorded (kept in `--state`), skipping any entry it already has (same id).
//!
//! Output: one JSON object per entry, `{"id", "date", "patient_number", "name", "status", "source"}`
//! — the same lines the Python and Node examples print. With `--ca`, `--cert` and `--key` (from
//! `shikaku tls client NAME --role reception`) it talks TLS.

mod tls;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shikaku_proto::v1::reception_service_client::ReceptionServiceClient;
use shikaku_proto::v1::{ReceptionEntry, ReceptionSource, ReceptionStatus, WatchReceptionsRequest};

/// Example receipt-computer client of shikakud.
#[derive(Parser)]
struct Args {
    /// Address of shikakud.
    #[arg(long, env = "SHIKAKU_ADDR", default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// 受付日; today (JST) when omitted.
    #[arg(long, default_value = "")]
    date: String,
    /// Where the last recorded 受付番号 is kept across runs.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Stop after this many entries (for tests and demos); run until killed when omitted.
    #[arg(long)]
    exit_after: Option<u64>,
    #[command(flatten)]
    tls: tls::TlsArgs,
}

fn load(path: Option<&Path>) -> u64 {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Records the last id: written beside and renamed over, so a crash leaves the old or the new.
fn save(path: Option<&Path>, id: u64) -> Result<(), String> {
    let Some(path) = path else { return Ok(()) };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, id.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot record the last entry in {}: {e}", path.display()))
}

fn line(e: &ReceptionEntry) -> String {
    let status = ReceptionStatus::try_from(e.status).unwrap_or(ReceptionStatus::Unspecified);
    let source = ReceptionSource::try_from(e.source).unwrap_or(ReceptionSource::Unspecified);
    serde_json::json!({
        "id": e.id,
        "date": e.date,
        "patient_number": e.patient_number,
        "name": e.name,
        "status": status.as_str_name(),
        "source": source.as_str_name(),
    })
    .to_string()
}

async fn run(args: Args) -> Result<(), String> {
    let endpoint = tls::endpoint(&args.addr, &args.tls)?;
    let mut last = load(args.state.as_deref());
    let mut printed = 0u64;
    let mut backoff = Duration::from_millis(100);
    loop {
        let stream = async {
            let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
            let mut client = ReceptionServiceClient::new(channel);
            client
                .watch_receptions(WatchReceptionsRequest {
                    date: args.date.clone(),
                    after_id: last,
                })
                .await
                .map(|r| r.into_inner())
                .map_err(|s| s.message().to_owned())
        }
        .await;
        match stream {
            Ok(mut entries) => {
                backoff = Duration::from_millis(100);
                while let Ok(Some(message)) = entries.message().await {
                    let Some(entry) = message.entry else { continue };
                    if entry.id <= last {
                        continue;
                    }
                    println!("{}", line(&entry));
                    last = entry.id;
                    save(args.state.as_deref(), last)?;
                    printed += 1;
                    if args.exit_after.is_some_and(|n| printed >= n) {
                        return Ok(());
                    }
                }
                eprintln!("reception stream ended after #{last}; reconnecting");
            }
            Err(e) => eprintln!("cannot watch receptions ({e}); retrying in {backoff:?}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shikaku-receipt-computer: {e}");
            ExitCode::FAILURE
        }
    }
}
