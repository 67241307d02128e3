//! Request file-name suffixes from a template, with a daily sequence kept on disk so a restart
//! never reuses a name.

use std::path::PathBuf;

use shikaku_domain::clock;

use crate::FolderError;
use crate::journal::write_durably;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Date,
    Time,
    Seq(usize),
    Tag,
    Rand(usize),
}

/// A parsed template and the persisted sequence behind it.
#[derive(Debug)]
pub(crate) struct Suffixes {
    parts: Vec<Part>,
    tag: String,
    path: PathBuf,
    /// The day the sequence counts for (`""` when the template has no date) and its last value.
    day: String,
    last: u64,
}

fn bad(rule: impl Into<String>) -> FolderError {
    FolderError::Config(format!("suffix: {}", rule.into()))
}

fn parse(template: &str) -> Result<Vec<Part>, FolderError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or_else(|| bad("unclosed {"))? + open;
        let inner = &rest[open + 1..close];
        let (name, width) = match inner.split_once(':') {
            Some((n, w)) => (
                n,
                Some(
                    w.parse::<usize>()
                        .ok()
                        .filter(|w| (1..=12).contains(w))
                        .ok_or_else(|| bad(format!("width of {{{inner}}} must be 1 to 12")))?,
                ),
            ),
            None => (inner, None),
        };
        parts.push(match (name, width) {
            ("date", None) => Part::Date,
            ("time", None) => Part::Time,
            ("tag", None) => Part::Tag,
            ("seq", Some(w)) => Part::Seq(w),
            ("rand", Some(w)) => Part::Rand(w),
            _ => return Err(bad(format!("unknown placeholder {{{inner}}}"))),
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    if !parts
        .iter()
        .any(|p| matches!(p, Part::Seq(_) | Part::Rand(_)))
    {
        return Err(bad("needs {seq:N} or {rand:N} so names differ"));
    }
    Ok(parts)
}

fn valid_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Suffixes {
    pub fn new(
        template: &str,
        tag: &str,
        state_dir: &std::path::Path,
    ) -> Result<Self, FolderError> {
        let parts = parse(template)?;
        for p in &parts {
            if let Part::Text(t) = p
                && !valid_text(t)
            {
                return Err(bad(format!("{t:?} may hold only letters, digits, - and _")));
            }
        }
        if !valid_text(tag) {
            return Err(FolderError::Config(
                "client_tag may hold only letters, digits, - and _".into(),
            ));
        }
        if parts.contains(&Part::Tag) && tag.is_empty() {
            return Err(bad("uses {tag} but client_tag is empty"));
        }
        let path = state_dir.join("sequence");
        let (day, last) = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut it = text.split_whitespace();
                let day = it.next().unwrap_or("-").to_owned();
                let last = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                (day, last)
            }
            Err(_) => (String::new(), 0),
        };
        Ok(Self {
            parts,
            tag: tag.to_owned(),
            path,
            day: if day == "-" { String::new() } else { day },
            last,
        })
    }

    /// The next suffix; the sequence is on disk before the name is used.
    pub fn next(&mut self) -> Result<String, FolderError> {
        let now = clock::now();
        let daily = self.parts.contains(&Part::Date);
        let day = if daily {
            now.format("%Y%m%d").to_string()
        } else {
            String::new()
        };
        if day != self.day {
            self.day = day;
            self.last = 0;
        }
        self.last += 1;
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Date => out.push_str(&self.day),
                Part::Time => out.push_str(&now.format("%H%M%S").to_string()),
                Part::Tag => out.push_str(&self.tag),
                Part::Seq(w) => {
                    let s = format!("{:0w$}", self.last, w = *w);
                    if s.len() > *w {
                        return Err(FolderError::SequenceExhausted);
                    }
                    out.push_str(&s);
                }
                Part::Rand(w) => {
                    for _ in 0..*w {
                        out.push(char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0'));
                    }
                }
            }
        }
        let saved = format!(
            "{} {}\n",
            if self.day.is_empty() { "-" } else { &self.day },
            self.last
        );
        write_durably(&self.path, saved.as_bytes()).map_err(|e| FolderError::State {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked_and_sequences_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Suffixes::new("{date}{seq:4}", "", dir.path()).unwrap();
        let a = s.next().unwrap();
        let b = s.next().unwrap();
        assert_eq!(a.len(), 12);
        assert!(a.ends_with("0001") && b.ends_with("0002"));
        let mut again = Suffixes::new("{date}{seq:4}", "", dir.path()).unwrap();
        assert!(again.next().unwrap().ends_with("0003"));
        let mut tagged = Suffixes::new("{tag}{time}{rand:4}", "PC2", dir.path()).unwrap();
        assert!(tagged.next().unwrap().starts_with("PC2"));
        assert!(Suffixes::new("{date}", "", dir.path()).is_err());
        assert!(Suffixes::new("{seq:4}{bogus}", "", dir.path()).is_err());
        assert!(Suffixes::new("a/b{seq:2}", "", dir.path()).is_err());
        assert!(Suffixes::new("{tag}{seq:2}", "", dir.path()).is_err());
        let other = tempfile::tempdir().unwrap();
        let mut tiny = Suffixes::new("{seq:1}", "", other.path()).unwrap();
        for _ in 0..9 {
            tiny.next().unwrap();
        }
        assert!(matches!(tiny.next(), Err(FolderError::SequenceExhausted)));
    }
}
