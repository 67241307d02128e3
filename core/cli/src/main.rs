//! `shikaku`: the command-line client of shikakud.
//!
//! Each subcommand makes one gRPC call and prints the answer, as tables for people or as canonical
//! protobuf JSON (`--json`) for scripts. This file holds the global flags and the dispatch; each
//! subcommand lives in its own module with its arguments.

mod activation;
mod bulk;
mod check;
mod client;
mod error;
mod health;
mod output;
mod plugins;
mod readers;
mod reception;
mod result_view;
mod secret;
mod text_encoding;
mod visual_check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Endpoint;

use crate::client::CallerMetadata;
use crate::error::CliError;
use crate::output::Format;

/// Listed apart in every subcommand's help, after the subcommand's own options.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "shikaku",
    version,
    about = "Command-line client of shikakud (オンライン資格確認)"
)]
struct Cli {
    /// Address of shikakud.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "SHIKAKU_ADDR",
        default_value = "http://127.0.0.1:50051",
        value_parser = client::parse_endpoint
    )]
    addr: Endpoint,

    /// Print each response as canonical protobuf JSON instead of tables.
    #[arg(long, global = true, help_heading = GLOBAL)]
    json: bool,

    /// Which receipt computer or kiosk this is, for the audit trail (x-shikaku-terminal).
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "SHIKAKU_TERMINAL",
        value_parser = client::parse_metadata
    )]
    terminal: Option<AsciiMetadataValue>,

    /// Which staff member is calling, for the audit trail (x-shikaku-operator).
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "SHIKAKU_OPERATOR",
        value_parser = client::parse_metadata
    )]
    operator: Option<AsciiMetadataValue>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 資格確認: check a patient's insurance qualification.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Card readers attached to the daemon.
    #[command(subcommand)]
    Readers(readers::ReadersCommand),
    /// アクティベーションコード for マイナ資格確認アプリ devices.
    #[command(subcommand)]
    Activation(activation::ActivationCommand),
    /// 目視確認用パスワード for staff accounts.
    #[command(subcommand)]
    VisualCheckPassword(visual_check::VisualCheckPasswordCommand),
    /// Plugins loaded by the daemon.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// 再来受付: kiosk check-in, the reception list and patient links (患者番号).
    #[command(subcommand)]
    Reception(reception::ReceptionCommand),
    /// 一括照会: bulk checks from a CSV file, with progress, results as CSV.
    #[command(subcommand)]
    Bulk(bulk::BulkCommand),
    /// Whether the daemon serves (gRPC health); exits non-zero when it does not.
    Health(health::HealthCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = if cli.json {
        Format::Json
    } else {
        Format::Table
    };
    let caller = CallerMetadata {
        terminal: cli.terminal,
        operator: cli.operator,
    };
    let channel = client::connect(cli.addr, caller);
    let outcome: Result<(), CliError> = match cli.command {
        Command::Check(command) => check::run(command, channel, format).await,
        Command::Readers(command) => readers::run(command, channel, format).await,
        Command::Activation(command) => activation::run(command, channel, format).await,
        Command::VisualCheckPassword(command) => visual_check::run(command, channel, format).await,
        Command::Plugins(command) => plugins::run(command, channel, format).await,
        Command::Reception(command) => reception::run(command, channel, format).await,
        Command::Bulk(command) => bulk::run(command, channel, format).await,
        Command::Health(command) => health::run(command, channel, format).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn identity_methods_are_mutually_exclusive() {
        let both = Cli::try_parse_from([
            "shikaku", "check", "card", "--reader", "r", "--pin", "--face",
        ]);
        assert!(both.is_err());
        let none = Cli::try_parse_from(["shikaku", "check", "card", "--reader", "r"]);
        assert!(none.is_err());
        let one = Cli::try_parse_from(["shikaku", "check", "card", "--reader", "r", "--face"]);
        assert!(one.is_ok());
    }
}
