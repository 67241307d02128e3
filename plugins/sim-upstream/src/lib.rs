//! The embedded OQS simulator, shipped as an upstream plugin.
//!
//! Configuration (`[plugins.config]`), all optional but `state_path`:
//! `state_path` (the simulator's SQLite file), `fixture`, `activation_delay_secs`,
//! `max_pending_devices`, `hash_memory_kib`, `hash_passes`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Deserialize;
use shikaku_plugin_sdk::domain::pb::QualificationResult;
use shikaku_plugin_sdk::domain::secret::{ActivationCode, VisualCheckPassword};
use shikaku_plugin_sdk::domain::upstream::{
    BulkQuery, CardCheck, IssuedActivationCode, IssuedPassword, NumbersCheck,
    ReferenceNumberRegistration, RegisteredReferenceNumber, Upstream, UpstreamError, UpstreamEvent,
};
use shikaku_plugin_sdk::domain::values::{AccountId, DeviceMemo};
use shikaku_plugin_sdk::{Deadline, Host, PluginError, UpstreamPlugin, block_on, export_upstream};
use shikaku_simulator::{Simulator, SimulatorConfig};
use tokio::sync::broadcast;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    state_path: PathBuf,
    fixture: Option<PathBuf>,
    activation_delay_secs: Option<u64>,
    max_pending_devices: Option<u32>,
    hash_memory_kib: Option<u32>,
    hash_passes: Option<u32>,
}

pub struct SimUpstream {
    simulator: Arc<Simulator>,
    /// The simulator's unsolicited results, when it has them; waiting for the queue counts
    /// against the caller's deadline.
    events: Option<tokio::sync::Mutex<broadcast::Receiver<UpstreamEvent>>>,
}

impl UpstreamPlugin for SimUpstream {
    fn create(_host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        let c: Config = serde_json::from_value(config.clone()).map_err(PluginError::config)?;
        let mut sim = SimulatorConfig::new(c.state_path);
        sim.fixture = c.fixture;
        if let Some(s) = c.activation_delay_secs {
            sim.activation_delay = Duration::from_secs(s);
        }
        if let Some(n) = c.max_pending_devices {
            sim.max_pending_devices = n;
        }
        if let Some(m) = c.hash_memory_kib {
            sim.hash_memory_kib = m;
        }
        if let Some(p) = c.hash_passes {
            sim.hash_passes = p;
        }
        let (simulator, _readers) = shikaku_simulator::build(&sim).map_err(PluginError::config)?;
        let events = simulator.subscribe().map(tokio::sync::Mutex::new);
        Ok(Self { simulator, events })
    }

    fn challenge(&self, _: Deadline) -> Result<Vec<u8>, UpstreamError> {
        block_on(self.simulator.challenge())
    }

    fn check_by_card(
        &self,
        check: CardCheck,
        _: Deadline,
    ) -> Result<QualificationResult, UpstreamError> {
        block_on(self.simulator.check_by_card(check))
    }

    fn check_by_numbers(
        &self,
        check: &NumbersCheck,
        _: Deadline,
    ) -> Result<QualificationResult, UpstreamError> {
        block_on(self.simulator.check_by_numbers(check))
    }

    fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
        _: Deadline,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        block_on(self.simulator.register_reference_number(registration))
    }

    fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
        _: Deadline,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        block_on(self.simulator.bulk_query(query, confirmation_date))
    }

    fn issue_activation_code(
        &self,
        memo: &DeviceMemo,
        _: Deadline,
    ) -> Result<IssuedActivationCode, UpstreamError> {
        block_on(self.simulator.issue_activation_code(memo))
    }

    fn redeem_activation_code(
        &self,
        code: &ActivationCode,
        device_id: &str,
        _: Deadline,
    ) -> Result<String, UpstreamError> {
        block_on(self.simulator.redeem_activation_code(code, device_id))
    }

    fn revoke_activation_code(&self, id: &str, _: Deadline) -> Result<(), UpstreamError> {
        block_on(self.simulator.revoke_activation_code(id))
    }

    fn issue_visual_check_password(
        &self,
        account: &AccountId,
        _: Deadline,
    ) -> Result<IssuedPassword, UpstreamError> {
        block_on(self.simulator.issue_visual_check_password(account))
    }

    fn verify_visual_check_password(
        &self,
        account: &AccountId,
        password: &VisualCheckPassword,
        _: Deadline,
    ) -> Result<(), UpstreamError> {
        block_on(
            self.simulator
                .verify_visual_check_password(account, password),
        )
    }

    fn next_event(&self, deadline: Deadline) -> Result<Option<UpstreamEvent>, UpstreamError> {
        let Some(events) = &self.events else {
            std::thread::sleep(deadline.remaining());
            return Ok(None);
        };
        block_on(async {
            let wait = async {
                let mut events = events.lock().await;
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
}

export_upstream!(
    SimUpstream,
    name = "oqs-simulator",
    version = env!("CARGO_PKG_VERSION")
);
