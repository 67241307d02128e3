//! Secrets a patient or staff member types: PINs, visual-check passwords, activation codes.
//!
//! Each is zeroized when dropped, prints as `***` in `Debug`, has no `Display`, and hands its
//! digits out only through `expose()`, so a secret cannot reach a log line or an error by accident.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ValueError;

fn four_digits(s: &str) -> Result<[u8; 4], ValueError> {
    match s.as_bytes() {
        [a, b, c, d] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => Ok([*a, *b, *c, *d]),
        _ => Err(ValueError::rule("must be exactly 4 digits")),
    }
}

/// 暗証番号 (利用者証明用電子証明書 PIN): 4 digits.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pin([u8; 4]);

impl Pin {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        four_digits(s).map(Self)
    }
    /// The ASCII digits, as the card's VERIFY command takes them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// 目視確認用パスワード: 4 digits, one per OQS account.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct VisualCheckPassword([u8; 4]);

impl VisualCheckPassword {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        four_digits(s).map(Self)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// The digits as text, for the one response that shows a new password.
    pub fn reveal(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl fmt::Debug for VisualCheckPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VisualCheckPassword(***)")
    }
}

/// アクティベーションコード: 12 digits, written `1234-5678-9012`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ActivationCode([u8; 12]);

impl ActivationCode {
    /// Accepts the digits with or without hyphens and spaces.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let mut out = [0u8; 12];
        let mut n = 0;
        for b in s.bytes().filter(|b| *b != b'-' && *b != b' ') {
            if !b.is_ascii_digit() || n == 12 {
                out.zeroize();
                return Err(ValueError::rule(
                    "must be 12 digits, written 1234-5678-9012",
                ));
            }
            out[n] = b;
            n += 1;
        }
        if n != 12 {
            out.zeroize();
            return Err(ValueError::rule(
                "must be 12 digits, written 1234-5678-9012",
            ));
        }
        Ok(Self(out))
    }

    /// Builds a code from 12 ASCII digits.
    pub fn from_digits(d: [u8; 12]) -> Self {
        debug_assert!(d.iter().all(u8::is_ascii_digit));
        Self(d)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The grouped form, for the one response that shows a new code.
    pub fn reveal(&self) -> String {
        let d = String::from_utf8_lossy(&self.0);
        format!("{}-{}-{}", &d[0..4], &d[4..8], &d[8..12])
    }
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let pin = Pin::parse("1234").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(***)");
        assert!(Pin::parse("12345").is_err());
        assert!(Pin::parse("12a4").is_err());
        let code = ActivationCode::parse("1234-5678 9012").unwrap();
        assert_eq!(code.reveal(), "1234-5678-9012");
        assert!(!format!("{code:?}").contains("1234"));
        assert!(ActivationCode::parse("1234-5678-901").is_err());
        assert!(ActivationCode::parse("1234-5678-90123").is_err());
    }
}
