//! The cards the test card can play, taken from the simulator's embedded fixture so that the
//! daemon's embedded OQS simulator accepts their certificates and signatures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rsa::PrivateKey;
use shikaku_domain::pb::Medium;

use crate::VcardError;

/// What sits on the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// マイナンバーカード.
    MyNumberCard,
    /// スマホ用電子証明書 on an Android phone: the PIN must be verified before the certificate reads.
    Android,
    /// スマホ用電子証明書 on an iPhone: no PIN at the reader, the phone unlocks by biometrics.
    Iphone,
    /// A card with no JPKI applet.
    Other,
}

impl Kind {
    /// The content of EF 0006 in the JPKI AP (before padding).
    pub fn token(self) -> Option<&'static [u8]> {
        match self {
            Kind::MyNumberCard => Some(b"JPKIAPICCTOKEN2"),
            Kind::Android => Some(b"JPKIAPGPSETOKEN"),
            // An unverified value (see the reference, section 1.4); the plugin expects the same.
            Kind::Iphone => Some(b"JPKIAPIOSTOKEN"),
            Kind::Other => None,
        }
    }

    /// The answer to reset. A card's contact ATR declares extended Lc/Le in its card
    /// capabilities; the contactless ones declare nothing, so a host reads in short APDUs.
    pub fn atr(self, extended: bool) -> Vec<u8> {
        match (self, extended) {
            // A real contact-interface JPKI ATR (pcsc-tools list; OpenSC issue #3021).
            (Kind::MyNumberCard, true) => vec![
                0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
                0x73, 0xC6, 0x01, 0xC0, 0x3B,
            ],
            // "Japanese JPKI card (aka JINC card)", contactless type B.
            (Kind::MyNumberCard, false) => {
                contactless_atr(&[0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00])
            }
            // A phone over ISO-DEP type A; the ATS historical bytes may carry card capabilities.
            (Kind::Android | Kind::Iphone, true) => {
                contactless_atr(&[0x80, 0x73, 0x00, 0x00, 0x40])
            }
            (Kind::Android | Kind::Iphone, false) => contactless_atr(&[]),
            // A MIFARE Classic 1K as a PC/SC reader presents it.
            (Kind::Other, _) => contactless_atr(&[
                0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,
                0x00,
            ]),
        }
    }

    /// Whether the card takes extended APDUs when nothing says otherwise.
    pub fn extended_by_default(self) -> bool {
        self == Kind::MyNumberCard
    }
}

/// The pseudo-ATR a PC/SC reader builds for a contactless card (PC/SC part 3, 3.1.3.2.3).
pub fn contactless_atr(historical: &[u8]) -> Vec<u8> {
    let mut atr = vec![0x3B, 0x80 | historical.len() as u8, 0x80, 0x01];
    atr.extend_from_slice(historical);
    let tck = atr[1..].iter().fold(0, |x, b| x ^ b);
    atr.push(tck);
    atr
}

/// What a card is, fixed at issue.
pub struct CardProfile {
    pub id: String,
    pub kind: Kind,
    /// The 4 ASCII digits of the user-authentication PIN (none on an iPhone).
    pub pin: Option<[u8; 4]>,
    pub initial_tries: u8,
    /// 利用者証明用電子証明書, DER.
    pub certificate: Vec<u8>,
    pub key: Option<PrivateKey>,
}

impl std::fmt::Debug for CardProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardProfile")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl CardProfile {
    /// The simulator fixture's card `id` (e.g. "taro", "android", "iphone", "locked", "other").
    /// Issuing a certificate costs RSA work, so profiles are made once per process.
    pub fn fixture(id: &str) -> Result<Arc<CardProfile>, VcardError> {
        static CACHE: OnceLock<Mutex<HashMap<String, Arc<CardProfile>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(p) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(p.clone());
        }
        let card = shikaku_simulator::fixture_card(id)
            .map_err(|e| VcardError::UnknownCard(id.to_owned(), e.to_string()))?;
        let kind = match card.medium {
            Some(Medium::Android) => Kind::Android,
            Some(Medium::Iphone) => Kind::Iphone,
            Some(_) => Kind::MyNumberCard,
            None => Kind::Other,
        };
        let pin = card.pin.as_bytes().try_into().ok();
        let (certificate, key) = match card.credentials {
            Some((der, key)) => (der, Some(key)),
            None => (Vec::new(), None),
        };
        let profile = Arc::new(CardProfile {
            id: id.to_owned(),
            kind,
            pin,
            initial_tries: card.tries_left.min(crate::applet::MAX_TRIES),
            certificate,
            key,
        });
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), profile.clone());
        Ok(profile)
    }
}

/// One physical card: its profile and its PIN retry counter, which lives on the card and so
/// survives removal and re-insertion.
#[derive(Debug)]
pub struct Card {
    pub profile: Arc<CardProfile>,
    tries_left: AtomicU8,
}

impl Card {
    pub fn new(profile: Arc<CardProfile>) -> Self {
        let tries = profile.initial_tries;
        Self {
            profile,
            tries_left: AtomicU8::new(tries),
        }
    }

    pub fn tries_left(&self) -> u8 {
        self.tries_left.load(Ordering::SeqCst)
    }

    pub fn set_tries_left(&self, n: u8) {
        self.tries_left.store(n, Ordering::SeqCst);
    }
}

/// The cards a test owns: asking twice for "taro" gives the same card, counter and all.
#[derive(Debug, Default)]
pub struct Wallet {
    cards: Mutex<HashMap<String, Arc<Card>>>,
}

impl Wallet {
    pub fn card(&self, id: &str) -> Result<Arc<Card>, VcardError> {
        let mut cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cards.get(id) {
            return Ok(c.clone());
        }
        let card = Arc::new(Card::new(CardProfile::fixture(id)?));
        cards.insert(id.to_owned(), card.clone());
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_atr_matches_the_published_jpki_atr() {
        assert_eq!(
            Kind::MyNumberCard.atr(false),
            [
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F
            ]
        );
        let atr = Kind::Other.atr(false);
        assert_eq!(atr.last(), Some(&0x6A));
    }
}
