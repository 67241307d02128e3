//! Time as OQS sees it: Japan Standard Time.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// JST (UTC+9, no daylight saving).
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

pub fn now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&jst())
}

/// Today's calendar date in Japan.
pub fn today() -> NaiveDate {
    now().date_naive()
}

/// RFC 3339 with the JST offset, to the second.
pub fn rfc3339(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
