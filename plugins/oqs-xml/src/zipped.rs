//! Zipped results: the terminal may answer a bulk result as `OQSmuquc02res_….zip` (and any
//! `…res_….zip`) holding the XML. Reading one is bounded — entries counted, every entry's size
//! counted as it is inflated (the sizes an archive declares are not trusted), names that climb
//! out of the archive or are absolute refused — and each XML inside is parsed as usual.

use std::io::{Cursor, Read};

use crate::XmlError;
use crate::dom::{Document, Limits};

/// The most entries a result archive may hold.
pub const MAX_ENTRIES: usize = 16;

/// Whether `bytes` are a zip archive (a local file header, or an empty archive's end record).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn bad(rule: impl Into<String>) -> XmlError {
    XmlError::Invalid {
        field: "zip",
        rule: rule.into(),
    }
}

/// A name that stays inside the archive: relative, no `..`, no drive, no NUL.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['/', '\\'])
        && !name.contains('\0')
        && name.chars().nth(1).is_none_or(|c| c != ':')
        && name.split(['/', '\\']).all(|part| part != "..")
}

/// The XML documents inside a zipped result, in archive order. The uncompressed total is held
/// to `limits.max_bytes`, like a plain result file.
pub fn documents(bytes: &[u8], limits: &Limits) -> Result<Vec<Document>, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::Limit(format!(
            "the archive is {} bytes, more than the {} allowed",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(XmlError::Limit(format!(
            "the archive holds {} entries, more than the {MAX_ENTRIES} allowed",
            archive.len()
        )));
    }
    let mut left = limits.max_bytes as u64;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name: String = entry.name().chars().take(120).collect();
        if !safe_name(entry.name()) || entry.enclosed_name().is_none() {
            return Err(bad(format!(
                "entry {name:?} points outside the archive (path traversal refused)"
            )));
        }
        if entry.is_dir() {
            continue;
        }
        if entry.encrypted() {
            return Err(bad(format!("entry {name:?} is encrypted")));
        }
        if !name.to_ascii_lowercase().ends_with(".xml") {
            continue;
        }
        let mut xml = Vec::new();
        (&mut entry)
            .take(left + 1)
            .read_to_end(&mut xml)
            .map_err(|e| bad(format!("entry {name:?}: {e}")))?;
        if xml.len() as u64 > left {
            return Err(XmlError::Limit(format!(
                "the archive inflates to more than the {} bytes allowed",
                limits.max_bytes
            )));
        }
        left -= xml.len() as u64;
        out.push(Document::parse(&xml, limits)?);
    }
    if out.is_empty() {
        return Err(bad("the archive holds no .xml file"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_archive_are_refused() {
        for name in [
            "../x.xml",
            "a/../../x.xml",
            "/etc/x.xml",
            "\\x.xml",
            "C:x.xml",
            "a\\..\\x.xml",
        ] {
            assert!(!safe_name(name), "{name}");
        }
        for name in ["x.xml", "dir/x.xml", "a..b.xml"] {
            assert!(safe_name(name), "{name}");
        }
    }
}
