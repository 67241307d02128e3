//! PluginService: what is loaded and whether it is healthy.

use std::sync::Arc;

use shikaku_domain::pb::plugin_service_server::PluginService;
use shikaku_domain::pb::{ListPluginsRequest, ListPluginsResponse};
use tonic::{Request, Response, Status};

use crate::context::{Context, PluginEntry};
use crate::validate::Page;

pub struct Plugins(pub Arc<Context>);

#[tonic::async_trait]
impl PluginService for Plugins {
    async fn list_plugins(
        &self,
        request: Request<ListPluginsRequest>,
    ) -> Result<Response<ListPluginsResponse>, Status> {
        let req = request.get_ref();
        let page = Page::of(req.page_size, &req.page_token)?;
        let (plugins, next_page_token) =
            page.take(self.0.plugins.iter().map(PluginEntry::to_proto).collect());
        Ok(Response::new(ListPluginsResponse {
            plugins,
            next_page_token,
        }))
    }
}
