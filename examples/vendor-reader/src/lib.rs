//! ACME's card reader for shikakud, in one file.
//!
//! A real plugin talks to its device here (USB, serial, a vendor library). This one stands in for
//! a reader whose device reports a card on demand: configure `card = true` to see the daemon's
//! check reach it. Build with `cargo build --release -p acme-reader`, then name the library in
//! `shikaku.toml`:
//!
//! ```toml
//! [[plugins]]
//! path = "target/release/libacme_reader.so"
//! [plugins.config]
//! port = "/dev/ttyACM0"
//! ```

use std::time::Duration;

use shikaku_plugin_sdk::domain::pb::Medium;
use shikaku_plugin_sdk::domain::reader::{ReaderError, ReaderEvent, ReaderInfo};
use shikaku_plugin_sdk::domain::secret::Pin;
use shikaku_plugin_sdk::{
    Deadline, Host, Level, PluginError, ReaderPlugin, ReaderSession, export_card_reader,
};

/// The plugin: one per daemon, shared by every call (so `Send + Sync`).
pub struct AcmeReader {
    port: String,
    host: Host,
}

/// One check's hold on the card; dropping it releases the card.
pub struct AcmeSession;

impl ReaderPlugin for AcmeReader {
    type Session = AcmeSession;

    fn create(host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        let port = config
            .get("port")
            .and_then(|p| p.as_str())
            .unwrap_or("/dev/ttyACM0")
            .to_owned();
        host.log(Level::INFO, &format!("acme reader on {port}"));
        Ok(Self { port, host })
    }

    fn list_readers(&self, _: Deadline) -> Result<Vec<ReaderInfo>, ReaderError> {
        Ok(vec![ReaderInfo {
            name: "acme-0".into(),
            description: format!("ACME reader on {}", self.port),
            card_present: false,
            face_auth: false,
        }])
    }

    fn next_event(&self, deadline: Deadline) -> Result<Option<ReaderEvent>, ReaderError> {
        // A real device blocks here until a card arrives or the deadline passes.
        std::thread::sleep(deadline.remaining().min(Duration::from_secs(1)));
        Ok(None)
    }

    fn open(&self, reader: &str, _: Deadline) -> Result<AcmeSession, ReaderError> {
        if reader != "acme-0" {
            return Err(ReaderError::NotFound(reader.into()));
        }
        self.host.log(Level::INFO, "no card on acme-0");
        Err(ReaderError::NoCard)
    }
}

impl ReaderSession for AcmeSession {
    fn medium(&mut self, _: Deadline) -> Result<Medium, ReaderError> {
        Err(ReaderError::NoCard)
    }

    fn read_auth_certificate(&mut self, _: Deadline) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::NoCard)
    }

    fn verify_pin(&mut self, _: &Pin, _: Deadline) -> Result<(), ReaderError> {
        Err(ReaderError::NoCard)
    }

    fn sign(&mut self, _: &[u8], _: Deadline) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::NoCard)
    }
}

export_card_reader!(
    AcmeReader,
    name = "acme-reader",
    version = env!("CARGO_PKG_VERSION")
);
