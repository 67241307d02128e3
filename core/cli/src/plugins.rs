//! `shikaku plugins`: the card-reader, smartphone-reader and upstream plugins the daemon loaded.

use clap::Subcommand;
use shikaku_proto::v1::plugin_service_client::PluginServiceClient;
use shikaku_proto::v1::{ListPluginsRequest, ListPluginsResponse, PluginKind, PluginState};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, enum_word, grid};

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List the plugins and whether each is ready.
    List,
}

pub async fn run(
    command: PluginsCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = PluginServiceClient::new(channel);
    match command {
        PluginsCommand::List => {
            let response = client.list_plugins(ListPluginsRequest {}).await?;
            output::print(format, response.get_ref(), render_plugins)
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
