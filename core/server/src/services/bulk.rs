//! BulkCheckService: 一括照会. The jobs themselves are `workflow::bulk`.

use std::pin::Pin as StdPin;
use std::sync::Arc;

use shikaku_domain::pb::bulk_check_service_server::BulkCheckService;
use shikaku_domain::pb::{
    GetBulkCheckResultsRequest, GetBulkCheckResultsResponse, ListBulkChecksRequest,
    ListBulkChecksResponse, StartBulkCheckRequest, StartBulkCheckResponse, WatchBulkCheckRequest,
    WatchBulkCheckResponse,
};
use shikaku_domain::values::iso;
use shikaku_domain::{Validator, ValueError};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::audit::{Caller, audited, new_id};
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::{Page, confirmation_date, validate_query};
use crate::workflow::bulk;

/// Items one job may hold.
const MAX_ITEMS: usize = 10_000;

fn job_id(s: &str) -> Result<String, ServiceError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ServiceError::field(
            "job_id",
            ValueError::Rule("must be an id StartBulkCheck returned".into()),
        ));
    }
    Ok(s.to_owned())
}

pub struct BulkChecks(pub Arc<Context>);

type ProgressStream = StdPin<Box<dyn Stream<Item = Result<WatchBulkCheckResponse, Status>> + Send>>;

fn validate_start(req: &StartBulkCheckRequest) -> Result<(String, String), ServiceError> {
    let mut v = Validator::new();
    match (&req.query, req.items.is_empty()) {
        (None, true) => v.fail("items", "must hold at least one patient (or give a query)"),
        (Some(_), false) => v.fail("items", "must be empty when a query is given"),
        _ => {}
    }
    if req.items.len() > MAX_ITEMS {
        v.fail("items", format!("must hold at most {MAX_ITEMS} patients"));
    }
    if req
        .items
        .iter()
        .any(|i| i.key.chars().count() > 64 || i.key.chars().any(char::is_control))
    {
        v.fail(
            "items.key",
            "must be at most 64 characters without control characters",
        );
    }
    let label = req.label.trim();
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        v.fail(
            "label",
            "must be at most 100 characters without control characters",
        );
    }
    let date = v.check(
        "confirmation_date",
        confirmation_date(&req.confirmation_date),
    );
    v.finish()?;
    Ok((label.to_owned(), iso(date.expect("validated"))))
}

#[tonic::async_trait]
impl BulkCheckService for BulkChecks {
    async fn start_bulk_check(
        &self,
        request: Request<StartBulkCheckRequest>,
    ) -> Result<Response<StartBulkCheckResponse>, Status> {
        let ctx = &self.0;
        let id = new_id("blk");
        let (operation, method) = ("StartBulkCheck", "insurance_numbers");
        let (caller, request_id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(ctx, request, operation, method, async |_, req, note| {
            note.subject = id.clone();
            let (label, date) = validate_start(&req)?;
            let job = match &req.query {
                Some(asked) => {
                    let query = validate_query(asked)?;
                    note.method = "query";
                    let job = bulk::create_query(ctx, &id, label, date, asked, &query).await?;
                    note.detail = format!("query={}", job.kind().as_str_name());
                    job
                }
                None => {
                    let job = bulk::create(ctx, &id, label, date, &req.items).await?;
                    note.detail = format!("items={}", req.items.len());
                    job
                }
            };
            Ok(StartBulkCheckResponse { job: Some(job) })
        });
        let started = async {
            let answer = run.await;
            if answer.is_ok() {
                bulk::spawn_job(ctx.clone(), id.clone());
            }
            answer
        };
        ctx.replays
            .once(&caller, operation, &request_id, started)
            .await
    }

    type WatchBulkCheckStream = ProgressStream;

    async fn watch_bulk_check(
        &self,
        request: Request<WatchBulkCheckRequest>,
    ) -> Result<Response<Self::WatchBulkCheckStream>, Status> {
        let id = job_id(&request.get_ref().job_id)?;
        // Unknown ids fail the call itself rather than the stream.
        let watching = self.0.watches.open(&Caller::of(&request).client)?;
        bulk::job_of(&self.0, &id).await?;
        let progress = bulk::watch(self.0.clone(), id).map(move |p| {
            // The watch counts against the client until its stream is dropped.
            let _ = &watching;
            p.map_err(Status::from)
        });
        Ok(Response::new(Box::pin(progress)))
    }

    async fn get_bulk_check_results(
        &self,
        request: Request<GetBulkCheckResultsRequest>,
    ) -> Result<Response<GetBulkCheckResultsResponse>, Status> {
        let ctx = &self.0;
        audited(
            ctx,
            request,
            "GetBulkCheckResults",
            "read",
            async |_, req, note| {
                let id = job_id(&req.job_id)?;
                note.subject = id.clone();
                let page = Page::of(req.page_size, &req.page_token)?;
                let job = bulk::job_of(ctx, &id).await?;
                let rows = ctx.store.bulk_item_rows(&id, false, page.rows()).await?;
                let (items, next_page_token) = page.finish(rows);
                note.detail = format!("items={}", items.len());
                Ok(GetBulkCheckResultsResponse {
                    job: Some(job),
                    items: items.into_iter().map(bulk::item_pb).collect(),
                    next_page_token,
                })
            },
        )
        .await
    }

    async fn list_bulk_checks(
        &self,
        request: Request<ListBulkChecksRequest>,
    ) -> Result<Response<ListBulkChecksResponse>, Status> {
        let page = Page::of(request.get_ref().page_size, &request.get_ref().page_token)?;
        let (records, next_page_token) = page.finish(
            self.0
                .store
                .bulk_job_rows(false, page.rows())
                .await
                .map_err(ServiceError::from)?,
        );
        let mut jobs = Vec::with_capacity(records.len());
        for r in records {
            let counts = self
                .0
                .store
                .bulk_counts(&r.id)
                .await
                .map_err(ServiceError::from)?;
            jobs.push(bulk::job_pb(&r, counts));
        }
        Ok(Response::new(ListBulkChecksResponse {
            jobs,
            next_page_token,
        }))
    }
}
