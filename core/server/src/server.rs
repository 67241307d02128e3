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
use shikaku_store::Store;
use tokio::net::TcpListener;
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("audit key: {0}")]
    AuditKey(std::io::Error),
    #[error(
        "refusing to serve plaintext on {0}, which is not a loopback address: run `shikaku tls init --data-dir DIR` for this data directory first, so clients must present certificates"
    )]
    PlaintextOnNetwork(SocketAddr),
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

/// What the binary plugs into the server: the upstream, the readers, and the plugins to report.
pub struct Parts {
    pub upstream: Arc<dyn Upstream>,
    /// Each reader plugin by name (the embedded simulated readers among them, when served).
    pub readers: Vec<(String, Arc<dyn CardReader>)>,
    pub plugins: Vec<PluginEntry>,
}

/// The daemon's parts, built and ready to serve.
pub struct Daemon {
    context: Arc<Context>,
    /// TLS for the listener, when the data directory holds a server certificate.
    tls: Option<tokio_rustls::TlsAcceptor>,
    policy: Arc<crate::auth::Policy>,
    limits: crate::config::Limits,
    readers: Arc<Readers>,
    retention: crate::config::RetentionConfig,
    /// The `/metrics` listener, bound at build so a port in use fails the start.
    metrics_listener: Option<(std::net::TcpListener, SocketAddr)>,
}

impl Daemon {
    /// Builds the server. `plug` is called once the listener's security is settled and the data
    /// directory is secured, so whatever it opens there is the daemon user's alone.
    pub fn build<E: From<DaemonError>>(
        config: &Config,
        plug: impl FnOnce() -> Result<Parts, E>,
    ) -> Result<Self, E> {
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
        let (tls, revocations) =
            match crate::tls::acceptor(&config.data_dir).map_err(DaemonError::from)? {
                Some((acceptor, revocations)) => (Some(acceptor), Some(revocations)),
                None => (None, None),
            };
        if !config.listen.ip().is_loopback() && tls.is_none() {
            return Err(DaemonError::PlaintextOnNetwork(config.listen).into());
        }
        // Personal data at rest is for shikakud's user alone: the directory 0700, its files 0600.
        for fixed in shikaku_store::secure_data_dir(&config.data_dir).map_err(DaemonError::from)? {
            tracing::warn!("{fixed}");
        }
        let store = Store::open(&config.data_dir.join("shikaku.sqlite"), durability)
            .map_err(DaemonError::from)?;
        let parts = plug()?;
        // The metrics name the transport by the upstream plugin's name ("simulator" embedded).
        let transport = PluginEntry::upstream_of(&parts.plugins)
            .map_or_else(|| "upstream".to_owned(), |p| p.name);
        let upstream: Arc<dyn Upstream> = Arc::new(crate::metrics::upstream::Metered::new(
            parts.upstream,
            &transport,
            &metrics,
        ));
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
            plugins: parts.plugins,
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
            readers: Arc::new(Readers::new(parts.readers)),
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
        match PluginEntry::upstream_of(&self.context.plugins) {
            Some(p) if p.source != "embedded" => format!("plugin {} ({})", p.name, p.source),
            _ => "embedded simulator".into(),
        }
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
        let PluginEntry::Loaded(plugin) = entry else {
            continue;
        };
        let described = plugin.describe();
        let service = format!("shikaku.plugin.{}", described.name);
        reporter
            .set_service_status(&service, tonic_health::ServingStatus::Serving)
            .await;
        let is_upstream = described.kind == PluginKind::Upstream as i32;
        let failed = plugin.failed();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            if !failed.await {
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
