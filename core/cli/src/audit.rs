//! `shikaku audit`: the audit trail — who did and read what, and when (needs the admin role).

use clap::Args;
use shikaku_proto::v1::audit_service_client::AuditServiceClient;
use shikaku_proto::v1::{AuditSubject, ListAuditRecordsRequest, ListAuditRecordsResponse};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, grid};

#[derive(Args)]
pub struct AuditArgs {
    /// Only records at or after this time: YYYY-MM-DD (Japan) or RFC 3339.
    #[arg(long)]
    since: Option<String>,
    /// Only records of this client (its certificate name, or "local").
    #[arg(long)]
    client: Option<String>,
    /// Only records of this operation, e.g. CheckByCard.
    #[arg(long)]
    operation: Option<String>,
    /// Only records about this person, by insurance numbers: INSURER[,SYMBOL,NUMBER,BRANCH],
    /// e.g. "06130488,12-34,4260,01". Compared through the trail's keyed hash, never in clear.
    #[arg(long, value_name = "NUMBERS")]
    subject: Option<String>,
    /// Records a page (1–500).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Continue after a page: the `next page` token the previous page printed.
    #[arg(long)]
    page_token: Option<String>,
}

fn subject(numbers: &str) -> AuditSubject {
    let mut parts = numbers.split(',').map(|s| s.trim().to_owned());
    AuditSubject {
        insurer_number: parts.next().unwrap_or_default(),
        symbol: parts.next().unwrap_or_default(),
        number: parts.next().unwrap_or_default(),
        branch: parts.next().unwrap_or_default(),
    }
}

pub async fn run(args: AuditArgs, channel: Channel, format: Format) -> Result<(), CliError> {
    let request = ListAuditRecordsRequest {
        since: args.since.unwrap_or_default(),
        client: args.client.unwrap_or_default(),
        operation: args.operation.unwrap_or_default(),
        subject: args.subject.as_deref().map(subject),
        page_size: args.limit,
        page_token: args.page_token.unwrap_or_default(),
    };
    let response = AuditServiceClient::new(channel)
        .list_audit_records(request)
        .await?;
    output::print(format, response.get_ref(), render)
}

fn render(response: &ListAuditRecordsResponse) -> String {
    if response.records.is_empty() {
        return "no audit records".to_owned();
    }
    let mut table = grid(&[
        "seq",
        "at",
        "operation",
        "client",
        "role",
        "outcome",
        "detail",
        "subject",
        "person",
    ]);
    for r in &response.records {
        table.add_row(vec![
            r.seq.to_string(),
            r.at.clone(),
            r.operation.clone(),
            r.client.clone(),
            r.role.clone(),
            r.outcome.clone(),
            r.detail.clone(),
            r.subject.clone(),
            if r.concerns_person { "yes" } else { "" }.to_owned(),
        ]);
    }
    let mut text = table.to_string();
    if !response.next_page_token.is_empty() {
        text.push_str(&format!(
            "\nnext page: --page-token {}",
            response.next_page_token
        ));
    }
    text
}
