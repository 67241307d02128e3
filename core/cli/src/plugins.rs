//! `shikaku plugins`: the card-reader, smartphone-reader and upstream plugins the daemon loaded.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use shikaku_domain::secret::Pin;
use shikaku_plugin_host::PluginSpec;
use shikaku_plugin_host::conformance::{self, Finding, Outcome};
use shikaku_proto::v1::plugin_service_client::PluginServiceClient;
use shikaku_proto::v1::{ListPluginsRequest, ListPluginsResponse, PluginKind, PluginState};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, enum_word, grid};

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List the plugins and whether each is ready.
    List,
    /// Check a plugin library before deploying it: load it as the daemon would and exercise
    /// each operation (needs no daemon; never issues codes or passwords).
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The shared library (.so, .dll, .dylib).
    path: PathBuf,
    /// Its `[plugins.config]` table, as JSON.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    config: String,
    /// The reader whose card the card steps use; by default the first reader holding a card.
    #[arg(long)]
    reader: Option<String>,
    /// Also verify a PIN and sign with the card: the PIN is read from stdin (or SHIKAKU_PIN).
    #[arg(long)]
    pin: bool,
    /// The deadline of each call, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
}

const PIN: crate::secret::SecretSource = crate::secret::SecretSource {
    label: "PIN 暗証番号",
    env: "SHIKAKU_PIN",
};

pub async fn run(
    command: PluginsCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = PluginServiceClient::new(channel);
    match command {
        PluginsCommand::Check(args) => check(args, format).await,
        PluginsCommand::List => {
            // Every page: the list is shown whole.
            let mut list = client
                .list_plugins(ListPluginsRequest::default())
                .await?
                .into_inner();
            while !list.next_page_token.is_empty() {
                let next = ListPluginsRequest {
                    page_token: std::mem::take(&mut list.next_page_token),
                    ..Default::default()
                };
                let page = client.list_plugins(next).await?.into_inner();
                list.plugins.extend(page.plugins);
                list.next_page_token = page.next_page_token;
            }
            output::print(format, &list, render_plugins)
        }
    }
}

fn render_plugins(response: &ListPluginsResponse) -> String {
    if response.plugins.is_empty() {
        return "no plugins loaded".to_owned();
    }
    let mut table = grid(&["name", "kind", "version", "state", "source", "failure"]);
    for plugin in &response.plugins {
        table.add_row(vec![
            plugin.name.clone(),
            enum_word(plugin.kind, PluginKind::as_str_name),
            plugin.version.clone(),
            enum_word(plugin.state, PluginState::as_str_name),
            plugin.source.clone(),
            plugin.failure.clone(),
        ]);
    }
    table.to_string()
}

async fn check(args: CheckArgs, format: Format) -> Result<(), CliError> {
    let config: serde_json::Value = serde_json::from_str(&args.config)
        .map_err(|e| CliError::Input(format!("--config is not json: {e}")))?;
    let pin = if args.pin {
        let text = crate::secret::read(&PIN)?;
        Some(Pin::parse(&text).map_err(|e| CliError::Input(format!("pin: {e}")))?)
    } else {
        None
    };
    let mut spec = PluginSpec::new(&args.path);
    spec.config = config;
    spec.timeout = Duration::from_millis(args.timeout_ms);
    let findings = conformance::check(&spec, args.reader.as_deref(), pin.as_ref()).await;
    let failed = findings
        .iter()
        .filter(|f| f.outcome == Outcome::Fail)
        .count();
    let shown: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "step": f.step, "outcome": outcome_word(f), "detail": f.detail,
                "took_ms": f.took.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    output::print(format, &shown, |_| render_findings(&findings))?;
    if failed > 0 {
        return Err(CliError::Output(format!(
            "{failed} of {} checks failed",
            findings.len()
        )));
    }
    Ok(())
}

fn outcome_word(f: &Finding) -> &'static str {
    match f.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Skip => "skip",
    }
}

fn render_findings(findings: &[Finding]) -> String {
    let mut table = grid(&["step", "outcome", "took", "detail"]);
    for f in findings {
        table.add_row(vec![
            f.step.to_owned(),
            outcome_word(f).to_owned(),
            format!("{:.1} ms", f.took.as_secs_f64() * 1000.0),
            f.detail.clone(),
        ]);
    }
    table.to_string()
}
