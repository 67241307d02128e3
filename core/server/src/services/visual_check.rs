//! VisualCheckPasswordService: 目視確認用パスワード issuance.

use std::sync::Arc;

use shikaku_domain::clock;
use shikaku_domain::pb::visual_check_password_service_server::VisualCheckPasswordService;
use shikaku_domain::pb::{IssueVisualCheckPasswordRequest, IssueVisualCheckPasswordResponse};
use shikaku_domain::values::AccountId;
use tonic::{Request, Response, Status};

use crate::audit::{Caller, audited};
use crate::context::Context;
use crate::error::ServiceError;

pub struct VisualCheckPasswords(pub Arc<Context>);

#[tonic::async_trait]
impl VisualCheckPasswordService for VisualCheckPasswords {
    async fn issue_visual_check_password(
        &self,
        request: Request<IssueVisualCheckPasswordRequest>,
    ) -> Result<Response<IssueVisualCheckPasswordResponse>, Status> {
        let ctx = &self.0;
        let (caller, id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(
            ctx,
            request,
            "IssueVisualCheckPassword",
            "admin",
            async |_, req, note| {
                note.subject = req.account_id.chars().take(16).collect();
                let account = AccountId::parse(&req.account_id)
                    .map_err(|e| ServiceError::field("account_id", e))?;
                let issued = self
                    .0
                    .upstream
                    .issue_visual_check_password(&account)
                    .await?;
                note.detail = if issued.replaced {
                    "replaced"
                } else {
                    "issued"
                }
                .into();
                Ok(IssueVisualCheckPasswordResponse {
                    password: issued.password.reveal(),
                    account_id: account.to_string(),
                    issued_at: clock::rfc3339(issued.issued_at),
                    replaced: issued.replaced,
                })
            },
        );
        self.0
            .replays
            .once(&caller, "IssueVisualCheckPassword", &id, run)
            .await
    }
}
