//! ActivationCodeService: codes for マイナ資格確認アプリ devices. The upstream issues and checks
//! codes; the store keeps each code's record (memo, state, times), never the code.

use std::sync::Arc;

use shikaku_domain::clock;
use shikaku_domain::pb::activation_code_service_server::ActivationCodeService;
use shikaku_domain::pb::{
    ActivationCodeRecord, ActivationCodeState, IssueActivationCodeRequest,
    IssueActivationCodeResponse, ListActivationCodesRequest, ListActivationCodesResponse,
    RedeemActivationCodeRequest, RedeemActivationCodeResponse, RevokeActivationCodeRequest,
    RevokeActivationCodeResponse,
};
use shikaku_domain::secret::ActivationCode;
use shikaku_domain::values::DeviceMemo;
use shikaku_domain::{Validator, ValueError};
use shikaku_store::{ActivationRecord, WriteOp};
use tonic::{Request, Response, Status};

use crate::audit::{Caller, audited};
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::Page;

pub struct ActivationCodes(pub Arc<Context>);

/// Characters a code to redeem may have, hyphens and spaces included ("1234-5678-9012" is 14).
const MAX_CODE_CHARS: usize = 32;

fn to_pb(r: ActivationRecord) -> ActivationCodeRecord {
    let state = match r.state.as_str() {
        "pending" => ActivationCodeState::Pending,
        "redeemed" => ActivationCodeState::Redeemed,
        "revoked" => ActivationCodeState::Revoked,
        _ => ActivationCodeState::Unspecified,
    };
    ActivationCodeRecord {
        id: r.id,
        device_memo: r.device_memo,
        state: state as i32,
        issued_at: r.issued_at,
        usable_from: r.usable_from,
        redeemed_at: r.redeemed_at.unwrap_or_default(),
        revoked_at: r.revoked_at.unwrap_or_default(),
        device_id: r.device_id.unwrap_or_default(),
    }
}

fn device_id(s: &str) -> Result<String, ValueError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
        Err(ValueError::Rule(
            "must be 1–64 characters without control characters".into(),
        ))
    } else {
        Ok(s.to_owned())
    }
}

fn record_id(s: &str) -> Result<String, ValueError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Err(ValueError::Rule("must be an id returned at issue".into()))
    } else {
        Ok(s.to_owned())
    }
}

#[tonic::async_trait]
impl ActivationCodeService for ActivationCodes {
    async fn issue_activation_code(
        &self,
        request: Request<IssueActivationCodeRequest>,
    ) -> Result<Response<IssueActivationCodeResponse>, Status> {
        let ctx = &self.0;
        let operation = "IssueActivationCode";
        let (caller, id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(ctx, request, operation, "admin", async |_, req, note| {
            let memo = DeviceMemo::parse(&req.device_memo)
                .map_err(|e| ServiceError::field("device_memo", e))?;
            let issued = ctx.upstream.issue_activation_code(&memo).await?;
            let record = ActivationRecord {
                id: issued.id.clone(),
                device_memo: memo.as_str().to_owned(),
                state: "pending".into(),
                issued_at: clock::rfc3339(issued.issued_at),
                usable_from: clock::rfc3339(issued.usable_from),
                redeemed_at: None,
                revoked_at: None,
                device_id: None,
            };
            note.subject = record.id.clone();
            ctx.store
                .write(vec![WriteOp::InsertActivation(record.clone())])
                .await?;
            note.detail = "issued".into();
            Ok(IssueActivationCodeResponse {
                code: issued.code.reveal(),
                record: Some(to_pb(record)),
            })
        });
        self.0
            .replays
            .once(&caller, "IssueActivationCode", &id, run)
            .await
    }

    async fn list_activation_codes(
        &self,
        request: Request<ListActivationCodesRequest>,
    ) -> Result<Response<ListActivationCodesResponse>, Status> {
        let state = match ActivationCodeState::try_from(request.get_ref().state) {
            Ok(ActivationCodeState::Unspecified) => None,
            Ok(ActivationCodeState::Pending) => Some("pending"),
            Ok(ActivationCodeState::Redeemed) => Some("redeemed"),
            Ok(ActivationCodeState::Revoked) => Some("revoked"),
            Err(_) => {
                let rule = format!("{} is not an ActivationCodeState", request.get_ref().state);
                return Err(ServiceError::field("state", ValueError::Rule(rule)).into());
            }
        };
        let page = Page::of(request.get_ref().page_size, &request.get_ref().page_token)?;
        let (records, next_page_token) = page.finish(
            self.0
                .store
                .activation_records(state, page.rows())
                .await
                .map_err(ServiceError::from)?,
        );
        Ok(Response::new(ListActivationCodesResponse {
            records: records.into_iter().map(to_pb).collect(),
            next_page_token,
        }))
    }

    async fn revoke_activation_code(
        &self,
        request: Request<RevokeActivationCodeRequest>,
    ) -> Result<Response<RevokeActivationCodeResponse>, Status> {
        let ctx = &self.0;
        let operation = "RevokeActivationCode";
        audited(ctx, request, operation, "admin", async |_, req, note| {
            note.subject = req.id.chars().take(64).collect();
            let id = record_id(&req.id).map_err(|e| ServiceError::field("id", e))?;
            // Our record first: an unknown id is NOT_FOUND without asking upstream.
            ctx.store.activation_record(&id).await?;
            ctx.upstream.revoke_activation_code(&id).await?;
            ctx.store
                .write(vec![WriteOp::SettleActivation {
                    id: id.clone(),
                    state: "revoked",
                    at: clock::rfc3339(clock::now()),
                    device_id: None,
                }])
                .await?;
            note.detail = "revoked".into();
            Ok(RevokeActivationCodeResponse {
                record: Some(to_pb(ctx.store.activation_record(&id).await?)),
            })
        })
        .await
    }

    async fn redeem_activation_code(
        &self,
        request: Request<RedeemActivationCodeRequest>,
    ) -> Result<Response<RedeemActivationCodeResponse>, Status> {
        let ctx = &self.0;
        let operation = "RedeemActivationCode";
        audited(
            ctx,
            request,
            operation,
            "device",
            async |_, mut req, note| {
                let mut v = Validator::new();
                // Hyphens and spaces are skipped, so only a bound keeps a code of a million
                // hyphens from being read through.
                let code = if req.code.chars().count() > MAX_CODE_CHARS {
                    v.fail(
                        "code",
                        format!("must be at most {MAX_CODE_CHARS} characters"),
                    );
                    None
                } else {
                    v.check("code", ActivationCode::parse(&req.code))
                };
                zeroize::Zeroize::zeroize(&mut req.code);
                let device = v.check("device_id", device_id(&req.device_id));
                v.finish()?;
                let (code, device) = (code.expect("validated"), device.expect("validated"));
                let id = ctx.upstream.redeem_activation_code(&code, &device).await?;
                note.subject = id.clone();
                ctx.store
                    .write(vec![WriteOp::SettleActivation {
                        id: id.clone(),
                        state: "redeemed",
                        at: clock::rfc3339(clock::now()),
                        device_id: Some(device),
                    }])
                    .await?;
                note.detail = "redeemed".into();
                Ok(RedeemActivationCodeResponse {
                    record: Some(to_pb(ctx.store.activation_record(&id).await?)),
                })
            },
        )
        .await
    }
}
