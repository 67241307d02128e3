//! VisualCheckPasswordService: 目視確認用パスワード issuance.

use std::sync::Arc;

use shikaku_domain::Validator;
use shikaku_domain::clock;
use shikaku_domain::pb::visual_check_password_service_server::VisualCheckPasswordService;
use shikaku_domain::pb::{IssueVisualCheckPasswordRequest, IssueVisualCheckPasswordResponse};
use shikaku_domain::values::AccountId;
use tonic::{Request, Response, Status};

use crate::audit::{self, Caller, Entry};
use crate::context::Context;
use crate::error::ServiceError;

pub struct VisualCheckPasswords(pub Arc<Context>);

#[tonic::async_trait]
impl VisualCheckPasswordService for VisualCheckPasswords {
    async fn issue_visual_check_password(
        &self,
        request: Request<IssueVisualCheckPasswordRequest>,
    ) -> Result<Response<IssueVisualCheckPasswordResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let mut v = Validator::new();
        let account = v.check("account_id", AccountId::parse(&req.account_id));
        let result = async {
            v.finish()?;
            let account = account.expect("validated");
            let issued = self
                .0
                .upstream
                .issue_visual_check_password(&account)
                .await?;
            Ok::<_, ServiceError>(IssueVisualCheckPasswordResponse {
                password: issued.password.reveal(),
                account_id: account.to_string(),
                issued_at: clock::rfc3339(issued.issued_at),
                replaced: issued.replaced,
            })
        }
        .await;
        let entry = Entry {
            operation: "IssueVisualCheckPassword",
            method: "admin",
            detail: match &result {
                Ok(r) if r.replaced => "replaced".into(),
                _ => "issued".into(),
            },
            subject: req.account_id.chars().take(16).collect(),
        };
        audit::finish(&self.0.store, &caller, entry, result)
            .await
            .map(Response::new)
    }
}
