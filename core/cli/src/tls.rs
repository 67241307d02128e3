//! `shikaku tls`: the facility PKI, on the daemon's data directory (no RPC; run it on the PC
//! where shikakud keeps its data).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use shikaku_pki::{CLIENT_DAYS, CertSummary, MAX_CLIENT_DAYS, Role};

use crate::error::CliError;
use crate::output::{self, Format, grid};

#[derive(Subcommand)]
pub enum TlsCommand {
    /// Create the facility CA and shikakud's server certificate in DATA_DIR/tls.
    Init {
        #[command(flatten)]
        data: DataDir,
        /// A name clients use to reach shikakud (DNS name or IP address); repeat for several.
        /// Default: this PC's host name, localhost, 127.0.0.1 and ::1.
        #[arg(long = "host", value_name = "H")]
        hosts: Vec<String>,
        /// Replace an existing CA (the old tls/ is kept as tls.replaced-<time>); every client
        /// certificate it issued stops working.
        #[arg(long)]
        force: bool,
    },
    /// Issue a kiosk's, receipt computer's or administrator's credentials into OUT.
    Client {
        /// The client's name, shown in the audit trail: 1–64 of A-Z a-z 0-9 . _ -
        name: String,
        /// What the client may do.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Directory to write ca.pem, cert.pem and key.pem to (created 0700 if missing).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        #[command(flatten)]
        data: DataDir,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = CLIENT_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CLIENT_DAYS)))]
        days: u32,
    },
    /// Revoke a client's certificate; shikakud refuses it without a restart.
    Revoke {
        /// The client's name, as given to `shikaku tls client`.
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the CA, the server certificate and every client certificate, with expiry.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

/// The daemon's data directory; the same default as shikakud's.
#[derive(Args)]
pub struct DataDir {
    /// shikakud's data directory.
    #[arg(long = "data-dir", env = "SHIKAKU_DATA_DIR", default_value = "data")]
    pub path: PathBuf,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|error: shikaku_pki::PkiError| error.to_string())
}

pub fn run(command: TlsCommand, format: Format) -> Result<(), CliError> {
    match command {
        TlsCommand::Init { data, hosts, force } => {
            let report = shikaku_pki::init(&data.path, &hosts, force)?;
            let view = InitView {
                dir: report.dir.display().to_string(),
                hosts: report.hosts,
                server_not_after: report.server_not_after,
            };
            output::print(format, &view, |view| render_init(view, &data.path))
        }
        TlsCommand::Client {
            name,
            role,
            out,
            data,
            days,
        } => {
            let issued = shikaku_pki::issue_client(&data.path, &name, role, &out, days)?;
            let view = ClientView {
                name: issued.name,
                role: issued.role.as_str(),
                serial: issued.serial,
                not_after: issued.not_after,
                out: issued.out.display().to_string(),
            };
            output::print(format, &view, render_client)
        }
        TlsCommand::Revoke { name, data } => {
            let serial = shikaku_pki::revoke(&data.path, &name)?;
            let view = RevokeView { name, serial };
            output::print(format, &view, render_revoke)
        }
        TlsCommand::List { data } => {
            let summaries = shikaku_pki::list(&data.path)?;
            let views: Vec<_> = summaries.iter().map(SummaryView::from).collect();
            output::print(format, &views, |views| render_list(views))
        }
    }
}

#[derive(Serialize)]
struct InitView {
    dir: String,
    hosts: Vec<String>,
    server_not_after: String,
}

#[derive(Serialize)]
struct ClientView {
    name: String,
    role: &'static str,
    serial: String,
    not_after: String,
    out: String,
}

#[derive(Serialize)]
struct RevokeView {
    name: String,
    serial: String,
}

#[derive(Serialize)]
struct SummaryView {
    name: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    serial: String,
    not_after: String,
    revoked: bool,
    days_left: i64,
}

impl From<&CertSummary> for SummaryView {
    fn from(summary: &CertSummary) -> Self {
        Self {
            name: summary.name.clone(),
            kind: summary.kind.clone(),
            role: summary.role.map(|role| role.as_str()),
            serial: summary.serial.clone(),
            not_after: summary.not_after.clone(),
            revoked: summary.revoked,
            days_left: summary.days_left,
        }
    }
}

fn render_init(view: &InitView, data_dir: &std::path::Path) -> String {
    let data = data_dir.display();
    format!(
        "Created the facility CA and shikakud's server certificate in {dir}\n\
         \x20 server names: {hosts}\n\
         \x20 server certificate expires {expires}\n\
         \n\
         Next:\n\
         \x20 1. (Re)start shikakud with --data-dir {data}: it serves TLS from now on, and other PCs may connect.\n\
         \x20 2. Issue credentials for each kiosk, receipt computer and administrator, e.g.\n\
         \x20    shikaku tls client kiosk-1 --role kiosk --out kiosk-1 --data-dir {data}",
        dir = view.dir,
        hosts = view.hosts.join(", "),
        expires = view.server_not_after,
    )
}

fn render_client(view: &ClientView) -> String {
    let out = &view.out;
    format!(
        "Issued {name} (role {role}), serial {serial}, expires {expires}\n\
         Wrote {out}/ca.pem, {out}/cert.pem and {out}/key.pem (the key is private: keep it 0600).\n\
         \n\
         Next: copy {out} to the client's PC and start the client with\n\
         \x20 --ca {out}/ca.pem --cert {out}/cert.pem --key {out}/key.pem\n\
         (or SHIKAKU_CA, SHIKAKU_CERT and SHIKAKU_KEY). Delete the copy here once it is installed.",
        name = view.name,
        role = view.role,
        serial = view.serial,
        expires = view.not_after,
    )
}

fn render_revoke(view: &RevokeView) -> String {
    format!(
        "Revoked {name} (serial {serial}); shikakud refuses it from the next connection, no restart needed.\n\
         To give {name} new credentials: shikaku tls client {name} --role ROLE --out DIR",
        name = view.name,
        serial = view.serial,
    )
}

/// Certificates expiring within this many days are flagged, so they are replaced in time.
pub(crate) const EXPIRES_SOON_DAYS: i64 = 30;

fn render_list(views: &[SummaryView]) -> String {
    let mut table = grid(&[
        "name",
        "kind",
        "role",
        "serial",
        "expires",
        "days left",
        "status",
    ]);
    for view in views {
        let status = if view.revoked {
            "revoked"
        } else if view.days_left < 0 {
            "expired"
        } else if view.days_left <= EXPIRES_SOON_DAYS {
            "expires soon"
        } else {
            "valid"
        };
        table.add_row(vec![
            view.name.clone(),
            view.kind.clone(),
            view.role.unwrap_or("").to_owned(),
            view.serial.clone(),
            view.not_after.clone(),
            view.days_left.to_string(),
            status.to_owned(),
        ]);
    }
    table.to_string()
}
