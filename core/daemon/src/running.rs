//! A daemon serving in the background: for tests and for embedding.

use std::net::SocketAddr;
use std::sync::Arc;

use shikaku_server::Config;
use shikaku_simulator::{SimulatedReaders, Simulator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::wiring::{WiringError, wire};

pub struct Running {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    pub simulated_readers: Arc<SimulatedReaders>,
    pub simulator: Option<Arc<Simulator>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), shikaku_server::DaemonError>>,
}

impl Running {
    /// Builds the daemon from `config` and serves on `config.listen` (port 0 picks a free port).
    pub async fn start(config: &Config) -> Result<Self, WiringError> {
        let (listener, addr) = shikaku_server::server::listen(config.listen).await?;
        let wired = wire(config)?;
        let metrics_addr = wired.daemon.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wired.daemon.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            simulated_readers: wired.simulated_readers,
            simulator: wired.simulator,
            stop: Some(stop),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for in-flight calls to finish.
    pub async fn stop(mut self) -> Result<(), shikaku_server::DaemonError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }
}
