//! Builds the daemon's parts and serves them: the shikaku.v1 services, gRPC health and reflection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shikaku_domain::pb::activation_code_service_server::ActivationCodeServiceServer;
use shikaku_domain::pb::plugin_service_server::PluginServiceServer;
use shikaku_domain::pb::qualification_service_server::QualificationServiceServer;
use shikaku_domain::pb::visual_check_password_service_server::VisualCheckPasswordServiceServer;
use shikaku_domain::pb::{FILE_DESCRIPTOR_SET, Plugin, PluginKind, PluginState};
use shikaku_domain::reader::CardReader;
use shikaku_simulator::{SimulatedReaders, SimulatorConfig};
use shikaku_store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::config::{Config, Durability};
use crate::services::activation::ActivationCodes;
use crate::services::plugins::Plugins;
use crate::services::qualification::Qualification;
use crate::services::visual_check::VisualCheckPasswords;
use crate::services::{Context, Readers};

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
}

/// The daemon's parts, built and ready to serve.
pub struct Daemon {
    context: Arc<Context>,
    readers: Arc<Readers>,
    /// The simulated readers, so tests and demos can place and take away virtual cards.
    pub simulated_readers: Arc<SimulatedReaders>,
}

fn embedded(name: &str, kind: PluginKind) -> Plugin {
    Plugin {
        name: name.into(),
        kind: kind as i32,
        version: env!("CARGO_PKG_VERSION").into(),
        state: PluginState::Ready as i32,
        source: "embedded".into(),
        failure: String::new(),
    }
}

impl Daemon {
    pub fn build(config: &Config) -> Result<Self, DaemonError> {
        let durability = match config.store.durability {
            Durability::Full => shikaku_store::Durability::Full,
            Durability::Normal => shikaku_store::Durability::Normal,
        };
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
        let (simulator, simulated_readers) = shikaku_simulator::build(&sim_config)?;
        let reader_plugin: Arc<dyn CardReader> = simulated_readers.clone();
        let readers = Arc::new(Readers::new(vec![(
            "simulated-reader".to_owned(),
            reader_plugin,
        )]));
        let context = Arc::new(Context {
            store,
            upstream: simulator,
            plugins: vec![
                embedded("simulator", PluginKind::Upstream),
                embedded("simulated-reader", PluginKind::CardReader),
            ],
            check_timeout: config.check_timeout(),
            shutdown: tokio::sync::watch::channel(false).0,
        });
        Ok(Self {
            context,
            readers,
            simulated_readers,
        })
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
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("descriptor sets are valid");

        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let stop = ctx.shutdown.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(QualificationServiceServer::new(Qualification(
                ctx.clone(),
                self.readers,
            )))
            .add_service(ActivationCodeServiceServer::new(ActivationCodes(
                ctx.clone(),
            )))
            .add_service(VisualCheckPasswordServiceServer::new(VisualCheckPasswords(
                ctx.clone(),
            )))
            .add_service(PluginServiceServer::new(Plugins(ctx)))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}

/// A daemon serving in the background: for tests and for embedding.
pub struct Running {
    pub addr: SocketAddr,
    pub simulated_readers: Arc<SimulatedReaders>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl Running {
    /// Builds the daemon from `config` and serves on `config.listen` (port 0 picks a free port).
    pub async fn start(config: &Config) -> Result<Self, DaemonError> {
        let daemon = Daemon::build(config)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| DaemonError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| DaemonError::Bind {
            addr: config.listen,
            source,
        })?;
        let simulated_readers = daemon.simulated_readers.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            simulated_readers,
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
