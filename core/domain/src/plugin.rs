//! What the daemon reports of a plugin loaded from a shared library: what it is, and whether it
//! still works. The plugin host implements it; the services read it without knowing the host.

use std::future::Future;
use std::pin::Pin;

use crate::pb;

/// A loaded plugin, as `ListPlugins` and gRPC health show it.
pub trait LoadedPlugin: Send + Sync {
    /// Its name, kind, version, source and current state.
    fn describe(&self) -> pb::Plugin;

    /// Completes with `true` when the plugin fails (it panicked or hung; it stays failed until
    /// the daemon restarts), or with `false` once it no longer can (it was unloaded).
    fn failed(&self) -> Pin<Box<dyn Future<Output = bool> + Send + 'static>>;
}
