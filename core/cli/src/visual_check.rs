//! `shikaku visual-check-password`: the staff password that vouches for a 目視確認.

use clap::Subcommand;
use shikaku_proto::v1::visual_check_password_service_client::VisualCheckPasswordServiceClient;
use shikaku_proto::v1::{IssueVisualCheckPasswordRequest, IssueVisualCheckPasswordResponse};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Details, Format, yes_no};

#[derive(Subcommand)]
pub enum VisualCheckPasswordCommand {
    /// Issue (or replace) the password of an OQS account. It is shown only once.
    Issue {
        /// OQS user ID of the staff account (2–8 alphanumerics).
        account: String,
    },
}

pub async fn run(
    command: VisualCheckPasswordCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = VisualCheckPasswordServiceClient::new(channel);
    match command {
        VisualCheckPasswordCommand::Issue { account } => {
            let request = IssueVisualCheckPasswordRequest {
                account_id: account,
                ..Default::default()
            };
            let response = client.issue_visual_check_password(request).await?;
            output::print(format, response.get_ref(), render_issued)
        }
    }
}

fn render_issued(response: &IssueVisualCheckPasswordResponse) -> String {
    let mut details = Details::default();
    details
        .row("password 目視確認用パスワード", &response.password)
        .row("account", &response.account_id)
        .row("issued at", &response.issued_at)
        .row("replaced an earlier one", yes_no(response.replaced));
    format!(
        "{}\n(shown only now: the password cannot be retrieved later)",
        details.render()
    )
}
