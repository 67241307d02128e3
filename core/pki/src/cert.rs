//! Reading certificates: the few facts the PKI needs from one (names, serial, expiry), with
//! x509-cert. The serial format here is the only one: `client_identity`, `revoke`, `list` and
//! the `revoked` file all go through [`serial_hex`].

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::{PkiError, files};

/// Subject attribute `CN` (common name): the client's name, the server's first host.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// Subject attribute `OU` (organizational unit): the client's role.
const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");

/// What the PKI reads from one certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertFacts {
    pub common_name: Option<String>,
    pub unit: Option<String>,
    pub serial: String,
    pub not_after: DateTime<Utc>,
    /// DER of the subject and issuer names, to check who issued whom.
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    /// DER of the SubjectPublicKeyInfo, to check a key belongs to the certificate.
    pub public_key: Vec<u8>,
}

impl CertFacts {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|error| error.to_string())?;
        let tbs = cert.tbs_certificate();
        let not_after = DateTime::<Utc>::UNIX_EPOCH + tbs.validity().not_after.to_unix_duration();
        let encode = |result: der::Result<Vec<u8>>| result.map_err(|error| error.to_string());
        Ok(Self {
            common_name: attribute(tbs.subject(), COMMON_NAME),
            unit: attribute(tbs.subject(), ORGANIZATIONAL_UNIT),
            serial: serial_hex(tbs.serial_number().as_bytes()),
            not_after,
            subject: encode(tbs.subject().to_der())?,
            issuer: encode(tbs.issuer().to_der())?,
            public_key: encode(tbs.subject_public_key_info().to_der())?,
        })
    }

    /// Reads the first certificate of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<(Self, Vec<u8>), PkiError> {
        let der = pem_to_der(path, &files::read(path)?)?;
        let facts = Self::from_der(&der).map_err(|reason| PkiError::BadFile {
            path: path.to_owned(),
            what: "certificate",
            reason,
        })?;
        Ok((facts, der))
    }

    /// The expiry as RFC 3339, in UTC to the second.
    pub fn not_after_text(&self) -> String {
        rfc3339(self.not_after)
    }
}

/// The DER of the first certificate in a PEM text.
pub(crate) fn pem_to_der(path: &Path, pem: &[u8]) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem)
        .map(|der| der.to_vec())
        .map_err(|error| PkiError::BadFile {
            path: path.to_owned(),
            what: "PEM certificate",
            reason: error.to_string(),
        })
}

/// A serial number as lower-case hex without colons or leading zero bytes (DER pads a serial
/// whose top bit is set with a zero byte; the number is the same).
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[start..]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// RFC 3339 in UTC to the second, as `list` and the reports print it.
pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first value of one attribute in a name, when it is a text string.
fn attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    name.iter()
        .filter(|pair| pair.oid == oid)
        .find_map(|pair| match pair.value.tag() {
            Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
                String::from_utf8(pair.value.value().to_vec()).ok()
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_drop_der_padding_and_are_lower_case() {
        assert_eq!(serial_hex(&[0x00, 0xAB, 0x01]), "ab01");
        assert_eq!(serial_hex(&[0x7F, 0x00]), "7f00");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}
