//! Test harness: a real daemon on 127.0.0.1:0 with its store in a temporary directory, a
//! connected channel, and helpers that read the rich error details off a status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use shikaku_daemon::{Config, Running};
use shikaku_proto::v1::ERROR_DOMAIN;
use tempfile::TempDir;
use tonic::transport::Channel;
use tonic_types::StatusExt;

pub use shikaku_proto::v1 as pb;

pub mod transports;

pub struct TestDaemon {
    pub running: Running,
    pub channel: Channel,
    pub dir: TempDir,
}

/// Where every test process leaves its daemons' logs, for `tests/log_scan.rs`:
/// `target/test-logs`.
pub fn test_log_dir() -> PathBuf {
    bin_dir().parent().unwrap().join("test-logs")
}

/// The name of this test process's logs: the test binary's and the process id.
fn log_name() -> String {
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    format!("{stem}-{}", std::process::id())
}

/// The log filter of the in-process daemons: everything of ours, down to trace, and the
/// libraries' debug, without the HTTP/2 and TLS frame chatter.
const TEST_LOG_FILTER: &str = "debug,shikaku=trace,h2=info,hyper=info,hyper_util=info,tower=info,rustls=info,tokio_rustls=info";

/// Sends this test process's logs, at their most verbose, to a file of its own under
/// `test_log_dir()` (once per process), so `tests/log_scan.rs`, run after the suite by
/// `scripts/test.sh`, can show that no fixture person's name, number or PIN ever reached a
/// log. Every in-process daemon starts from `test_config`, which calls this.
pub fn log_to_file() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let dir = test_log_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(format!("{}.log", log_name()))).unwrap();
        // Another subscriber installed first (a test's own) keeps its place.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(TEST_LOG_FILTER))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}

/// A file under `test_log_dir()` for the log of a `shikakud` this test process spawns; the
/// test copies the child's stderr lines into it.
pub fn child_log(what: &str) -> std::fs::File {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = test_log_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join(format!("{}-{what}-{n}.log", log_name()))).unwrap()
}

/// A configuration fit for tests: free port, temporary data, cheap hashing, no activation delay.
pub fn test_config(dir: &TempDir) -> Config {
    log_to_file();
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    c.simulator.activation_delay_secs = 0;
    c.simulator.hash_memory_kib = 64;
    c.simulator.hash_passes = 1;
    c.metrics.listen = "127.0.0.1:0".parse().unwrap();
    c
}

impl TestDaemon {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_prepared(|_| {}, adjust).await
    }

    /// Starts a daemon on a data directory `prepare` has set up first (e.g. `shikaku tls
    /// init`). A daemon serving TLS gets a `channel` that cannot talk to it; tests connect
    /// with their own credentials.
    pub async fn start_prepared(
        prepare: impl FnOnce(&Path),
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let mut config = test_config(&dir);
        adjust(&mut config);
        let running = Running::start(&config).await.expect("daemon starts");
        let channel = Channel::from_shared(running.url()).unwrap().connect_lazy();
        Self {
            running,
            channel,
            dir,
        }
    }

    pub fn qualification(
        &self,
    ) -> pb::qualification_service_client::QualificationServiceClient<Channel> {
        pb::qualification_service_client::QualificationServiceClient::new(self.channel.clone())
    }

    pub fn plugins(&self) -> pb::plugin_service_client::PluginServiceClient<Channel> {
        pb::plugin_service_client::PluginServiceClient::new(self.channel.clone())
    }

    pub fn activation(
        &self,
    ) -> pb::activation_code_service_client::ActivationCodeServiceClient<Channel> {
        pb::activation_code_service_client::ActivationCodeServiceClient::new(self.channel.clone())
    }

    pub fn visual_check(
        &self,
    ) -> pb::visual_check_password_service_client::VisualCheckPasswordServiceClient<Channel> {
        pb::visual_check_password_service_client::VisualCheckPasswordServiceClient::new(
            self.channel.clone(),
        )
    }

    pub fn reception(&self) -> pb::reception_service_client::ReceptionServiceClient<Channel> {
        pb::reception_service_client::ReceptionServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> pb::audit_service_client::AuditServiceClient<Channel> {
        pb::audit_service_client::AuditServiceClient::new(self.channel.clone())
    }

    pub fn bulk(&self) -> pb::bulk_check_service_client::BulkCheckServiceClient<Channel> {
        pb::bulk_check_service_client::BulkCheckServiceClient::new(self.channel.clone())
    }

    /// Stops the daemon and starts a new one on the same data directory (a daemon restart),
    /// configured by `adjust` as `start_with` does.
    pub async fn restart_with(self, adjust: impl FnOnce(&mut Config)) -> Self {
        let Self { running, dir, .. } = self;
        running.stop().await.expect("daemon stops");
        let mut config = test_config(&dir);
        adjust(&mut config);
        let running = Running::start(&config).await.expect("daemon restarts");
        let channel = Channel::from_shared(running.url())
            .unwrap()
            .connect()
            .await
            .expect("connect");
        Self {
            running,
            channel,
            dir,
        }
    }
}

/// The ErrorInfo reason and metadata of a status (panics if there is none, or its domain is wrong).
pub fn reason(status: &tonic::Status) -> (String, HashMap<String, String>) {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.domain, ERROR_DOMAIN);
    (info.reason.clone(), info.metadata.clone())
}

/// The BadRequest field violations of a status, as (field, description).
pub fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| (v.field.clone(), v.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The directory cargo puts this workspace's binaries in (next to the test executable's `deps`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Packages whose binaries and shared libraries the end-to-end tests run.
const ARTIFACT_PACKAGES: &[&str] = &[
    "shikaku-daemon",
    "shikaku-cli",
    "shikaku-sim-reader",
    "shikaku-sim-upstream",
    "shikaku-pcsc",
    "shikaku-pcsc-smartphone",
    "shikaku-fault-plugin",
    "shikaku-oqs-folder-plugin",
    "shikaku-oqs-webapi-plugin",
    "acme-reader",
    "shikaku-example-kiosk",
    "shikaku-example-receipt-computer",
];

/// Builds the workspace binaries the tests run, once per test process.
///
/// `cargo test --all-targets` compiles bin targets only as test harnesses, so on a clean clone
/// `target/debug/shikakud` does not exist; building here also keeps a stale binary from being
/// tested after an edit.
pub fn ensure_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = bin_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        // Cargo runs tests with this package's CARGO_PKG_*, CARGO_MANIFEST_DIR, OUT_DIR, …; some
        // build scripts (ring's) watch those, and would rebuild on every run if they leaked into
        // the inner build.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let cargo_set = key.starts_with("CARGO_")
                && !["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_TERM_"]
                    .iter()
                    .any(|keep| key.starts_with(keep))
                && !key.starts_with("CARGO_BUILD_")
                && !key.starts_with("CARGO_NET_")
                && !key.starts_with("CARGO_HTTP_")
                && !key.starts_with("CARGO_REGISTR");
            if cargo_set || key == "OUT_DIR" {
                cmd.env_remove(key.as_ref());
            }
        }
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(dir.parent().unwrap());
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for p in ARTIFACT_PACKAGES {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the test artifacts failed");
    });
}

/// The path of a workspace binary, built first if needed.
pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    let p = bin_dir().join(name);
    assert!(p.exists(), "{} is missing after cargo build", p.display());
    p
}

/// The path of a workspace plugin (a `cdylib`), built first if needed: `plugin("shikaku_sim_reader")`.
pub fn plugin(lib_name: &str) -> PathBuf {
    ensure_built();
    let p = bin_dir().join(format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(p.exists(), "{} is missing after cargo build", p.display());
    p
}

/// Compiles `sdk/tests/c/test_plugin.c` (a plugin in C, against `shikaku_plugin.h`) with the
/// given `-D` switches into its own shared library.
pub fn c_plugin(defines: &[&str]) -> PathBuf {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let dir = bin_dir().join("c-plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = if defines.is_empty() {
        "default".to_owned()
    } else {
        defines.join("_").replace(['=', '-'], "")
    };
    let out = dir.join(format!("libctest_{tag}{}", std::env::consts::DLL_SUFFIX));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg("-I")
        .arg(sdk.join("include"))
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(sdk.join("tests/c/test_plugin.c"))
        .status()
        .expect("run the C compiler (cc)");
    assert!(status.success(), "cc failed for {defines:?}");
    out
}

/// A check by numbers for fixture person "taro" (協会けんぽ, valid).
pub fn taro_numbers() -> pb::CheckByInsuranceNumbersRequest {
    pb::CheckByInsuranceNumbersRequest {
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "01".into(),
        birth_date: "1970-01-01".into(),
        ..Default::default()
    }
}
