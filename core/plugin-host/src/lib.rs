//! The plugin host: loads the shared libraries named in the config, checks them before running
//! any of their code beyond the entry symbol, and exposes each as the domain's `CardReader` or
//! `Upstream`, so the daemon cannot tell a plugin from an in-process implementation.
//!
//! Every call runs on tokio's blocking pool under a per-plugin concurrency limit (one at a time
//! unless the plugin says it is thread-safe) and a deadline. A panic (reported by the SDK) or a
//! call that outlives its deadline marks the plugin failed: its later calls fail fast, the rest
//! of the daemon carries on. Plugins are never unloaded (see `sdk/README.md`).

#![allow(unsafe_code)] // Loading and calling C functions; each block says why it holds.

mod call;
pub mod conformance;
mod load;
mod reader;
mod upstream;

pub use call::{PluginHandle, PluginInfo, PluginState};
pub use load::{LoadError, PluginSpec, kind_name, load};
pub use reader::PluginReader;
pub use upstream::PluginUpstream;

/// A loaded plugin, by kind.
pub enum Loaded {
    CardReader(std::sync::Arc<PluginReader>),
    SmartphoneReader(std::sync::Arc<PluginReader>),
    Upstream(std::sync::Arc<PluginUpstream>),
}

impl Loaded {
    pub fn handle(&self) -> &std::sync::Arc<PluginHandle> {
        match self {
            Loaded::CardReader(r) | Loaded::SmartphoneReader(r) => r.handle(),
            Loaded::Upstream(u) => u.handle(),
        }
    }
}
