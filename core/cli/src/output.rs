//! Printing answers: canonical protobuf JSON for scripts, tables for people, and the small
//! formatting rules the tables share.

use std::io::{ErrorKind, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use crate::error::CliError;

/// How answers are printed, chosen by `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Prints one response: as pretty JSON, or as the table `render` draws.
pub fn print<T: Serialize>(
    format: Format,
    response: &T,
    render: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    match format {
        Format::Json => write_stdout(&to_json(response, true)?),
        Format::Table => write_stdout(&render(response)),
    }
}

/// Prints one message of a stream on a single line, so each line is one JSON document or event.
pub fn print_line<T: Serialize>(
    format: Format,
    message: &T,
    render: impl FnOnce(&T) -> String,
) -> Result<(), CliError> {
    match format {
        Format::Json => write_stdout(&to_json(message, false)?),
        Format::Table => write_stdout(&render(message)),
    }
}

/// Writes a line and flushes it, so a watched stream shows each event as it comes. Unlike
/// `println!`, it does not panic when the reader has gone away (`shikaku readers watch | head`).
fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|error| match error.kind() {
            ErrorKind::BrokenPipe => CliError::StdoutClosed,
            _ => CliError::Output(format!("cannot write to stdout: {error}")),
        })
}

/// Serialising fails when a newer daemon sends an enum value this CLI does not know.
fn to_json<T: Serialize>(message: &T, pretty: bool) -> Result<String, CliError> {
    let json = if pretty {
        serde_json::to_string_pretty(message)
    } else {
        serde_json::to_string(message)
    };
    json.map_err(|error| CliError::Output(format!("cannot print the answer as JSON: {error}")))
}

/// A table with a header row, one row per item.
pub fn grid(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// A two-column table of labelled values that leaves out empty ones, so it shows only what the
/// daemon actually sent.
pub struct Details {
    table: Table,
}

impl Default for Details {
    fn default() -> Self {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        Details { table }
    }
}

impl Details {
    pub fn row(&mut self, label: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        if !value.is_empty() {
            self.table.add_row(vec![label.to_owned(), value]);
        }
        self
    }

    pub fn render(&self) -> String {
        self.table.to_string()
    }
}

/// The readable word for a protobuf enum value, e.g. `VALIDITY_INVALID_NEWER_QUALIFICATION` →
/// `invalid newer qualification`. The prefix to strip comes from the zero value, which protobuf
/// style names `<PREFIX>_UNSPECIFIED`; a number this CLI does not know is `unknown`.
pub fn enum_word<E: TryFrom<i32>>(value: i32, name: fn(&E) -> &'static str) -> String {
    let Ok(known) = E::try_from(value) else {
        return "unknown".to_owned();
    };
    let full = name(&known);
    let prefix = E::try_from(0)
        .map(|zero| name(&zero).trim_end_matches("UNSPECIFIED"))
        .unwrap_or_default();
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_lowercase()
        .replace('_', " ")
}

/// The enum's word with, in parentheses, the raw code OQS sent (the paired `*_code` field) or,
/// when there is none, the enum number: `valid (1)`, `medical assistance (A1)`, `unknown (X9)`.
/// Empty when the value was not set at all, so that `Details` leaves it out.
pub fn enum_text<E: TryFrom<i32>>(
    value: i32,
    raw_code: &str,
    name: fn(&E) -> &'static str,
) -> String {
    if value == 0 && raw_code.is_empty() {
        return String::new();
    }
    let code = if raw_code.is_empty() {
        value.to_string()
    } else {
        raw_code.to_owned()
    };
    format!("{} ({code})", enum_word(value, name))
}

pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// A validity period, with either end possibly missing: `2025-04-01 – 2026-03-31`.
pub fn period(from: &str, to: &str) -> String {
    match (from.is_empty(), to.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("from {from}"),
        (true, false) => format!("until {to}"),
        (false, false) => format!("{from} – {to}"),
    }
}

#[cfg(test)]
mod tests {
    use shikaku_proto::v1::{CardClass, LimitCategory, Medium, Validity, reader_event};

    use super::*;

    #[test]
    fn enum_words_drop_the_prefix() {
        assert_eq!(
            enum_word(3, Validity::as_str_name),
            "invalid newer qualification"
        );
        assert_eq!(enum_word(1, Medium::as_str_name), "my number card");
        assert_eq!(
            enum_word(3, reader_event::Kind::as_str_name),
            "card inserted"
        );
        assert_eq!(enum_word(1, LimitCategory::as_str_name), "a01");
        assert_eq!(enum_word(42, Validity::as_str_name), "unknown");
    }

    #[test]
    fn enum_text_prefers_the_raw_code() {
        assert_eq!(enum_text(1, "1", Validity::as_str_name), "valid (1)");
        assert_eq!(
            enum_text(8, "A1", CardClass::as_str_name),
            "medical assistance (A1)"
        );
        assert_eq!(enum_text(99, "X9", CardClass::as_str_name), "unknown (X9)");
        assert_eq!(enum_text(2, "", Medium::as_str_name), "android (2)");
        assert_eq!(enum_text(0, "", Medium::as_str_name), "");
    }

    #[test]
    fn details_leave_out_empty_values() {
        let mut details = Details::default();
        details.row("name 氏名", "山田 太郎").row("symbol 記号", "");
        let text = details.render();
        assert!(text.contains("山田 太郎"));
        assert!(!text.contains("symbol"));
    }

    #[test]
    fn periods_read_naturally() {
        assert_eq!(
            period("2025-04-01", "2026-03-31"),
            "2025-04-01 – 2026-03-31"
        );
        assert_eq!(period("2025-04-01", ""), "from 2025-04-01");
        assert_eq!(period("", ""), "");
    }
}
