//! The fixture data set: people and their results, virtual cards, readers, OQS accounts.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use shikaku_domain::pb::QualificationResult;

use crate::SimulatorError;

const EMBEDDED: &str = include_str!("../fixtures/oqs.toml");
include!(concat!(env!("OUT_DIR"), "/embedded_keys.rs"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fixture {
    pub facility_code: String,
    #[serde(default)]
    pub account: Vec<Account>,
    #[serde(default)]
    pub person: Vec<Person>,
    #[serde(default)]
    pub card: Vec<Card>,
    #[serde(default)]
    pub reader: Vec<ReaderSpec>,
    /// Card keys (PKCS#8 PEM) by card id, plus "ca".
    #[serde(skip)]
    pub keys: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Account {
    pub id: String,
    #[allow(dead_code)]
    pub role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Person {
    pub id: String,
    pub result: QualificationResult,
    /// Dates the 一括照会 query kinds find the person by: consent at a home visit (訪問診療),
    /// an online consultation and consent to it (オンライン診療), as YYYY-MM-DD.
    #[serde(default)]
    pub home_visit_consented: Option<String>,
    #[serde(default)]
    pub online_examined: Option<String>,
    #[serde(default)]
    pub online_consented: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CardMedium {
    Card,
    Android,
    Iphone,
    /// Not a My Number card: no JPKI applet.
    Other,
}

fn yes() -> bool {
    true
}
fn three() -> u8 {
    3
}
fn card_medium() -> CardMedium {
    CardMedium::Card
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Card {
    pub id: String,
    #[serde(default)]
    pub person: String,
    #[serde(default = "card_medium")]
    pub medium: CardMedium,
    #[serde(default)]
    pub pin: String,
    #[serde(default = "three")]
    pub tries_left: u8,
    #[serde(default)]
    pub expires_in_days: i64,
    #[serde(default = "yes")]
    pub registered: bool,
    #[serde(default = "yes")]
    pub face_match: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReaderSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub card: Option<String>,
    #[serde(default = "yes")]
    pub face_auth: bool,
}

pub(crate) fn load(path: Option<&Path>) -> Result<Fixture, SimulatorError> {
    let (text, origin) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| SimulatorError::Fixture {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
            p.display().to_string(),
        ),
        None => (EMBEDDED.to_owned(), "embedded fixture".to_owned()),
    };
    let mut fixture: Fixture = toml::from_str(&text).map_err(|e| SimulatorError::Fixture {
        path: origin.clone(),
        reason: e.to_string(),
    })?;
    fixture.keys = match path {
        None => EMBEDDED_KEYS
            .iter()
            .map(|(n, k)| ((*n).to_owned(), (*k).to_owned()))
            .collect(),
        Some(p) => {
            let dir = p.parent().unwrap_or(Path::new(".")).join("keys");
            let mut keys = HashMap::new();
            for name in std::iter::once("ca").chain(fixture.card.iter().map(|c| c.id.as_str())) {
                if let Ok(k) = std::fs::read_to_string(dir.join(format!("{name}.pem"))) {
                    keys.insert(name.to_owned(), k);
                }
            }
            keys
        }
    };
    fixture.check(&origin)?;
    Ok(fixture)
}

impl Fixture {
    /// Every reference resolves, so a typo fails at start-up rather than mid-check.
    fn check(&self, origin: &str) -> Result<(), SimulatorError> {
        let bad = |reason: String| SimulatorError::Fixture {
            path: origin.to_owned(),
            reason,
        };
        for c in &self.card {
            if c.medium != CardMedium::Other && !self.person.iter().any(|p| p.id == c.person) {
                return Err(bad(format!(
                    "card {:?} names unknown person {:?}",
                    c.id, c.person
                )));
            }
        }
        for r in &self.reader {
            if let Some(card) = &r.card
                && !self.card.iter().any(|c| &c.id == card)
            {
                return Err(bad(format!(
                    "reader {:?} holds unknown card {card:?}",
                    r.name
                )));
            }
        }
        Ok(())
    }
}
