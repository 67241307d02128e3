//! Plugs an upstream and readers into the server: the plugins the configuration names, loaded
//! from shared libraries, and otherwise the embedded OQS simulator with its simulated readers.
//! This is the one place that knows where the upstream and the readers come from.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shikaku_domain::pb::PluginKind;
use shikaku_domain::reader::CardReader;
use shikaku_domain::upstream::Upstream;
use shikaku_plugin_host::{Loaded, PluginSpec};
use shikaku_server::context::PluginEntry;
use shikaku_server::{Config, Daemon, DaemonError, Parts};
use shikaku_simulator::{SimulatedReaders, Simulator, SimulatorConfig};

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Server(#[from] DaemonError),
    #[error("simulator: {0}")]
    Simulator(#[from] shikaku_simulator::SimulatorError),
    #[error(transparent)]
    Plugin(#[from] shikaku_plugin_host::LoadError),
    #[error("plugin {0}: a second upstream plugin; configure one upstream")]
    TwoUpstreams(String),
    #[error(
        "refusing to answer clients on {0} with the embedded simulator's made-up results: configure an upstream plugin, or set [simulator] on_network = true for a demonstration"
    )]
    SimulatorOnNetwork(SocketAddr),
}

/// The server with its parts plugged in, and the embedded ones tests and demos play with.
pub struct Wired {
    pub daemon: Daemon,
    /// The simulated readers, so tests and demos can place and take away virtual cards.
    pub simulated_readers: Arc<SimulatedReaders>,
    /// The embedded simulator, so tests and demos can play the terminal's face-auth reader;
    /// `None` when an upstream plugin replaces it.
    pub simulator: Option<Arc<Simulator>>,
}

/// Builds the server from `config` with its plugins, or the embedded simulator.
pub fn wire(config: &Config) -> Result<Wired, WiringError> {
    let mut embedded = None;
    let daemon = Daemon::build(config, || {
        let (parts, simulated_readers, simulator) = plug(config)?;
        embedded = Some((simulated_readers, simulator));
        Ok::<_, WiringError>(parts)
    })?;
    let (simulated_readers, simulator) = embedded.expect("plug ran");
    Ok(Wired {
        daemon,
        simulated_readers,
        simulator,
    })
}

/// The plugins named in the config, loaded and sorted by kind.
struct LoadedPlugins {
    upstream: Option<Arc<dyn Upstream>>,
    readers: Vec<(String, Arc<dyn CardReader>)>,
    entries: Vec<PluginEntry>,
}

fn load_plugins(config: &Config) -> Result<LoadedPlugins, WiringError> {
    let mut loaded = LoadedPlugins {
        upstream: None,
        readers: Vec::new(),
        entries: Vec::new(),
    };
    for p in &config.plugins {
        let spec = PluginSpec {
            path: p.path.clone(),
            sha256: p.sha256.clone(),
            kind: p.kind.map(|k| k.as_str().to_owned()),
            config: serde_json::Value::Object(p.config.clone()),
            max_concurrency: p.max_concurrency,
            timeout: Duration::from_millis(p.timeout_ms),
            grace: Duration::from_millis(p.grace_ms),
        };
        let plugin = shikaku_plugin_host::load(&spec)?;
        loaded
            .entries
            .push(PluginEntry::Loaded(plugin.handle().clone()));
        match plugin {
            Loaded::CardReader(r) | Loaded::SmartphoneReader(r) => {
                loaded.readers.push((r.handle().info.name.clone(), r));
            }
            Loaded::Upstream(u) => {
                if loaded.upstream.is_some() {
                    return Err(WiringError::TwoUpstreams(u.handle().info.source.clone()));
                }
                loaded.upstream = Some(u);
            }
        }
    }
    Ok(loaded)
}

type Plugged = (Parts, Arc<SimulatedReaders>, Option<Arc<Simulator>>);

fn plug(config: &Config) -> Result<Plugged, WiringError> {
    let on_network = !config.listen.ip().is_loopback();
    let s = &config.simulator;
    let loaded = load_plugins(config)?;
    let (upstream, simulator, simulated_readers): (Arc<dyn Upstream>, _, _) = match loaded.upstream
    {
        Some(upstream) => (
            upstream,
            None,
            shikaku_simulator::build_readers(s.fixture.as_deref())?,
        ),
        None if on_network && !s.on_network => {
            return Err(WiringError::SimulatorOnNetwork(config.listen));
        }
        None => {
            tracing::warn!(
                "answering with the embedded OQS simulator: every result is made up (configure an upstream plugin for real checks)"
            );
            let (simulator, readers) = shikaku_simulator::build(&SimulatorConfig {
                fixture: s.fixture.clone(),
                state_path: config.data_dir.join("simulator.sqlite"),
                activation_delay: Duration::from_secs(s.activation_delay_secs),
                max_pending_devices: s.max_pending_devices,
                hash_memory_kib: s.hash_memory_kib,
                hash_passes: s.hash_passes,
            })?;
            (simulator.clone(), Some(simulator), readers)
        }
    };
    let mut plugins = Vec::new();
    if simulator.is_some() {
        plugins.push(PluginEntry::Embedded {
            name: "simulator",
            kind: PluginKind::Upstream,
        });
    }
    let mut readers: Vec<(String, Arc<dyn CardReader>)> = Vec::new();
    if s.readers {
        plugins.push(PluginEntry::Embedded {
            name: "simulated-reader",
            kind: PluginKind::CardReader,
        });
        readers.push(("simulated-reader".to_owned(), simulated_readers.clone()));
    }
    readers.extend(loaded.readers);
    plugins.extend(loaded.entries);
    let parts = Parts {
        upstream,
        readers,
        plugins,
    };
    Ok((parts, simulated_readers, simulator))
}
