//! `shikaku purge`: deletes personal data older than a date from the daemon's store, as the
//! daemon's daily `[retention]` task does, on demand (no RPC; run it on the PC where shikakud
//! keeps its data).

use clap::Args;
use serde::Serialize;
use shikaku_store::{Cutoff, Durability, Store};

use crate::error::CliError;
use crate::output::{self, Format};
use crate::tls::DataDir;

/// `shikaku purge`; its help is on `Command::Purge`.
#[derive(Args)]
pub struct PurgeArgs {
    /// The first day kept, YYYY-MM-DD (Japan time): everything dated before it goes.
    #[arg(long, value_name = "DATE")]
    before: String,
    #[command(flatten)]
    data: DataDir,
    /// Then rebuild the database file without its free space (VACUUM), giving it back to the
    /// disk. Writes a copy of the whole database, so it needs as much free space; best with
    /// shikakud stopped: its writes wait for the rebuild and fail after 5 s.
    #[arg(long)]
    vacuum: bool,
}

#[derive(Serialize)]
struct PurgeView {
    before: String,
    reception_entries: u64,
    bulk_jobs: u64,
    bulk_items: u64,
    /// Whether the WAL was emptied; false when a reader held it (the next checkpoint will).
    wal_emptied: bool,
    vacuumed: bool,
}

pub async fn run(args: PurgeArgs, format: Format) -> Result<(), CliError> {
    let path = args.data.path.join("shikaku.sqlite");
    // Opening creates a missing database: a mistyped --data-dir must not.
    if !path.is_file() {
        return Err(CliError::Setup(format!(
            "no store at {}: is --data-dir shikakud's data directory?",
            path.display()
        )));
    }
    let store = Store::open(&path, Durability::Full)?;
    let report = store.purge(Cutoff::all(&args.before)).await?;
    if args.vacuum {
        store.vacuum().await?;
    }
    let view = PurgeView {
        before: args.before,
        reception_entries: report.reception_entries,
        bulk_jobs: report.bulk_jobs,
        bulk_items: report.bulk_items,
        wal_emptied: report.wal_emptied,
        vacuumed: args.vacuum,
    };
    output::print(format, &view, render)
}

fn render(view: &PurgeView) -> String {
    let mut text = format!(
        "Deleted what was dated before {}: {} reception entries, {} bulk checks ({} items).",
        view.before, view.reception_entries, view.bulk_jobs, view.bulk_items
    );
    if view.vacuumed {
        text += "\nThe database file was rebuilt without its free space.";
    }
    if !view.wal_emptied {
        text += "\nA reader held the WAL: its old pages are overwritten at the next checkpoint.";
    }
    text
}
