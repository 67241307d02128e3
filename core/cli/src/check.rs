//! `shikaku check`: qualification checks by insurance numbers or by card.

use clap::{Args, Subcommand};
use shikaku_proto::v1::check_by_card_request::Identity;
use shikaku_proto::v1::qualification_service_client::QualificationServiceClient;
use shikaku_proto::v1::{
    CheckByCardRequest, CheckByInsuranceNumbersRequest, ConsentChoices, FaceIdentity, PinIdentity,
    VisualCheckIdentity,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format};
use crate::result_view::render_check;
use crate::secret::{self, SecretSource};

#[derive(Subcommand)]
pub enum CheckCommand {
    /// Check by the numbers on a 資格確認書 or old 被保険者証.
    Numbers(NumbersArgs),
    /// Check a My Number card or smartphone placed on a reader.
    Card(CardArgs),
}

#[derive(Args)]
pub struct NumbersArgs {
    /// 保険者番号: 8 digits, or 6 for 国民健康保険.
    #[arg(long)]
    insurer: String,
    /// 番号.
    #[arg(long)]
    number: String,
    /// 記号.
    #[arg(long)]
    symbol: Option<String>,
    /// 枝番: 2 digits.
    #[arg(long)]
    branch: Option<String>,
    /// 生年月日, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    birth: String,
    /// The patient consents to sharing 限度額適用認定証 information.
    #[arg(long)]
    limit_consent: bool,
    /// 資格確認日; today (JST) when omitted.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
}

#[derive(Args)]
pub struct CardArgs {
    /// Reader name, as `shikaku readers list` shows it.
    #[arg(long)]
    reader: String,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The patient gave 包括同意 (consent to every information category).
    #[arg(long)]
    comprehensive_consent: bool,
    /// 資格確認日; today (JST) when omitted.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
}

/// 本人確認: exactly one way of confirming the patient's identity.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct IdentityArgs {
    /// 暗証番号: read the patient's PIN from stdin (or SHIKAKU_PIN).
    #[arg(long)]
    pin: bool,
    /// 目視確認 by this staff account; its password is read from stdin (or
    /// SHIKAKU_VISUAL_CHECK_PASSWORD).
    #[arg(long, value_name = "ACCOUNT")]
    visual_check: Option<String>,
    /// 顔認証 by a face-auth reader.
    #[arg(long)]
    face: bool,
}

const PIN: SecretSource = SecretSource {
    label: "PIN 暗証番号",
    env: "SHIKAKU_PIN",
};

const VISUAL_CHECK_PASSWORD: SecretSource = SecretSource {
    label: "visual-check password 目視確認用パスワード",
    env: "SHIKAKU_VISUAL_CHECK_PASSWORD",
};

pub async fn run(command: CheckCommand, channel: Channel, format: Format) -> Result<(), CliError> {
    let mut client = QualificationServiceClient::new(channel);
    match command {
        CheckCommand::Numbers(args) => {
            let request = CheckByInsuranceNumbersRequest {
                insurer_number: args.insurer,
                symbol: args.symbol.unwrap_or_default(),
                number: args.number,
                branch: args.branch.unwrap_or_default(),
                birth_date: args.birth,
                limit_certificate_consent: args.limit_consent,
                confirmation_date: args.date.unwrap_or_default(),
            };
            let response = client.check_by_insurance_numbers(request).await?;
            output::print(format, response.get_ref(), |r| {
                render_check(r.result.as_ref())
            })
        }
        CheckCommand::Card(args) => {
            let request = CheckByCardRequest {
                reader: args.reader,
                identity: Some(identity(args.identity)?),
                consents: args.comprehensive_consent.then(|| ConsentChoices {
                    comprehensive: true,
                    ..Default::default()
                }),
                confirmation_date: args.date.unwrap_or_default(),
            };
            let response = client.check_by_card(request).await?;
            output::print(format, response.get_ref(), |r| {
                render_check(r.result.as_ref())
            })
        }
    }
}

/// Builds the identity, reading the secret it needs; clap has made sure exactly one flag is set.
/// The request needs its own copy of the secret; the one read here is wiped when this returns.
pub fn identity(args: IdentityArgs) -> Result<Identity, CliError> {
    if args.pin {
        let pin = secret::read(&PIN)?;
        return Ok(Identity::Pin(PinIdentity {
            pin: pin.as_str().to_owned(),
            ..Default::default()
        }));
    }
    if let Some(account_id) = args.visual_check {
        let password = secret::read(&VISUAL_CHECK_PASSWORD)?;
        return Ok(Identity::VisualCheck(VisualCheckIdentity {
            account_id,
            password: password.as_str().to_owned(),
        }));
    }
    Ok(Identity::Face(FaceIdentity {}))
}
