//! Builds the daemon's parts and serves them: the shikaku.v1 services, gRPC health and reflection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shikaku_domain::pb::activation_code_service_server::ActivationCodeServiceServer;
use shikaku_domain::pb::audit_service_server::AuditServiceServer;
use shikaku_domain::pb::bulk_check_service_server::BulkCheckServiceServer;
use shikaku_domain::pb::plugin_service_server::PluginServiceServer;
use shikaku_domain::pb::qualification_service_server::QualificationServiceServer;
use shikaku_domain::pb::reception_service_server::ReceptionServiceServer;
use shikaku_domain::pb::visual_check_password_service_server::VisualCheckPasswordServiceServer;
use shikaku_domain::pb::{FILE_DESCRIPTOR_SET, PluginKind};
use shikaku_domain::reader::CardReader;
use shikaku_domain::upstream::Upstream;
use shikaku_plugin_host::{Loaded, PluginHandle, PluginSpec};
use shikaku_simulator::{SimulatedReaders, Simulator, SimulatorConfig};
use shikaku_store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::config::{Config, Durability};
use crate::context::PluginEntry;
use crate::context::{Context, Readers};
use crate::services::activation::ActivationCodes;
use crate::services::audit_trail::AuditTrail;
use crate::services::bulk::BulkChecks;
use crate::services::plugins::Plugins;
use crate::services::qualification::Qualification;
use crate::services::reception::Receptions;
use crate::services::visual_check::VisualCheckPasswords;
use crate::workflow::{bulk, reception, retention};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] shikaku_store::StoreError),
    #[error("simulator: {0}")]
    Simulator(#[from] shikaku_simulator::SimulatorError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Plugin(#[from] shikaku_plugin_host::LoadError),
    #[error("plugin {0}: a second upstream plugin; configure one upstream")]
    TwoUpstreams(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("audit key: {0}")]
    AuditKey(std::io::Error),
    #[error(
        "refusing to serve plaintext on {0}, which is not a loopback address: run `shikaku tls init --data-dir DIR` for this data directory first, so clients must present certificates"
    )]
    PlaintextOnNetwork(SocketAddr),
    #[error(
        "refusing to answer clients on {0} with the embedded simulator's made-up results: configure an upstream plugin, or set [simulator] on_network = true for a demonstration"
    )]
    SimulatorOnNetwork(SocketAddr),
    #[error("cannot serve metrics on {addr}: {source} (set [metrics] listen, or enabled = false)")]
    MetricsBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the gRPC listener, first of all, so a port in use fails the start before anything
/// is opened; the same listener is then handed to `Daemon::serve`.
pub async fn listen(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), DaemonError> {
    let bind_error = |source| DaemonError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

/// The daemon's parts, built and ready to serve.
pub struct Daemon {
    context: Arc<Context>,
    /// TLS for the listener, when the data directory holds a server certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
    policy: Arc<crate::auth::Policy>,
    limits: crate::config::Limits,
    readers: Arc<Readers>,
    /// The simulated readers, so tests and demos can place and take away virtual cards.
    pub simulated_readers: Arc<SimulatedReaders>,
    /// The embedded simulator, so tests and demos can play the terminal's face-auth reader;
    /// `None` when an upstream plugin replaces it.
    pub simulator: Option<Arc<Simulator>>,
    retention: crate::config::RetentionConfig,
    /// The `/metrics` listener, bound at build so a port in use fails the start.
    metrics_listener: Option<(std::net::TcpListener, SocketAddr)>,
}

/// The plugins named in the config, loaded and sorted by kind.
struct LoadedPlugins {
    upstream: Option<Arc<dyn Upstream>>,
    /// The upstream plugin's name, which the metrics call its transport.
    upstream_name: Option<String>,
    readers: Vec<(String, Arc<dyn CardReader>)>,
    handles: Vec<Arc<PluginHandle>>,
}

fn load_plugins(config: &Config) -> Result<LoadedPlugins, DaemonError> {
    let mut loaded = LoadedPlugins {
        upstream: None,
        upstream_name: None,
        readers: Vec::new(),
        handles: Vec::new(),
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
        loaded.handles.push(plugin.handle().clone());
        match plugin {
            Loaded::CardReader(r) | Loaded::SmartphoneReader(r) => {
                loaded.readers.push((r.handle().info.name.clone(), r));
            }
            Loaded::Upstream(u) => {
                if loaded.upstream.is_some() {
                    return Err(DaemonError::TwoUpstreams(u.handle().info.source.clone()));
                }
                loaded.upstream_name = Some(u.handle().info.name.clone());
                loaded.upstream = Some(u);
            }
        }
    }
    Ok(loaded)
}

impl Daemon {
    pub fn build(config: &Config) -> Result<Self, DaemonError> {
        let metrics_listener = if config.metrics.enabled {
            let addr = config.metrics.listen;
            let bind_error = |source| DaemonError::MetricsBind { addr, source };
            let listener = crate::metrics::http::bind(addr).map_err(bind_error)?;
            let local = listener.local_addr().map_err(bind_error)?;
            Some((listener, local))
        } else {
            None
        };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let durability = match config.store.durability {
            Durability::Full => shikaku_store::Durability::Full,
            Durability::Normal => shikaku_store::Durability::Normal,
        };
        let (tls, revocations) = match crate::tls::acceptor(&config.data_dir)? {
            Some((acceptor, revocations)) => (Some(acceptor), Some(revocations)),
            None => (None, None),
        };
        let on_network = !config.listen.ip().is_loopback();
        if on_network && tls.is_none() {
            return Err(DaemonError::PlaintextOnNetwork(config.listen));
        }
        // Personal data at rest is for shikakud's user alone: the directory 0700, its files 0600.
        for fixed in shikaku_store::secure_data_dir(&config.data_dir)? {
            tracing::warn!("{fixed}");
        }
        let store = Store::open(&config.data_dir.join("shikaku.sqlite"), durability)?;
        let s = &config.simulator;
        let sim_config = SimulatorConfig {
            fixture: s.fixture.clone(),
            state_path: config.data_dir.join("simulator.sqlite"),
            activation_delay: Duration::from_secs(s.activation_delay_secs),
            max_pending_devices: s.max_pending_devices,
            hash_memory_kib: s.hash_memory_kib,
            hash_passes: s.hash_passes,
        };
        let loaded = load_plugins(config)?;
        let loaded_upstream_name = loaded.upstream_name.clone();
        let (upstream, simulator, simulated_readers): (Arc<dyn Upstream>, _, _) = match loaded
            .upstream
        {
            Some(upstream) => (
                upstream,
                None,
                shikaku_simulator::build_readers(s.fixture.as_deref())?,
            ),
            None if on_network && !s.on_network => {
                return Err(DaemonError::SimulatorOnNetwork(config.listen));
            }
            None => {
                tracing::warn!(
                    "answering with the embedded OQS simulator: every result is made up (configure an upstream plugin for real checks)"
                );
                let (simulator, readers) = shikaku_simulator::build(&sim_config)?;
                (simulator.clone(), Some(simulator), readers)
            }
        };
        let transport = match &loaded_upstream_name {
            Some(name) => name.clone(),
            None => "simulator".to_owned(),
        };
        let upstream: Arc<dyn Upstream> = Arc::new(crate::metrics::upstream::Metered::new(
            upstream, &transport, &metrics,
        ));
        let mut entries = Vec::new();
        if simulator.is_some() {
            entries.push(PluginEntry::Embedded {
                name: "simulator",
                kind: PluginKind::Upstream,
            });
        }
        let mut reader_plugins: Vec<(String, Arc<dyn CardReader>)> = Vec::new();
        if s.readers {
            entries.push(PluginEntry::Embedded {
                name: "simulated-reader",
                kind: PluginKind::CardReader,
            });
            reader_plugins.push(("simulated-reader".to_owned(), simulated_readers.clone()));
        }
        reader_plugins.extend(loaded.readers);
        entries.extend(loaded.handles.into_iter().map(PluginEntry::Loaded));
        let readers = Arc::new(Readers::new(reader_plugins));
        let context = Arc::new(Context {
            reception: reception::Desk::new(
                config.reception.mode,
                config.facility_code.as_deref(),
                upstream.subscribe(),
                metrics.clone(),
            ),
            bulk: bulk::Jobs::new(config.bulk.concurrency),
            pin_guard: Default::default(),
            replays: Default::default(),
            watches: crate::context::Watches::new(
                config.limits.watches_per_client,
                metrics.clone(),
            ),
            metrics,
            people: crate::audit::PersonKey::load_or_create(&config.data_dir)
                .map_err(DaemonError::AuditKey)?,
            store,
            upstream,
            plugins: entries,
            check_timeout: config.check_timeout(),
            shutdown: tokio::sync::watch::channel(false).0,
        });
        Ok(Self {
            context,
            tls,
            limits: config.limits,
            policy: Arc::new(crate::auth::Policy::new(
                &config.clients,
                config.rate_limits,
                revocations.map(crate::auth::LiveRevocations::new),
            )),
            readers,
            simulated_readers,
            simulator,
            retention: config.retention,
            metrics_listener,
        })
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, addr)| *addr)
    }

    /// What answers checks: "embedded simulator" or the upstream plugin's name and path.
    pub fn upstream_name(&self) -> String {
        self.context
            .plugins
            .iter()
            .find_map(|p| match p {
                PluginEntry::Loaded(h) if h.info.kind == PluginKind::Upstream as u32 => {
                    Some(format!("plugin {} ({})", h.info.name, h.info.source))
                }
                _ => None,
            })
            .unwrap_or_else(|| "embedded simulator".into())
    }

    /// Serves on `listener` until `shutdown` completes, then finishes in-flight calls.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), DaemonError> {
        let ctx = self.context;
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<QualificationServiceServer<Qualification>>()
            .await;
        health_reporter
            .set_serving::<ActivationCodeServiceServer<ActivationCodes>>()
            .await;
        health_reporter
            .set_serving::<VisualCheckPasswordServiceServer<VisualCheckPasswords>>()
            .await;
        health_reporter
            .set_serving::<PluginServiceServer<Plugins>>()
            .await;
        health_reporter
            .set_serving::<ReceptionServiceServer<Receptions>>()
            .await;
        health_reporter
            .set_serving::<BulkCheckServiceServer<BulkChecks>>()
            .await;
        health_reporter
            .set_serving::<AuditServiceServer<AuditTrail>>()
            .await;
        reception::spawn_face_listener(ctx.clone());
        bulk::resume_unfinished(ctx.clone());
        retention::spawn(ctx.store.clone(), self.retention, ctx.shutdown.subscribe());
        watch_plugin_health(&ctx, &health_reporter).await;
        if let Some((listener, addr)) = self.metrics_listener {
            crate::metrics::http::spawn(ctx.clone(), listener)
                .map_err(|source| DaemonError::MetricsBind { addr, source })?;
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("descriptor sets are valid");

        let (incoming, accepting) =
            crate::tls::incoming(listener, self.tls, self.limits.max_connections);
        let stop = ctx.shutdown.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        Server::builder()
            // Dead peers (a kiosk switched off mid-stream) are found and dropped.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .max_concurrent_streams(Some(self.limits.streams_per_connection))
            // Outermost first: every call, refusals included, gets its request id and metrics.
            .layer(crate::observe::ObserveLayer::new(&ctx.metrics))
            .layer(crate::auth::AuthLayer(self.policy))
            .add_service(health)
            .add_service(reflection)
            .add_service(QualificationServiceServer::new(Qualification(
                ctx.clone(),
                self.readers.clone(),
            )))
            .add_service(ReceptionServiceServer::new(Receptions(
                ctx.clone(),
                self.readers,
            )))
            .add_service(BulkCheckServiceServer::new(BulkChecks(ctx.clone())))
            .add_service(ActivationCodeServiceServer::new(ActivationCodes(
                ctx.clone(),
            )))
            .add_service(VisualCheckPasswordServiceServer::new(VisualCheckPasswords(
                ctx.clone(),
            )))
            .add_service(AuditServiceServer::new(AuditTrail(ctx.clone())))
            .add_service(PluginServiceServer::new(Plugins(ctx)))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        // The listener goes with the accept loop; the port is free once this returns.
        let _ = accepting.await;
        Ok(())
    }
}

/// Reports each loaded plugin in gRPC health as `shikaku.plugin.<name>`, flipping to
/// NOT_SERVING when it fails. A failed upstream also takes down the services that need it.
async fn watch_plugin_health(ctx: &Arc<Context>, reporter: &tonic_health::server::HealthReporter) {
    for entry in &ctx.plugins {
        let PluginEntry::Loaded(handle) = entry else {
            continue;
        };
        let service = format!("shikaku.plugin.{}", handle.info.name);
        reporter
            .set_service_status(&service, tonic_health::ServingStatus::Serving)
            .await;
        let is_upstream = handle.info.kind == PluginKind::Upstream as u32;
        let mut state = handle.watch_state();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            if state
                .wait_for(|s| *s != shikaku_plugin_host::PluginState::Ready)
                .await
                .is_err()
            {
                return;
            }
            reporter
                .set_service_status(&service, tonic_health::ServingStatus::NotServing)
                .await;
            if is_upstream {
                reporter
                    .set_not_serving::<QualificationServiceServer<Qualification>>()
                    .await;
                reporter
                    .set_not_serving::<ActivationCodeServiceServer<ActivationCodes>>()
                    .await;
                reporter
                    .set_not_serving::<VisualCheckPasswordServiceServer<VisualCheckPasswords>>()
                    .await;
            }
        });
    }
}

/// A daemon serving in the background: for tests and for embedding.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    pub simulated_readers: Arc<SimulatedReaders>,
    pub simulator: Option<Arc<Simulator>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl Running {
    /// Builds the daemon from `config` and serves on `config.listen` (port 0 picks a free port).
    pub async fn start(config: &Config) -> Result<Self, DaemonError> {
        let (listener, addr) = listen(config.listen).await?;
        let daemon = Daemon::build(config)?;
        let simulated_readers = daemon.simulated_readers.clone();
        let simulator = daemon.simulator.clone();
        let metrics_addr = daemon.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            simulated_readers,
            simulator,
            stop: Some(stop),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight calls to finish.
    pub async fn stop(mut self) -> Result<(), DaemonError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}
