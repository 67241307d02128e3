//! QualificationService: checks by card and by insurance numbers, and the readers.

use std::pin::Pin as StdPin;
use std::sync::Arc;

use shikaku_domain::clock;
use shikaku_domain::pb::qualification_service_server::QualificationService;
use shikaku_domain::pb::{
    CheckByCardRequest, CheckByCardResponse, CheckByInsuranceNumbersRequest,
    CheckByInsuranceNumbersResponse, ListReadersRequest, ListReadersResponse, QualificationResult,
    Reader, ReaderEvent, WatchReadersRequest, WatchReadersResponse, reader_event,
};
use shikaku_domain::reader::{ReaderEventKind, ReaderInfo};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::audit::{Caller, audited, new_id};
use crate::context::{Context, Readers};
use crate::validate::{Page, validate_numbers};
use crate::workflow::card_check;

pub struct Qualification(pub Arc<Context>, pub Arc<Readers>);

fn reader_pb(info: &ReaderInfo, plugin: &str, in_use: bool) -> Reader {
    Reader {
        name: info.name.clone(),
        plugin: plugin.to_owned(),
        description: info.description.clone(),
        card_present: info.card_present,
        in_use,
        face_auth: info.face_auth,
    }
}

fn finish_result(mut result: QualificationResult, check_id: &str) -> Option<QualificationResult> {
    result.check_id = check_id.to_owned();
    Some(result)
}

type EventStream = StdPin<Box<dyn Stream<Item = Result<WatchReadersResponse, Status>> + Send>>;

fn event(event: ReaderEvent) -> WatchReadersResponse {
    WatchReadersResponse { event: Some(event) }
}

/// Forwards `events` until the daemon shuts down or the client goes away.
fn until_shutdown(
    mut events: EventStream,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> EventStream {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                // A client that went away ends the forwarder now, not at the next event.
                _ = tx.closed() => break,
                next = events.next() => {
                    let Some(e) = next else { break };
                    if tx.send(e).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl QualificationService for Qualification {
    async fn check_by_card(
        &self,
        request: Request<CheckByCardRequest>,
    ) -> Result<Response<CheckByCardResponse>, Status> {
        let ctx = &self.0;
        audited(
            ctx,
            request,
            "CheckByCard",
            "card",
            async |caller, mut req, note| {
                note.subject = new_id("chk");
                let (_, result) =
                    card_check::for_request(ctx, &self.1, caller, note, &mut req).await?;
                note.detail = result.validity_code.clone();
                Ok(CheckByCardResponse {
                    result: finish_result(result, &note.subject),
                })
            },
        )
        .await
    }

    async fn check_by_insurance_numbers(
        &self,
        request: Request<CheckByInsuranceNumbersRequest>,
    ) -> Result<Response<CheckByInsuranceNumbersResponse>, Status> {
        let ctx = &self.0;
        let (operation, method) = ("CheckByInsuranceNumbers", "insurance_numbers");
        audited(ctx, request, operation, method, async |_, req, note| {
            note.subject = new_id("chk");
            let check = validate_numbers(&req)?;
            let (insurer, symbol) = (&req.insurer_number, &req.symbol);
            note.person = ctx.people.person(insurer, symbol, &req.number, &req.branch);
            let result = ctx.upstream.check_by_numbers(&check).await?;
            note.detail = result.validity_code.clone();
            Ok(CheckByInsuranceNumbersResponse {
                result: finish_result(result, &note.subject),
            })
        })
        .await
    }

    async fn list_readers(
        &self,
        request: Request<ListReadersRequest>,
    ) -> Result<Response<ListReadersResponse>, Status> {
        let caller = Caller::of(&request);
        let req = request.get_ref();
        let page = Page::of(req.page_size, &req.page_token)?;
        let mut readers = Vec::new();
        for (name, plugin) in &self.1.plugins {
            // A failed plugin's readers drop out of the list; the others are still served.
            let list = match plugin.list_readers().await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(plugin = %name, error = %e, "cannot list a plugin's readers");
                    continue;
                }
            };
            readers.extend(
                list.iter()
                    .filter(|r| caller.may_use_reader(&r.name))
                    .map(|r| reader_pb(r, name, self.1.is_in_use(&r.name))),
            );
        }
        let (readers, next_page_token) = page.take(readers);
        Ok(Response::new(ListReadersResponse {
            readers,
            next_page_token,
        }))
    }

    type WatchReadersStream = EventStream;

    async fn watch_readers(
        &self,
        request: Request<WatchReadersRequest>,
    ) -> Result<Response<Self::WatchReadersStream>, Status> {
        let caller = Arc::new(Caller::of(&request));
        let watching = self.0.watches.open(&caller.client)?;
        let mut streams: Vec<EventStream> = Vec::new();
        for (name, plugin) in &self.1.plugins {
            // Subscribe before listing, so no change between the two is missed.
            let live = plugin.subscribe();
            let now = match plugin.list_readers().await {
                Ok(now) => now,
                Err(e) => {
                    tracing::warn!(plugin = %name, error = %e, "cannot list a plugin's readers");
                    continue;
                }
            };
            let at = clock::rfc3339(clock::now());
            let initial: Vec<Result<WatchReadersResponse, Status>> = now
                .iter()
                .filter(|r| caller.may_use_reader(&r.name))
                .map(|r| {
                    Ok(event(ReaderEvent {
                        kind: reader_event::Kind::ReaderAdded as i32,
                        reader: Some(reader_pb(r, name, self.1.is_in_use(&r.name))),
                        initial: true,
                        at: at.clone(),
                    }))
                })
                .collect();
            let plugin_name = name.clone();
            let caller = caller.clone();
            let changes = BroadcastStream::new(live).filter_map(move |e| {
                // A lagging watcher skips what it missed; the next event carries the state.
                let e = e.ok().filter(|e| caller.may_use_reader(&e.reader.name))?;
                let kind = match e.kind {
                    ReaderEventKind::ReaderAdded => reader_event::Kind::ReaderAdded,
                    ReaderEventKind::ReaderRemoved => reader_event::Kind::ReaderRemoved,
                    ReaderEventKind::CardInserted => reader_event::Kind::CardInserted,
                    ReaderEventKind::CardRemoved => reader_event::Kind::CardRemoved,
                };
                Some(Ok(event(ReaderEvent {
                    kind: kind as i32,
                    reader: Some(reader_pb(&e.reader, &plugin_name, false)),
                    initial: false,
                    at: clock::rfc3339(clock::now()),
                })))
            });
            streams.push(Box::pin(tokio_stream::iter(initial).chain(changes)));
        }
        let merged = streams
            .into_iter()
            .fold(Box::pin(tokio_stream::empty()) as EventStream, |acc, s| {
                Box::pin(acc.merge(s))
            });
        let events = until_shutdown(merged, self.0.shutting_down());
        // The watch counts against the client until its stream is dropped.
        Ok(Response::new(Box::pin(events.map(move |e| {
            let _ = &watching;
            e
        }))))
    }
}
