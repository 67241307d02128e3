//! Reader and card events from SCardGetStatusChange: readers come and go through the
//! `\\?PnP?\Notification` pseudo-reader, cards through each reader's state and event counter.

use std::collections::VecDeque;
use std::ffi::CString;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};
use shikaku_domain::reader::{ReaderError, ReaderEvent, ReaderEventKind, ReaderInfo};

/// What a reader looks like to the daemon.
pub(crate) fn reader_info(name: &str, card_present: bool) -> ReaderInfo {
    ReaderInfo {
        name: name.to_owned(),
        description: "PC/SC reader (汎用カードリーダー)".to_owned(),
        card_present,
        face_auth: false,
    }
}

/// Whether the error means pcscd itself is gone (stopped or restarted), so the context must be
/// established again.
pub(crate) fn service_lost(e: pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::InvalidHandle
            | pcsc::Error::CommError
    )
}

pub(crate) fn unreachable(e: pcsc::Error) -> ReaderError {
    ReaderError::Failure(format!("pcscd is not reachable: {e}"))
}

/// Reader names pcscd lists now, without the PnP pseudo-reader.
pub(crate) fn reader_names(context: &Context) -> Result<Vec<CString>, pcsc::Error> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .filter(|n| n.as_c_str() != pcsc::PNP_NOTIFICATION())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A card is on the reader (a mute card too: it is there, it just does not answer).
fn present(state: State) -> bool {
    state.contains(State::PRESENT)
}

/// What we last told the daemon about one reader.
struct Tracked {
    name: String,
    present: bool,
    /// pcscd's per-reader count of insertions and removals.
    count: u32,
}

/// The watcher, lent to one `next_event` caller at a time. A plain mutex would make a second
/// caller wait out the first one's SCardGetStatusChange, past its own deadline.
pub(crate) struct Shared {
    slot: Mutex<Option<Watcher>>,
    returned: Condvar,
}

/// The watcher on loan; it goes back on drop, a panic included.
pub(crate) struct Lent<'a> {
    shared: &'a Shared,
    watcher: Option<Watcher>,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            slot: Mutex::new(Some(Watcher::new())),
            returned: Condvar::new(),
        }
    }

    /// The watcher, once the caller before has given it back; None at the deadline.
    pub fn take(&self, deadline: Instant) -> Option<Lent<'_>> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(watcher) = slot.take() {
                return Some(Lent {
                    shared: self,
                    watcher: Some(watcher),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slot = self
                .returned
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Deref for Lent<'_> {
    type Target = Watcher;
    fn deref(&self) -> &Watcher {
        self.watcher.as_ref().expect("lent until dropped")
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Watcher {
        self.watcher.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut slot = self.shared.slot.lock().unwrap_or_else(|p| p.into_inner());
        *slot = self.watcher.take();
        self.shared.returned.notify_one();
    }
}

/// The event loop's state, owned by whoever calls `next_event`.
pub(crate) struct Watcher {
    context: Option<Context>,
    /// `states[0]` is the PnP pseudo-reader; `states[i + 1]` is `tracked[i]`.
    states: Vec<ReaderState>,
    tracked: Vec<Tracked>,
    pending: VecDeque<ReaderEvent>,
    /// Readers found on the first start are the daemon's starting point (it lists them), not
    /// events; after a pcscd restart they are announced again.
    announce_readers: bool,
}

impl Watcher {
    pub fn new() -> Self {
        Self {
            context: None,
            states: Vec::new(),
            tracked: Vec::new(),
            pending: VecDeque::new(),
            announce_readers: false,
        }
    }

    fn push(&mut self, kind: ReaderEventKind, name: &str, present: bool) {
        self.pending.push_back(ReaderEvent {
            kind,
            reader: reader_info(name, present),
        });
    }

    /// The next reader or card event, or None at the deadline.
    pub fn next(&mut self, deadline: Instant) -> Result<Option<ReaderEvent>, ReaderError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            let context = match &self.context {
                Some(c) => c.clone(),
                None => {
                    let c = Context::establish(Scope::User).map_err(unreachable)?;
                    self.context = Some(c.clone());
                    self.states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
                    self.relist(&c)?;
                    self.announce_readers = true;
                    continue;
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match context.get_status_change(left, &mut self.states) {
                Ok(()) => self.collect(&context)?,
                Err(pcsc::Error::Timeout) => return Ok(None),
                Err(pcsc::Error::UnknownReader) => self.relist(&context)?,
                Err(e) if service_lost(e) => {
                    // Every reader is gone with pcscd; they come back as added once it returns.
                    for t in std::mem::take(&mut self.tracked) {
                        self.push(ReaderEventKind::ReaderRemoved, &t.name, false);
                    }
                    self.states.clear();
                    self.context = None;
                    tracing::warn!("pcscd went away: {e}");
                }
                Err(e) => return Err(ReaderError::Failure(format!("watching readers: {e}"))),
            }
            if left.is_zero() && self.pending.is_empty() {
                return Ok(None);
            }
        }
    }

    /// Turns a status change into events.
    fn collect(&mut self, context: &Context) -> Result<(), ReaderError> {
        let readers_changed = self.states[0].event_state().contains(State::CHANGED);
        self.states[0].sync_current_state();
        let mut gone = false;
        let mut events = Vec::new();
        for (state, tracked) in self.states[1..].iter_mut().zip(&mut self.tracked) {
            let now = state.event_state();
            if !now.contains(State::CHANGED) {
                continue;
            }
            if now.intersects(State::UNKNOWN | State::UNAVAILABLE) {
                gone = true;
                continue;
            }
            let is_present = present(now);
            let count = state.event_count();
            let swapped = count != tracked.count;
            let name = tracked.name.as_str();
            match (tracked.present, is_present) {
                (true, false) => {
                    events.push((ReaderEventKind::CardRemoved, name.to_owned(), false))
                }
                (false, true) => {
                    events.push((ReaderEventKind::CardInserted, name.to_owned(), true))
                }
                // Taken off and put back (or a quick tap) between two looks.
                (true, true) if swapped => {
                    events.push((ReaderEventKind::CardRemoved, name.to_owned(), false));
                    events.push((ReaderEventKind::CardInserted, name.to_owned(), true));
                }
                (false, false) if count.wrapping_sub(tracked.count) >= 2 => {
                    events.push((ReaderEventKind::CardInserted, name.to_owned(), true));
                    events.push((ReaderEventKind::CardRemoved, name.to_owned(), false));
                }
                _ => {}
            }
            tracked.present = is_present;
            tracked.count = count;
            state.sync_current_state();
        }
        for (kind, name, present) in events {
            self.push(kind, &name, present);
        }
        if readers_changed || gone {
            self.relist(context)?;
        }
        Ok(())
    }

    /// Brings the watched readers in line with pcscd's list, announcing additions and removals.
    fn relist(&mut self, context: &Context) -> Result<(), ReaderError> {
        let names = match reader_names(context) {
            Ok(n) => n,
            Err(e) if service_lost(e) => {
                self.context = None;
                return Err(unreachable(e));
            }
            Err(e) => return Err(ReaderError::Failure(format!("listing readers: {e}"))),
        };
        let mut old_states = std::mem::take(&mut self.states).into_iter();
        let pnp = old_states
            .next()
            .unwrap_or_else(|| ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        let old: Vec<(Tracked, ReaderState)> = std::mem::take(&mut self.tracked)
            .into_iter()
            .zip(old_states)
            .collect();
        let mut kept = Vec::new();
        for (t, s) in old {
            if names.iter().any(|n| n.to_bytes() == t.name.as_bytes()) {
                kept.push((t, s));
            } else {
                self.push(ReaderEventKind::ReaderRemoved, &t.name, false);
            }
        }
        let mut added: Vec<ReaderState> = names
            .iter()
            .filter(|n| !kept.iter().any(|(t, _)| t.name.as_bytes() == n.to_bytes()))
            .map(|n| ReaderState::new(n.clone(), State::UNAWARE))
            .collect();
        if !added.is_empty() {
            // UNAWARE answers at once with the current state of each new reader.
            match context.get_status_change(Duration::ZERO, &mut added) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(ReaderError::Failure(format!("reading reader states: {e}"))),
            }
        }
        let announce = self.announce_readers;
        let mut states = vec![pnp];
        for (t, s) in kept {
            self.tracked.push(t);
            states.push(s);
        }
        for mut s in added {
            let name = s.name().to_string_lossy().into_owned();
            let now = s.event_state();
            let is_present = present(now) && !now.intersects(State::UNKNOWN | State::UNAVAILABLE);
            if announce {
                self.push(ReaderEventKind::ReaderAdded, &name, is_present);
            }
            self.tracked.push(Tracked {
                name,
                present: is_present,
                count: s.event_count(),
            });
            s.sync_current_state();
            states.push(s);
        }
        self.states = states;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_caller_gives_up_at_its_own_deadline() {
        let shared = Shared::new();
        let lent = shared.take(Instant::now()).expect("free at first");
        let started = Instant::now();
        assert!(
            shared
                .take(Instant::now() + Duration::from_millis(100))
                .is_none()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(lent);
        assert!(shared.take(Instant::now()).is_some(), "given back on drop");
    }
}
