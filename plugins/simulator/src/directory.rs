//! The fixture's people and what OQS answers for them, looked up by insurance numbers or by id.
//! Shared by the embedded simulator and the terminal simulator, so both answer alike.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDate;
use shikaku_domain::pb::{IdentityMethod, Medium, QualificationResult};
use shikaku_domain::upstream::{BulkQuery, NumbersCheck, OnlineDates, ReferenceNumberRegistration};
use shikaku_domain::values::{iso, parse_date};
use shikaku_domain::{clock, codes};

use crate::SimulatorError;
use crate::fixture::{self, Person};

/// Where a qualification lives in the fixture: person, qualification.
type Hit = (usize, usize);

#[derive(Debug)]
pub struct Directory {
    facility_code: String,
    /// Each person's result, enums already filled from the codes.
    pub(crate) people: Vec<QualificationResult>,
    /// Person id → index into `people`.
    pub(crate) ids: HashMap<String, usize>,
    /// Card number (被保険者番号) → the qualifications with it and their birth dates, read once
    /// here; a check then matches the insurer and birth date among them, without building a key.
    by_numbers: HashMap<String, Vec<(NaiveDate, Hit)>>,
    /// Per person: when they consented at a home visit, were seen online, consented online.
    dates: Vec<[Option<NaiveDate>; 3]>,
    /// 照会番号 registered, by person: later results for them carry it, as OQS's do.
    registered: Mutex<HashMap<usize, String>>,
}

/// 照会番号の登録 for nobody the fixture knows by those numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("被保険者が見つかりません（照会番号を登録できません）")]
pub struct NotRegistered;

impl Directory {
    /// The people of a fixture file, or of the embedded fixture.
    pub fn load(fixture: Option<&Path>) -> Result<Self, SimulatorError> {
        let f = fixture::load(fixture)?;
        Ok(Self::new(f.facility_code, f.person))
    }

    pub(crate) fn new(facility_code: String, persons: Vec<Person>) -> Self {
        let mut people = Vec::new();
        let mut by_numbers: HashMap<_, Vec<_>> = HashMap::new();
        let mut ids = HashMap::new();
        let mut dates = Vec::new();
        for (pi, person) in persons.into_iter().enumerate() {
            let day = |d: &Option<String>| d.as_deref().and_then(|d| parse_date(d).ok());
            dates.push([
                day(&person.home_visit_consented),
                day(&person.online_examined),
                day(&person.online_consented),
            ]);
            let mut result = person.result;
            codes::normalize(&mut result);
            for (qi, q) in result.qualifications.iter().enumerate() {
                // Without an insurer or a readable birth date no check by numbers can match it.
                let Ok(birth) = parse_date(&q.birth_date) else {
                    continue;
                };
                if !q.insurer_number.trim().is_empty() {
                    by_numbers
                        .entry(q.number.clone())
                        .or_default()
                        .push((birth, (pi, qi)));
                }
            }
            ids.insert(person.id, pi);
            people.push(result);
        }
        Self {
            facility_code,
            people,
            ids,
            by_numbers,
            dates,
            registered: Mutex::new(HashMap::new()),
        }
    }

    /// Person `p`'s result, with the 照会番号 registered for them.
    pub(crate) fn result_of(&self, p: usize) -> QualificationResult {
        let mut r = self.people[p].clone();
        if let Some(n) = self
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&p)
        {
            r.reference_number = n.clone();
        }
        r
    }

    /// Every 照会番号 registered, by person id (for the embedded simulator to keep).
    pub(crate) fn restore(&self, person_id: &str, reference_number: &str) {
        if let Some(&p) = self.ids.get(person_id) {
            self.registered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(p, reference_number.to_owned());
        }
    }

    /// 照会番号の登録: the person with these numbers gets it (replacing an earlier one);
    /// answers the person's id.
    pub fn register(&self, r: &ReferenceNumberRegistration) -> Result<String, NotRegistered> {
        let person = self
            .people
            .iter()
            .position(|p| {
                p.qualifications.iter().any(|q| {
                    q.insurer_number.trim() == r.insurer.as_str()
                        && q.number == r.number.as_str()
                        && r.symbol.as_ref().is_none_or(|s| s.as_str() == q.symbol)
                        && r.branch.as_ref().is_none_or(|b| b.as_str() == q.branch)
                })
            })
            .ok_or(NotRegistered)?;
        self.registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(person, r.reference_number.as_str().to_owned());
        Ok(self
            .ids
            .iter()
            .find(|(_, i)| **i == person)
            .map(|(id, _)| id.clone())
            .unwrap_or_default())
    }

    /// Everyone a 一括照会 query finds, in fixture order: 医療扶助 recipients with a ticket for
    /// the month, or the people whose fixture dates fall in the range.
    pub fn query(&self, q: &BulkQuery, confirmation_date: NaiveDate) -> Vec<QualificationResult> {
        let within = |d: Option<NaiveDate>, from: NaiveDate, to: NaiveDate| {
            d.is_some_and(|d| from <= d && d <= to)
        };
        let month = match q {
            BulkQuery::MedicalAssistance { month } => month.format("%Y-%m").to_string(),
            _ => String::new(),
        };
        (0..self.people.len())
            .filter(|&p| match *q {
                BulkQuery::MedicalAssistance { .. } => {
                    self.people[p].qualifications.iter().any(|qual| {
                        qual.medical_assistance
                            .as_ref()
                            .is_some_and(|m| m.tickets.iter().any(|t| t.treatment_month == month))
                    })
                }
                BulkQuery::HomeVisit { from, to } => within(self.dates[p][0], from, to),
                BulkQuery::OnlineConsultation { by, from, to } => {
                    let i = match by {
                        OnlineDates::Examination => 1,
                        OnlineDates::Consent => 2,
                    };
                    within(self.dates[p][i], from, to)
                }
            })
            .map(|p| {
                let mut r = self.result_of(p);
                r.medium = Medium::InsuranceNumbers as i32;
                r.identity_method = IdentityMethod::None as i32;
                r.confirmation_date = iso(confirmation_date);
                r.checked_at = clock::rfc3339(clock::now());
                r
            })
            .collect()
    }

    /// The fixture facility's 医療機関コード.
    pub fn facility_code(&self) -> &str {
        &self.facility_code
    }

    /// Every person's id, in fixture order.
    pub fn person_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.ids.iter().map(|(id, i)| (*i, id.clone())).collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// A person's full result, as a card check at a face-auth reader would give it.
    pub fn person(&self, id: &str) -> Option<QualificationResult> {
        self.ids.get(id).map(|&i| self.result_of(i))
    }

    /// What OQS answers for a check by numbers: the person, 該当資格なし, or 複数該当.
    pub fn check_by_numbers(&self, check: &NumbersCheck) -> QualificationResult {
        let hits: Vec<Hit> = self
            .by_numbers
            .get(check.number.as_str())
            .into_iter()
            .flatten()
            .filter(|&&(birth, (p, q))| {
                let qual = &self.people[p].qualifications[q];
                birth == check.birth_date
                    && qual.insurer_number.trim() == check.insurer.as_str()
                    && check
                        .symbol
                        .as_ref()
                        .is_none_or(|s| s.as_str() == qual.symbol)
                    && check
                        .branch
                        .as_ref()
                        .is_none_or(|b| b.as_str() == qual.branch)
            })
            .map(|&(_, hit)| hit)
            .collect();
        let mut result = match hits.as_slice() {
            [] => QualificationResult {
                validity_code: "4".into(),
                ..Default::default()
            },
            [(p, _), rest @ ..] if rest.iter().all(|(o, _)| o == p) => self.result_of(*p),
            many => QualificationResult {
                validity_code: "5".into(),
                qualifications: many
                    .iter()
                    .map(|&(p, q)| self.people[p].qualifications[q].clone())
                    .collect(),
                ..Default::default()
            },
        };
        codes::normalize(&mut result);
        if !check.limit_certificate_consent {
            // Without the patient's consent OQS leaves out the 限度額適用認定証.
            for q in &mut result.qualifications {
                q.limit_certificate = None;
            }
        }
        result.medium = Medium::InsuranceNumbers as i32;
        result.identity_method = IdentityMethod::None as i32;
        result.confirmation_date = iso(check.confirmation_date);
        result.checked_at = clock::rfc3339(clock::now());
        result
    }
}
