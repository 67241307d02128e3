//! Time as OQS sees it: Japan Standard Time.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};

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

/// RFC 3339 with the offset, to the second: `2026-11-22T10:38:15+09:00`. Written by hand, as
/// `values::iso` is: every check stamps two of these, and chrono's general formatter cost
/// several times more.
pub fn rfc3339(t: DateTime<FixedOffset>) -> String {
    let offset = t.offset().local_minus_utc();
    // Years beyond four digits, offsets with seconds and leap seconds take chrono's way.
    if !(0..=9999).contains(&t.year()) || offset % 60 != 0 || t.nanosecond() >= 1_000_000_000 {
        return t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    }
    let mut s = String::with_capacity(25);
    push_digits(&mut s, t.year().unsigned_abs(), 4);
    s.push('-');
    push_digits(&mut s, t.month(), 2);
    s.push('-');
    push_digits(&mut s, t.day(), 2);
    s.push('T');
    push_digits(&mut s, t.hour(), 2);
    s.push(':');
    push_digits(&mut s, t.minute(), 2);
    s.push(':');
    push_digits(&mut s, t.second(), 2);
    s.push(if offset < 0 { '-' } else { '+' });
    let offset = offset.unsigned_abs();
    push_digits(&mut s, offset / 3600, 2);
    s.push(':');
    push_digits(&mut s, offset / 60 % 60, 2);
    s
}

/// Appends the last `width` (at most 4) decimal digits of `n`, zero-padded.
fn push_digits(s: &mut String, n: u32, width: usize) {
    for power in [1000, 100, 10, 1][4 - width..].iter() {
        s.push(char::from(b'0' + (n / power % 10) as u8));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn rfc3339_is_what_chrono_writes() {
        let west = FixedOffset::west_opt(3 * 3600 + 30 * 60).unwrap();
        for t in [
            jst().with_ymd_and_hms(2026, 11, 22, 9, 5, 7).unwrap(),
            jst().with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            west.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
            FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(12345, 6, 7, 8, 9, 10)
                .unwrap(),
            now(),
        ] {
            assert_eq!(
                rfc3339(t),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            );
        }
    }
}
