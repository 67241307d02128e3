//! Command APDUs the plugin sends, responses it gets back, and how both appear in a trace.

use zeroize::Zeroizing;

/// Builds a command APDU (ISO 7816-4 cases 1–4). `le` is the expected length: up to 256 in a
/// short APDU (256 is sent as `00`), up to 65536 in an extended one (65536 as `00 00`).
/// The buffer is zeroized on drop, since a VERIFY carries the PIN.
pub(crate) fn command(
    header: [u8; 4],
    data: &[u8],
    le: Option<usize>,
    extended: bool,
) -> Zeroizing<Vec<u8>> {
    let mut apdu = Zeroizing::new(Vec::with_capacity(4 + 3 + data.len() + 3));
    apdu.extend_from_slice(&header);
    if extended {
        if !data.is_empty() {
            apdu.push(0);
            apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
            apdu.extend_from_slice(data);
        }
        if let Some(le) = le {
            if data.is_empty() {
                apdu.push(0);
            }
            apdu.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(data);
        }
        if let Some(le) = le {
            apdu.push((le % 256) as u8);
        }
    }
    apdu
}

/// A response APDU split into its data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    /// Splits a raw response; None when it is shorter than a status word (what pcscd hands back
    /// for the APDU during which the card left the reader).
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let split = raw.len().checked_sub(2)?;
        Some(Response {
            data: raw[..split].to_vec(),
            sw: u16::from_be_bytes([raw[split], raw[split + 1]]),
        })
    }

    pub fn sw1(&self) -> u8 {
        (self.sw >> 8) as u8
    }

    pub fn sw2(&self) -> u8 {
        self.sw as u8
    }

    pub fn is_ok(&self) -> bool {
        self.sw == 0x9000
    }
}

/// Hex of at most `max` bytes, with the total when cut short.
fn hex(bytes: &[u8], max: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02X}")).collect();
    if bytes.len() > max {
        s.push(format!("… ({} bytes)", bytes.len()));
    }
    s.join(" ")
}

/// A command as it appears in the APDU trace; with `redact`, only the header and the data
/// length (a VERIFY's data is the PIN).
pub(crate) fn trace_command(apdu: &[u8], redact: bool) -> String {
    if redact {
        let header = hex(&apdu[..apdu.len().min(4)], 4);
        let data = apdu.len().saturating_sub(5);
        format!("{header} [{data} bytes redacted]")
    } else {
        hex(apdu, 24)
    }
}

pub(crate) fn trace_response(response: &Response) -> String {
    if response.data.is_empty() {
        format!("{:04X}", response.sw)
    } else {
        format!("{} {:04X}", hex(&response.data, 24), response.sw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_short_and_extended_apdus() {
        assert_eq!(
            *command([0, 0xB0, 0, 0], &[], Some(256), false),
            [0, 0xB0, 0, 0, 0]
        );
        assert_eq!(
            *command([0, 0xB0, 0, 0], &[], Some(65536), true),
            [0, 0xB0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            *command([0, 0xA4, 2, 0x0C], &[0, 6], None, false),
            [0, 0xA4, 2, 0x0C, 2, 0, 6]
        );
        assert_eq!(
            *command([0x80, 0x2A, 0, 0x80], &[1, 2], Some(256), true),
            [0x80, 0x2A, 0, 0x80, 0, 0, 2, 1, 2, 1, 0]
        );
    }

    #[test]
    fn a_redacted_command_shows_no_data() {
        let apdu = command([0, 0x20, 0, 0x80], b"1234", None, false);
        let t = trace_command(&apdu, true);
        assert_eq!(t, "00 20 00 80 [4 bytes redacted]");
        assert!(!t.contains("31"));
    }

    #[test]
    fn a_short_response_is_no_response() {
        assert_eq!(Response::parse(&[]), None);
        assert_eq!(Response::parse(&[0x90]), None);
        let r = Response::parse(&[1, 0x63, 0xC2]).unwrap();
        assert_eq!((r.sw1(), r.sw2(), r.data), (0x63, 0xC2, vec![1]));
    }
}
