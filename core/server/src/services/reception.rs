//! ReceptionService: kiosk check-in (再来受付), patient links (患者番号の紐付け) and the reception
//! list (顔認証付きCR利用者リスト) a receipt computer watches. The desk itself is
//! `workflow::reception`.

use std::pin::Pin as StdPin;
use std::sync::Arc;

use shikaku_domain::patient;
use shikaku_domain::pb::reception_service_server::ReceptionService;
use shikaku_domain::pb::{
    AcceptReceptionRequest, AcceptReceptionResponse, CheckInRequest, CheckInResponse,
    LinkPatientRequest, LinkPatientResponse, ListPatientLinksRequest, ListPatientLinksResponse,
    ListReceptionsRequest, ListReceptionsResponse, ReceptionRef, ReceptionSource, ReceptionStatus,
    RegisterReferenceNumberRequest, RegisterReferenceNumberResponse, RejectReceptionRequest,
    RejectReceptionResponse, RemovePatientLinkRequest, RemovePatientLinkResponse,
    WatchReceptionsRequest, WatchReceptionsResponse,
};
use shikaku_domain::values::iso;
use shikaku_domain::{ValueError, clock};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::audit::{self, Caller, audited, new_id};
use crate::context::{Context, Readers};
use crate::error::ServiceError;
use crate::validate::{Page, day, link_id, patient_number, reference, validate_registration};
use crate::workflow::reception::{self, Desk, Visit};
use crate::workflow::reference_number;
use crate::workflow::{card_check, patient_link};

/// How an entry is named on its audit line, as the client gave it.
fn entry_subject(entry: Option<&ReceptionRef>) -> String {
    entry
        .map(|r| format!("{}/{}", r.date.chars().take(10).collect::<String>(), r.id))
        .unwrap_or_default()
}

pub struct Receptions(pub Arc<Context>, pub Arc<Readers>);

impl Receptions {
    fn desk(&self) -> &Desk {
        &self.0.reception
    }
}

type EntryStream = StdPin<Box<dyn Stream<Item = Result<WatchReceptionsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ReceptionService for Receptions {
    async fn check_in(
        &self,
        request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        let ctx = &self.0;
        let (caller, id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(
            ctx,
            request,
            "CheckIn",
            "card",
            async |caller, mut req, note| {
                let check_id = new_id("chk");
                note.subject = check_id.clone();
                let mut card = req.card.take().ok_or_else(|| {
                    ServiceError::field(
                        "card",
                        ValueError::Rule("the card check to run is required".into()),
                    )
                })?;
                let checked = card_check::for_request(ctx, &self.1, caller, note, &mut card).await;
                let (reader, mut result) = checked.map_err(|e| match e {
                    ServiceError::Invalid(errors) => card_check::under_card(errors),
                    other => other,
                })?;
                result.check_id = check_id.clone();
                let visit = Visit {
                    result,
                    source: ReceptionSource::Kiosk,
                    reader,
                    terminal: caller.terminal.clone(),
                    check_id,
                    received_at: clock::now(),
                };
                let entry = self.desk().append(&ctx.store, visit).await?;
                note.subject = format!("{}/{}", entry.date, entry.id);
                let instruction = entry.instruction();
                note.detail = instruction.as_str_name().to_owned();
                Ok(CheckInResponse {
                    message: patient::kiosk_message(instruction).to_owned(),
                    instruction: instruction as i32,
                    entry: Some(entry),
                })
            },
        );
        self.0.replays.once(&caller, "CheckIn", &id, run).await
    }

    async fn link_patient(
        &self,
        request: Request<LinkPatientRequest>,
    ) -> Result<Response<LinkPatientResponse>, Status> {
        let ctx = &self.0;
        let (caller, id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(
            ctx,
            request,
            "LinkPatient",
            "clerk",
            async |caller, req, note| patient_link::link(ctx, &caller.actor(), &req, note).await,
        );
        self.0.replays.once(&caller, "LinkPatient", &id, run).await
    }

    async fn register_reference_number(
        &self,
        request: Request<RegisterReferenceNumberRequest>,
    ) -> Result<Response<RegisterReferenceNumberResponse>, Status> {
        let ctx = &self.0;
        let operation = "RegisterReferenceNumber";
        let (caller, id) = (Caller::of(&request), request.get_ref().request_id.clone());
        let run = audited(ctx, request, operation, "clerk", async |_, req, note| {
            note.subject = req.patient_number.chars().take(20).collect();
            let registration = validate_registration(
                &req.patient_number,
                &req.insurer_number,
                &req.symbol,
                &req.number,
                &req.branch,
            )?;
            note.person =
                ctx.people
                    .person(&req.insurer_number, &req.symbol, &req.number, &req.branch);
            let registration = reference_number::register(ctx, &registration).await?;
            note.detail = "registered".into();
            Ok(RegisterReferenceNumberResponse {
                registration: Some(registration),
            })
        });
        self.0.replays.once(&caller, operation, &id, run).await
    }

    async fn list_patient_links(
        &self,
        request: Request<ListPatientLinksRequest>,
    ) -> Result<Response<ListPatientLinksResponse>, Status> {
        let ctx = &self.0;
        audited(
            ctx,
            request,
            "ListPatientLinks",
            "read",
            async |_, req, note| {
                let number = if req.patient_number.trim().is_empty() {
                    None
                } else {
                    Some(patient_number(&req.patient_number, "patient_number")?)
                };
                note.subject = number.as_ref().map(|n| n.to_string()).unwrap_or_default();
                let page = Page::of(req.page_size, &req.page_token)?;
                let (links, next_page_token) =
                    page.take(self.desk().links(&ctx.store, number.as_ref()).await?);
                note.detail = format!("links={}", links.len());
                Ok(ListPatientLinksResponse {
                    links,
                    next_page_token,
                })
            },
        )
        .await
    }

    async fn remove_patient_link(
        &self,
        request: Request<RemovePatientLinkRequest>,
    ) -> Result<Response<RemovePatientLinkResponse>, Status> {
        let ctx = &self.0;
        let operation = "RemovePatientLink";
        audited(ctx, request, operation, "clerk", async |_, req, note| {
            note.subject = req.patient_number.chars().take(20).collect();
            let number = patient_number(&req.patient_number, "patient_number")?;
            let id = link_id(&req.link_id)?;
            let removed = self.desk().unlink(&ctx.store, &number, id).await?;
            note.detail = "removed".into();
            Ok(RemovePatientLinkResponse { removed })
        })
        .await
    }

    async fn list_receptions(
        &self,
        request: Request<ListReceptionsRequest>,
    ) -> Result<Response<ListReceptionsResponse>, Status> {
        let ctx = &self.0;
        audited(
            ctx,
            request,
            "ListReceptions",
            "read",
            async |_, req, note| {
                let date = iso(day(&req.date).map_err(|e| ServiceError::field("date", e))?);
                let status = match ReceptionStatus::try_from(req.status) {
                    Ok(ReceptionStatus::Unspecified) => None,
                    Ok(ReceptionStatus::Pending) => Some("pending"),
                    Ok(ReceptionStatus::Accepted) => Some("accepted"),
                    Ok(ReceptionStatus::Rejected) => Some("rejected"),
                    Err(_) => {
                        let rule = format!("{} is not a ReceptionStatus", req.status);
                        return Err(ServiceError::field("status", ValueError::Rule(rule)));
                    }
                };
                note.subject = date.clone();
                let page = Page::of(req.page_size, &req.page_token)?;
                let (entries, next_page_token) =
                    self.desk().list(&ctx.store, &date, status, page).await?;
                note.detail = format!("entries={}", entries.len());
                Ok(ListReceptionsResponse {
                    entries,
                    mode: self.desk().mode_pb() as i32,
                    next_page_token,
                })
            },
        )
        .await
    }

    type WatchReceptionsStream = EntryStream;

    async fn watch_receptions(
        &self,
        request: Request<WatchReceptionsRequest>,
    ) -> Result<Response<Self::WatchReceptionsStream>, Status> {
        let ctx = self.0.clone();
        let caller = Caller::of(&request);
        let watching = ctx.watches.open(&caller.client)?;
        let opened = audited(
            &ctx,
            request,
            "WatchReceptions",
            "read",
            async |_, req, note| {
                let date = iso(day(&req.date).map_err(|e| ServiceError::field("date", e))?);
                let last = i64::try_from(req.after_id).map_err(|_| {
                    ServiceError::field("after_id", ValueError::Rule("is out of range".into()))
                })?;
                note.subject = format!("{date}/{last}");
                Ok((date, last))
            },
        )
        .await?;
        let (date, last) = opened.into_inner();
        // Each entry's audit line is on disk before the entry goes out.
        let entries = reception::watch(ctx.clone(), date, last).then(move |entry| {
            let (ctx, caller) = (ctx.clone(), caller.clone());
            async move {
                let entry = audit::delivered(&ctx, &caller, entry?).await?;
                Ok(WatchReceptionsResponse { entry: Some(entry) })
            }
        });
        // The watch counts against the client until its stream is dropped.
        Ok(Response::new(Box::pin(entries.map(move |e| {
            let _ = &watching;
            e
        }))))
    }

    async fn accept_reception(
        &self,
        request: Request<AcceptReceptionRequest>,
    ) -> Result<Response<AcceptReceptionResponse>, Status> {
        let ctx = &self.0;
        let store = &ctx.store;
        audited(
            ctx,
            request,
            "AcceptReception",
            "clerk",
            async |caller, req, note| {
                note.subject = entry_subject(req.entry.as_ref());
                let number = if req.patient_number.trim().is_empty() {
                    None
                } else {
                    Some(patient_number(&req.patient_number, "patient_number")?)
                };
                let entry = reference(req.entry.as_ref(), "entry")?;
                let (entry, link) = self
                    .desk()
                    .decide(store, &caller.actor(), entry, "accepted", number, None)
                    .await?;
                note.detail = "accepted".into();
                Ok(AcceptReceptionResponse {
                    entry: Some(entry),
                    link,
                })
            },
        )
        .await
    }

    async fn reject_reception(
        &self,
        request: Request<RejectReceptionRequest>,
    ) -> Result<Response<RejectReceptionResponse>, Status> {
        let ctx = &self.0;
        let store = &ctx.store;
        audited(
            ctx,
            request,
            "RejectReception",
            "clerk",
            async |caller, req, note| {
                note.subject = entry_subject(req.entry.as_ref());
                let reason = req.reason.trim();
                if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
                    return Err(ServiceError::field(
                        "reason",
                        ValueError::Rule(
                            "must be at most 200 characters without control characters".into(),
                        ),
                    ));
                }
                let entry = reference(req.entry.as_ref(), "entry")?;
                let reason = Some(reason.to_owned());
                let (entry, _) = self
                    .desk()
                    .decide(store, &caller.actor(), entry, "rejected", None, reason)
                    .await?;
                note.detail = "rejected".into();
                Ok(RejectReceptionResponse { entry: Some(entry) })
            },
        )
        .await
    }
}
