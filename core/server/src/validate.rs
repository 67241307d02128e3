//! Request validation shared by the services and the workflows that read stored requests (a
//! bulk job's items): from protobuf messages to domain values that cannot be invalid.

use chrono::NaiveDate;
use shikaku_domain::patient::PatientNumber;
use shikaku_domain::pb::bulk_query::Kind as QueryKind;
use shikaku_domain::pb::{BulkQuery as PbBulkQuery, OnlineConsultationDates};
use shikaku_domain::pb::{CheckByInsuranceNumbersRequest, ReceptionRef};
use shikaku_domain::upstream::{BulkQuery, NumbersCheck, OnlineDates, ReferenceNumberRegistration};
use shikaku_domain::values::{
    BranchNumber, CardNumber, CardSymbol, InsurerNumber, iso, parse_birth_date, parse_date,
};
use shikaku_domain::{Validator, ValueError, clock};

use crate::error::ServiceError;

/// Today in Japan, or the requested 資格確認日.
pub fn confirmation_date(s: &str) -> Result<NaiveDate, shikaku_domain::ValueError> {
    if s.trim().is_empty() {
        Ok(clock::today())
    } else {
        shikaku_domain::values::parse_date(s)
    }
}

/// `parse(s)`, or `None` for an empty field.
pub fn optional<T>(
    s: &str,
    parse: impl Fn(&str) -> Result<T, shikaku_domain::ValueError>,
) -> Result<Option<T>, shikaku_domain::ValueError> {
    if s.trim().is_empty() {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

pub fn validate_numbers(
    req: &CheckByInsuranceNumbersRequest,
) -> Result<NumbersCheck, ServiceError> {
    let today = clock::today();
    let mut v = Validator::new();
    let insurer = v.check("insurer_number", InsurerNumber::parse(&req.insurer_number));
    let symbol = v.check("symbol", optional(&req.symbol, CardSymbol::parse));
    let number = v.check("number", CardNumber::parse(&req.number));
    let branch = v.check("branch", optional(&req.branch, BranchNumber::parse));
    let birth = v.check("birth_date", parse_birth_date(&req.birth_date, today));
    let date = v.check(
        "confirmation_date",
        confirmation_date(&req.confirmation_date),
    );
    v.finish()?;
    Ok(NumbersCheck {
        insurer: insurer.expect("validated"),
        symbol: symbol.expect("validated"),
        number: number.expect("validated"),
        branch: branch.expect("validated"),
        birth_date: birth.expect("validated"),
        limit_certificate_consent: req.limit_certificate_consent,
        confirmation_date: date.expect("validated"),
    })
}

/// Days a query's date range may span at most.
const MAX_QUERY_DAYS: i64 = 366;

/// A bulk query kind (医療扶助, 訪問診療, オンライン診療), its fields named under `query.`.
pub fn validate_query(q: &PbBulkQuery) -> Result<BulkQuery, ServiceError> {
    let mut v = Validator::new();
    let range = |v: &mut Validator,
                 from_name: &'static str,
                 from: &str,
                 to_name: &'static str,
                 to: &str| {
        let from = v.check(from_name, parse_date(from));
        let to = v.check(to_name, parse_date(to));
        match (from, to) {
            (Some(f), Some(t)) if t < f => {
                v.fail(to_name, "must not be before the start of the range");
                None
            }
            (Some(f), Some(t)) if (t - f).num_days() >= MAX_QUERY_DAYS => {
                v.fail(
                    to_name,
                    format!("the range must span at most {MAX_QUERY_DAYS} days"),
                );
                None
            }
            (Some(f), Some(t)) => Some((f, t)),
            _ => None,
        }
    };
    let query = match &q.kind {
        None => {
            v.fail(
                "query",
                "choose one of medical_assistance, home_visit or online_consultation",
            );
            None
        }
        Some(QueryKind::MedicalAssistance(m)) => v
            .check(
                "query.medical_assistance.treatment_month",
                parse_date(&format!("{}-01", m.treatment_month.trim()))
                    .ok()
                    .filter(|_| m.treatment_month.trim().len() == 7)
                    .ok_or_else(|| ValueError::Rule("must be a month written YYYY-MM".into())),
            )
            .map(|month| BulkQuery::MedicalAssistance { month }),
        Some(QueryKind::HomeVisit(h)) => range(
            &mut v,
            "query.home_visit.consent_date_from",
            &h.consent_date_from,
            "query.home_visit.consent_date_to",
            &h.consent_date_to,
        )
        .map(|(from, to)| BulkQuery::HomeVisit { from, to }),
        Some(QueryKind::OnlineConsultation(o)) => {
            let by = match o.dates() {
                OnlineConsultationDates::Consent => OnlineDates::Consent,
                _ => OnlineDates::Examination,
            };
            range(
                &mut v,
                "query.online_consultation.date_from",
                &o.date_from,
                "query.online_consultation.date_to",
                &o.date_to,
            )
            .map(|(from, to)| BulkQuery::OnlineConsultation { by, from, to })
        }
    };
    v.finish()?;
    Ok(query.expect("validated"))
}

/// 照会番号の登録 from its request: every broken field is named at once.
pub fn validate_registration(
    patient_number: &str,
    insurer_number: &str,
    symbol: &str,
    number: &str,
    branch: &str,
) -> Result<ReferenceNumberRegistration, ServiceError> {
    let mut v = Validator::new();
    let reference = v.check("patient_number", PatientNumber::parse(patient_number));
    let insurer = v.check("insurer_number", InsurerNumber::parse(insurer_number));
    let symbol = v.check("symbol", optional(symbol, CardSymbol::parse));
    let number = v.check("number", CardNumber::parse(number));
    let branch = v.check("branch", optional(branch, BranchNumber::parse));
    v.finish()?;
    Ok(ReferenceNumberRegistration {
        reference_number: reference.expect("validated"),
        insurer: insurer.expect("validated"),
        symbol: symbol.expect("validated"),
        number: number.expect("validated"),
        branch: branch.expect("validated"),
    })
}

/// 受付日: today in Japan when empty.
pub fn day(s: &str) -> Result<NaiveDate, ValueError> {
    if s.trim().is_empty() {
        Ok(clock::today())
    } else {
        parse_date(s)
    }
}

pub fn reference(
    r: Option<&ReceptionRef>,
    field: &'static str,
) -> Result<(String, i64), ServiceError> {
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

/// A link's id as LinkPatient returned it (`lnk_…`), or none for every link of the number.
pub fn link_id(s: &str) -> Result<Option<String>, ServiceError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ServiceError::field(
            "link_id",
            ValueError::Rule("must be an id LinkPatient returned (at most 64 characters)".into()),
        ));
    }
    Ok(Some(s.to_owned()))
}

pub fn patient_number(s: &str, field: &'static str) -> Result<PatientNumber, ServiceError> {
    PatientNumber::parse(s).map_err(|e| ServiceError::field(field, e))
}

/// Answers a list holds at most, and when the request does not say.
pub const MAX_PAGE: u32 = 1000;

/// Characters a `page_token` may have: the tokens this daemon returns are offsets or sequence
/// numbers, 20 digits at most, so anything longer is no token of ours.
pub const MAX_PAGE_TOKEN: usize = 20;

/// Fails `field` when `s` is longer than `max` characters: for fields with no other rule that
/// would bound them.
pub fn at_most(v: &mut Validator, field: &'static str, s: &str, max: usize) {
    if s.chars().count() > max {
        v.fail(field, format!("must be at most {max} characters"));
    }
}

/// One page of a list answer: where it starts and how long it is, from `page_size` and
/// `page_token` (the offset the previous page ended at).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    offset: usize,
    size: usize,
}

impl Page {
    pub fn of(page_size: u32, page_token: &str) -> Result<Self, ServiceError> {
        let mut v = Validator::new();
        if page_size > MAX_PAGE {
            v.fail("page_size", format!("must be at most {MAX_PAGE}"));
        }
        let offset = if page_token.is_empty() {
            Some(0)
        } else {
            let offset = Some(page_token)
                .filter(|t| t.len() <= MAX_PAGE_TOKEN)
                .and_then(|t| t.parse::<usize>().ok());
            if offset.is_none() {
                v.fail("page_token", "must be a next_page_token this RPC returned");
            }
            offset
        };
        v.finish()?;
        Ok(Self {
            offset: offset.expect("validated"),
            size: if page_size == 0 { MAX_PAGE } else { page_size } as usize,
        })
    }

    /// The rows to read for this page: one more than it holds, which says whether another
    /// follows without reading them all.
    pub fn rows(&self) -> shikaku_store::Rows {
        shikaku_store::Rows {
            after: i64::MIN,
            skip: self.offset,
            limit: self.size.saturating_add(1),
        }
    }

    /// This page of the rows `rows` read, and the token of the next page ("" on the last).
    pub fn finish<T>(self, mut rows: Vec<T>) -> (Vec<T>, String) {
        let next = if rows.len() > self.size {
            rows.truncate(self.size);
            self.offset.saturating_add(self.size).to_string()
        } else {
            String::new()
        };
        (rows, next)
    }

    /// This page of `items`, and the token of the next page ("" on the last).
    pub fn take<T>(self, items: Vec<T>) -> (Vec<T>, String) {
        let total = items.len();
        let end = self.offset.saturating_add(self.size).min(total);
        let page = items
            .into_iter()
            .skip(self.offset)
            .take(self.size)
            .collect();
        let next = if end < total {
            end.to_string()
        } else {
            String::new()
        };
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_a_list_once_and_say_when_it_ends() {
        let items: Vec<u32> = (0..5).collect();
        let (first, token) = Page::of(2, "").unwrap().take(items.clone());
        assert_eq!((first, token.as_str()), (vec![0, 1], "2"));
        let (second, token) = Page::of(2, &token).unwrap().take(items.clone());
        assert_eq!((second, token.as_str()), (vec![2, 3], "4"));
        let (last, token) = Page::of(2, &token).unwrap().take(items.clone());
        assert_eq!((last, token.as_str()), (vec![4], ""));
        let (all, token) = Page::of(0, "").unwrap().take(items);
        assert_eq!((all.len(), token.as_str()), (5, ""));
        assert!(Page::of(MAX_PAGE + 1, "").is_err());
        assert!(Page::of(1, "next").is_err());
        assert!(Page::of(1, &format!("{}2", "0".repeat(MAX_PAGE_TOKEN))).is_err());
    }
}
