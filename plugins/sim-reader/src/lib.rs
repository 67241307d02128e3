//! The simulated readers of the embedded simulator, shipped as a card-reader plugin.
//!
//! Configuration (`[plugins.config]`): `fixture` — a fixture file replacing the embedded one.

use std::path::PathBuf;
use std::sync::Arc;

use shikaku_plugin_sdk::domain::pb::Medium;
use shikaku_plugin_sdk::domain::reader::{
    CardReader, CardSession, ReaderError, ReaderEvent, ReaderInfo,
};
use shikaku_plugin_sdk::domain::secret::Pin;
use shikaku_plugin_sdk::{
    Deadline, Host, PluginError, ReaderPlugin, ReaderSession, block_on, export_card_reader,
};
use shikaku_simulator::SimulatedReaders;
use tokio::sync::broadcast;

pub struct SimReader {
    readers: Arc<SimulatedReaders>,
    /// One queue for every caller; waiting for it counts against the caller's deadline.
    events: tokio::sync::Mutex<broadcast::Receiver<ReaderEvent>>,
}

pub struct SimSession(Box<dyn CardSession>);

impl ReaderPlugin for SimReader {
    type Session = SimSession;

    fn create(_host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        let fixture = config
            .get("fixture")
            .and_then(|f| f.as_str())
            .map(PathBuf::from);
        let readers =
            shikaku_simulator::build_readers(fixture.as_deref()).map_err(PluginError::config)?;
        let events = tokio::sync::Mutex::new(readers.subscribe());
        Ok(Self { readers, events })
    }

    fn list_readers(&self, _: Deadline) -> Result<Vec<ReaderInfo>, ReaderError> {
        block_on(self.readers.list_readers())
    }

    fn next_event(&self, deadline: Deadline) -> Result<Option<ReaderEvent>, ReaderError> {
        block_on(async {
            let wait = async {
                let mut events = self.events.lock().await;
                loop {
                    match events.recv().await {
                        Ok(event) => return Some(event),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            };
            Ok(tokio::time::timeout(deadline.remaining(), wait)
                .await
                .ok()
                .flatten())
        })
    }

    fn open(&self, reader: &str, _: Deadline) -> Result<SimSession, ReaderError> {
        block_on(self.readers.open(reader)).map(SimSession)
    }
}

impl ReaderSession for SimSession {
    fn medium(&mut self, _: Deadline) -> Result<Medium, ReaderError> {
        block_on(self.0.medium())
    }

    fn read_auth_certificate(&mut self, _: Deadline) -> Result<Vec<u8>, ReaderError> {
        block_on(self.0.read_auth_certificate())
    }

    fn verify_pin(&mut self, pin: &Pin, _: Deadline) -> Result<(), ReaderError> {
        block_on(self.0.verify_pin(pin))
    }

    fn sign(&mut self, digest_info: &[u8], _: Deadline) -> Result<Vec<u8>, ReaderError> {
        block_on(self.0.sign(digest_info))
    }

    fn authenticate_face(&mut self, _: Deadline) -> Result<(), ReaderError> {
        block_on(self.0.authenticate_face())
    }
}

export_card_reader!(
    SimReader,
    name = "simulated-readers",
    version = env!("CARGO_PKG_VERSION")
);
