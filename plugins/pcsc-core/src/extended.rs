//! Whether a check reads the certificate with one extended-length READ BINARY, and what each
//! reader has shown about it.
//!
//! Contactless readers present a pseudo-ATR that never declares extended length, though the
//! card behind it usually takes it. So in `auto` a card whose ATR does not rule it out is tried
//! with one extended read; a refusal (6700, 6Cxx, an error from the reader) falls back to
//! 256-byte reads within the same check. The answer is remembered per reader and medium (a
//! phone's secure element may answer differently from a card on the same reader), so the next
//! check there goes straight to what worked.

use std::collections::HashMap;
use std::sync::Mutex;

use shikaku_domain::pb::Medium;

/// How a session chooses between extended and short reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadPlan {
    /// Fixed by the configuration, the ATR (short only) or the reader's maximum.
    Fixed { extended: bool },
    /// What the reader showed last time; extended when it has shown nothing yet.
    Learn,
}

/// Readers are few; past this many answers the memory starts again rather than grow.
const MAX_ANSWERS: usize = 256;

/// Whether extended reads worked, by reader name and medium, for the plugin's lifetime.
#[derive(Debug, Default)]
pub(crate) struct ReaderMemory {
    answers: Mutex<HashMap<(String, Medium), bool>>,
}

impl ReaderMemory {
    pub fn recall(&self, reader: &str, medium: Medium) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.get(&(reader.to_owned(), medium)).copied()
    }

    pub fn remember(&self, reader: &str, medium: Medium, extended: bool) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_ANSWERS && !answers.contains_key(&(reader.to_owned(), medium)) {
            answers.clear();
        }
        answers.insert((reader.to_owned(), medium), extended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_reader_and_medium() {
        let memory = ReaderMemory::default();
        assert_eq!(memory.recall("PaSoRi", Medium::MyNumberCard), None);
        memory.remember("PaSoRi", Medium::MyNumberCard, true);
        memory.remember("PaSoRi", Medium::Android, false);
        assert_eq!(memory.recall("PaSoRi", Medium::MyNumberCard), Some(true));
        assert_eq!(memory.recall("PaSoRi", Medium::Android), Some(false));
        assert_eq!(memory.recall("ACR1252", Medium::MyNumberCard), None);
        memory.remember("PaSoRi", Medium::MyNumberCard, false);
        assert_eq!(memory.recall("PaSoRi", Medium::MyNumberCard), Some(false));
    }

    #[test]
    fn stays_bounded() {
        let memory = ReaderMemory::default();
        for i in 0..MAX_ANSWERS * 2 {
            memory.remember(&format!("reader {i}"), Medium::MyNumberCard, true);
        }
        let len = memory.answers.lock().unwrap().len();
        assert!(len <= MAX_ANSWERS, "{len}");
        assert_eq!(
            memory.recall(
                &format!("reader {}", MAX_ANSWERS * 2 - 1),
                Medium::MyNumberCard
            ),
            Some(true)
        );
    }
}
