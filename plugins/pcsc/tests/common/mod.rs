//! What the PC/SC tests share: the plugin, deadlines, and checking a card's signature.

#![allow(dead_code)]

use std::time::Duration;

use der::{Decode, Encode};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, PublicKey};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::sha256_digest_info;
use shikaku_domain::secret::Pin;
pub use shikaku_pcsc::ReaderSession;
use shikaku_pcsc::{Deadline, PcscConfig, PcscReaders, PcscSession};

pub fn plugin() -> PcscReaders {
    PcscReaders::new(PcscConfig::default())
}

pub fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

pub fn pin(s: &str) -> Pin {
    Pin::parse(s).unwrap()
}

/// Checks that `signature` is the certificate's key signing `digest_info`.
pub fn assert_signed(certificate: &[u8], digest_info: &[u8], signature: &[u8]) {
    let cert = x509_cert::Certificate::from_der(certificate).expect("a der certificate");
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let key = PublicKey::from_public_key_der(&spki).unwrap();
    key.verify(Pkcs1v15Sign::new_unprefixed(), digest_info, signature)
        .expect("the card's signature verifies with its certificate");
}

/// A whole PIN check as the daemon runs it (Android: PIN before certificate; iPhone: no PIN).
/// Answers the medium and the session, for APDU counts.
pub fn pin_check(session: &mut PcscSession, pin_digits: &str) -> Medium {
    let d = deadline();
    let medium = session.medium(d).unwrap();
    let certificate = match medium {
        Medium::Android => {
            session.verify_pin(&pin(pin_digits), d).unwrap();
            session.read_auth_certificate(d).unwrap()
        }
        Medium::Iphone => session.read_auth_certificate(d).unwrap(),
        _ => {
            let c = session.read_auth_certificate(d).unwrap();
            session.verify_pin(&pin(pin_digits), d).unwrap();
            c
        }
    };
    let digest_info = sha256_digest_info(b"a fresh challenge from oqs");
    let signature = session.sign(&digest_info, d).unwrap();
    assert_eq!(signature.len(), 256, "an rsa-2048 signature");
    assert_signed(&certificate, &digest_info, &signature);
    medium
}
