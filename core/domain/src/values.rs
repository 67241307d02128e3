//! Identifiers and dates with their rules: parse, don't validate.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::ValueError;

/// The 検証番号 (check digit) shared by insurer numbers and facility codes: from the rightmost
/// digit of the body, weights 2, 1, 2, 1 …; two-digit products count as the sum of their digits;
/// the check digit is 10 minus the last digit of the sum (0 when that is 0). This is Luhn.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let p = u32::from(*d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn digits(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect()
}

fn verify_check_digit(d: &[u8]) -> Result<(), ValueError> {
    let (body, last) = d.split_at(d.len() - 1);
    let expected = check_digit(body);
    if expected == last[0] {
        Ok(())
    } else {
        Err(ValueError::CheckDigit {
            expected,
            found: last[0],
        })
    }
}

/// 保険者番号 (insurer number): 8 digits, or 6 for 国民健康保険 (国保), the last a check digit.
/// OQS pads 6-digit numbers to 8 characters with leading spaces; those are accepted and dropped.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct InsurerNumber(String);

impl InsurerNumber {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim_start_matches(' ').trim_end();
        let d = digits(s).ok_or_else(|| ValueError::rule("must be digits only"))?;
        if d.len() != 8 && d.len() != 6 {
            return Err(ValueError::rule(
                "must be 8 digits, or 6 for national health insurance",
            ));
        }
        verify_check_digit(&d)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 国民健康保険: 6-digit numbers.
    pub fn is_national_health_insurance(&self) -> bool {
        self.0.len() == 6
    }

    /// The 8-character form OQS exchanges: 6-digit numbers padded with leading spaces.
    pub fn padded(&self) -> String {
        format!("{:>8}", self.0)
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 医療機関コード (facility code): prefecture (2) + fee table (1: 医科 1, 歯科 3, 薬局 4) +
/// 7 digits whose last is a check digit computed over the first 9.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct FacilityCode(String);

impl FacilityCode {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim();
        let d = digits(s).ok_or_else(|| ValueError::rule("must be digits only"))?;
        if d.len() != 10 {
            return Err(ValueError::rule("must be 10 digits"));
        }
        let prefecture = d[0] * 10 + d[1];
        if !(1..=47).contains(&prefecture) && !(51..=97).contains(&prefecture) {
            return Err(ValueError::rule("prefecture must be 01–47 (or 51–97)"));
        }
        if ![1, 3, 4].contains(&d[2]) {
            return Err(ValueError::rule(
                "fee table digit must be 1 (medical), 3 (dental) or 4 (pharmacy)",
            ));
        }
        verify_check_digit(&d)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FacilityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn printable(s: &str, max: usize, what: &str) -> Result<String, ValueError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ValueError::rule(format!("{what} must not be empty")));
    }
    if s.chars().count() > max {
        return Err(ValueError::rule(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(ValueError::rule(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}

/// 記号 (card symbol), as printed: up to 38 characters, may hold kana and hyphens.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CardSymbol(String);

impl CardSymbol {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        printable(s, 38, "symbol").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 番号 (card number), as printed: up to 38 characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CardNumber(String);

impl CardNumber {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        printable(s, 38, "number").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 枝番 (branch number): exactly 2 digits, "00" to "99".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BranchNumber([u8; 2]);

impl BranchNumber {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        match s.trim().as_bytes() {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Ok(Self([*a, *b])),
            _ => Err(ValueError::rule("must be exactly 2 digits")),
        }
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii digits")
    }
}

/// A calendar date, accepted as "YYYY-MM-DD" or OQS's "YYYYMMDD".
/// Read by hand, not with chrono's format strings: every check parses one or two dates, and
/// interpreting "%Y-%m-%d" each time was 2 % of the daemon's CPU under load.
pub fn parse_date(s: &str) -> Result<NaiveDate, ValueError> {
    let invalid = || ValueError::rule("must be a real date written YYYY-MM-DD or YYYYMMDD");
    let b = s.trim().as_bytes();
    let (year, month, day) = match b.len() {
        8 => (&b[0..4], &b[4..6], &b[6..8]),
        10 if b[4] == b'-' && b[7] == b'-' => (&b[0..4], &b[5..7], &b[8..10]),
        _ => return Err(invalid()),
    };
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    match (number(year), number(month), number(day)) {
        (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(invalid),
        _ => Err(invalid()),
    }
}

/// 生年月日: a real date, not after `today`, not before 1868 (明治元年).
pub fn parse_birth_date(s: &str, today: NaiveDate) -> Result<NaiveDate, ValueError> {
    let d = parse_date(s)?;
    if d > today {
        return Err(ValueError::rule("must not be in the future"));
    }
    if d < NaiveDate::from_ymd_opt(1868, 1, 1).expect("valid") {
        return Err(ValueError::rule("must not be before 1868-01-01"));
    }
    Ok(d)
}

/// The ISO form used throughout the contract.
pub fn iso(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// ユーザーID of an OQS account: 2–8 ASCII letters or digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim();
        if !(2..=8).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ValueError::rule("must be 2–8 ASCII letters or digits"));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 端末識別メモ (device memo): 1–100 characters of free text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceMemo(String);

impl DeviceMemo {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        printable(s, 100, "device memo").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a card reader, as a reader plugin reports it.
pub fn parse_reader_name(s: &str) -> Result<String, ValueError> {
    printable(s, 200, "reader name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_examples_from_the_mhlw_rules() {
        for ok in ["06130488", "33120015", "01320027", "138057", "123455"] {
            InsurerNumber::parse(ok).unwrap();
        }
        for ok in ["3410712362", "0110113719"] {
            FacilityCode::parse(ok).unwrap();
        }
        assert_eq!(
            InsurerNumber::parse("123456"),
            Err(ValueError::CheckDigit {
                expected: 5,
                found: 6
            })
        );
        assert!(FacilityCode::parse("3410712363").is_err());
    }

    #[test]
    fn six_digit_numbers_pad_with_spaces() {
        let n = InsurerNumber::parse("  138057").unwrap();
        assert_eq!(n.as_str(), "138057");
        assert_eq!(n.padded(), "  138057");
        assert!(n.is_national_health_insurance());
        assert!(InsurerNumber::parse("1380570").is_err());
        assert!(InsurerNumber::parse("0613O488").is_err());
    }

    #[test]
    fn branch_and_dates() {
        assert_eq!(BranchNumber::parse("01").unwrap().as_str(), "01");
        assert!(BranchNumber::parse("1").is_err());
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert!(parse_birth_date("2001-03-27", today).is_ok());
        assert!(parse_birth_date("20010327", today).is_ok());
        assert!(parse_birth_date("2001-02-30", today).is_err());
        assert!(parse_birth_date("2027-01-01", today).is_err());
        assert_eq!(
            parse_date(" 2024-02-29 ").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        for bad in [
            "",
            "2001-3-27",
            "2001/03/27",
            "+2001-03-27",
            "2001-03-2x",
            "200103270",
            "2023-02-29",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            iso(NaiveDate::from_ymd_opt(987, 6, 5).unwrap()),
            "0987-06-05"
        );
        assert!(AccountId::parse("a").is_err());
        assert!(AccountId::parse("staff01").is_ok());
        assert!(AccountId::parse("staff-01").is_err());
    }
}
