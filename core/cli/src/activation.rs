//! `shikaku activation`: activation codes that bind マイナ資格確認アプリ devices to the facility.

use clap::{Subcommand, ValueEnum};
use shikaku_proto::v1::activation_code_service_client::ActivationCodeServiceClient;
use shikaku_proto::v1::{
    ActivationCodeRecord, ActivationCodeState, IssueActivationCodeRequest,
    IssueActivationCodeResponse, ListActivationCodesRequest, ListActivationCodesResponse,
    RedeemActivationCodeRequest, RevokeActivationCodeRequest,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Details, Format, enum_text, enum_word, grid};
use crate::secret::{self, SecretSource};

#[derive(Subcommand)]
pub enum ActivationCommand {
    /// Issue a code for one device. The code is shown only once.
    Issue {
        /// 端末識別メモ: which device the code is for.
        #[arg(long)]
        memo: String,
    },
    /// List issued codes, newest first.
    List {
        /// Only codes in this state.
        #[arg(long)]
        state: Option<StateFilter>,
    },
    /// Revoke a pending code so no device can use it.
    Revoke {
        /// The code's record ID, as `activation list` shows it.
        id: String,
    },
    /// Redeem a code as a device would; the code is read from stdin (or SHIKAKU_ACTIVATION_CODE).
    Redeem {
        /// Identifier of the device redeeming the code.
        #[arg(long)]
        device: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StateFilter {
    Pending,
    Redeemed,
    Revoked,
}

impl From<StateFilter> for ActivationCodeState {
    fn from(filter: StateFilter) -> Self {
        match filter {
            StateFilter::Pending => ActivationCodeState::Pending,
            StateFilter::Redeemed => ActivationCodeState::Redeemed,
            StateFilter::Revoked => ActivationCodeState::Revoked,
        }
    }
}

const ACTIVATION_CODE: SecretSource = SecretSource {
    label: "activation code アクティベーションコード",
    env: "SHIKAKU_ACTIVATION_CODE",
};

pub async fn run(
    command: ActivationCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = ActivationCodeServiceClient::new(channel);
    match command {
        ActivationCommand::Issue { memo } => {
            let request = IssueActivationCodeRequest {
                device_memo: memo,
                ..Default::default()
            };
            let response = client.issue_activation_code(request).await?;
            output::print(format, response.get_ref(), render_issued)
        }
        ActivationCommand::List { state } => {
            // Unspecified asks for codes in every state.
            let state = state.map_or(ActivationCodeState::Unspecified, ActivationCodeState::from);
            let request = ListActivationCodesRequest {
                state: state as i32,
            };
            let response = client.list_activation_codes(request).await?;
            output::print(format, response.get_ref(), render_list)
        }
        ActivationCommand::Revoke { id } => {
            let request = RevokeActivationCodeRequest { id };
            let response = client.revoke_activation_code(request).await?;
            output::print(format, response.get_ref(), |response| {
                render_record(response.record.as_ref())
            })
        }
        ActivationCommand::Redeem { device } => {
            let code = secret::read(&ACTIVATION_CODE)?;
            let request = RedeemActivationCodeRequest {
                code: code.as_str().to_owned(),
                device_id: device,
            };
            let response = client.redeem_activation_code(request).await?;
            output::print(format, response.get_ref(), |response| {
                render_record(response.record.as_ref())
            })
        }
    }
}

fn render_issued(response: &IssueActivationCodeResponse) -> String {
    format!(
        "activation code アクティベーションコード: {}\n(shown only now: shikaku does not keep it)\n{}",
        response.code,
        render_record(response.record.as_ref())
    )
}

fn render_record(record: Option<&ActivationCodeRecord>) -> String {
    let Some(record) = record else {
        return "the daemon returned no record".to_owned();
    };
    let mut details = Details::default();
    details
        .row("id", &record.id)
        .row("device memo 端末識別メモ", &record.device_memo)
        .row(
            "state",
            enum_text(record.state, "", ActivationCodeState::as_str_name),
        )
        .row("issued at", &record.issued_at)
        .row("usable from", &record.usable_from)
        .row("redeemed at", &record.redeemed_at)
        .row("revoked at", &record.revoked_at)
        .row("device id", &record.device_id);
    details.render()
}

fn render_list(response: &ListActivationCodesResponse) -> String {
    if response.records.is_empty() {
        return "no activation codes".to_owned();
    }
    let mut table = grid(&[
        "id",
        "device memo 端末識別メモ",
        "state",
        "issued at",
        "usable from",
        "redeemed / revoked at",
        "device id",
    ]);
    for record in &response.records {
        let closed_at = if record.redeemed_at.is_empty() {
            &record.revoked_at
        } else {
            &record.redeemed_at
        };
        table.add_row(vec![
            record.id.clone(),
            record.device_memo.clone(),
            enum_word(record.state, ActivationCodeState::as_str_name),
            record.issued_at.clone(),
            record.usable_from.clone(),
            closed_at.clone(),
            record.device_id.clone(),
        ]);
    }
    table.to_string()
}
