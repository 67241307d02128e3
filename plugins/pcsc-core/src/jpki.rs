//! The JPKI AP (公的個人認証AP): its AID, files and the token that names the medium.

use shikaku_domain::pb::Medium;
use shikaku_domain::reader::ReaderError;

/// The JPKI AP's DF name, selected by AID (never inferred from the ATR).
pub(crate) const AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// The token file naming the medium.
pub(crate) const EF_TOKEN: u16 = 0x0006;
/// 利用者証明用電子証明書.
pub(crate) const EF_AUTH_CERTIFICATE: u16 = 0x000A;
/// EF 000A's short EF identifier, for a READ BINARY without a SELECT before it ([jsapdu] reads
/// the JPKI certificates by it).
pub(crate) const SFI_AUTH_CERTIFICATE: u8 = 0x0A;
/// 利用者証明用 private key.
pub(crate) const EF_AUTH_KEY: u16 = 0x0017;
/// 利用者証明用 PIN.
pub(crate) const EF_AUTH_PIN: u16 = 0x0018;
/// Bytes of EF 0006 that hold the token.
pub(crate) const TOKEN_LENGTH: usize = 32;

/// マイナンバーカード.
const TOKEN_CARD: &[u8] = b"JPKIAPICCTOKEN2";
/// 住民基本台帳カード: has the applet, but its certificates cannot be used for 資格確認.
const TOKEN_JUKI_CARD: &[u8] = b"JPKIAPICCTOKEN";
/// スマホ用電子証明書 on Android (GP secure element).
const TOKEN_ANDROID: &[u8] = b"JPKIAPGPSETOKEN";
/// スマホ用電子証明書 on iPhone. Not confirmed by a public source the plugin could check.
const TOKEN_IPHONE: &[u8] = b"JPKIAPIOSTOKEN";

/// The medium a token names.
pub(crate) fn medium_of(token: &[u8]) -> Result<Medium, ReaderError> {
    let end = token
        .iter()
        .rposition(|&b| !matches!(b, b' ' | 0x00 | 0xFF))
        .map_or(0, |i| i + 1);
    match &token[..end] {
        TOKEN_CARD => Ok(Medium::MyNumberCard),
        TOKEN_ANDROID => Ok(Medium::Android),
        TOKEN_IPHONE => Ok(Medium::Iphone),
        TOKEN_JUKI_CARD => Err(ReaderError::NotMyNumberCard),
        other => Err(ReaderError::Failure(format!(
            "unknown jpki token {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// The full length of the DER element whose first bytes are `head` (a certificate is a
/// SEQUENCE, `30 82 LL LL` for any realistic size), or None if `head` is not one.
pub(crate) fn der_length(head: &[u8]) -> Option<usize> {
    if *head.first()? != 0x30 {
        return None;
    }
    let first = *head.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let len = head
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
    Some(2 + n + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_media() {
        assert_eq!(
            medium_of(b"JPKIAPICCTOKEN2                 "),
            Ok(Medium::MyNumberCard)
        );
        assert_eq!(medium_of(b"JPKIAPGPSETOKEN\0\0"), Ok(Medium::Android));
        assert_eq!(medium_of(b"JPKIAPIOSTOKEN  "), Ok(Medium::Iphone));
        assert_eq!(
            medium_of(b"JPKIAPICCTOKEN  "),
            Err(ReaderError::NotMyNumberCard)
        );
        assert!(matches!(medium_of(b"OTHER"), Err(ReaderError::Failure(_))));
    }

    #[test]
    fn der_length_from_header() {
        assert_eq!(der_length(&[0x30, 0x82, 0x03, 0x4A, 0x30]), Some(4 + 0x34A));
        assert_eq!(der_length(&[0x30, 0x81, 0x90]), Some(3 + 0x90));
        assert_eq!(der_length(&[0x30, 0x10]), Some(18));
        assert_eq!(der_length(&[0xFF, 0xFF]), None);
        assert_eq!(der_length(&[0x30, 0x82, 0x03]), None);
    }
}
