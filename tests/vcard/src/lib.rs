//! A virtual My Number card for vsmartcard's vpcd reader driver, and a test rig that runs it
//! against the real pcscd.
//!
//! The card plays the simulator fixture's cards (same certificates and keys, so the daemon's
//! embedded OQS simulator accepts its signatures): a My Number card, an Android phone
//! (`JPKIAPGPSETOKEN`, PIN before certificate), an iPhone (no PIN at the reader) and a card with
//! no JPKI applet. It keeps PIN retry counters, locks on the third wrong PIN, comes and goes on
//! command, and counts the APDUs it answers.
//!
//! ```no_run
//! let Some(rig) = shikaku_vcard::Rig::start_or_skip("my_test", 1) else { return };
//! rig.insert(0, "taro").unwrap(); // returns once pcscd reports the card present
//! let reader = rig.reader(0).name(); // "Virtual PCD 00 00"
//! # let _ = reader;
//! ```

pub mod apdu;
pub mod applet;
pub mod card;
pub mod rig;
pub mod slot;

pub use card::{Card, CardProfile, Kind, Wallet};
pub use rig::{Rig, RigReader};
pub use slot::{ApduRecord, InsertOptions, Slot, VPCD_BASE_PORT};

/// What can go wrong with the test card or the rig.
#[derive(Debug, thiserror::Error)]
pub enum VcardError {
    #[error("no fixture card {0:?}: {1}")]
    UnknownCard(String, String),
    #[error("cannot reach vpcd on 127.0.0.1:{0}: {1}")]
    Vpcd(u16, std::io::Error),
    #[error("pcscd is not reachable: {0}")]
    PcscdUnavailable(String),
    #[error("cannot lock the reader with {0}: {1}")]
    Lock(std::path::PathBuf, std::io::Error),
    #[error("timed out: {0}")]
    Timeout(String),
}
