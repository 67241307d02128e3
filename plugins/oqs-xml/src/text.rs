//! Dates and times between OQS's compact forms and the contract's ISO forms.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use shikaku_domain::clock;

/// yyyyMMdd → YYYY-MM-DD; anything else is kept as OQS sent it.
pub(crate) fn date_from_oqs(s: &str) -> String {
    NaiveDate::parse_from_str(s.trim(), "%Y%m%d")
        .ok()
        .filter(|_| s.trim().len() == 8)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| s.to_owned())
}

/// YYYY-MM-DD → yyyyMMdd; anything else is written as it is.
pub(crate) fn date_to_oqs(s: &str) -> String {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .filter(|_| s.trim().len() == 10)
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| s.to_owned())
}

/// yyyyMM → YYYY-MM (診療年月); `None` when it is not a month.
pub(crate) fn month_from_oqs(s: &str) -> Option<String> {
    let t = s.trim();
    let month: u32 = t.get(4..6)?.parse().ok()?;
    (t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) && (1..=12).contains(&month))
        .then(|| format!("{}-{}", &t[..4], &t[4..]))
}

/// YYYY-MM → yyyyMM; anything else is written as it is.
pub(crate) fn month_to_oqs(s: &str) -> String {
    match s.trim().split_once('-') {
        Some((y, m)) if y.len() == 4 && m.len() == 2 => format!("{y}{m}"),
        _ => s.to_owned(),
    }
}

/// yyyyMMddHHmmss (JST) → RFC 3339; anything else is kept.
pub(crate) fn time_from_oqs(s: &str) -> String {
    NaiveDateTime::parse_from_str(s.trim(), "%Y%m%d%H%M%S")
        .ok()
        .filter(|_| s.trim().len() == 14)
        .and_then(|t| clock::jst().from_local_datetime(&t).single())
        .map(clock::rfc3339)
        .unwrap_or_else(|| s.to_owned())
}

/// RFC 3339 → yyyyMMddHHmmss in JST; anything else is written as it is.
pub(crate) fn time_to_oqs(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| {
            t.with_timezone(&clock::jst())
                .format("%Y%m%d%H%M%S")
                .to_string()
        })
        .unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_convert_both_ways() {
        assert_eq!(date_from_oqs("20010327"), "2001-03-27");
        assert_eq!(date_to_oqs("2001-03-27"), "20010327");
        assert_eq!(date_from_oqs("2001032"), "2001032");
        assert_eq!(date_from_oqs("20011327"), "20011327");
        assert_eq!(time_from_oqs("20230221174835"), "2023-02-21T17:48:35+09:00");
        assert_eq!(time_to_oqs("2023-02-21T08:48:35+00:00"), "20230221174835");
        assert_eq!(month_from_oqs("202609").as_deref(), Some("2026-09"));
        assert_eq!(month_from_oqs("202613"), None);
        assert_eq!(month_from_oqs("2026九月"), None);
        assert_eq!(month_to_oqs("2026-09"), "202609");
    }
}
