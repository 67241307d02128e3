//! ReceptionService: kiosk check-in (再来受付), patient links (患者番号の紐付け) and the reception
//! list (顔認証付きCR利用者リスト) a receipt computer watches. The desk itself is
//! `workflow::reception`.

use std::pin::Pin as StdPin;
use std::sync::Arc;

use chrono::NaiveDate;
use shikaku_domain::patient::{self, PatientNumber};
use shikaku_domain::pb::link_patient_request::Person;
use shikaku_domain::pb::reception_service_server::ReceptionService;
use shikaku_domain::pb::{
    AcceptReceptionRequest, AcceptReceptionResponse, CheckInRequest, CheckInResponse,
    LinkPatientRequest, LinkPatientResponse, ListPatientLinksRequest, ListPatientLinksResponse,
    ListReceptionsRequest, ListReceptionsResponse, ReceptionEntry, ReceptionRef, ReceptionSource,
    ReceptionStatus, RejectReceptionRequest, RejectReceptionResponse, RemovePatientLinkRequest,
    RemovePatientLinkResponse, WatchReceptionsRequest,
};
use shikaku_domain::values::{iso, parse_date};
use shikaku_domain::{FieldError, ValueError, clock};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::audit::{self, Caller, Entry, new_id};
use crate::context::{Context, Readers};
use crate::error::ServiceError;
use crate::validate::validate_card;
use crate::workflow::card_check::run_card_check;
use crate::workflow::reception::{self, Desk, Visit};

/// 受付日: today in Japan when empty.
fn day(s: &str) -> Result<NaiveDate, ValueError> {
    if s.trim().is_empty() {
        Ok(clock::today())
    } else {
        parse_date(s)
    }
}

fn reference(r: Option<&ReceptionRef>, field: &'static str) -> Result<(String, i64), ServiceError> {
    let Some(r) = r else {
        return Err(ServiceError::field(
            field,
            ValueError::Rule("must name an entry by date and id".into()),
        ));
    };
    let date = day(&r.date).map_err(|e| ServiceError::field(field, e))?;
    let id = i64::try_from(r.id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ServiceError::field(
                field,
                ValueError::Rule("id must be a 受付番号 from 1".into()),
            )
        })?;
    Ok((iso(date), id))
}

fn patient_number(s: &str, field: &'static str) -> Result<PatientNumber, ServiceError> {
    PatientNumber::parse(s).map_err(|e| ServiceError::field(field, e))
}

/// CheckByCard's field names, as they are nested in a CheckIn request.
fn under_card(errors: Vec<FieldError>) -> ServiceError {
    let errors = errors
        .into_iter()
        .map(|e| FieldError {
            field: match e.field {
                "reader" => "card.reader",
                "confirmation_date" => "card.confirmation_date",
                "identity" => "card.identity",
                "pin.pin" => "card.pin.pin",
                "visual_check.account_id" => "card.visual_check.account_id",
                "visual_check.password" => "card.visual_check.password",
                other => other,
            },
            error: e.error,
        })
        .collect();
    ServiceError::Invalid(errors)
}

/// Who decided or linked: the operator, else the terminal.
fn actor(caller: &Caller) -> String {
    [&caller.operator, &caller.terminal]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

pub struct Receptions(pub Arc<Context>, pub Arc<Readers>);

impl Receptions {
    fn desk(&self) -> &Desk {
        &self.0.reception
    }
}

type EntryStream = StdPin<Box<dyn Stream<Item = Result<ReceptionEntry, Status>> + Send>>;

#[tonic::async_trait]
impl ReceptionService for Receptions {
    async fn check_in(
        &self,
        request: Request<CheckInRequest>,
    ) -> Result<Response<CheckInResponse>, Status> {
        let caller = Caller::of(&request);
        let mut req = request.into_inner();
        let ctx = &self.0;
        let check_id = new_id("chk");
        let mut card = req.card.take();
        let validated = match card.as_mut() {
            None => Err(ServiceError::field(
                "card",
                ValueError::Rule("the card check to run is required".into()),
            )),
            Some(card) => validate_card(card).map_err(|e| match e {
                ServiceError::Invalid(errors) => under_card(errors),
                other => other,
            }),
        };
        let method = validated
            .as_ref()
            .map(|(_, i, _)| i.method_name())
            .unwrap_or("card");
        let mut subject = check_id.clone();
        let result = async {
            let (reader, identity, date) = validated?;
            let consents = card
                .as_mut()
                .and_then(|c| c.consents.take())
                .unwrap_or_default();
            let mut result =
                run_card_check(ctx, &self.1, &reader, identity, consents, date).await?;
            result.check_id = check_id.clone();
            let entry = self
                .desk()
                .append(
                    &ctx.store,
                    Visit {
                        result,
                        source: ReceptionSource::Kiosk,
                        reader,
                        terminal: caller.terminal.clone(),
                        check_id: check_id.clone(),
                        received_at: clock::now(),
                    },
                )
                .await?;
            subject = format!("{}/{}", entry.date, entry.id);
            let instruction = entry.instruction();
            Ok::<_, ServiceError>(CheckInResponse {
                message: patient::kiosk_message(instruction).to_owned(),
                instruction: instruction as i32,
                entry: Some(entry),
            })
        }
        .await;
        let entry = Entry {
            operation: "CheckIn",
            method,
            detail: result
                .as_ref()
                .map(|r| r.instruction().as_str_name().to_owned())
                .unwrap_or_default(),
            subject,
        };
        audit::finish(&ctx.store, &caller, entry, result)
            .await
            .map(Response::new)
    }

    async fn link_patient(
        &self,
        request: Request<LinkPatientRequest>,
    ) -> Result<Response<LinkPatientResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let ctx = &self.0;
        let result = async {
            let number = patient_number(&req.patient_number, "patient_number");
            let person = match &req.person {
                None => Err(ServiceError::field(
                    "person",
                    ValueError::Rule("give the person's details or a reception entry".into()),
                )),
                Some(Person::Details(d)) => {
                    patient::validate_person(d, clock::today()).map_err(ServiceError::Invalid)
                }
                Some(Person::Reception(r)) => {
                    let (date, id) = reference(Some(r), "reception")?;
                    self.desk()
                        .person_on_entry(&ctx.store, &date, id)
                        .await?
                        .ok_or_else(|| {
                            ServiceError::field(
                                "reception",
                                ValueError::Rule(
                                    "the entry names no single insured person to link".into(),
                                ),
                            )
                        })
                }
            };
            let (number, person) = match (number, person) {
                (Ok(n), Ok(p)) => (n, p),
                (Err(ServiceError::Invalid(mut a)), Err(ServiceError::Invalid(b))) => {
                    a.extend(b);
                    return Err(ServiceError::Invalid(a));
                }
                (Err(e), _) | (_, Err(e)) => return Err(e),
            };
            let (link, created) = self
                .desk()
                .link(&ctx.store, &number, &person, &actor(&caller))
                .await?;
            Ok::<_, ServiceError>(LinkPatientResponse {
                link: Some(link),
                created,
            })
        }
        .await;
        let entry = Entry {
            operation: "LinkPatient",
            method: "clerk",
            detail: match &result {
                Ok(r) if r.created => "linked".into(),
                _ => "unchanged".into(),
            },
            subject: result
                .as_ref()
                .ok()
                .and_then(|r| r.link.as_ref())
                .map(|l| l.id.clone())
                .unwrap_or_default(),
        };
        audit::finish(&ctx.store, &caller, entry, result)
            .await
            .map(Response::new)
    }

    async fn list_patient_links(
        &self,
        request: Request<ListPatientLinksRequest>,
    ) -> Result<Response<ListPatientLinksResponse>, Status> {
        let req = request.into_inner();
        let number = if req.patient_number.trim().is_empty() {
            None
        } else {
            Some(patient_number(&req.patient_number, "patient_number")?)
        };
        let links = self.desk().links(&self.0.store, number.as_ref()).await?;
        Ok(Response::new(ListPatientLinksResponse { links }))
    }

    async fn remove_patient_link(
        &self,
        request: Request<RemovePatientLinkRequest>,
    ) -> Result<Response<RemovePatientLinkResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let ctx = &self.0;
        let result = async {
            let number = patient_number(&req.patient_number, "patient_number")?;
            let id = Some(req.link_id.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let removed = self.desk().unlink(&ctx.store, &number, id).await?;
            Ok::<_, ServiceError>(RemovePatientLinkResponse { removed })
        }
        .await;
        let entry = Entry {
            operation: "RemovePatientLink",
            method: "clerk",
            detail: "removed".into(),
            subject: req.patient_number.chars().take(20).collect(),
        };
        audit::finish(&ctx.store, &caller, entry, result)
            .await
            .map(Response::new)
    }

    async fn list_receptions(
        &self,
        request: Request<ListReceptionsRequest>,
    ) -> Result<Response<ListReceptionsResponse>, Status> {
        let req = request.get_ref();
        let date = day(&req.date).map_err(|e| ServiceError::field("date", e))?;
        let status = match req.status() {
            ReceptionStatus::Unspecified => None,
            ReceptionStatus::Pending => Some("pending"),
            ReceptionStatus::Accepted => Some("accepted"),
            ReceptionStatus::Rejected => Some("rejected"),
        };
        let entries = self.desk().list(&self.0.store, &iso(date), status).await?;
        Ok(Response::new(ListReceptionsResponse {
            entries,
            mode: self.desk().mode_pb() as i32,
        }))
    }

    type WatchReceptionsStream = EntryStream;

    async fn watch_receptions(
        &self,
        request: Request<WatchReceptionsRequest>,
    ) -> Result<Response<Self::WatchReceptionsStream>, Status> {
        let req = request.into_inner();
        let date = iso(day(&req.date).map_err(|e| ServiceError::field("date", e))?);
        let last = i64::try_from(req.after_id).map_err(|_| {
            ServiceError::field("after_id", ValueError::Rule("is out of range".into()))
        })?;
        let entries = reception::watch(self.0.clone(), date, last).map(|e| e.map_err(Status::from));
        Ok(Response::new(Box::pin(entries)))
    }

    async fn accept_reception(
        &self,
        request: Request<AcceptReceptionRequest>,
    ) -> Result<Response<AcceptReceptionResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let result = async {
            let number = if req.patient_number.trim().is_empty() {
                None
            } else {
                Some(patient_number(&req.patient_number, "patient_number")?)
            };
            let entry = reference(req.entry.as_ref(), "entry")?;
            let (entry, link) = self
                .desk()
                .decide(
                    &self.0.store,
                    &actor(&caller),
                    entry,
                    "accepted",
                    number,
                    None,
                )
                .await?;
            Ok::<_, ServiceError>(AcceptReceptionResponse {
                entry: Some(entry),
                link,
            })
        }
        .await;
        let entry = Entry {
            operation: "AcceptReception",
            method: "clerk",
            detail: "accepted".into(),
            subject: req
                .entry
                .as_ref()
                .map(|r| format!("{}/{}", r.date, r.id))
                .unwrap_or_default(),
        };
        audit::finish(&self.0.store, &caller, entry, result)
            .await
            .map(Response::new)
    }

    async fn reject_reception(
        &self,
        request: Request<RejectReceptionRequest>,
    ) -> Result<Response<RejectReceptionResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let result = async {
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
            let (entry, _) = self
                .desk()
                .decide(
                    &self.0.store,
                    &actor(&caller),
                    entry,
                    "rejected",
                    None,
                    Some(reason.to_owned()),
                )
                .await?;
            Ok::<_, ServiceError>(RejectReceptionResponse { entry: Some(entry) })
        }
        .await;
        let entry = Entry {
            operation: "RejectReception",
            method: "clerk",
            detail: "rejected".into(),
            subject: req
                .entry
                .as_ref()
                .map(|r| format!("{}/{}", r.date, r.id))
                .unwrap_or_default(),
        };
        audit::finish(&self.0.store, &caller, entry, result)
            .await
            .map(Response::new)
    }
}
