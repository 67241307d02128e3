//! AuditService: the audit trail for administrators — who did and read what, and when — filtered
//! and paged. Reading the trail is itself audited.

use std::sync::Arc;

use chrono::DateTime;
use shikaku_domain::pb::audit_service_server::AuditService;
use shikaku_domain::pb::{AuditRecord, ListAuditRecordsRequest, ListAuditRecordsResponse};
use shikaku_domain::values::{InsurerNumber, parse_date};
use shikaku_domain::{Validator, ValueError, clock};
use shikaku_store::AuditFilter;
use tonic::{Request, Response, Status};

use crate::audit::audited;
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::{MAX_PAGE_TOKEN, at_most};

/// Records one page holds when the request does not say, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

pub struct AuditTrail(pub Arc<Context>);

/// A free-text filter: at most 64 characters, no control characters.
fn short(s: &str) -> Result<String, ValueError> {
    let s = s.trim();
    if s.chars().count() > 64 || s.chars().any(char::is_control) {
        Err(ValueError::Rule(
            "must be at most 64 characters without control characters".into(),
        ))
    } else {
        Ok(s.to_owned())
    }
}

/// `since` as the trail writes times (RFC 3339 in Japan time), so they compare as text.
fn since(s: &str) -> Result<String, ValueError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(clock::rfc3339(t.with_timezone(&clock::jst())));
    }
    let day = parse_date(s).map_err(|_| {
        ValueError::Rule("must be RFC 3339 (2026-12-03T09:00:00+09:00) or YYYY-MM-DD".into())
    })?;
    Ok(format!("{}T00:00:00+09:00", day.format("%Y-%m-%d")))
}

fn filter(ctx: &Context, req: &ListAuditRecordsRequest) -> Result<AuditFilter, ServiceError> {
    let mut v = Validator::new();
    let since = v.check("since", since(&req.since));
    let client = v.check("client", short(&req.client));
    let operation = v.check("operation", short(&req.operation));
    let person = match &req.subject {
        None => Some(String::new()),
        Some(p) => {
            let person = v
                .check(
                    "subject.insurer_number",
                    InsurerNumber::parse(&p.insurer_number),
                )
                .map(|_| {
                    ctx.people
                        .person(&p.insurer_number, &p.symbol, &p.number, &p.branch)
                });
            // 記号, 番号 and 枝番 as a check bounds them.
            at_most(&mut v, "subject.symbol", &p.symbol, 38);
            at_most(&mut v, "subject.number", &p.number, 38);
            at_most(&mut v, "subject.branch", &p.branch, 2);
            person
        }
    };
    if req.page_size > MAX_PAGE {
        v.fail("page_size", format!("must be at most {MAX_PAGE}"));
    }
    let before_seq = if req.page_token.is_empty() {
        Some(0)
    } else {
        let token = Some(&req.page_token)
            .filter(|t| t.len() <= MAX_PAGE_TOKEN)
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|n| *n > 0);
        if token.is_none() {
            v.fail("page_token", "must be a next_page_token this RPC returned");
        }
        token
    };
    v.finish()?;
    Ok(AuditFilter {
        before_seq: before_seq.expect("validated"),
        since: since.expect("validated"),
        client: client.expect("validated"),
        operation: operation.expect("validated"),
        person: person.expect("validated"),
        limit: if req.page_size == 0 {
            DEFAULT_PAGE
        } else {
            req.page_size
        },
    })
}

#[tonic::async_trait]
impl AuditService for AuditTrail {
    async fn list_audit_records(
        &self,
        request: Request<ListAuditRecordsRequest>,
    ) -> Result<Response<ListAuditRecordsResponse>, Status> {
        let ctx = &self.0;
        audited(
            ctx,
            request,
            "ListAuditRecords",
            "read",
            async |_, req, note| {
                let filter = filter(ctx, &req)?;
                let limit = filter.limit as usize;
                let page = ctx.store.audit_page(filter).await?;
                note.detail = format!("records={}", page.len());
                let next_page_token = match page.last() {
                    Some((seq, _)) if page.len() == limit => seq.to_string(),
                    _ => String::new(),
                };
                let records = page
                    .into_iter()
                    .map(|(seq, r)| AuditRecord {
                        seq: u64::try_from(seq).unwrap_or_default(),
                        at: r.at,
                        operation: r.operation,
                        method: r.method,
                        client: r.client,
                        role: r.role,
                        peer: r.peer,
                        claimed_terminal: r.terminal,
                        claimed_operator: r.operator,
                        outcome: r.outcome,
                        detail: r.detail,
                        subject: r.subject,
                        concerns_person: !r.person.is_empty(),
                    })
                    .collect();
                Ok(ListAuditRecordsResponse {
                    records,
                    next_page_token,
                })
            },
        )
        .await
    }
}
