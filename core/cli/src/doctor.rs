//! `shikaku doctor`: checks a facility's set-up end to end and says what to fix. Each check is
//! one line, OK or 要対応 (needs action) with a hint in English and Japanese; the exit code is 1
//! when anything needs action, so a monitoring script can run it as well as a person.
//!
//! It reads the configuration with the daemon's own loader (so it finds exactly what shikakud
//! would refuse), looks at the data directory and the terminal's folders as the daemon's user
//! sees them, then asks the daemon over the global `--addr`/`--ca`/`--cert`/`--key`: health,
//! plugins, readers and whether the upstream answers. Those calls need an admin client (or
//! loopback plaintext); nothing it does changes any state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use shikaku_oqs_folder::FolderConfig;
use shikaku_pki::PkiError;
use shikaku_proto::v1::activation_code_service_client::ActivationCodeServiceClient;
use shikaku_proto::v1::plugin_service_client::PluginServiceClient;
use shikaku_proto::v1::qualification_service_client::QualificationServiceClient;
use shikaku_proto::v1::{
    ListActivationCodesRequest, ListPluginsRequest, ListReadersRequest, PluginKind, PluginState,
};
use shikaku_server::Config;
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::tls::EXPIRES_SOON_DAYS;

/// The longest any one call to the daemon may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct DoctorArgs {
    /// The daemon's configuration file, as `shikakud --config` takes it (default:
    /// ./shikaku.toml when it exists).
    #[arg(long, env = "SHIKAKU_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The daemon's data directory, when it is not the configuration's `data_dir`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Ok,
    NeedsAction,
    /// Could not be checked from here (the daemon is down, or this client may not ask).
    Skipped,
}

impl Verdict {
    /// The label at the start of the line, padded to one width.
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK    ",
            Verdict::NeedsAction => "要対応",
            Verdict::Skipped => "--    ",
        }
    }
}

/// What to do, for the IT person and for the staff.
#[derive(Debug, Serialize)]
struct Hint {
    en: String,
    ja: String,
}

#[derive(Debug, Serialize)]
struct Finding {
    check: String,
    status: Verdict,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<Hint>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    findings: Vec<Finding>,
    needs_action: usize,
}

impl Report {
    fn ok(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Verdict::Ok, detail, None);
    }

    fn skipped(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Verdict::Skipped, detail, None);
    }

    fn action(
        &mut self,
        check: impl Into<String>,
        detail: impl Into<String>,
        en: impl Into<String>,
        ja: impl Into<String>,
    ) {
        let hint = Hint {
            en: en.into(),
            ja: ja.into(),
        };
        self.push(check, Verdict::NeedsAction, detail, Some(hint));
    }

    fn push(
        &mut self,
        check: impl Into<String>,
        status: Verdict,
        detail: impl Into<String>,
        hint: Option<Hint>,
    ) {
        if status == Verdict::NeedsAction {
            self.needs_action += 1;
        }
        self.findings.push(Finding {
            check: check.into(),
            status,
            detail: detail.into(),
            hint,
        });
    }
}

pub async fn run(args: DoctorArgs, channel: Channel, format: Format) -> Result<(), CliError> {
    let mut report = Report::default();
    let config = check_config(args.config.as_deref(), &mut report);
    match args
        .data_dir
        .clone()
        .or_else(|| config.as_ref().map(|c| c.data_dir.clone()))
    {
        Some(dir) => {
            check_data_dir(&dir, &mut report);
            if dir.is_dir() {
                check_certificates(&dir, config.as_ref(), &mut report);
            }
        }
        None => report.skipped(
            "data directory",
            "the configuration did not load; pass --data-dir to check it",
        ),
    }
    if let Some(config) = &config {
        check_folders(config, &mut report);
    }
    check_daemon(channel, &mut report).await;
    output::print(format, &report, render)?;
    if report.needs_action > 0 {
        Err(CliError::NeedsAction)
    } else {
        Ok(())
    }
}

fn render(report: &Report) -> String {
    let mut text = String::new();
    for f in &report.findings {
        text += &format!("{} {}: {}\n", f.status.label(), f.check, f.detail);
        if let Some(hint) = &f.hint {
            text += &format!("       → {}\n       → {}\n", hint.en, hint.ja);
        }
    }
    if report.needs_action == 0 {
        text += "Everything checked is in order. 問題は見つかりませんでした。";
    } else {
        text += &format!(
            "{} check(s) need action. 要対応の項目が {} 件あります。",
            report.needs_action, report.needs_action
        );
    }
    text
}

/// The configuration, loaded and validated as shikakud does it.
fn check_config(file: Option<&Path>, report: &mut Report) -> Option<Config> {
    let shown = file.map_or_else(
        || "the defaults (no --config; ./shikaku.toml when present)".to_owned(),
        |p| p.display().to_string(),
    );
    match Config::load(file, figment::Figment::new()) {
        Ok(config) => {
            report.ok("configuration", format!("{shown} loads and validates"));
            Some(config)
        }
        Err(e) => {
            report.action(
                "configuration",
                format!("{shown}: {e}"),
                "Fix the key named above; shikakud refuses to start with it.",
                "設定ファイルの表示された項目を直してください（このままでは shikakud が起動しません）。",
            );
            None
        }
    }
}

/// Whether anyone but the owner may read or enter `mode`.
fn shared(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// The data directory 0700 and what in it is private 0600: every file at its top (the store
/// and its keys) and every key under `tls/`. Certificates are public (0644).
#[cfg(unix)]
fn check_data_dir(dir: &Path, report: &mut Report) {
    use std::os::unix::fs::PermissionsExt;

    const CHECK: &str = "data directory";
    let mode = |path: &Path| {
        std::fs::symlink_metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let Some(dir_mode) = mode(dir).filter(|_| dir.is_dir()) else {
        report.action(
            CHECK,
            format!("{} does not exist or is not a folder", dir.display()),
            "Point data_dir at shikakud's directory; shikakud creates it 0700 at its first start.",
            "データディレクトリがありません。data_dir の設定を確認するか、shikakud を一度起動してください。",
        );
        return;
    };
    let mut loose = Vec::new();
    if shared(dir_mode) {
        loose.push(format!("{} is {dir_mode:o}", dir.display()));
    }
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for path in entries.map(|e| e.path()) {
        if path.is_file()
            && let Some(m) = mode(&path).filter(|&m| shared(m))
        {
            loose.push(format!("{} is {m:o}", path.display()));
        }
    }
    let tls = dir.join("tls");
    let mut folders = vec![tls];
    while let Some(folder) = folders.pop() {
        if let Some(m) = mode(&folder).filter(|&m| shared(m)) {
            loose.push(format!("{} is {m:o}", folder.display()));
        }
        for path in std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            let is_key = path.file_name().is_some_and(|n| {
                n.to_string_lossy().ends_with("key.pem") || n.to_string_lossy().ends_with(".key")
            });
            if path.is_dir() {
                folders.push(path);
            } else if is_key && let Some(m) = mode(&path).filter(|&m| shared(m)) {
                loose.push(format!("{} is {m:o}", path.display()));
            }
        }
    }
    if loose.is_empty() {
        report.ok(
            CHECK,
            format!("{} is 700, its files and keys 600", dir.display()),
        );
    } else {
        let d = dir.display();
        report.action(
            CHECK,
            format!("others may read: {}", loose.join(", ")),
            format!(
                "It holds personal data and keys: chmod 700 {d}, chmod 600 its files and tls keys, \
                 and check who could have read them (shikakud narrows the top level at start)."
            ),
            format!(
                "個人情報と鍵を他のユーザーが読めます。{d} を chmod 700、中のファイルと鍵を chmod 600 にしてください。"
            ),
        );
    }
}

#[cfg(not(unix))]
fn check_data_dir(dir: &Path, report: &mut Report) {
    if dir.is_dir() {
        report.skipped(
            "data directory",
            format!("{}: modes are not checked on this system", dir.display()),
        );
    } else {
        report.action(
            "data directory",
            format!("{} does not exist or is not a folder", dir.display()),
            "Point data_dir at shikakud's directory.",
            "データディレクトリがありません。data_dir の設定を確認してください。",
        );
    }
}

/// The facility CA, the server certificate and every client certificate that is not revoked:
/// expired or expiring within 30 days needs action.
fn check_certificates(dir: &Path, config: Option<&Config>, report: &mut Report) {
    let list = match shikaku_pki::list(dir) {
        Ok(list) => list,
        Err(PkiError::NotInitialised { .. }) => {
            if config.is_none_or(|c| c.listen.ip().is_loopback()) {
                report.ok(
                    "certificates",
                    "no facility CA: shikakud serves loopback plaintext only",
                );
            } else {
                report.action(
                    "certificates",
                    "no facility CA, and listen is a network address: shikakud refuses to start",
                    "Run `shikaku tls init` as shikakud's user, then issue each client's credentials.",
                    "証明書がありません。`shikaku tls init` を実行し、各端末の証明書を発行してください。",
                );
            }
            return;
        }
        Err(e) => {
            report.action(
                "certificates",
                e.to_string(),
                "Restore the tls folder from a backup, or `shikaku tls init --force` (every client then needs new credentials).",
                "証明書ファイルが読めません。バックアップから戻すか、作り直してください（各端末の証明書も再発行）。",
            );
            return;
        }
    };
    for cert in list.iter().filter(|c| !c.revoked) {
        let check = format!("certificate {} {}", cert.kind, cert.name);
        let renew_en = match cert.kind.as_str() {
            "client" => format!(
                "Issue new credentials: `shikaku tls client {} --role {} --out DIR`, and install them on that computer.",
                cert.name,
                cert.role.map_or("ROLE", |r| r.as_str())
            ),
            _ => "Run `shikaku tls init --force` in time, then issue every client's credentials again."
                .to_owned(),
        };
        let renew_ja = match cert.kind.as_str() {
            "client" => format!(
                "端末 {} の証明書を `shikaku tls client` で発行し直し、その端末に入れ替えてください。",
                cert.name
            ),
            _ => "`shikaku tls init --force` で作り直し、全端末の証明書を発行し直してください。"
                .to_owned(),
        };
        if cert.days_left < 0 {
            report.action(
                check,
                format!("expired on {}", cert.not_after),
                renew_en,
                format!("証明書の期限が切れています。{renew_ja}"),
            );
        } else if cert.days_left <= EXPIRES_SOON_DAYS {
            report.action(
                check,
                format!(
                    "expires on {} ({} days left)",
                    cert.not_after, cert.days_left
                ),
                renew_en,
                format!("証明書の期限まで {} 日です。{renew_ja}", cert.days_left),
            );
        } else {
            report.ok(
                check,
                format!("valid until {} ({} days)", cert.not_after, cert.days_left),
            );
        }
    }
}

/// The folder transport's folders on the terminal's share: `req` and `res` must be folders the
/// daemon may write (it writes requests and deletes results), `face` too when face results are
/// read, and its own `state_dir` when it exists (it is created at start).
fn check_folders(config: &Config, report: &mut Report) {
    for plugin in &config.plugins {
        if !plugin.config.contains_key("root") && !plugin.config.contains_key("req_dir") {
            continue;
        }
        let check = format!("folders of {}", plugin.path.display());
        let parsed = serde_json::from_value(serde_json::Value::Object(plugin.config.clone()));
        let folder: FolderConfig = match parsed {
            Ok(f) => f,
            Err(e) => {
                report.action(
                    check,
                    format!("[plugins.config]: {e}"),
                    "Fix the folder transport's [plugins.config] \
                     (plugins/oqs-folder/README.md).",
                    "共有フォルダ方式の設定を直してください。",
                );
                continue;
            }
        };
        let folders = match folder.folders() {
            Ok(f) => f,
            Err(e) => {
                report.action(
                    check,
                    e.to_string(),
                    "Set root (or req_dir, res_dir and face_dir).",
                    "共有フォルダ（root）を設定してください。",
                );
                continue;
            }
        };
        let mut wanted = vec![("req", folders.req), ("res", folders.res)];
        if folder.face.enabled {
            wanted.push(("face", folders.face));
        }
        let mut problems = Vec::new();
        for (name, path) in &wanted {
            if !path.is_dir() {
                problems.push(format!(
                    "{name} {} is not a reachable folder",
                    path.display()
                ));
            } else if !writable(path) {
                problems.push(format!("{name} {} is not writable", path.display()));
            }
        }
        if folder.state_dir.exists() && !(folder.state_dir.is_dir() && writable(&folder.state_dir))
        {
            problems.push(format!(
                "state_dir {} is not a writable folder",
                folder.state_dir.display()
            ));
        }
        if problems.is_empty() {
            let shown: Vec<String> = wanted
                .iter()
                .map(|(name, path)| format!("{name} {}", path.display()))
                .collect();
            report.ok(check, format!("{}: present and writable", shown.join(", ")));
        } else {
            report.action(
                check,
                problems.join("; "),
                "Mount the 資格確認端末's share (check the terminal is on and the mount in /etc/fstab), \
                 and let shikakud's user write req, res and face.",
                "資格確認端末の共有フォルダに接続できないか、書き込めません。端末の電源・ネットワーク・共有の設定を確認してください。",
            );
        }
    }
}

/// Whether this process may create and delete files in `dir`.
#[cfg(unix)]
fn writable(dir: &Path) -> bool {
    use rustix::fs::{Access, access};
    access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok()
}

#[cfg(not(unix))]
fn writable(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| !m.permissions().readonly())
}

fn timed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// A refusal that is about this client's role, not about the daemon.
fn not_allowed(status: &Status) -> bool {
    status.code() == Code::PermissionDenied
}

/// Health, plugins, readers and the upstream, as the daemon reports them.
async fn check_daemon(channel: Channel, report: &mut Report) {
    let start_hint_en = "Start shikakud (`systemctl start shikakud`; see `journalctl -u shikakud`), and check --addr; \
                         with TLS pass an admin client's --ca, --cert and --key.";
    let start_hint_ja = "shikakud が応答しません。起動しているか（systemctl status shikakud）、接続先と証明書の指定を確認してください。";
    let health = HealthClient::new(channel.clone())
        .check(timed(HealthCheckRequest::default()))
        .await;
    match health.map(|r| r.into_inner().status()) {
        Ok(ServingStatus::Serving) => report.ok("daemon", "answers: serving"),
        Ok(other) => {
            report.action(
                "daemon",
                format!("answers: {}", other.as_str_name()),
                start_hint_en,
                start_hint_ja,
            );
        }
        Err(status) => {
            report.action(
                "daemon",
                format!("no answer: {}", status.message()),
                start_hint_en,
                start_hint_ja,
            );
            for check in ["plugins", "readers", "upstream"] {
                report.skipped(check, "the daemon did not answer");
            }
            return;
        }
    }

    let mut upstream_plugin = None;
    match PluginServiceClient::new(channel.clone())
        .list_plugins(timed(ListPluginsRequest::default()))
        .await
    {
        Ok(response) => {
            for plugin in &response.get_ref().plugins {
                let check = format!("plugin {}", plugin.name);
                let kind = PluginKind::try_from(plugin.kind)
                    .map_or("unknown kind", |k| k.as_str_name())
                    .trim_start_matches("PLUGIN_KIND_")
                    .to_lowercase();
                if plugin.kind == PluginKind::Upstream as i32 {
                    upstream_plugin = Some(plugin.name.clone());
                }
                if plugin.state == PluginState::Ready as i32 {
                    report.ok(
                        check,
                        format!("{kind} {} ready ({})", plugin.version, plugin.source),
                    );
                } else {
                    report.action(
                        check,
                        format!("{kind} failed: {}", plugin.failure),
                        "A plugin that panicked or hung stays failed: read shikakud's log, fix the cause, restart shikakud.",
                        "プラグインが異常です。IT 担当者がログを確認し、shikakud を再起動してください。",
                    );
                }
            }
        }
        Err(status) if not_allowed(&status) => {
            report.skipped("plugins", "this client's role may not list plugins (admin)")
        }
        Err(status) => report.action(
            "plugins",
            format!("ListPlugins failed: {}", status.message()),
            start_hint_en,
            start_hint_ja,
        ),
    }

    match QualificationServiceClient::new(channel.clone())
        .list_readers(timed(ListReadersRequest::default()))
        .await
    {
        Ok(response) => {
            let readers = &response.get_ref().readers;
            if readers.is_empty() {
                report.action(
                    "readers",
                    "no reader seen",
                    "Connect the card reader, check pcscd (`systemctl status pcscd`) and the reader plugin's `readers` list.",
                    "カードリーダーが見つかりません。接続と pcscd、プラグインの設定を確認してください。",
                );
            } else {
                /// Readers named on the line; a simulator has dozens.
                const SHOWN: usize = 4;
                let names: Vec<String> = readers
                    .iter()
                    .take(SHOWN)
                    .map(|r| format!("{} ({})", r.name, r.plugin))
                    .collect();
                let more = match readers.len().saturating_sub(SHOWN) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                let cards = readers.iter().filter(|r| r.card_present).count();
                report.ok(
                    "readers",
                    format!(
                        "{} seen, {cards} with a card or phone on it: {}{more}",
                        readers.len(),
                        names.join(", ")
                    ),
                );
            }
        }
        Err(status) if not_allowed(&status) => {
            report.skipped("readers", "this client's role may not list readers")
        }
        Err(status) => report.action(
            "readers",
            format!("ListReaders failed: {}", status.message()),
            "Read shikakud's log; the reader plugin may have failed.",
            "カードリーダーの一覧を取得できません。IT 担当者がログを確認してください。",
        ),
    }

    check_upstream(channel, upstream_plugin, report).await;
}

/// Whether the upstream answers, asked with a read that changes nothing (the activation codes);
/// a transport that only carries checks (the folder transport) is judged by its health.
async fn check_upstream(channel: Channel, plugin: Option<String>, report: &mut Report) {
    let down_en = "Check the 資格確認端末 (on, logged in, its share or Web API reachable) and the network; \
                   see the upstream plugin's failure above.";
    let down_ja = "オンライン資格確認に接続できません。資格確認端末の電源・ネットワーク・共有フォルダを確認してください。";
    let serving = HealthClient::new(channel.clone())
        .check(timed(HealthCheckRequest {
            service: "shikaku.v1.QualificationService".into(),
        }))
        .await
        .map(|r| r.into_inner().status());
    let via = plugin.unwrap_or_else(|| "the embedded simulator".to_owned());
    if !matches!(serving, Ok(ServingStatus::Serving)) {
        report.action(
            "upstream",
            format!("{via}: the qualification service is not serving"),
            down_en,
            down_ja,
        );
        return;
    }
    let request = ListActivationCodesRequest {
        page_size: 1,
        ..Default::default()
    };
    match ActivationCodeServiceClient::new(channel)
        .list_activation_codes(timed(request))
        .await
    {
        Ok(_) => report.ok("upstream", format!("{via} answers")),
        Err(status) if status.code() == Code::Unimplemented => report.ok(
            "upstream",
            format!("{via} is ready (it carries checks only, so it was not asked)"),
        ),
        Err(status) if not_allowed(&status) => report.skipped(
            "upstream",
            format!("{via} is ready; this client's role may not ask it (admin)"),
        ),
        Err(status) => report.action(
            "upstream",
            format!("{via}: {}", status.message()),
            down_en,
            down_ja,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_may_read_private_files() {
        assert!(!shared(0o700));
        assert!(!shared(0o600));
        assert!(shared(0o755));
        assert!(shared(0o640));
        assert!(shared(0o604));
    }

    #[test]
    fn the_report_counts_what_needs_action() {
        let mut report = Report::default();
        report.ok("a", "fine");
        report.skipped("b", "not asked");
        report.action("c", "broken", "fix it", "直してください");
        assert_eq!(report.needs_action, 1);
        let text = render(&report);
        assert!(text.contains("OK     a: fine"), "{text}");
        assert!(
            text.contains("要対応 c: broken\n       → fix it\n       → 直してください"),
            "{text}"
        );
        assert!(text.ends_with("要対応の項目が 1 件あります。"), "{text}");
    }
}
