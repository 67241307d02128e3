//! The reception desk (受付) of re-visit kiosks: appending visits, matching them to patient
//! numbers (患者番号の紐付け), the clerk's decisions, and the list (顔認証付きCR利用者リスト) a receipt
//! computer watches.
//!
//! The list lives in the store; 受付番号 are assigned by its writer in commit order. Watchers are
//! only woken by a counter and read the store themselves, so what they send is always the
//! committed order, whichever task committed first, and resuming is just "entries after n".

use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use prost::Message;
use shikaku_domain::patient::{self, PatientNumber, kana_key};
use shikaku_domain::pb::{
    ErrorReason, LinkedPerson, PatientCandidate, PatientLink, PatientMatch, QualificationResult,
    ReceptionEntry, ReceptionMode, ReceptionSource, ReceptionStatus, Sex,
};
use shikaku_domain::upstream::UpstreamEvent;
use shikaku_domain::values::iso;
use shikaku_domain::{ValueError, clock};
use shikaku_store::{
    Decision, LinkRecord, PersonRecord, ReceptionRecord, Rows, Store, StoreError, WriteOp,
};
use tokio::sync::{broadcast, mpsc, watch};

use crate::audit::{self, Caller, Entry, new_id};
use crate::config;
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::Page;

/// Candidates a reception entry offers a clerk at most (patients with the same kana name,
/// birth date and sex).
pub const MAX_CANDIDATES: usize = 5;

/// The most a reception entry may weigh when it is put on the list, encoded. A clerk's decision
/// later adds at most [`MAX_DECISION_BYTES`]. Far below the 4 MiB gRPC clients accept by default,
/// so no single entry can stop a receipt computer's watch; what makes an entry this large can
/// only be the upstream's result (every field a client sends is bounded much lower).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// What a decision adds to an entry at most: `decided_at`, `decided_by` (64 characters) and
/// `reject_reason` (200 characters), each up to 4 bytes a character, with their tags.
pub const MAX_DECISION_BYTES: usize = 2 * 1024;

/// Entries a watch reads from the store at a time: a receipt computer resuming from the start of
/// a busy day is sent the day in batches, never holding the whole day in memory.
const WATCH_BATCH: usize = 64;

/// The reception desk: the facility's list settings and the wake-up for watchers.
pub struct Desk {
    mode: config::ReceptionMode,
    /// 医療機関コード, or "" when not configured: the list is per facility and day.
    facility: String,
    /// Counts committed appends; watchers wake on it and read the store.
    appended: watch::Sender<u64>,
    /// Taken when the daemon builds, so no face result between build and serve is missed.
    face_events: Mutex<Option<broadcast::Receiver<UpstreamEvent>>>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Desk {
    pub fn new(
        mode: config::ReceptionMode,
        facility_code: Option<&str>,
        face_events: Option<broadcast::Receiver<UpstreamEvent>>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            metrics,
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

    pub fn mode_pb(&self) -> ReceptionMode {
        match self.mode {
            config::ReceptionMode::Automatic => ReceptionMode::Automatic,
            config::ReceptionMode::Manual => ReceptionMode::Manual,
        }
    }

    /// Finds who the person is at this facility: by the 照会番号 OQS sent when it is a patient
    /// number linked here (it survives a change of insurance), then linked by their insurance,
    /// or candidates by kana name, birth date and sex (never merged here), or nobody.
    async fn match_person(
        &self,
        store: &Store,
        reference_number: &str,
        person: Option<&LinkedPerson>,
    ) -> Result<(PatientMatch, String, Vec<PatientCandidate>), ServiceError> {
        if let Ok(number) = PatientNumber::parse(reference_number)
            && !store
                .links(&self.facility, Some(number.as_str()))
                .await?
                .is_empty()
        {
            return Ok((PatientMatch::Linked, number.to_string(), Vec::new()));
        }
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
            // A few candidates at most, so no entry can grow past a bounded size.
            if candidates.len() == MAX_CANDIDATES {
                break;
            }
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
        let (matched, number, candidates) = self
            .match_person(store, &result.reference_number, person.as_ref())
            .await?;
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
        if record.payload.len() > MAX_ENTRY_BYTES {
            return Err(ServiceError::EntryTooLarge {
                bytes: record.payload.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        let yielded = store
            .write_yielding(vec![WriteOp::AppendReception(record.clone())])
            .await?;
        record.seq = yielded.first().copied().unwrap_or_default();
        self.metrics
            .reception_entry(if automatic { "accepted" } else { "pending" });
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

pub fn link_pb(l: LinkRecord) -> PatientLink {
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
pub fn entry_of(r: &ReceptionRecord) -> Result<ReceptionEntry, ServiceError> {
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

fn link_conflict(other: String) -> ServiceError {
    ServiceError::Conflict {
        reason: ErrorReason::PatientLinkConflict,
        message: format!("the person's insurance is already linked to patient number {other}"),
        key: "patient_number",
        value: other,
    }
}

/// Operations on the list and the links, for the services and the face listener.
impl Desk {
    /// One stored entry by 受付日 and 受付番号.
    pub async fn entry(
        &self,
        store: &Store,
        date: &str,
        id: i64,
    ) -> Result<ReceptionRecord, ServiceError> {
        Ok(store.reception(&self.facility, date, id).await?)
    }

    fn new_link(&self, number: &PatientNumber, person: &LinkedPerson, actor: &str) -> LinkRecord {
        LinkRecord {
            id: new_id("lnk"),
            facility: self.facility.clone(),
            patient_number: number.to_string(),
            person: person_record(person),
            linked_at: clock::rfc3339(clock::now()),
            linked_by: actor.to_owned(),
        }
    }

    /// The person an entry names, for linking a patient number to.
    pub async fn person_on_entry(
        &self,
        store: &Store,
        date: &str,
        id: i64,
    ) -> Result<Option<LinkedPerson>, ServiceError> {
        let entry = entry_of(&self.entry(store, date, id).await?)?;
        Ok(patient::person_of(
            entry.result.as_ref().unwrap_or(&Default::default()),
        ))
    }

    /// Links a patient number to a person's insurance; `created` is false when it was linked
    /// already (the existing link is returned).
    pub async fn link(
        &self,
        store: &Store,
        number: &PatientNumber,
        person: &LinkedPerson,
        actor: &str,
    ) -> Result<(PatientLink, bool), ServiceError> {
        let record = self.new_link(number, person, actor);
        let created = match store
            .write_yielding(vec![WriteOp::InsertLink(record.clone())])
            .await
        {
            Err(StoreError::LinkedToOther(other)) => return Err(link_conflict(other)),
            other => other?.first() == Some(&1),
        };
        let link = if created {
            record
        } else {
            store
                .link_by_insurance(&self.facility, &record.person)
                .await?
                .unwrap_or(record)
        };
        Ok((link_pb(link), created))
    }

    /// Removes a patient number's links (or the one named); yields how many.
    pub async fn unlink(
        &self,
        store: &Store,
        number: &PatientNumber,
        link_id: Option<String>,
    ) -> Result<u32, ServiceError> {
        let op = WriteOp::RemoveLinks {
            facility: self.facility.clone(),
            patient_number: number.to_string(),
            id: link_id,
        };
        let removed = store
            .write_yielding(vec![op])
            .await?
            .first()
            .copied()
            .unwrap_or_default();
        Ok(u32::try_from(removed).unwrap_or(u32::MAX))
    }

    /// The facility's links, or one patient number's.
    pub async fn links(
        &self,
        store: &Store,
        number: Option<&PatientNumber>,
    ) -> Result<Vec<PatientLink>, ServiceError> {
        let links = store
            .links(&self.facility, number.map(PatientNumber::as_str))
            .await?;
        Ok(links.into_iter().map(link_pb).collect())
    }

    /// A page of a day's list, optionally only the entries in one state, and the next page's
    /// token. Only that page is read from the store.
    pub async fn list(
        &self,
        store: &Store,
        date: &str,
        status: Option<&'static str>,
        page: Page,
    ) -> Result<(Vec<ReceptionEntry>, String), ServiceError> {
        let rows = store
            .receptions(&self.facility, date, status, page.rows())
            .await?;
        let (rows, next) = page.finish(rows);
        let entries = rows.iter().map(entry_of).collect::<Result<_, _>>()?;
        Ok((entries, next))
    }

    /// Decides a pending entry, linking the confirmed patient number in the same transaction.
    pub async fn decide(
        &self,
        store: &Store,
        actor: &str,
        (date, id): (String, i64),
        status: &'static str,
        number: Option<PatientNumber>,
        reject_reason: Option<String>,
    ) -> Result<(ReceptionEntry, Option<PatientLink>), ServiceError> {
        let current = self.entry(store, &date, id).await?;
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
            let record = self.new_link(number, &person, actor);
            ops.push(WriteOp::InsertLink(record.clone()));
            link = Some(record);
        }
        ops.push(WriteOp::DecideReception(Decision {
            facility: self.facility.clone(),
            day: date.clone(),
            seq: id,
            status,
            at: clock::rfc3339(clock::now()),
            by: actor.to_owned(),
            reject_reason,
            patient_number: number.map(|n| n.to_string()),
        }));
        let yielded = match store.write_yielding(ops).await {
            Err(StoreError::LinkedToOther(other)) => return Err(link_conflict(other)),
            Err(StoreError::Conflict(state)) => return Err(already_decided(&state)),
            other => other?,
        };
        let link = match link {
            // The person's insurance was linked to this number already: show the existing link.
            Some(l) if yielded.first() == Some(&0) => store
                .link_by_insurance(&self.facility, &l.person)
                .await?
                .map(link_pb),
            l => l.map(link_pb),
        };
        self.metrics.reception_decision(status);
        let entry = entry_of(&self.entry(store, &date, id).await?)?;
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

/// Streams a day's entries after `last` in 受付番号 order, then each new one as it commits,
/// until the client goes away or the daemon shuts down.
pub fn watch(
    ctx: Arc<Context>,
    date: String,
    mut last: i64,
) -> tokio_stream::wrappers::ReceiverStream<Result<ReceptionEntry, ServiceError>> {
    let mut appended = ctx.reception.appended.subscribe();
    let (tx, rx) = mpsc::channel::<Result<ReceptionEntry, ServiceError>>(64);
    tokio::spawn(async move {
        let shutdown = ctx.shutting_down();
        tokio::pin!(shutdown);
        loop {
            // Marked seen before reading, so an append that commits after the read wakes us.
            appended.borrow_and_update();
            let batch = ctx
                .store
                .receptions(
                    &ctx.reception.facility,
                    &date,
                    None,
                    Rows::after(last, WATCH_BATCH),
                )
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
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let full = batch.len() == WATCH_BATCH;
            for (seq, entry) in batch {
                tokio::select! {
                    _ = &mut shutdown => return,
                    sent = tx.send(Ok(entry)) => if sent.is_err() { return },
                }
                last = seq;
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tx.closed() => return,
                changed = appended.changed() => if changed.is_err() { return },
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
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
            let person = ctx.people.of_result(&visit.result);
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
                person,
            };
            match audit::finish(&ctx, &Caller::daemon(), entry, outcome).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(processing_result_message: String) -> Visit {
        Visit {
            result: QualificationResult {
                processing_result_message,
                ..Default::default()
            },
            source: ReceptionSource::Kiosk,
            reader: "kiosk-1".into(),
            terminal: String::new(),
            check_id: "c1".into(),
            received_at: clock::now(),
        }
    }

    #[tokio::test]
    async fn an_upstream_result_too_large_for_the_list_is_refused_and_nothing_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("s.sqlite"),
            shikaku_store::Durability::Normal,
        )
        .unwrap();
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let desk = Desk::new(config::ReceptionMode::Manual, None, None, metrics);
        let error = desk
            .append(&store, visit("x".repeat(MAX_ENTRY_BYTES)))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ServiceError::EntryTooLarge { limit, .. } if limit == MAX_ENTRY_BYTES)
        );
        let today = iso(clock::now().date_naive());
        assert!(
            desk.list(&store, &today, None, Page::of(0, "").unwrap())
                .await
                .unwrap()
                .0
                .is_empty()
        );

        let entry = desk.append(&store, visit("x".repeat(1000))).await.unwrap();
        assert_eq!(entry.id, 1, "the refused visit took no 受付番号");
    }
}
