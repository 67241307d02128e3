//! A small PKI standing in for J-LIS: a CA, and one user-authentication certificate per virtual
//! card, issued at start-up and dated relative to today so expiry variants stay true over time.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::Verifier;
use rsa::{Pkcs1v15Sign, PrivateKey, PublicKey};
use sha2::Sha256;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::profile::devid::DevId;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::SimulatorError;
use crate::fixture::{CardMedium, Fixture};

/// A virtual card's key and certificate.
pub(crate) struct CardKey {
    pub key: PrivateKey,
    pub certificate_der: Vec<u8>,
}

pub(crate) struct Pki {
    ca_public: PublicKey,
    /// Card id → key and certificate.
    pub cards: HashMap<String, CardKey>,
    /// Certificate serial (hex) → card id.
    pub serials: HashMap<String, String>,
}

const DAY: u64 = 86_400;

fn cert_err(e: impl std::fmt::Display) -> SimulatorError {
    SimulatorError::Certificate(e.to_string())
}

fn time_at(offset_days: i64) -> Result<Time, SimulatorError> {
    let now = SystemTime::now();
    let t = if offset_days >= 0 {
        now + Duration::from_secs(offset_days as u64 * DAY)
    } else {
        now - Duration::from_secs(offset_days.unsigned_abs() * DAY)
    };
    // X.509 times are to the second; drop the fraction so the encoding is canonical.
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(cert_err)?
        .as_secs();
    Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).map_err(cert_err)
}

fn load_key(fixture: &Fixture, name: &str) -> Result<PrivateKey, SimulatorError> {
    let pem = fixture.keys.get(name).ok_or_else(|| SimulatorError::Key {
        card: name.to_owned(),
        reason: "no key file".into(),
    })?;
    PrivateKey::from_pkcs8_pem(pem).map_err(|e| SimulatorError::Key {
        card: name.to_owned(),
        reason: e.to_string(),
    })
}

fn spki(key: &PrivateKey) -> Result<SubjectPublicKeyInfoOwned, SimulatorError> {
    SubjectPublicKeyInfoOwned::from_key(&key.to_public_key()).map_err(cert_err)
}

impl Pki {
    pub fn issue(fixture: &Fixture) -> Result<Self, SimulatorError> {
        let ca_key = load_key(fixture, "ca")?;
        let ca_name =
            Name::from_str("CN=shikaku simulator JPKI user authentication CA,O=shikaku,C=JP")
                .map_err(cert_err)?;
        let signer = SigningKey::<Sha256>::new(ca_key.clone());
        let mut cards = HashMap::new();
        let mut serials = HashMap::new();
        for (i, card) in fixture.card.iter().enumerate() {
            if card.medium == CardMedium::Other {
                continue;
            }
            let key = load_key(fixture, &card.id)?;
            let serial_bytes = [0x5a, 0x00, (i >> 8) as u8, i as u8 + 1];
            let validity = Validity::new(
                time_at(card.expires_in_days.min(0) - 5 * 365)?,
                time_at(card.expires_in_days)?,
            );
            let subject = Name::from_str(&format!("CN=simulated card {},O=shikaku,C=JP", card.id))
                .map_err(cert_err)?;
            // A leaf with the authority key identifier and keyUsage digitalSignature, as a
            // user-authentication certificate carries.
            let profile = DevId::new(ca_name.clone(), subject, None).map_err(cert_err)?;
            let builder = CertificateBuilder::new(
                profile,
                SerialNumber::new(&serial_bytes).map_err(cert_err)?,
                validity,
                spki(&key)?,
            )
            .map_err(cert_err)?;
            let cert = builder.build::<_, Signature>(&signer).map_err(cert_err)?;
            let der = cert.to_der().map_err(cert_err)?;
            let serial: String = serial_bytes.iter().map(|b| format!("{b:02x}")).collect();
            serials.insert(serial, card.id.clone());
            cards.insert(
                card.id.clone(),
                CardKey {
                    key,
                    certificate_der: der,
                },
            );
        }
        Ok(Self {
            ca_public: ca_key.to_public_key(),
            cards,
            serials,
        })
    }

    /// Checks that our CA issued `der`, and answers the certificate's public key.
    pub fn verify_chain(&self, der: &[u8]) -> Option<PublicKey> {
        let cert = Certificate::from_der(der).ok()?;
        let tbs = cert.tbs_certificate().to_der().ok()?;
        let sig = Signature::try_from(cert.signature().raw_bytes()).ok()?;
        VerifyingKey::<Sha256>::new(self.ca_public.clone())
            .verify(&tbs, &sig)
            .ok()?;
        let spki_der = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()?;
        rsa::pkcs8::DecodePublicKey::from_public_key_der(&spki_der).ok()
    }
}

/// The card's signature: PKCS#1 v1.5 over a DigestInfo the host built (the card pads, does not hash).
pub(crate) fn sign_digest_info(key: &PrivateKey, digest_info: &[u8]) -> Option<Vec<u8>> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), digest_info).ok()
}

pub(crate) fn verify_digest_info(key: &PublicKey, digest_info: &[u8], signature: &[u8]) -> bool {
    key.verify(Pkcs1v15Sign::new_unprefixed(), digest_info, signature)
        .is_ok()
}
