//! `shikaku`: the command-line client of shikakud.
//!
//! Each subcommand makes one gRPC call and prints the answer, as tables for people or as canonical
//! protobuf JSON (`--json`) for scripts. This file holds the global flags and the dispatch; each
//! subcommand lives in its own module with its arguments. `shikaku tls`, `purge` and `backup`
//! are the exceptions: they work on the daemon's files, not over RPC.

mod activation;
mod audit;
mod backup;
mod bulk;
mod check;
mod client;
mod doctor;
mod error;
mod health;
mod output;
mod plugins;
mod purge;
mod readers;
mod reception;
mod reference_number;
mod result_view;
mod secret;
mod text_encoding;
mod tls;
mod transport;
mod visual_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Endpoint;

use crate::client::CallerMetadata;
use crate::error::CliError;
use crate::output::Format;
use crate::transport::TlsFiles;

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

    /// The facility CA (ca.pem from `shikaku tls client`); connects with TLS, trusting only it.
    #[arg(long, global = true, help_heading = GLOBAL, env = "SHIKAKU_CA", value_name = "FILE")]
    ca: Option<PathBuf>,

    /// This client's certificate (cert.pem), presented to shikakud; needs --key.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "SHIKAKU_CERT",
        value_name = "FILE",
        requires = "key"
    )]
    cert: Option<PathBuf>,

    /// This client's private key (key.pem); needs --cert.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "SHIKAKU_KEY",
        value_name = "FILE",
        requires = "cert"
    )]
    key: Option<PathBuf>,

    /// The name shikakud's certificate must carry (default: the host of --addr).
    #[arg(long, global = true, help_heading = GLOBAL, env = "SHIKAKU_TLS_DOMAIN", value_name = "NAME")]
    tls_domain: Option<String>,

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
    /// 照会番号の登録: register a patient number with OQS for a person.
    #[command(subcommand)]
    ReferenceNumber(reference_number::ReferenceNumberCommand),
    /// 一括照会: bulk checks from a CSV file (or 医療扶助・訪問診療・オンライン診療 queries), with
    /// progress, results as CSV.
    #[command(subcommand)]
    Bulk(bulk::BulkCommand),
    /// The facility's certificates (TLS): init, client, revoke, list. Works on the data
    /// directory's files, without the daemon.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Delete personal data dated before a day, as [retention] does daily. Works on the data
    /// directory's store, with or without the daemon running.
    ///
    /// Deletes reception entries and finished bulk checks dated before DATE, zeroing their bytes
    /// in the database file. Audit lines and patient links stay. Safe while shikakud runs (the
    /// store is in WAL mode; the two take turns writing) and with it stopped. Run it as
    /// shikakud's user, on the PC that holds its data directory.
    Purge(purge::PurgeArgs),
    /// Write a consistent copy of the store while the daemon serves.
    ///
    /// FILE is created 0600: it holds personal data. To restore: stop shikakud, copy FILE to
    /// DATA_DIR/shikaku.sqlite, delete DATA_DIR/shikaku.sqlite-wal and -shm, start shikakud.
    /// The keys (audit.key, simulator.key) and tls/ are not in it: back them up apart.
    Backup(backup::BackupArgs),
    /// The audit trail: who did and read what, and when (admin).
    Audit(audit::AuditArgs),
    /// Whether the daemon serves (gRPC health); exits non-zero when it does not.
    Health(health::HealthCommand),
    /// Check this facility's set-up end to end and say what to fix (設定の点検): the
    /// configuration, the data directory's modes, the certificates' expiry, the terminal's
    /// folders, and the daemon's health, plugins, readers and upstream. Exits non-zero when
    /// anything needs action (要対応).
    Doctor(doctor::DoctorArgs),
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
    let outcome = match cli.command {
        Command::Tls(command) => tls::run(command, format),
        Command::Purge(args) => purge::run(args, format).await,
        Command::Backup(args) => backup::run(args, format),
        command => {
            let tls = TlsFiles {
                ca: cli.ca,
                cert: cli.cert,
                key: cli.key,
                domain: cli.tls_domain,
            };
            match transport::secure(cli.addr, &tls) {
                Ok(endpoint) => call(command, client::connect(endpoint, caller), format).await,
                Err(error) => Err(error),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(format),
    }
}

/// Runs one RPC subcommand.
async fn call(command: Command, channel: client::Channel, format: Format) -> Result<(), CliError> {
    match command {
        Command::Check(command) => check::run(command, channel, format).await,
        Command::Readers(command) => readers::run(command, channel, format).await,
        Command::Activation(command) => activation::run(command, channel, format).await,
        Command::VisualCheckPassword(command) => visual_check::run(command, channel, format).await,
        Command::Plugins(command) => plugins::run(command, channel, format).await,
        Command::Reception(command) => reception::run(command, channel, format).await,
        Command::ReferenceNumber(command) => reference_number::run(command, channel, format).await,
        Command::Bulk(command) => bulk::run(command, channel, format).await,
        Command::Tls(command) => tls::run(command, format),
        Command::Purge(args) => purge::run(args, format).await,
        Command::Backup(args) => backup::run(args, format),
        Command::Health(command) => health::run(command, channel, format).await,
        Command::Audit(args) => audit::run(args, channel, format).await,
        Command::Doctor(args) => doctor::run(args, channel, format).await,
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

    #[test]
    fn client_certificate_and_key_go_together() {
        let cert_only = Cli::try_parse_from(["shikaku", "--cert", "c.pem", "readers", "list"]);
        assert!(cert_only.is_err());
        let both = Cli::try_parse_from([
            "shikaku", "readers", "list", "--ca", "ca.pem", "--cert", "c.pem", "--key", "k.pem",
        ]);
        assert!(both.is_ok());
    }

    #[test]
    fn tls_commands_default_to_the_daemons_data_dir() {
        let cli = Cli::try_parse_from([
            "shikaku", "tls", "client", "kiosk-1", "--role", "kiosk", "--out", "out",
        ])
        .unwrap();
        let Command::Tls(tls::TlsCommand::Client { data, days, .. }) = cli.command else {
            panic!("parsed as tls client");
        };
        if std::env::var_os("SHIKAKU_DATA_DIR").is_none() {
            assert_eq!(data.path, PathBuf::from("data"), "shikakud's default");
        }
        assert_eq!(days, 365);
        let bad_role = Cli::try_parse_from([
            "shikaku", "tls", "client", "k", "--role", "local", "--out", "o",
        ]);
        assert!(bad_role.is_err());
        let too_long = Cli::try_parse_from([
            "shikaku", "tls", "client", "k", "--role", "kiosk", "--out", "o", "--days", "826",
        ]);
        assert!(too_long.is_err());
    }
}
