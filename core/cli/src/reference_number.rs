//! `shikaku reference-number register`: 照会番号の登録 — a patient number (患者番号) registered
//! with OQS for the person holding these insurance numbers, so their later results (face-auth
//! results too) carry it and the reception list finds them by it.

use clap::Subcommand;
use shikaku_proto::v1::reception_service_client::ReceptionServiceClient;
use shikaku_proto::v1::{
    RegisterReferenceNumberRequest, RegisterReferenceNumberResponse, RegisteredReferenceNumber,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum ReferenceNumberCommand {
    /// Register a patient number as the person's 照会番号 with OQS.
    Register {
        /// 患者番号 to register.
        patient_number: String,
        /// 保険者番号.
        #[arg(long)]
        insurer: String,
        /// 記号.
        #[arg(long)]
        symbol: Option<String>,
        /// 番号.
        #[arg(long)]
        number: String,
        /// 枝番.
        #[arg(long)]
        branch: Option<String>,
        /// A request id: the same id again within 10 minutes gets the first answer.
        #[arg(long)]
        request_id: Option<String>,
    },
}

pub async fn run(
    command: ReferenceNumberCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = ReceptionServiceClient::new(channel);
    match command {
        ReferenceNumberCommand::Register {
            patient_number,
            insurer,
            symbol,
            number,
            branch,
            request_id,
        } => {
            let request = RegisterReferenceNumberRequest {
                patient_number,
                insurer_number: insurer,
                symbol: symbol.unwrap_or_default(),
                number,
                branch: branch.unwrap_or_default(),
                request_id: request_id.unwrap_or_default(),
            };
            let response = client.register_reference_number(request).await?;
            output::print(
                format,
                response.get_ref(),
                |r: &RegisterReferenceNumberResponse| {
                    r.registration.as_ref().map(render).unwrap_or_default()
                },
            )
        }
    }
}

pub fn render(r: &RegisteredReferenceNumber) -> String {
    let mut s = format!("registered 照会番号 {}", r.reference_number);
    if !r.processing_result_code.is_empty() || !r.processing_result_message.is_empty() {
        s.push_str(&format!(
            "\nOQS: {} {}",
            r.processing_result_code, r.processing_result_message
        ));
    }
    s
}
