//! ReceptionService: kiosk check-in (再来受付), patient links (患者番号の紐付け) and the reception
//! list (顔認証付きCR利用者リスト) a receipt computer watches.
//!
//! The list lives in the store; 受付番号 are assigned by its writer in commit order. Watchers are
//! only woken by a counter and read the store themselves, so what they send is always the
//! committed order, whichever task committed first, and resuming is just "entries after n".

use std::pin::Pin as StdPin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate};
use prost::Message;
use shikaku_domain::patient::{self, PatientNumber, kana_key};
use shikaku_domain::pb::link_patient_request::Person;
use shikaku_domain::pb::reception_service_server::ReceptionService;
use shikaku_domain::pb::{
    AcceptReceptionRequest, AcceptReceptionResponse, CheckInRequest, CheckInResponse, ErrorReason,
    LinkPatientRequest, LinkPatientResponse, LinkedPerson, ListPatientLinksRequest,
    ListPatientLinksResponse, ListReceptionsRequest, ListReceptionsResponse, PatientCandidate,
    PatientLink, PatientMatch, QualificationResult, ReceptionEntry, ReceptionMode, ReceptionRef,
    ReceptionSource, ReceptionStatus, RejectReceptionRequest, RejectReceptionResponse,
    RemovePatientLinkRequest, RemovePatientLinkResponse, Sex, WatchReceptionsRequest,
};
use shikaku_domain::upstream::UpstreamEvent;
use shikaku_domain::values::{iso, parse_date};
use shikaku_domain::{FieldError, ValueError, clock};
use shikaku_store::{
    Decision, LinkRecord, PersonRecord, ReceptionRecord, Store, StoreError, WriteOp,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{Context, Readers};
use crate::audit::{self, Caller, Entry, new_id};
use crate::config;
use crate::error::ServiceError;
use crate::services::qualification::{run_card_check, validate_card};

/// The reception desk: the facility's list settings and the wake-up for watchers.
pub struct Desk {
    mode: config::ReceptionMode,
    /// 医療機関コード, or "" when not configured: the list is per facility and day.
    facility: String,
    /// Counts committed appends; watchers wake on it and read the store.
    appended: watch::Sender<u64>,
    /// Taken when the daemon builds, so no face result between build and serve is missed.
    face_events: Mutex<Option<broadcast::Receiver<UpstreamEvent>>>,
}

impl Desk {
    pub fn new(
        mode: config::ReceptionMode,
        facility_code: Option<&str>,
        face_events: Option<broadcast::Receiver<UpstreamEvent>>,
    ) -> Self {
        Self {
            mode,
            facility: facility_code.unwrap_or_default().to_owned(),
            appended: watch::channel(0).0,
            face_events: Mutex::new(face_events),
        }
    }

    /// 医療機関コード the list and links belong to ("" when not configured).
    pub fn facility(&self) -> &str {
        &self.facility
    }

    fn mode_pb(&self) -> ReceptionMode {
        match self.mode {
            config::ReceptionMode::Automatic => ReceptionMode::Automatic,
            config::ReceptionMode::Manual => ReceptionMode::Manual,
        }
    }

    /// Finds who the person is at this facility: linked by their insurance, or candidates by
    /// kana name, birth date and sex (never merged here), or nobody.
    async fn match_person(
        &self,
        store: &Store,
        person: Option<&LinkedPerson>,
    ) -> Result<(PatientMatch, String, Vec<PatientCandidate>), ServiceError> {
        let Some(person) = person else {
            return Ok((PatientMatch::None, String::new(), Vec::new()));
        };
        let record = person_record(person);
        if let Some(link) = store.link_by_insurance(&self.facility, &record).await? {
            return Ok((PatientMatch::Linked, link.patient_number, Vec::new()));
        }
        let mut candidates: Vec<PatientCandidate> = Vec::new();
        for link in store
            .links_like(
                &self.facility,
                &record.kana_key,
                &record.birth_date,
                &record.sex,
            )
            .await?
        {
            if candidates
                .iter()
                .all(|c| c.patient_number != link.patient_number)
            {
                candidates.push(PatientCandidate {
                    patient_number: link.patient_number,
                    insurer_number: link.person.insurer_number,
                    symbol: link.person.symbol,
                    number: link.person.number,
                    branch: link.person.branch,
                    name: link.person.name,
                });
            }
        }
        let matched = if candidates.is_empty() {
            PatientMatch::NewPatient
        } else {
            PatientMatch::Candidates
        };
        Ok((matched, String::new(), candidates))
    }

    /// Appends one visit to its day's list and wakes the watchers.
    pub async fn append(
        &self,
        store: &Store,
        visit: Visit,
    ) -> Result<ReceptionEntry, ServiceError> {
        let result = visit.result;
        let person = patient::person_of(&result);
        let (matched, number, candidates) = self.match_person(store, person.as_ref()).await?;
        let instruction = patient::instruction(&result, matched);
        let automatic = self.mode == config::ReceptionMode::Automatic
            && instruction == shikaku_domain::pb::KioskInstruction::GoAhead;
        let received_at = clock::rfc3339(visit.received_at);
        let person = person.unwrap_or_default();
        let entry = ReceptionEntry {
            facility_code: self.facility.clone(),
            received_at: received_at.clone(),
            source: visit.source as i32,
            reader: visit.reader,
            terminal: visit.terminal,
            patient_number: number.clone(),
            r#match: matched as i32,
            candidates,
            needs_confirmation: matches!(
                matched,
                PatientMatch::Candidates | PatientMatch::NewPatient
            ),
            name: person.name,
            name_kana: person.name_kana,
            birth_date: person.birth_date,
            sex: person.sex,
            validity: result.validity,
            instruction: instruction as i32,
            check_id: visit.check_id,
            result: Some(result),
            ..Default::default()
        };
        let mut record = ReceptionRecord {
            facility: self.facility.clone(),
            day: iso(visit.received_at.date_naive()),
            seq: 0,
            received_at: received_at.clone(),
            patient_number: number,
            status: if automatic { "accepted" } else { "pending" }.into(),
            decided_at: automatic.then(|| received_at.clone()),
            decided_by: automatic.then(|| "automatic".to_owned()),
            reject_reason: None,
            payload: entry.encode_to_vec(),
        };
        let yielded = store
            .write_yielding(vec![WriteOp::AppendReception(record.clone())])
            .await?;
        record.seq = yielded.first().copied().unwrap_or_default();
        self.appended.send_modify(|n| *n += 1);
        entry_of(&record)
    }
}

/// One visit to put on the list.
pub struct Visit {
    pub result: QualificationResult,
    pub source: ReceptionSource,
    pub reader: String,
    pub terminal: String,
    pub check_id: String,
    pub received_at: DateTime<FixedOffset>,
}

fn sex_code(sex: i32) -> &'static str {
    match Sex::try_from(sex).unwrap_or(Sex::Unspecified) {
        Sex::Male => "1",
        Sex::Female => "2",
        Sex::NotSet => "3",
        _ => "",
    }
}

fn person_record(p: &LinkedPerson) -> PersonRecord {
    PersonRecord {
        insurer_number: p.insurer_number.trim().to_owned(),
        symbol: p.symbol.trim().to_owned(),
        number: p.number.trim().to_owned(),
        branch: p.branch.trim().to_owned(),
        name: p.name.clone(),
        name_kana: p.name_kana.clone(),
        kana_key: kana_key(&p.name_kana),
        birth_date: p.birth_date.clone(),
        sex: sex_code(p.sex).to_owned(),
    }
}

fn link_pb(l: LinkRecord) -> PatientLink {
    let p = l.person;
    PatientLink {
        id: l.id,
        patient_number: l.patient_number,
        person: Some(LinkedPerson {
            insurer_number: p.insurer_number,
            symbol: p.symbol,
            number: p.number,
            branch: p.branch,
            name: p.name,
            name_kana: p.name_kana,
            birth_date: p.birth_date,
            sex: shikaku_domain::codes::sex(&p.sex) as i32,
        }),
        linked_at: l.linked_at,
        linked_by: l.linked_by,
    }
}

fn status_pb(s: &str) -> ReceptionStatus {
    match s {
        "pending" => ReceptionStatus::Pending,
        "accepted" => ReceptionStatus::Accepted,
        "rejected" => ReceptionStatus::Rejected,
        _ => ReceptionStatus::Unspecified,
    }
}

/// The entry as clients see it: the stored payload with the columns that change laid over it.
fn entry_of(r: &ReceptionRecord) -> Result<ReceptionEntry, ServiceError> {
    let mut e = ReceptionEntry::decode(r.payload.as_slice()).map_err(|err| {
        ServiceError::Store(StoreError::Conflict(format!(
            "reception {}/{} does not decode: {err}",
            r.day, r.seq
        )))
    })?;
    e.date = r.day.clone();
    e.id = u64::try_from(r.seq).unwrap_or_default();
    e.patient_number = r.patient_number.clone();
    let status = status_pb(&r.status);
    e.status = status as i32;
    if status != ReceptionStatus::Pending {
        e.needs_confirmation = false;
    }
    e.decided_at = r.decided_at.clone().unwrap_or_default();
    e.decided_by = r.decided_by.clone().unwrap_or_default();
    e.reject_reason = r.reject_reason.clone().unwrap_or_default();
    Ok(e)
}

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

fn link_conflict(other: String) -> ServiceError {
    ServiceError::Conflict {
        reason: ErrorReason::PatientLinkConflict,
        message: format!("the person's insurance is already linked to patient number {other}"),
        key: "patient_number",
        value: other,
    }
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

    async fn entry(&self, date: &str, id: i64) -> Result<ReceptionRecord, ServiceError> {
        Ok(self
            .0
            .store
            .reception(&self.desk().facility, date, id)
            .await?)
    }

    fn new_link(
        &self,
        number: &PatientNumber,
        person: &LinkedPerson,
        caller: &Caller,
    ) -> LinkRecord {
        LinkRecord {
            id: new_id("lnk"),
            facility: self.desk().facility.clone(),
            patient_number: number.to_string(),
            person: person_record(person),
            linked_at: clock::rfc3339(clock::now()),
            linked_by: actor(caller),
        }
    }

    /// Decides a pending entry, linking the confirmed patient number in the same transaction.
    async fn decide(
        &self,
        caller: &Caller,
        entry: Option<&ReceptionRef>,
        status: &'static str,
        number: Option<PatientNumber>,
        reject_reason: Option<String>,
    ) -> Result<(ReceptionEntry, Option<PatientLink>), ServiceError> {
        let (date, id) = reference(entry, "entry")?;
        let current = self.entry(&date, id).await?;
        if current.status != "pending" {
            return Err(already_decided(&current.status));
        }
        let mut ops = Vec::new();
        let mut link = None;
        if let Some(number) = &number {
            let person = patient::person_of(
                entry_of(&current)?
                    .result
                    .as_ref()
                    .unwrap_or(&QualificationResult::default()),
            )
            .ok_or_else(|| {
                ServiceError::field(
                    "patient_number",
                    ValueError::Rule(
                        "the entry names no single insured person to link the number to".into(),
                    ),
                )
            })?;
            let record = self.new_link(number, &person, caller);
            ops.push(WriteOp::InsertLink(record.clone()));
            link = Some(record);
        }
        ops.push(WriteOp::DecideReception(Decision {
            facility: self.desk().facility.clone(),
            day: date.clone(),
            seq: id,
            status,
            at: clock::rfc3339(clock::now()),
            by: actor(caller),
            reject_reason,
            patient_number: number.map(|n| n.to_string()),
        }));
        let yielded = match self.0.store.write_yielding(ops).await {
            Err(StoreError::LinkedToOther(other)) => return Err(link_conflict(other)),
            Err(StoreError::Conflict(state)) => return Err(already_decided(&state)),
            other => other?,
        };
        let link = match link {
            // The person's insurance was linked to this number already: show the existing link.
            Some(l) if yielded.first() == Some(&0) => self
                .0
                .store
                .link_by_insurance(&self.desk().facility, &l.person)
                .await?
                .map(link_pb),
            l => l.map(link_pb),
        };
        let entry = entry_of(&self.entry(&date, id).await?)?;
        Ok((entry, link))
    }
}

fn already_decided(status: &str) -> ServiceError {
    ServiceError::Conflict {
        reason: ErrorReason::ReceptionAlreadyDecided,
        message: format!("the entry is already {status}"),
        key: "status",
        value: status.to_owned(),
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
                    let entry = entry_of(&self.entry(&date, id).await?)?;
                    patient::person_of(entry.result.as_ref().unwrap_or(&Default::default()))
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
            let record = self.new_link(&number, &person, &caller);
            let created = match ctx
                .store
                .write_yielding(vec![WriteOp::InsertLink(record.clone())])
                .await
            {
                Err(StoreError::LinkedToOther(other)) => return Err(link_conflict(other)),
                other => other?.first() == Some(&1),
            };
            let link = if created {
                record
            } else {
                ctx.store
                    .link_by_insurance(&self.desk().facility, &record.person)
                    .await?
                    .unwrap_or(record)
            };
            Ok::<_, ServiceError>(LinkPatientResponse {
                link: Some(link_pb(link)),
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
        let links = self
            .0
            .store
            .links(
                &self.desk().facility,
                number.as_ref().map(PatientNumber::as_str),
            )
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListPatientLinksResponse {
            links: links.into_iter().map(link_pb).collect(),
        }))
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
            let op = WriteOp::RemoveLinks {
                facility: self.desk().facility.clone(),
                patient_number: number.to_string(),
                id,
            };
            let removed = ctx
                .store
                .write_yielding(vec![op])
                .await?
                .first()
                .copied()
                .unwrap_or_default();
            Ok::<_, ServiceError>(RemovePatientLinkResponse {
                removed: u32::try_from(removed).unwrap_or(u32::MAX),
            })
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
        let records = self
            .0
            .store
            .receptions(&self.desk().facility, &iso(date), 0, status)
            .await
            .map_err(ServiceError::from)?;
        let entries = records
            .iter()
            .map(entry_of)
            .collect::<Result<Vec<_>, _>>()?;
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
        let mut last = i64::try_from(req.after_id).map_err(|_| {
            ServiceError::field("after_id", ValueError::Rule("is out of range".into()))
        })?;
        let ctx = self.0.clone();
        let mut appended = ctx.reception.appended.subscribe();
        let (tx, rx) = mpsc::channel::<Result<ReceptionEntry, Status>>(64);
        tokio::spawn(async move {
            let shutdown = ctx.shutting_down();
            tokio::pin!(shutdown);
            loop {
                // Marked seen before reading, so an append that commits after the read wakes us.
                appended.borrow_and_update();
                let batch = ctx
                    .store
                    .receptions(&ctx.reception.facility, &date, last, None)
                    .await
                    .map_err(ServiceError::from)
                    .and_then(|records| {
                        records
                            .iter()
                            .map(|r| entry_of(r).map(|e| (r.seq, e)))
                            .collect::<Result<Vec<_>, _>>()
                    });
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                for (seq, entry) in batch {
                    tokio::select! {
                        _ = &mut shutdown => return,
                        sent = tx.send(Ok(entry)) => if sent.is_err() { return },
                    }
                    last = seq;
                }
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tx.closed() => return,
                    changed = appended.changed() => if changed.is_err() { return },
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
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
            let (entry, link) = self
                .decide(&caller, req.entry.as_ref(), "accepted", number, None)
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
            let (entry, _) = self
                .decide(
                    &caller,
                    req.entry.as_ref(),
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

/// Puts every unsolicited upstream result (the face-auth reader's `face` files) on the list,
/// until the daemon shuts down.
pub fn spawn_face_listener(ctx: Arc<Context>) {
    let events = ctx
        .reception
        .face_events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(mut events) = events else { return };
    tokio::spawn(async move {
        let shutdown = ctx.shutting_down();
        tokio::pin!(shutdown);
        loop {
            let event = tokio::select! {
                _ = &mut shutdown => return,
                e = events.recv() => e,
            };
            let event = match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "face-auth results arrived faster than the list took them"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let check_id = new_id("face");
            let receipt = event.receipt;
            let mut result = event.result;
            result.check_id = check_id.clone();
            let visit = Visit {
                result,
                source: ReceptionSource::FaceAuthReader,
                reader: event.source,
                terminal: String::new(),
                check_id: check_id.clone(),
                received_at: event.received_at,
            };
            let outcome = ctx.reception.append(&ctx.store, visit).await;
            let subject = outcome
                .as_ref()
                .map(|e| format!("{}/{}", e.date, e.id))
                .unwrap_or(check_id);
            let entry = Entry {
                operation: "FaceAuthReception",
                method: "face",
                detail: outcome
                    .as_ref()
                    .map(|e| e.instruction().as_str_name().to_owned())
                    .unwrap_or_default(),
                subject,
            };
            match audit::finish(&ctx.store, &Caller::default(), entry, outcome).await {
                // On the list and on disk: the upstream may now let go of its copy.
                Ok(_) => receipt.stored(),
                Err(e) => tracing::error!(
                    error = %e.message(),
                    "cannot put a face-auth result on the reception list"
                ),
            }
        }
    });
}
