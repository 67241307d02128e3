//! `shikaku readers`: the card readers attached to the daemon, now or as they change.

use clap::Subcommand;
use shikaku_proto::v1::qualification_service_client::QualificationServiceClient;
use shikaku_proto::v1::{
    ListReadersRequest, ListReadersResponse, ReaderEvent, WatchReadersRequest, reader_event,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, enum_word, grid, yes_no};

#[derive(Subcommand)]
pub enum ReadersCommand {
    /// List the readers attached now.
    List,
    /// Print one line per reader or card event until Ctrl-C.
    Watch,
}

pub async fn run(
    command: ReadersCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = QualificationServiceClient::new(channel);
    match command {
        ReadersCommand::List => {
            // Every page: the list is shown whole.
            let mut list = client
                .list_readers(ListReadersRequest::default())
                .await?
                .into_inner();
            while !list.next_page_token.is_empty() {
                let next = ListReadersRequest {
                    page_token: std::mem::take(&mut list.next_page_token),
                    ..Default::default()
                };
                let page = client.list_readers(next).await?.into_inner();
                list.readers.extend(page.readers);
                list.next_page_token = page.next_page_token;
            }
            output::print(format, &list, render_readers)
        }
        ReadersCommand::Watch => {
            let mut events = client
                .watch_readers(WatchReadersRequest {})
                .await?
                .into_inner();
            // Made once, outside the loop, so a Ctrl-C between two events is not missed.
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            loop {
                tokio::select! {
                    message = events.message() => match message? {
                        Some(message) => {
                            if let Some(event) = &message.event {
                                output::print_line(format, event, render_event)?;
                            }
                        }
                        None => return Ok(()),
                    },
                    // Ctrl-C is how a person ends the watch, so it is a success.
                    _ = &mut ctrl_c => return Ok(()),
                }
            }
        }
    }
}

fn render_readers(response: &ListReadersResponse) -> String {
    if response.readers.is_empty() {
        return "no readers attached".to_owned();
    }
    let mut table = grid(&[
        "name",
        "plugin",
        "description",
        "card",
        "in use",
        "face auth 顔認証",
    ]);
    for reader in &response.readers {
        table.add_row(vec![
            reader.name.as_str(),
            &reader.plugin,
            &reader.description,
            yes_no(reader.card_present),
            yes_no(reader.in_use),
            yes_no(reader.face_auth),
        ]);
    }
    table.to_string()
}

/// `<time> <kind> <reader>`, marked `(initial)` for the events that describe the starting state.
fn render_event(event: &ReaderEvent) -> String {
    let kind = enum_word(event.kind, reader_event::Kind::as_str_name);
    let reader = event
        .reader
        .as_ref()
        .map(|reader| reader.name.as_str())
        .unwrap_or("-");
    let mut line = format!("{} {kind:<15} {reader}", event.at);
    if event.initial {
        line += " (initial)";
    }
    line
}

#[cfg(test)]
mod tests {
    use shikaku_proto::v1::Reader;

    use super::*;

    #[test]
    fn event_is_one_readable_line() {
        let event = ReaderEvent {
            kind: reader_event::Kind::CardInserted as i32,
            reader: Some(Reader {
                name: "pasori-1".to_owned(),
                ..Default::default()
            }),
            initial: false,
            at: "2026-11-21T09:30:00+09:00".to_owned(),
        };
        assert_eq!(
            render_event(&event),
            "2026-11-21T09:30:00+09:00 card inserted   pasori-1"
        );
    }
}
