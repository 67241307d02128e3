//! A card-reader plugin that misbehaves on request, so tests can prove the host survives it.
//!
//! Configuration: `panic_in` (a method name: "list_readers" or "open"), `hang_in` and
//! `hang_ms` (sleep that long in that method, ignoring the deadline), `rendezvous` (each
//! `list_readers` waits until that many calls are in flight at once, or fails at its deadline).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use shikaku_plugin_sdk::domain::pb::Medium;
use shikaku_plugin_sdk::domain::reader::{ReaderError, ReaderEvent, ReaderInfo};
use shikaku_plugin_sdk::domain::secret::Pin;
use shikaku_plugin_sdk::{
    Deadline, Host, PluginError, ReaderPlugin, ReaderSession, export_card_reader,
};

pub struct Faulty {
    panic_in: String,
    hang_in: String,
    hang: Duration,
    rendezvous: usize,
    in_flight: Mutex<(usize, usize)>,
    arrived: Condvar,
}

impl Faulty {
    fn misbehave(&self, method: &str) {
        if self.panic_in == method {
            panic!("asked to panic in {method}");
        }
        if self.hang_in == method {
            std::thread::sleep(self.hang);
        }
    }

    /// Waits until `rendezvous` calls are inside at once: proof they run concurrently.
    fn meet(&self, deadline: Deadline) -> Result<usize, ReaderError> {
        let mut state = self.in_flight.lock().unwrap();
        state.0 += 1;
        state.1 = state.1.max(state.0);
        self.arrived.notify_all();
        while state.1 < self.rendezvous {
            let (s, timeout) = self
                .arrived
                .wait_timeout(state, deadline.remaining())
                .unwrap();
            state = s;
            if timeout.timed_out() && state.1 < self.rendezvous {
                state.0 -= 1;
                return Err(ReaderError::Failure(format!(
                    "only {} of {} calls met",
                    state.1, self.rendezvous
                )));
            }
        }
        state.0 -= 1;
        Ok(state.1)
    }
}

pub struct FaultySession;

impl ReaderPlugin for Faulty {
    type Session = FaultySession;

    fn create(_host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        let text = |k: &str| {
            config
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let number = |k: &str| config.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        Ok(Self {
            panic_in: text("panic_in"),
            hang_in: text("hang_in"),
            hang: Duration::from_millis(number("hang_ms")),
            rendezvous: number("rendezvous") as usize,
            in_flight: Mutex::new((0, 0)),
            arrived: Condvar::new(),
        })
    }

    fn list_readers(&self, deadline: Deadline) -> Result<Vec<ReaderInfo>, ReaderError> {
        self.misbehave("list_readers");
        let met = if self.rendezvous > 0 {
            self.meet(deadline)?
        } else {
            0
        };
        Ok(vec![ReaderInfo {
            name: "faulty-0".into(),
            description: format!("max in flight {met}"),
            card_present: true,
            face_auth: false,
        }])
    }

    fn next_event(&self, deadline: Deadline) -> Result<Option<ReaderEvent>, ReaderError> {
        std::thread::sleep(deadline.remaining());
        Ok(None)
    }

    fn open(&self, reader: &str, _: Deadline) -> Result<FaultySession, ReaderError> {
        self.misbehave("open");
        if reader != "faulty-0" {
            return Err(ReaderError::NotFound(reader.into()));
        }
        Ok(FaultySession)
    }
}

impl ReaderSession for FaultySession {
    fn medium(&mut self, _: Deadline) -> Result<Medium, ReaderError> {
        Err(ReaderError::NotMyNumberCard)
    }

    fn read_auth_certificate(&mut self, _: Deadline) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::NotMyNumberCard)
    }

    fn verify_pin(&mut self, _: &Pin, _: Deadline) -> Result<(), ReaderError> {
        Err(ReaderError::NotMyNumberCard)
    }

    fn sign(&mut self, _: &[u8], _: Deadline) -> Result<Vec<u8>, ReaderError> {
        Err(ReaderError::NotMyNumberCard)
    }
}

export_card_reader!(Faulty, name = "faulty", version = "0.0.1");
