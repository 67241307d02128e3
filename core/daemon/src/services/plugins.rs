//! PluginService: what is loaded and whether it is healthy.

use std::sync::Arc;

use shikaku_domain::pb::plugin_service_server::PluginService;
use shikaku_domain::pb::{
    ListPluginsRequest, ListPluginsResponse, Plugin, PluginKind, PluginState,
};
use shikaku_plugin_host::PluginHandle;
use tonic::{Request, Response, Status};

use super::Context;

/// A plugin the daemon runs: built in, or loaded from a shared library (with live state).
pub enum PluginEntry {
    Embedded {
        name: &'static str,
        kind: PluginKind,
    },
    Loaded(Arc<PluginHandle>),
}

impl PluginEntry {
    pub fn to_proto(&self) -> Plugin {
        match self {
            PluginEntry::Embedded { name, kind } => Plugin {
                name: (*name).into(),
                kind: *kind as i32,
                version: env!("CARGO_PKG_VERSION").into(),
                state: PluginState::Ready as i32,
                source: "embedded".into(),
                failure: String::new(),
            },
            PluginEntry::Loaded(handle) => {
                let (state, failure) = match handle.state() {
                    shikaku_plugin_host::PluginState::Ready => (PluginState::Ready, String::new()),
                    shikaku_plugin_host::PluginState::Failed(why) => (PluginState::Failed, why),
                };
                Plugin {
                    name: handle.info.name.clone(),
                    kind: handle.info.kind as i32,
                    version: handle.info.version.clone(),
                    state: state as i32,
                    source: handle.info.source.clone(),
                    failure,
                }
            }
        }
    }
}

pub struct Plugins(pub Arc<Context>);

#[tonic::async_trait]
impl PluginService for Plugins {
    async fn list_plugins(
        &self,
        _: Request<ListPluginsRequest>,
    ) -> Result<Response<ListPluginsResponse>, Status> {
        Ok(Response::new(ListPluginsResponse {
            plugins: self.0.plugins.iter().map(PluginEntry::to_proto).collect(),
        }))
    }
}
