//! Simulated card readers, each holding at most one virtual card.
//!
//! A virtual card behaves like the JPKI applet where a check can tell: it counts wrong PINs and
//! locks on the third, signs only after a verified PIN (an iPhone unlocks by biometrics on the
//! phone), an Android phone shows its certificate only after its PIN, and a card taken off the
//! reader mid-check fails the session's next step.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rsa::PrivateKey;
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::{
    CardReader, CardSession, ReaderError, ReaderEvent, ReaderEventKind, ReaderInfo,
};
use shikaku_domain::secret::Pin;
use tokio::sync::broadcast;

use crate::fixture::{CardMedium, Fixture};
use crate::pki::{self, Pki};

const MAX_TRIES: u8 = 3;

/// One virtual card: its identity and its mutable PIN counter.
struct VirtualCard {
    id: String,
    medium: CardMedium,
    pin: Option<Pin>,
    tries_left: u8,
    face_match: bool,
    key: Option<Arc<PrivateKey>>,
    certificate: Vec<u8>,
}

struct Slot {
    description: String,
    face_auth: bool,
    card: Option<String>,
    /// Bumped on every insert and removal, so an open session notices its card went away.
    generation: u64,
    in_use: bool,
}

struct Inner {
    slots: BTreeMap<String, Slot>,
    cards: BTreeMap<String, VirtualCard>,
}

/// The simulated reader plugin.
pub struct SimulatedReaders {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<ReaderEvent>,
}

impl std::fmt::Debug for SimulatedReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedReaders").finish_non_exhaustive()
    }
}

fn info(name: &str, slot: &Slot) -> ReaderInfo {
    ReaderInfo {
        name: name.to_owned(),
        description: slot.description.clone(),
        card_present: slot.card.is_some(),
        face_auth: slot.face_auth,
    }
}

impl SimulatedReaders {
    pub(crate) fn new(fixture: &Fixture, pki: &Pki) -> Self {
        let mut cards = BTreeMap::new();
        for c in &fixture.card {
            let keys = pki.cards.get(&c.id);
            cards.insert(
                c.id.clone(),
                VirtualCard {
                    id: c.id.clone(),
                    medium: c.medium,
                    pin: Pin::parse(&c.pin).ok(),
                    tries_left: c.tries_left.min(MAX_TRIES),
                    face_match: c.face_match,
                    key: keys.map(|k| Arc::new(k.key.clone())),
                    certificate: keys.map(|k| k.certificate_der.clone()).unwrap_or_default(),
                },
            );
        }
        let mut slots = BTreeMap::new();
        for r in &fixture.reader {
            slots.insert(
                r.name.clone(),
                Slot {
                    description: r.description.clone(),
                    face_auth: r.face_auth,
                    card: r.card.clone(),
                    generation: 0,
                    in_use: false,
                },
            );
        }
        for c in &fixture.card {
            let held = fixture
                .reader
                .iter()
                .any(|r| r.card.as_ref() == Some(&c.id));
            if !held {
                slots.insert(
                    format!("sim-{}", c.id),
                    Slot {
                        description: format!("simulated face-auth reader holding card {:?}", c.id),
                        face_auth: true,
                        card: Some(c.id.clone()),
                        generation: 0,
                        in_use: false,
                    },
                );
            }
        }
        let (events, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Mutex::new(Inner { slots, cards })),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Places virtual card `card` on `reader` (taking it off any other reader first).
    pub fn insert(&self, reader: &str, card: &str) -> Result<(), ReaderError> {
        let inner = self.lock();
        if !inner.cards.contains_key(card) {
            return Err(ReaderError::Failure(format!("no virtual card {card:?}")));
        }
        let holders: Vec<String> = inner
            .slots
            .iter()
            .filter(|(_, s)| s.card.as_deref() == Some(card))
            .map(|(n, _)| n.clone())
            .collect();
        drop(inner);
        for h in holders {
            self.remove(&h)?;
        }
        let mut inner = self.lock();
        let slot = inner
            .slots
            .get_mut(reader)
            .ok_or_else(|| ReaderError::NotFound(reader.to_owned()))?;
        slot.card = Some(card.to_owned());
        slot.generation += 1;
        let event = ReaderEvent {
            kind: ReaderEventKind::CardInserted,
            reader: info(reader, slot),
        };
        let _ = self.events.send(event);
        Ok(())
    }

    /// Takes the card off `reader`.
    pub fn remove(&self, reader: &str) -> Result<(), ReaderError> {
        let mut inner = self.lock();
        let slot = inner
            .slots
            .get_mut(reader)
            .ok_or_else(|| ReaderError::NotFound(reader.to_owned()))?;
        if slot.card.take().is_some() {
            slot.generation += 1;
            let event = ReaderEvent {
                kind: ReaderEventKind::CardRemoved,
                reader: info(reader, slot),
            };
            let _ = self.events.send(event);
        }
        Ok(())
    }
}

#[async_trait]
impl CardReader for SimulatedReaders {
    async fn list_readers(&self) -> Result<Vec<ReaderInfo>, ReaderError> {
        let inner = self.lock();
        Ok(inner.slots.iter().map(|(n, s)| info(n, s)).collect())
    }

    fn subscribe(&self) -> broadcast::Receiver<ReaderEvent> {
        self.events.subscribe()
    }

    async fn open(&self, reader: &str) -> Result<Box<dyn CardSession>, ReaderError> {
        let mut inner = self.lock();
        let slot = inner
            .slots
            .get_mut(reader)
            .ok_or_else(|| ReaderError::NotFound(reader.to_owned()))?;
        let card = slot.card.clone().ok_or(ReaderError::NoCard)?;
        if slot.in_use {
            return Err(ReaderError::Busy);
        }
        slot.in_use = true;
        Ok(Box::new(Session {
            inner: self.inner.clone(),
            reader: reader.to_owned(),
            card,
            generation: slot.generation,
            face_auth: slot.face_auth,
            pin_verified: false,
        }))
    }
}

struct Session {
    inner: Arc<Mutex<Inner>>,
    reader: String,
    card: String,
    generation: u64,
    face_auth: bool,
    pin_verified: bool,
}

impl Session {
    /// Runs `f` on the card, failing with CardRemoved if it left the reader since the session began.
    fn with_card<T>(
        &self,
        f: impl FnOnce(&mut VirtualCard) -> Result<T, ReaderError>,
    ) -> Result<T, ReaderError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let present = inner
            .slots
            .get(&self.reader)
            .is_some_and(|s| s.generation == self.generation && s.card.is_some());
        if !present {
            return Err(ReaderError::CardRemoved);
        }
        let card = inner
            .cards
            .get_mut(&self.card)
            .ok_or(ReaderError::CardRemoved)?;
        f(card)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = inner.slots.get_mut(&self.reader) {
            slot.in_use = false;
        }
    }
}

fn require_jpki(card: &VirtualCard) -> Result<(), ReaderError> {
    if card.medium == CardMedium::Other {
        Err(ReaderError::NotMyNumberCard)
    } else {
        Ok(())
    }
}

#[async_trait]
impl CardSession for Session {
    async fn medium(&mut self) -> Result<Medium, ReaderError> {
        self.with_card(|c| {
            require_jpki(c)?;
            Ok(match c.medium {
                CardMedium::Android => Medium::Android,
                CardMedium::Iphone => Medium::Iphone,
                _ => Medium::MyNumberCard,
            })
        })
    }

    async fn read_auth_certificate(&mut self) -> Result<Vec<u8>, ReaderError> {
        let verified = self.pin_verified;
        self.with_card(|c| {
            require_jpki(c)?;
            if c.medium == CardMedium::Android && !verified {
                return Err(ReaderError::PinRequired);
            }
            Ok(c.certificate.clone())
        })
    }

    async fn verify_pin(&mut self, pin: &Pin) -> Result<(), ReaderError> {
        let ok = self.with_card(|c| {
            require_jpki(c)?;
            if c.tries_left == 0 {
                return Err(ReaderError::CardLocked);
            }
            let expected = c.pin.as_ref().ok_or(ReaderError::CardLocked)?;
            if expected.expose() == pin.expose() {
                c.tries_left = MAX_TRIES;
                Ok(())
            } else {
                c.tries_left -= 1;
                match c.tries_left {
                    0 => Err(ReaderError::CardLocked),
                    n => Err(ReaderError::PinIncorrect { tries_left: n }),
                }
            }
        });
        self.pin_verified = ok.is_ok();
        ok
    }

    async fn sign(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let verified = self.pin_verified;
        let key = self.with_card(|c| {
            require_jpki(c)?;
            if !verified && c.medium != CardMedium::Iphone {
                return Err(ReaderError::Failure(
                    "security status not satisfied: verify the pin before signing".into(),
                ));
            }
            c.key
                .clone()
                .ok_or_else(|| ReaderError::Failure(format!("card {:?} has no key", c.id)))
        })?;
        let data = digest_info.to_vec();
        tokio::task::spawn_blocking(move || pki::sign_digest_info(&key, &data))
            .await
            .ok()
            .flatten()
            .ok_or_else(|| ReaderError::Failure("signature failed".into()))
    }

    async fn authenticate_face(&mut self) -> Result<(), ReaderError> {
        if !self.face_auth {
            return Err(ReaderError::FaceAuthUnsupported);
        }
        self.with_card(|c| {
            require_jpki(c)?;
            if c.face_match {
                Ok(())
            } else {
                Err(ReaderError::FaceNotMatched)
            }
        })
    }
}
