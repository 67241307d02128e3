//! What an ATR says about extended-length APDUs.
//!
//! A card declares extended Lc/Le in its card capabilities (ISO 7816-4, compact-TLV tag 7 in
//! the historical bytes, third byte, bit 7). A contactless reader synthesizes a pseudo-ATR that
//! carries no card capabilities at all, so it says nothing either way: the plugin then tries one
//! extended read and remembers the answer (see `extended`).

/// The historical bytes of an ATR, skipping TS, T0 and the interface bytes.
fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    let t0 = *atr.get(1)?;
    let count = usize::from(t0 & 0x0F);
    let mut at = 2;
    let mut present = t0 >> 4;
    loop {
        at += (present & 0x07).count_ones() as usize;
        if present & 0x08 == 0 {
            break;
        }
        present = *atr.get(at)? >> 4;
        at += 1;
    }
    atr.get(at..at + count)
}

/// The card-capabilities data object, if the historical bytes are compact-TLV and carry one.
fn card_capabilities(historical: &[u8]) -> Option<&[u8]> {
    let objects = match historical.first()? {
        0x80 => &historical[1..],
        // Category 00: the last three bytes are a status indicator, not a data object.
        0x00 => historical.get(1..historical.len().checked_sub(3)?)?,
        _ => return None,
    };
    let mut at = 0;
    while let Some(&tag_length) = objects.get(at) {
        let len = usize::from(tag_length & 0x0F);
        let value = objects.get(at + 1..at + 1 + len)?;
        if tag_length >> 4 == 0x7 {
            return Some(value);
        }
        at += 1 + len;
    }
    None
}

/// What an ATR says about extended Lc and Le fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtendedLengthDeclaration {
    /// The card capabilities have the extended-length bit.
    Takes,
    /// The card capabilities are there, without the bit: short APDUs only.
    ShortOnly,
    /// No third card-capabilities byte: a contactless pseudo-ATR, or an ATR that cannot be read.
    Silent,
}

pub(crate) fn extended_length(atr: &[u8]) -> ExtendedLengthDeclaration {
    match historical_bytes(atr)
        .and_then(card_capabilities)
        .and_then(|caps| caps.get(2))
    {
        Some(b) if b & 0x40 != 0 => ExtendedLengthDeclaration::Takes,
        Some(_) => ExtendedLengthDeclaration::ShortOnly,
        None => ExtendedLengthDeclaration::Silent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_declaration_from_real_jpki_atrs() {
        // Contact interface, card capabilities C6 01 C0: extended Lc/Le.
        let contact = [
            0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
            0x73, 0xC6, 0x01, 0xC0, 0x3B,
        ];
        assert_eq!(extended_length(&contact), ExtendedLengthDeclaration::Takes);
        // Contact interface, card capabilities C6 01 00: short only.
        let short = [
            0x3B, 0xC5, 0xFF, 0x81, 0x31, 0xFB, 0x45, 0x80, 0x73, 0xC6, 0x01, 0x00, 0x00,
        ];
        assert_eq!(
            extended_length(&short),
            ExtendedLengthDeclaration::ShortOnly
        );
        // Contactless type B pseudo-ATR: no card capabilities, so no declaration either way.
        let contactless = [
            0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
        ];
        assert_eq!(
            extended_length(&contactless),
            ExtendedLengthDeclaration::Silent
        );
    }

    #[test]
    fn never_panics_on_a_truncated_atr() {
        for atr in [&[][..], &[0x3B], &[0x3B, 0xDA, 0x13], &[0x3B, 0x8F, 0x80]] {
            assert_eq!(extended_length(atr), ExtendedLengthDeclaration::Silent);
        }
    }
}
