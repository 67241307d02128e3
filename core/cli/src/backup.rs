//! `shikaku backup`: a consistent copy of the daemon's store, taken while it serves (no RPC;
//! run it on the PC where shikakud keeps its data).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::CliError;
use crate::output::{self, Format};
use crate::tls::DataDir;

/// `shikaku backup`; its help is on `Command::Backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The new backup file; an existing file is never overwritten.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    data: DataDir,
}

#[derive(Serialize)]
struct BackupView {
    file: String,
    bytes: u64,
}

pub fn run(args: BackupArgs, format: Format) -> Result<(), CliError> {
    let report = shikaku_store::backup(&args.data.path.join("shikaku.sqlite"), &args.file)?;
    let view = BackupView {
        file: report.path.display().to_string(),
        bytes: report.bytes,
    };
    output::print(format, &view, |v| {
        format!(
            "Backed up shikakud's store to {} ({} bytes).",
            v.file, v.bytes
        )
    })
}
