//! `shikakud`: run the daemon. With no configuration at all it serves on 127.0.0.1:50051 with the
//! embedded OQS simulator and simulated readers, keeping its data in `./data`.

mod notify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use figment::Figment;
use figment::providers::Serialized;
use serde::Serialize;
use shikaku_daemon::WiringError;
use shikaku_daemon::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc: answering a check allocates and frees many small strings, and with glibc's allocator
/// that was a tenth of the daemon's CPU under load (`bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// shikakud — one gRPC interface to Japan's online qualification-check system (オンライン資格確認).
#[derive(Debug, Parser, Serialize)]
#[command(version, about)]
struct Args {
    /// Configuration file (default: ./shikaku.toml when it exists).
    #[arg(long, env = "SHIKAKU_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to serve gRPC on.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    /// Directory for the store and the simulator's state.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Log filter, e.g. "info" or "debug".
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<String>,
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    notify::send("STOPPING=1");
}

async fn run(config: Config) -> Result<(), WiringError> {
    let (listener, addr) = shikaku_daemon::server::listen(config.listen).await?;
    let daemon = shikaku_daemon::wire(&config)?.daemon;
    let upstream = daemon.upstream_name();
    let metrics = daemon
        .metrics_addr()
        .map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), %upstream, %metrics, "shikakud serving");
    notify::ready();
    Ok(daemon.serve(listener, shutdown_signal()).await?)
}

/// Raises the soft limit on open files to the hard one: each client connection is a descriptor,
/// and the usual soft 1024 is a few hundred kiosks' and attackers' worth (the systemd unit sets
/// LimitNOFILE too).
#[cfg(unix)]
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("shikakud: cannot raise the open-file limit: {e}");
        }
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    raise_open_file_limit();
    let args = Args::parse();
    let config = match Config::load(
        args.config.as_deref(),
        Figment::from(Serialized::defaults(&args)),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shikakud: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shikakud stopped");
            eprintln!("shikakud: {e}");
            ExitCode::FAILURE
        }
    }
}
