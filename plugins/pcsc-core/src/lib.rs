//! Reads My Number cards and smartphone JPKI certificates (スマホ用電子証明書) through any PC/SC
//! reader (汎用カードリーダー), on the `pcsc` crate.
//!
//! The code the two PC/SC plugins share: `shikaku-pcsc` (card-reader kind) and
//! `shikaku-pcsc-smartphone` (smartphone-certificate kind) each export [`plugin`] from their own
//! library. The API is synchronous and shaped like the plugin SDK's `ReaderPlugin` /
//! `ReaderSession` (deadlines are `Instant`s): [`PcscReaders::list_readers`],
//! [`PcscReaders::next_event`] (SCardGetStatusChange with the deadline as its timeout) and
//! [`PcscReaders::open`], which takes the card exclusively for one check and hands back a
//! [`PcscSession`].
//!
//! The session drives the JPKI AP by AID, never by ATR. Per check it sends: SELECT AP,
//! SELECT EF 0006, READ BINARY (token); READ BINARY of EF 000A by its short EF identifier (one
//! extended read; or SELECT EF 000A and 256-byte reads); SELECT EF 0018, VERIFY without data
//! (tries left: a locked card never sees the PIN), VERIFY; SELECT EF 0017, COMPUTE DIGITAL
//! SIGNATURE — 9 APDUs for a PIN check on a card that takes extended APDUs, contact or
//! contactless. Every APDU is traced at trace level
//! (target `shikaku_pcsc::apdu`) with VERIFY data redacted.

mod apdu;
mod atr;
mod extended;
mod jpki;
pub mod plugin;
mod session;
mod watch;

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Attribute, Card, Context, Protocols, ReaderState, Scope, ShareMode, State};
use serde::Deserialize;
use shikaku_domain::reader::{ReaderError, ReaderEvent, ReaderInfo};

use crate::atr::ExtendedLengthDeclaration;
use crate::extended::ReadPlan;
pub use session::PcscSession;
/// A session's steps are the SDK's `ReaderSession`, each with a `Deadline`.
pub use shikaku_plugin_sdk::{Deadline, ReaderSession};

/// When to read with extended-length APDUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtendedLength {
    /// Unless the card's ATR says short only or the reader reports a short maximum: one
    /// extended read is tried (contactless pseudo-ATRs never declare it), a refusal falls back
    /// to short reads, and the answer is remembered per reader and medium.
    #[default]
    Auto,
    /// Always try extended reads first (a refusal still falls back), remembering nothing.
    Always,
    /// 256-byte reads only.
    Never,
}

/// Which media the plugin accepts (the card-reader kind and the smartphone kind share a reader).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    #[default]
    All,
    /// マイナンバーカード only.
    Card,
    /// スマホ用電子証明書 (Android, iPhone) only.
    Smartphone,
}

/// The plugin's `[plugins.config]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcscConfig {
    pub extended_length: ExtendedLength,
    pub media: Media,
    /// The readers this plugin serves, by name or name prefix (e.g. `"SONY FeliCa"`); empty
    /// serves every reader. Lets a reader dedicated to phones go to the smartphone plugin.
    pub readers: Vec<String>,
}

impl PcscConfig {
    /// Whether the plugin serves the reader called `name`.
    pub fn serves(&self, name: &str) -> bool {
        self.readers.is_empty() || self.readers.iter().any(|r| name.starts_with(r.as_str()))
    }
}

/// The PC/SC reader plugin: lists readers, reports events, opens a card for one check.
pub struct PcscReaders {
    config: PcscConfig,
    /// For listing readers; established on first use and again after pcscd restarts.
    context: Mutex<Option<Context>>,
    /// SCardGetStatusChange blocks its context, so events have their own.
    watcher: watch::Shared,
    /// Whether extended reads worked on each reader, for `auto`.
    extended_memory: Arc<extended::ReaderMemory>,
}

impl std::fmt::Debug for PcscReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscReaders")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The most command bytes a reader takes in a short APDU (4 + 1 + 255 + 1).
const SHORT_APDU_MAX: u32 = 261;

/// Maps a PC/SC error when taking a card.
fn connect_error(e: pcsc::Error, reader: &str) -> ReaderError {
    use pcsc::Error as E;
    match e {
        E::UnknownReader | E::ReaderUnavailable => ReaderError::NotFound(reader.to_owned()),
        E::NoSmartcard | E::RemovedCard => ReaderError::NoCard,
        // Present when the check began, gone or reset while the reader powered it.
        E::ResetCard | E::NotTransacted => ReaderError::CardRemoved,
        E::SharingViolation => ReaderError::Busy,
        E::UnresponsiveCard | E::UnpoweredCard => {
            ReaderError::Failure("the card on the reader does not answer; place it again".into())
        }
        E::UnsupportedCard | E::CardUnsupported => ReaderError::NotMyNumberCard,
        e if watch::service_lost(e) => watch::unreachable(e),
        e => ReaderError::Failure(format!("cannot connect to the card: {e}")),
    }
}

/// Whether the reader takes extended APDUs: false only when it reports a short maximum (the
/// CCID driver answers SCARD_ATTR_MAXINPUT; drivers that do not answer are given the benefit).
fn reader_takes_extended(card: &Card) -> bool {
    match card.get_attribute_owned(Attribute::Maxinput) {
        Ok(v) => match <[u8; 4]>::try_from(v.as_slice()) {
            Ok(b) => u32::from_le_bytes(b) > SHORT_APDU_MAX,
            Err(_) => true,
        },
        Err(_) => true,
    }
}

impl PcscReaders {
    /// Does not need pcscd yet: it is reached on first use, and again if it restarts.
    pub fn new(config: PcscConfig) -> Self {
        Self {
            config,
            context: Mutex::new(None),
            watcher: watch::Shared::new(),
            extended_memory: Arc::default(),
        }
    }

    /// Runs `f` on the listing context, establishing it again once if pcscd restarted.
    fn with_context<T>(
        &self,
        f: impl Fn(&Context) -> Result<T, pcsc::Error>,
    ) -> Result<T, ReaderError> {
        let mut slot = self.context.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            let context = match &*slot {
                Some(c) => c.clone(),
                None => {
                    let c = Context::establish(Scope::User).map_err(watch::unreachable)?;
                    *slot = Some(c.clone());
                    c
                }
            };
            match f(&context) {
                Ok(v) => return Ok(v),
                Err(e) if watch::service_lost(e) && attempt == 0 => *slot = None,
                Err(e) if watch::service_lost(e) => return Err(watch::unreachable(e)),
                Err(e) => return Err(ReaderError::Failure(format!("listing readers: {e}"))),
            }
        }
        Err(ReaderError::Failure("pcscd is not reachable".into()))
    }

    /// Every PC/SC reader, and whether a card is on it.
    pub fn list_readers(&self, _deadline: Instant) -> Result<Vec<ReaderInfo>, ReaderError> {
        self.with_context(|context| {
            let names = watch::reader_names(context)?;
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let mut states: Vec<ReaderState> = names
                .into_iter()
                .map(|n| ReaderState::new(n, State::UNAWARE))
                .collect();
            match context.get_status_change(Duration::ZERO, &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(e),
            }
            Ok(states
                .iter()
                .filter(|s| self.config.serves(&s.name().to_string_lossy()))
                .map(|s| {
                    watch::reader_info(
                        &s.name().to_string_lossy(),
                        s.event_state().contains(State::PRESENT),
                    )
                })
                .collect())
        })
    }

    /// Blocks until the next reader attach/detach or card insert/remove, or returns None at the
    /// deadline. Readers present on the first call are the starting point, not events.
    /// A second caller waits its turn, but no longer than its own deadline.
    pub fn next_event(&self, deadline: Instant) -> Result<Option<ReaderEvent>, ReaderError> {
        let Some(mut watcher) = self.watcher.take(deadline) else {
            return Ok(None);
        };
        loop {
            match watcher.next(deadline)? {
                Some(e) if !self.config.serves(&e.reader.name) => continue,
                other => return Ok(other),
            }
        }
    }

    /// Takes the card on `reader` exclusively for one check. Each session has its own PC/SC
    /// context, so checks on different readers run side by side; dropping the session resets
    /// the card (its verified PIN does not outlive the check) and lets it go.
    pub fn open(&self, reader: &str, deadline: Instant) -> Result<PcscSession, ReaderError> {
        if Instant::now() >= deadline {
            return Err(ReaderError::Timeout);
        }
        if !self.config.serves(reader) {
            return Err(ReaderError::NotFound(reader.to_owned()));
        }
        let name = CString::new(reader).map_err(|_| ReaderError::NotFound(reader.to_owned()))?;
        let context = Context::establish(Scope::User).map_err(watch::unreachable)?;
        let card = context
            .connect(&name, ShareMode::Exclusive, Protocols::ANY)
            .map_err(|e| connect_error(e, reader))?;
        // The card was there a moment ago: any failure now means it left.
        let atr =
            card.status2_owned()
                .map(|s| s.atr().to_vec())
                .map_err(|e| match connect_error(e, reader) {
                    ReaderError::NoCard => ReaderError::CardRemoved,
                    other => other,
                })?;
        let plan = match self.config.extended_length {
            ExtendedLength::Always => ReadPlan::Fixed { extended: true },
            ExtendedLength::Never => ReadPlan::Fixed { extended: false },
            ExtendedLength::Auto
                if atr::extended_length(&atr) == ExtendedLengthDeclaration::ShortOnly
                    || !reader_takes_extended(&card) =>
            {
                ReadPlan::Fixed { extended: false }
            }
            ExtendedLength::Auto => ReadPlan::Learn,
        };
        tracing::debug!(
            reader,
            atr = atr.iter().map(|b| format!("{b:02X}")).collect::<String>(),
            ?plan,
            "card opened"
        );
        Ok(PcscSession::new(
            card,
            reader,
            plan,
            self.extended_memory.clone(),
            self.config.media,
        ))
    }
}
