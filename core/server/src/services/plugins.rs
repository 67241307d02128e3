//! PluginService: what is loaded and whether it is healthy.

use std::sync::Arc;

use shikaku_domain::pb::plugin_service_server::PluginService;
use shikaku_domain::pb::{ListPluginsRequest, ListPluginsResponse};
use tonic::{Request, Response, Status};

use crate::context::{Context, PluginEntry};

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
