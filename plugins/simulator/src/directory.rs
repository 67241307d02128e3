//! The fixture's people and what OQS answers for them, looked up by insurance numbers or by id.
//! Shared by the embedded simulator and the terminal simulator, so both answer alike.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use shikaku_domain::pb::{IdentityMethod, Medium, QualificationResult};
use shikaku_domain::upstream::NumbersCheck;
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
}

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
        for (pi, person) in persons.into_iter().enumerate() {
            let mut result = person.result;
            codes::normalize(&mut result);
            result.simulated = true;
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
        }
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
        self.ids.get(id).map(|&i| self.people[i].clone())
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
            [(p, _), rest @ ..] if rest.iter().all(|(o, _)| o == p) => self.people[*p].clone(),
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
        result.simulated = true;
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
