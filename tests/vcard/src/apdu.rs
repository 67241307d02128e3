//! Command APDUs as the card receives them (ISO 7816-4 cases 1–4, short and extended).

/// A parsed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Expected response length; 256 for a short `00`, 65536 for an extended `00 00`.
    pub le: Option<usize>,
    /// Sent with extended-length Lc/Le fields.
    pub extended: bool,
}

/// Status words the test card answers.
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const INCOMPATIBLE_FILE: u16 = 0x6981;
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTH_BLOCKED: u16 = 0x6983;
    pub const NO_CURRENT_EF: u16 = 0x6986;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const WRONG_P1P2: u16 = 0x6A86;
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    pub const WRONG_OFFSET: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// `63Cx`: a wrong PIN with x tries left.
    pub fn tries_left(n: u8) -> u16 {
        0x63C0 | u16::from(n & 0x0F)
    }
}

/// Splits `apdu` into its fields, or answers the status word a card gives for a malformed one.
pub fn parse(apdu: &[u8]) -> Result<Command<'_>, u16> {
    let Some((&[cla, ins, p1, p2], body)) = apdu.split_first_chunk::<4>() else {
        return Err(sw::WRONG_LENGTH);
    };
    let cmd = |data, le, extended| Command {
        cla,
        ins,
        p1,
        p2,
        data,
        le,
        extended,
    };
    let short_le = |b: u8| if b == 0 { 256 } else { usize::from(b) };
    let ext_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
        0 => 65536,
        n => usize::from(n),
    };
    match body {
        [] => Ok(cmd(&[], None, false)),
        [le] => Ok(cmd(&[], Some(short_le(*le)), false)),
        [0, hi, lo] => Ok(cmd(&[], Some(ext_le(*hi, *lo)), true)),
        [0, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            match rest.len().checked_sub(lc) {
                Some(0) if lc > 0 => Ok(cmd(rest, None, true)),
                Some(2) if lc > 0 => {
                    Ok(cmd(&rest[..lc], Some(ext_le(rest[lc], rest[lc + 1])), true))
                }
                _ => Err(sw::WRONG_LENGTH),
            }
        }
        [lc, rest @ ..] if *lc > 0 => {
            let lc = usize::from(*lc);
            match rest.len().checked_sub(lc) {
                Some(0) => Ok(cmd(rest, None, false)),
                Some(1) => Ok(cmd(&rest[..lc], Some(short_le(rest[lc])), false)),
                _ => Err(sw::WRONG_LENGTH),
            }
        }
        _ => Err(sw::WRONG_LENGTH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_case() {
        let c = parse(&[0, 0xB0, 0, 0, 0x20]).unwrap();
        assert_eq!((c.le, c.extended, c.data.len()), (Some(32), false, 0));
        let c = parse(&[0, 0xB0, 0, 0, 0]).unwrap();
        assert_eq!(c.le, Some(256));
        let c = parse(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((c.le, c.extended), (Some(65536), true));
        let c = parse(&[0, 0xA4, 2, 0x0C, 2, 0, 6]).unwrap();
        assert_eq!((c.data, c.le), (&[0u8, 6][..], None));
        let c = parse(&[0x80, 0x2A, 0, 0x80, 2, 1, 2, 0]).unwrap();
        assert_eq!((c.data, c.le), (&[1u8, 2][..], Some(256)));
        let c = parse(&[0x80, 0x2A, 0, 0x80, 0, 0, 2, 1, 2, 0, 0]).unwrap();
        assert_eq!(
            (c.data, c.le, c.extended),
            (&[1u8, 2][..], Some(65536), true)
        );
        assert_eq!(parse(&[0, 0xA4, 2]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse(&[0, 0xA4, 2, 0x0C, 3, 0, 6]), Err(sw::WRONG_LENGTH));
    }
}
