//! The folder transport's settings, as `[plugins.config]` gives them (JSON), with defaults.

use std::path::PathBuf;

use serde::Deserialize;
use shikaku_oqs_guard::GuardConfig;
use shikaku_oqs_xml::names::FACE_PREFIX;
use shikaku_oqs_xml::{Dialect, Encoding};

/// When a file another program is writing counts as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionMode {
    /// As soon as it parses as a whole document (a cut-off document never does); a file that
    /// does not parse and stays unchanged for `settle_ms` is malformed.
    #[default]
    Parse,
    /// Only when its size and modification time stayed unchanged for `settle_ms` (for shares
    /// that report sizes late); then it must parse.
    Stable,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Completion {
    pub mode: CompletionMode,
    pub settle_ms: u64,
}

impl Default for Completion {
    fn default() -> Self {
        Self {
            mode: CompletionMode::Parse,
            settle_ms: 1_000,
        }
    }
}

/// What happens to a face file once its event has been taken.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceAfter {
    /// Delete it (shikaku is the only reader of `face`).
    #[default]
    Delete,
    /// Leave it for other readers; shikaku remembers (in memory) which it has delivered, so
    /// after a restart the files still there are delivered again, under the same `source`.
    Keep,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceConfig {
    pub enabled: bool,
    /// File names start with this (`OQSsiquc01res_face_` as seen at clinics).
    pub prefix: String,
    pub after: FaceAfter,
    /// How often `face` is listed (listings on a network share are slow).
    pub poll_ms: u64,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: FACE_PREFIX.into(),
            after: FaceAfter::Delete,
            poll_ms: 200,
        }
    }
}

/// What to do with a result that comes after its caller stopped waiting (deadline, restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateResults {
    /// Deliver it once as an event (source `res/<file>`), so nothing OQS answered is lost.
    #[default]
    Event,
    /// Delete it.
    Discard,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    /// The share root holding `req`, `res` and `face` (for example the mounted `\\SIKAKUPC\OQS`).
    pub root: Option<PathBuf>,
    /// Each folder on its own, overriding `root`.
    pub req_dir: Option<PathBuf>,
    pub res_dir: Option<PathBuf>,
    pub face_dir: Option<PathBuf>,
    /// This transport's own journal of requests in flight; local disk, one per transport.
    pub state_dir: PathBuf,
    /// 医療機関コード written into every request.
    pub facility_code: String,
    /// Encoding of the requests written.
    #[serde(default = "utf8")]
    pub request_encoding: Encoding,
    /// The encoding results must be in; any that the declaration names when absent.
    #[serde(default)]
    pub result_encoding: Option<Encoding>,
    /// Request file-name suffix: `{date}` yyyyMMdd, `{time}` HHmmss, `{seq:N}` a daily
    /// sequence of N digits, `{tag}` the `client_tag`, `{rand:N}` N hex digits.
    #[serde(default = "suffix")]
    pub suffix: String,
    #[serde(default)]
    pub client_tag: String,
    #[serde(default)]
    pub completion: Completion,
    /// How often the expected result file is looked for.
    #[serde(default = "poll_ms")]
    pub poll_ms: u64,
    #[serde(default)]
    pub face: FaceConfig,
    #[serde(default)]
    pub late_results: LateResults,
    /// How long to keep looking for the result of an abandoned request.
    #[serde(default = "abandon_ms")]
    pub abandon_after_ms: u64,
    /// How often a bulk result (一括照会) is asked for while it is 処理中.
    #[serde(default = "shikaku_oqs_guard::bulk::default_poll_ms")]
    pub bulk_poll_ms: u64,
    /// Largest result file accepted.
    #[serde(default = "shikaku_oqs_guard::bulk::default_max_result_bytes")]
    pub max_result_bytes: usize,
    #[serde(default)]
    pub dialect: Dialect,
    #[serde(default)]
    pub guard: GuardConfig,
}

fn utf8() -> Encoding {
    Encoding::Utf8
}
fn suffix() -> String {
    "{date}{seq:4}".into()
}
fn poll_ms() -> u64 {
    20
}
fn abandon_ms() -> u64 {
    10 * 60 * 1000
}

impl FolderConfig {
    /// The defaults, for the share at `root`.
    pub fn new(
        root: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        facility_code: &str,
    ) -> Self {
        Self {
            root: Some(root.into()),
            req_dir: None,
            res_dir: None,
            face_dir: None,
            state_dir: state_dir.into(),
            facility_code: facility_code.into(),
            request_encoding: utf8(),
            result_encoding: None,
            suffix: suffix(),
            client_tag: String::new(),
            completion: Completion::default(),
            poll_ms: poll_ms(),
            face: FaceConfig::default(),
            late_results: LateResults::default(),
            abandon_after_ms: abandon_ms(),
            bulk_poll_ms: shikaku_oqs_guard::bulk::default_poll_ms(),
            max_result_bytes: shikaku_oqs_guard::bulk::default_max_result_bytes(),
            dialect: Dialect::default(),
            guard: GuardConfig::default(),
        }
    }
}
