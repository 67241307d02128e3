//! CSV files as Japanese Excel writes and reads them: Shift_JIS (CP932, what Excel saves as
//! "CSV") or UTF-8 with or without a BOM ("CSV UTF-8").

use encoding_rs::{EncoderResult, SHIFT_JIS};

/// The encoding of a file the CLI writes (`--encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8 without a BOM.
    #[default]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// Shift_JIS as Windows writes it (CP932), for Excel's plain "CSV".
    #[value(name = "sjis", alias = "shift_jis", alias = "cp932")]
    ShiftJis,
}

/// Written for a character Shift_JIS has no code for: 〓 (下駄記号), the customary stand-in.
const STAND_IN: &[u8] = b"\x81\xAC";

/// Reads a file's text: UTF-8 when it starts with a BOM or is valid UTF-8, else CP932. A file
/// that is neither is refused, naming the first line that cannot be read.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8(rest.to_vec()).map_err(|e| {
            let line = line_of(&rest[..e.utf8_error().valid_up_to()]);
            format!("line {line}: not UTF-8, though the file starts with a UTF-8 BOM")
        });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    let (text, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        let bad = text.find('\u{FFFD}').unwrap_or(0);
        let line = text[..bad].matches('\n').count() + 1;
        return Err(format!(
            "line {line}: neither UTF-8 nor Shift_JIS (CP932); save the file as CSV or CSV UTF-8"
        ));
    }
    Ok(text.into_owned())
}

/// Encodes text for writing. Returns the bytes and how many characters had no Shift_JIS code and
/// were written as 〓.
pub fn encode(text: &str, encoding: Encoding) -> (Vec<u8>, usize) {
    match encoding {
        Encoding::Utf8 => (text.as_bytes().to_vec(), 0),
        Encoding::ShiftJis => encode_shift_jis(text),
    }
}

fn encode_shift_jis(text: &str) -> (Vec<u8>, usize) {
    let mut encoder = SHIFT_JIS.new_encoder();
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut rest = text;
    let mut replaced = 0;
    loop {
        let room = encoder
            .max_buffer_length_from_utf8_without_replacement(rest.len())
            .unwrap_or(rest.len() * 2 + 16);
        out.reserve(room);
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(rest, &mut out, true);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => return (out, replaced),
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => {
                replaced += 1;
                out.extend_from_slice(STAND_IN);
            }
        }
    }
}

fn line_of(before: &[u8]) -> usize {
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_jis_bom_and_plain_utf8_all_read_the_same() {
        let text = "保険者番号,記号\n06130488,千代田\n";
        let (sjis, _, _) = SHIFT_JIS.encode(text);
        assert_eq!(decode(&sjis).unwrap(), text);
        assert_eq!(decode(text.as_bytes()).unwrap(), text);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(decode(&with_bom).unwrap(), text);
    }

    #[test]
    fn cp932_extensions_are_read() {
        // ① and 髙 are Windows additions to Shift_JIS, common in Japanese Excel files.
        assert_eq!(decode(b"\x87\x40,\xFB\xFC").unwrap(), "①,髙");
    }

    #[test]
    fn unreadable_bytes_name_their_line() {
        let err = decode(b"a,b\n1,2\n\x82\xFF\n").unwrap_err();
        assert!(
            err.starts_with("line 3: neither UTF-8 nor Shift_JIS"),
            "{err}"
        );
        let err = decode(b"\xEF\xBB\xBFa\n\x82\xA0\n").unwrap_err();
        assert!(err.starts_with("line 2: not UTF-8"), "{err}");
    }

    #[test]
    fn characters_without_a_shift_jis_code_become_geta() {
        let (bytes, replaced) = encode("𠮷野家,太郎", Encoding::ShiftJis);
        assert_eq!(replaced, 1);
        assert_eq!(decode(&bytes).unwrap(), "〓野家,太郎");
        assert_eq!(
            encode("太郎", Encoding::Utf8),
            ("太郎".as_bytes().to_vec(), 0)
        );
    }
}
