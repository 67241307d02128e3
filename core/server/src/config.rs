//! Configuration: defaults → `shikaku.toml` → `SHIKAKU_*` environment → command-line flags,
//! then validated. Unknown keys in the file are errors, so a typo never silently does nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use shikaku_domain::values::FacilityCode;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the gRPC server.
    pub listen: SocketAddr,
    /// Where the store and the simulator's state live.
    pub data_dir: PathBuf,
    /// 医療機関コード of this facility, when known (checked for its check digit).
    pub facility_code: Option<String>,
    /// Log filter, e.g. "info" or "shikaku_daemon=debug,warn".
    pub log: String,
    /// "text" or "json".
    pub log_format: LogFormat,
    /// Longest a card check may take, reading included, in seconds.
    pub check_timeout_secs: u64,
    pub store: StoreConfig,
    pub simulator: SimulatorSection,
    pub reception: ReceptionConfig,
    pub bulk: BulkConfig,
    pub retention: RetentionConfig,
    /// Shared libraries to load: card readers, smartphone readers, upstream transports
    /// (`[[plugins]]`). Only these paths are ever loaded.
    pub plugins: Vec<PluginConfig>,
    /// What particular clients may do beyond their certificate's role (`[[clients]]`).
    pub clients: Vec<ClientConfig>,
    /// Calls per minute each client may make of the costly or risky operations.
    pub rate_limits: RateLimits,
    /// What the daemon holds open at once.
    pub limits: Limits,
    /// The Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
}

/// The Prometheus metrics endpoint: plain HTTP on a port of its own, away from gRPC, and on
/// loopback unless said otherwise, since it answers anyone who can reach it (the series hold
/// counts and timings, never a person or a secret).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Address of the endpoint (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Let `listen` be a non-loopback address (for a Prometheus on another machine). Off, such
    /// an address is a configuration error.
    pub on_network: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            on_network: false,
        }
    }
}

/// Bounds on what clients may hold open, so none can exhaust the daemon's descriptors or memory.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections open at once, TLS handshakes included; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// HTTP/2 streams (calls) at once on one connection.
    pub streams_per_connection: u32,
    /// Watch streams (WatchReaders, WatchReceptions, WatchBulkCheck) one client may hold open.
    pub watches_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 2048,
            streams_per_connection: 128,
            watches_per_client: 32,
        }
    }
}

/// Per-client limits, as calls per minute (a token bucket that holds a minute's worth); 0 turns
/// a limit off. A loopback `local` caller is not limited.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// CheckByCard and CheckIn.
    pub card_checks: u32,
    /// RedeemActivationCode (each wrong code costs a slow hash).
    pub redemptions: u32,
    /// IssueActivationCode and IssueVisualCheckPassword.
    pub issuance: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            card_checks: 60,
            redemptions: 10,
            issuance: 10,
        }
    }
}

/// One `[[clients]]` entry: narrows what the client with this certificate name may do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The name its certificate was issued for (`shikaku tls client NAME`).
    pub name: String,
    /// The readers it may use (a kiosk's own reader); empty for any.
    #[serde(default)]
    pub readers: Vec<String>,
}

/// One `[[plugins]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The shared library (`.so`, `.dll`, `.dylib`).
    pub path: PathBuf,
    /// Hex SHA-256 the file must have; the daemon refuses to start when it differs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The kind this plugin must be, when set.
    #[serde(default)]
    pub kind: Option<PluginKindName>,
    /// Calls at once for a thread-safe plugin (a plugin that is not gets one).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// The deadline of each call, in milliseconds.
    #[serde(default = "default_plugin_timeout_ms")]
    pub timeout_ms: u64,
    /// How long past its deadline a call may run before the plugin counts as hung.
    #[serde(default = "default_plugin_grace_ms")]
    pub grace_ms: u64,
    /// Passed to the plugin as JSON.
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
}

fn default_max_concurrency() -> usize {
    64
}

fn default_plugin_timeout_ms() -> u64 {
    10_000
}

fn default_plugin_grace_ms() -> u64 {
    1_000
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PluginKindName {
    CardReader,
    SmartphoneReader,
    Upstream,
}

impl PluginKindName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardReader => "card_reader",
            Self::SmartphoneReader => "smartphone_reader",
            Self::Upstream => "upstream",
        }
    }
}

/// The reception list (受付) of re-visit kiosks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ReceptionConfig {
    /// "automatic" (自動反映) or "manual" (手動反映).
    pub mode: ReceptionMode,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReceptionMode {
    /// An entry for a linked patient with valid insurance is accepted at once.
    #[default]
    Automatic,
    /// Every entry waits for a clerk.
    Manual,
}

/// Bulk checks (一括照会).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BulkConfig {
    /// Checks a bulk job runs at once when the upstream takes no bulk upload (1–20: a terminal
    /// accepts at most 20 sessions).
    pub concurrency: u32,
}

impl Default for BulkConfig {
    fn default() -> Self {
        Self { concurrency: 8 }
    }
}

/// How long personal data is kept (APPI: no longer than needed). A background task deletes
/// what is older once at start and then daily; `shikaku purge` does it on demand. Audit lines
/// are kept: they hold keyed hashes, not people. Patient links are the current register and are
/// kept until unlinked; check results are not stored apart from reception entries and bulk checks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days a reception entry (受付) is kept after its 受付日.
    pub reception_days: u32,
    /// Days a finished bulk check (一括照会), its inputs and results, is kept.
    pub bulk_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            reception_days: 30,
            bulk_days: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// "full" (fsync every commit; survives power loss) or "normal" (survives a daemon crash).
    pub durability: Durability,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

/// The embedded OQS simulator and simulated readers (the default upstream and reader).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSection {
    /// A fixture file to use instead of the embedded one.
    pub fixture: Option<PathBuf>,
    /// Seconds after issue before an activation code is usable (OQS: about 10 minutes).
    pub activation_delay_secs: u64,
    /// Pending activation codes allowed at once.
    pub max_pending_devices: u32,
    /// Argon2id cost for stored secrets: memory in KiB and passes.
    pub hash_memory_kib: u32,
    pub hash_passes: u32,
    /// Serve the simulated readers (one virtual card per fixture person) beside any reader
    /// plugins. Turn off where real readers are attached.
    pub readers: bool,
    /// Let the simulator answer on a non-loopback address. Off, a daemon that would answer
    /// clinic clients with simulated results refuses to start.
    pub on_network: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("data"),
            facility_code: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            check_timeout_secs: 60,
            store: StoreConfig::default(),
            simulator: SimulatorSection::default(),
            reception: ReceptionConfig::default(),
            bulk: BulkConfig::default(),
            retention: RetentionConfig::default(),
            plugins: Vec::new(),
            clients: Vec::new(),
            rate_limits: RateLimits::default(),
            limits: Limits::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
        }
    }
}

impl Default for SimulatorSection {
    fn default() -> Self {
        Self {
            fixture: None,
            activation_delay_secs: 600,
            max_pending_devices: 20,
            hash_memory_kib: 19 * 1024,
            hash_passes: 2,
            readers: true,
            on_network: false,
        }
    }
}

/// Top-level keys the environment may set; other `SHIKAKU_*` variables (the CLI's
/// `SHIKAKU_ADDR`, `SHIKAKU_PIN`, …) belong to other programs and are not config.
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "facility_code",
    "log",
    "log_format",
    "check_timeout_secs",
    "store",
    "simulator",
    "reception",
    "bulk",
    "retention",
    "rate_limits",
    "limits",
    "metrics",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {key}: {rule}")]
    Invalid { key: &'static str, rule: String },
}

impl Config {
    /// Loads the layers. A missing `shikaku.toml` at the default place is fine; a file named
    /// explicitly must exist.
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Invalid {
                        key: "config",
                        rule: format!("file {} does not exist", path.display()),
                    });
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None if Path::new("shikaku.toml").exists() => {
                fig = fig.merge(Toml::file_exact("shikaku.toml"));
            }
            None => {}
        }
        let env = Env::prefixed("SHIKAKU_")
            .filter(|k| {
                let top = k.as_str().split("__").next().unwrap_or_default();
                ENV_KEYS.iter().any(|e| top.eq_ignore_ascii_case(e))
            })
            .split("__");
        let config: Config = fig
            .merge(env)
            .merge(overrides)
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(code) = &self.facility_code {
            FacilityCode::parse(code).map_err(|e| ConfigError::Invalid {
                key: "facility_code",
                rule: e.to_string(),
            })?;
        }
        if self.check_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "check_timeout_secs",
                rule: "must be at least 1".into(),
            });
        }
        if !(8..=4 * 1024 * 1024).contains(&self.simulator.hash_memory_kib) {
            return Err(ConfigError::Invalid {
                key: "simulator.hash_memory_kib",
                rule: "must be between 8 and 4194304".into(),
            });
        }
        if self.simulator.hash_passes == 0 {
            return Err(ConfigError::Invalid {
                key: "simulator.hash_passes",
                rule: "must be at least 1".into(),
            });
        }
        if !(1..=20).contains(&self.bulk.concurrency) {
            return Err(ConfigError::Invalid {
                key: "bulk.concurrency",
                rule: "must be between 1 and 20 (a terminal accepts at most 20 sessions)".into(),
            });
        }
        for (key, days) in [
            ("retention.reception_days", self.retention.reception_days),
            ("retention.bulk_days", self.retention.bulk_days),
        ] {
            if !(1..=3660).contains(&days) {
                return Err(ConfigError::Invalid {
                    key,
                    rule: "must be between 1 and 3660 days".into(),
                });
            }
        }
        if self.simulator.max_pending_devices == 0 {
            return Err(ConfigError::Invalid {
                key: "simulator.max_pending_devices",
                rule: "must be at least 1".into(),
            });
        }
        for (i, p) in self.plugins.iter().enumerate() {
            let invalid = |rule: String| ConfigError::Invalid {
                key: "plugins",
                rule: format!("entry {} ({}): {rule}", i + 1, p.path.display()),
            };
            if let Some(sha) = &p.sha256
                && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(invalid("sha256 must be 64 hex digits".into()));
            }
            if !(1..=1024).contains(&p.max_concurrency) {
                return Err(invalid("max_concurrency must be between 1 and 1024".into()));
            }
            if p.timeout_ms == 0 {
                return Err(invalid("timeout_ms must be at least 1".into()));
            }
        }
        let l = &self.limits;
        if l.max_connections == 0 || l.streams_per_connection == 0 || l.watches_per_client == 0 {
            return Err(ConfigError::Invalid {
                key: "limits",
                rule: "max_connections, streams_per_connection and watches_per_client must be at least 1"
                    .into(),
            });
        }
        let m = &self.metrics;
        if m.enabled && !m.listen.ip().is_loopback() && !m.on_network {
            return Err(ConfigError::Invalid {
                key: "metrics.listen",
                rule: format!(
                    "{} is not a loopback address; set [metrics] on_network = true to serve metrics to the network",
                    m.listen
                ),
            });
        }
        for c in &self.clients {
            let name_ok = (1..=64).contains(&c.name.len())
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !name_ok {
                return Err(ConfigError::Invalid {
                    key: "clients",
                    rule: format!(
                        "name {:?} must be 1–64 of A–Z a–z 0–9 . _ -, as in its certificate",
                        c.name
                    ),
                });
            }
            if c.readers.iter().any(|r| r.is_empty() || r.len() > 128) {
                return Err(ConfigError::Invalid {
                    key: "clients",
                    rule: format!("{}: reader names must be 1–128 bytes", c.name),
                });
            }
        }
        Ok(())
    }

    pub fn check_timeout(&self) -> Duration {
        Duration::from_secs(self.check_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample a facility starts from must load as it is.
    #[test]
    fn the_sample_configuration_loads() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/shikaku.toml");
        let c = Config::load(Some(&sample), Figment::new()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_and_values_validated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shikaku.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load(Some(&file), Figment::new()).unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");

        std::fs::write(&file, "facility_code = \"1311111118\"\n").unwrap();
        let err = Config::load(Some(&file), Figment::new()).unwrap_err();
        assert!(err.to_string().contains("check digit"), "{err}");

        std::fs::write(&file, "[simulator]\nactivation_delay_secs = 5\n").unwrap();
        let c = Config::load(Some(&file), Figment::new()).unwrap();
        assert_eq!(c.simulator.activation_delay_secs, 5);
        assert_eq!(c.listen.port(), 50051);
        assert_eq!(c.retention, RetentionConfig::default());

        std::fs::write(&file, "[retention]\nreception_days = 0\n").unwrap();
        let err = Config::load(Some(&file), Figment::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration: retention.reception_days: must be between 1 and 3660 days"
        );
        std::fs::write(&file, "[metrics]\nlisten = \"0.0.0.0:9464\"\n").unwrap();
        let err = Config::load(Some(&file), Figment::new()).unwrap_err();
        assert!(err.to_string().contains("metrics.listen"), "{err}");
        std::fs::write(
            &file,
            "[metrics]\nlisten = \"0.0.0.0:9464\"\non_network = true\n",
        )
        .unwrap();
        Config::load(Some(&file), Figment::new()).unwrap();

        std::fs::write(&file, "[retention]\nbulk_days = 90\n").unwrap();
        let c = Config::load(Some(&file), Figment::new()).unwrap();
        assert_eq!(
            (c.retention.reception_days, c.retention.bulk_days),
            (30, 90)
        );
    }
}
