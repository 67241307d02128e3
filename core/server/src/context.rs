//! What every workflow and service shares: the store, the upstream, the readers and the
//! daemon's lifecycle.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shikaku_domain::pb::{Plugin, PluginKind, PluginState};
use shikaku_domain::plugin::LoadedPlugin;
use shikaku_domain::reader::{CardReader, ReaderError};
use shikaku_domain::upstream::Upstream;
use shikaku_store::Store;

use crate::workflow::{bulk, reception};

/// A plugin the daemon runs: built in, or loaded from a shared library (with live state).
pub enum PluginEntry {
    Embedded {
        name: &'static str,
        kind: PluginKind,
    },
    Loaded(Arc<dyn LoadedPlugin>),
}

impl PluginEntry {
    /// The upstream among `plugins` (the binary plugs in exactly one), as ListPlugins shows it.
    pub fn upstream_of(plugins: &[PluginEntry]) -> Option<Plugin> {
        plugins
            .iter()
            .map(PluginEntry::to_proto)
            .find(|p| p.kind == PluginKind::Upstream as i32)
    }

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
            PluginEntry::Loaded(plugin) => plugin.describe(),
        }
    }
}

/// What every workflow and service needs.
pub struct Context {
    pub store: Store,
    pub upstream: Arc<dyn Upstream>,
    pub plugins: Vec<PluginEntry>,
    pub check_timeout: Duration,
    /// Flips to true when the daemon begins shutting down, so server streams end and the
    /// graceful shutdown does not wait forever on a kiosk's open WatchReaders.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The reception list (受付) of re-visit kiosks.
    pub reception: reception::Desk,
    /// Bulk checks (一括照会).
    pub bulk: bulk::Jobs,
    /// Keys the hash of a person on audit lines.
    pub people: crate::audit::PersonKey,
    /// Watch streams open, per client.
    pub watches: Watches,
    /// First answers to requests with an id, for repeats.
    pub replays: crate::replay::Replays,
    /// Cards known to have one PIN try left.
    pub pin_guard: crate::workflow::card_check::PinGuard,
    /// The Prometheus series.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Context {
    /// Completes when the daemon begins shutting down.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }
}

/// Every reader plugin, and which readers have a check running.
pub struct Readers {
    pub plugins: Vec<(String, Arc<dyn CardReader>)>,
    pub in_use: Mutex<HashSet<String>>,
}

impl Readers {
    pub fn new(plugins: Vec<(String, Arc<dyn CardReader>)>) -> Self {
        Self {
            plugins,
            in_use: Mutex::new(HashSet::new()),
        }
    }

    /// The plugin that drives `reader`.
    pub async fn find(&self, reader: &str) -> Result<Arc<dyn CardReader>, ReaderError> {
        let mut failure = None;
        for (_, plugin) in &self.plugins {
            match plugin.list_readers().await {
                Ok(list) if list.iter().any(|r| r.name == reader) => return Ok(plugin.clone()),
                Ok(_) => {}
                // Another plugin may still have the reader; report this failure only if none does.
                Err(e) => failure = Some(e),
            }
        }
        Err(failure.unwrap_or_else(|| ReaderError::NotFound(reader.to_owned())))
    }

    pub fn is_in_use(&self, reader: &str) -> bool {
        self.in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(reader)
    }

    /// Marks `reader` in use until the guard drops.
    pub fn mark_in_use(self: &Arc<Self>, reader: &str) -> InUse {
        self.in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reader.to_owned());
        InUse {
            readers: self.clone(),
            reader: reader.to_owned(),
        }
    }
}

pub struct InUse {
    readers: Arc<Readers>,
    reader: String,
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.readers
            .in_use
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.reader);
    }
}

/// Counts each client's open watch streams, so one client cannot hold thousands.
#[derive(Debug)]
pub struct Watches {
    open: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    per_client: usize,
    metrics: Arc<crate::metrics::Metrics>,
}

/// One open watch; the count goes down when it drops, with its stream.
#[derive(Debug)]
pub struct Watching {
    open: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    client: String,
    _counted: crate::metrics::GaugeGuard,
}

impl Watches {
    pub fn new(per_client: usize, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Self {
            open: Arc::default(),
            per_client,
            metrics,
        }
    }

    /// Counts a new watch of `client`, or refuses it past the limit.
    pub fn open(&self, client: &str) -> Result<Watching, crate::error::ServiceError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(client.to_owned()).or_default();
        if *n >= self.per_client {
            return Err(crate::error::ServiceError::TooManyStreams(self.per_client));
        }
        *n += 1;
        Ok(Watching {
            open: self.open.clone(),
            client: client.to_owned(),
            _counted: self.metrics.watch_opened(),
        })
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}
