//! The user-authentication certificate (利用者証明用電子証明書) as far as shikaku needs it:
//! its serial number (how OQS finds the person) and its expiry.

use chrono::{Months, NaiveDate};
use der::Decode;
use x509_cert::Certificate;

use crate::pb::Expiry;

/// What shikaku reads from a certificate.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    /// Serial number, hex.
    pub serial: String,
    /// The last valid day (JST calendar date of notAfter).
    pub expires_on: NaiveDate,
}

#[derive(Debug, thiserror::Error)]
#[error("certificate is not valid DER X.509: {0}")]
pub struct CertificateError(String);

impl CertificateInfo {
    pub fn parse(der_bytes: &[u8]) -> Result<Self, CertificateError> {
        let cert = Certificate::from_der(der_bytes).map_err(|e| CertificateError(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let serial = tbs
            .serial_number()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let not_after = tbs.validity().not_after.to_system_time();
        let expires_on = chrono::DateTime::<chrono::Utc>::from(not_after)
            .with_timezone(&crate::clock::jst())
            .date_naive();
        Ok(Self { serial, expires_on })
    }
}

/// How long an expired certificate still works for qualification checks, and how early the
/// patient is warned before expiry: 3 months each.
pub const GRACE_MONTHS: u32 = 3;

/// Places a certificate's expiry relative to `today`; `Err(expires_on)` when it expired more
/// than 3 months ago and must be refused.
pub fn classify_expiry(expires_on: NaiveDate, today: NaiveDate) -> Result<Expiry, NaiveDate> {
    let months = Months::new(GRACE_MONTHS);
    if today <= expires_on {
        let warn_from = expires_on.checked_sub_months(months).unwrap_or(expires_on);
        Ok(if today > warn_from {
            Expiry::ExpiringSoon
        } else {
            Expiry::Valid
        })
    } else if today <= expires_on.checked_add_months(months).unwrap_or(expires_on) {
        Ok(Expiry::ExpiredInGrace)
    } else {
        Err(expires_on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn expiry_windows() {
        let exp = d("2026-06-30");
        assert_eq!(classify_expiry(exp, d("2026-03-30")), Ok(Expiry::Valid));
        assert_eq!(
            classify_expiry(exp, d("2026-04-01")),
            Ok(Expiry::ExpiringSoon)
        );
        assert_eq!(
            classify_expiry(exp, d("2026-06-30")),
            Ok(Expiry::ExpiringSoon)
        );
        assert_eq!(
            classify_expiry(exp, d("2026-07-01")),
            Ok(Expiry::ExpiredInGrace)
        );
        assert_eq!(
            classify_expiry(exp, d("2026-09-30")),
            Ok(Expiry::ExpiredInGrace)
        );
        assert_eq!(classify_expiry(exp, d("2026-10-01")), Err(exp));
    }
}
