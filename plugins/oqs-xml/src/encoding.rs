//! The two encodings the terminal uses: UTF-8 and Shift_JIS (as Windows writes it, CP932).

use crate::XmlError;

/// 文字コード: the result header's CharacterCodeIdentifier says which one a result uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[serde(alias = "utf-8", alias = "UTF-8")]
    Utf8,
    #[serde(alias = "shift-jis", alias = "Shift_JIS", alias = "sjis")]
    ShiftJis,
}

impl Encoding {
    /// The name written in the XML declaration.
    pub fn xml_name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::ShiftJis => "Shift_JIS",
        }
    }

    /// CharacterCodeIdentifier: 0 UTF-8, 1 Shift_JIS.
    pub fn identifier(self) -> &'static str {
        match self {
            Self::Utf8 => "0",
            Self::ShiftJis => "1",
        }
    }

    pub fn from_identifier(code: &str) -> Option<Self> {
        match code.trim() {
            "0" => Some(Self::Utf8),
            "1" => Some(Self::ShiftJis),
            _ => None,
        }
    }

    /// Reads an encoding label as XML declarations spell it.
    pub fn from_label(label: &str) -> Result<Self, XmlError> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "shift_jis" | "shift-jis" | "sjis" | "x-sjis" | "windows-31j" | "cp932"
            | "ms_kanji" => Ok(Self::ShiftJis),
            _ => Err(XmlError::UnsupportedEncoding(
                label.chars().take(40).collect(),
            )),
        }
    }

    fn codec(self) -> &'static encoding_rs::Encoding {
        match self {
            Self::Utf8 => encoding_rs::UTF_8,
            Self::ShiftJis => encoding_rs::SHIFT_JIS,
        }
    }

    /// Bytes to text; malformed bytes are an error, never silently replaced.
    pub fn decode(self, bytes: &[u8]) -> Result<String, XmlError> {
        let bytes = match self {
            Self::Utf8 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
            Self::ShiftJis => bytes,
        };
        self.codec()
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|c| c.into_owned())
            .ok_or(XmlError::BadBytes(self.xml_name()))
    }

    /// Text to bytes; a character Shift_JIS cannot hold is an error (the terminal would show
    /// the wrong name otherwise).
    pub fn encode(self, text: &str) -> Result<Vec<u8>, XmlError> {
        match self {
            Self::Utf8 => Ok(text.as_bytes().to_vec()),
            Self::ShiftJis => {
                let (bytes, _, unmappable) = self.codec().encode(text);
                if unmappable {
                    Err(XmlError::Unencodable(self.xml_name()))
                } else {
                    Ok(bytes.into_owned())
                }
            }
        }
    }
}

/// The encoding an XML document declares (`<?xml … encoding="…"?>`), UTF-8 when it declares none
/// (as XML itself says). A UTF-8 byte-order mark wins.
pub fn declared(bytes: &[u8]) -> Result<Encoding, XmlError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Ok(Encoding::Utf8);
    }
    let Some(rest) = bytes.strip_prefix(b"<?xml") else {
        return Ok(Encoding::Utf8);
    };
    // The declaration is ASCII in both encodings; look no further than its end.
    let end = rest
        .iter()
        .take(200)
        .position(|&b| b == b'>')
        .ok_or(XmlError::Truncated)?;
    let decl = &rest[..end];
    let Some(at) = find(decl, b"encoding") else {
        return Ok(Encoding::Utf8);
    };
    let after = &decl[at + b"encoding".len()..];
    let after = trim_ascii_start(after);
    let Some(after) = after.strip_prefix(b"=") else {
        return Err(XmlError::Syntax {
            position: 5 + at as u64,
            message: "encoding without a value in the declaration".into(),
        });
    };
    let after = trim_ascii_start(after);
    let (quote, after) = match after.split_first() {
        Some((q @ (b'"' | b'\''), rest)) => (*q, rest),
        _ => {
            return Err(XmlError::Syntax {
                position: 5 + at as u64,
                message: "unquoted encoding in the declaration".into(),
            });
        }
    };
    let close = after
        .iter()
        .position(|&b| b == quote)
        .ok_or(XmlError::Truncated)?;
    let label = String::from_utf8_lossy(&after[..close]);
    Encoding::from_label(&label)
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_declared_encoding() {
        assert_eq!(
            declared(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\" standalone=\"no\"?><a/>"),
            Ok(Encoding::ShiftJis)
        );
        assert_eq!(
            declared(b"<?xml version='1.0' encoding = 'utf-8'?>"),
            Ok(Encoding::Utf8)
        );
        assert_eq!(declared(b"<XmlMsg/>"), Ok(Encoding::Utf8));
        assert!(matches!(
            declared(b"<?xml version=\"1.0\" encoding=\"EUC-JP\"?>"),
            Err(XmlError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            declared(b"<?xml version=\"1.0\" encoding=\"Shi"),
            Err(XmlError::Truncated)
        );
    }

    #[test]
    fn shift_jis_round_trips_kana_and_kanji() {
        let text = "診療　太郎 ｼﾝﾘｮｳ ﾀﾛｳ 髙";
        let bytes = Encoding::ShiftJis.encode(text).unwrap();
        assert_eq!(Encoding::ShiftJis.decode(&bytes).unwrap(), text);
        assert_eq!(
            Encoding::ShiftJis.encode("😀"),
            Err(XmlError::Unencodable("Shift_JIS"))
        );
        assert_eq!(
            Encoding::ShiftJis.decode(&[0x82]),
            Err(XmlError::BadBytes("Shift_JIS"))
        );
    }
}
