//! An embedded simulator of OQS and a simulated card reader holding virtual My Number cards.
//!
//! It is the daemon's default upstream and reader, so shikaku runs and is testable anywhere. It
//! behaves like the real thing where a client can tell: results for every variant come from a
//! fixture data set (`fixtures/oqs.toml`), card checks verify a real RSA-2048 signature over a
//! fresh challenge against a certificate chain, PINs lock after 3 wrong tries, activation codes and
//! visual-check passwords are kept only as slow hashes in the simulator's own SQLite file, keyed
//! with a secret kept beside it (`simulator.key`), and hashed on a bounded pool.

mod directory;
mod fixture;
mod hashing;
mod pki;
mod reader;
pub mod shapes;
mod state;
mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use directory::Directory;
pub use reader::SimulatedReaders;
pub use upstream::Simulator;

use rsa::PrivateKey;
use shikaku_domain::pb::Medium;

/// How to build the simulator.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// A fixture file replacing the embedded one; its card keys are read from `keys/` beside it.
    pub fixture: Option<PathBuf>,
    /// The simulator's own state (activation codes, visual-check passwords, lockouts). The key
    /// its secrets are keyed with is kept beside it, with the extension `.key`.
    pub state_path: PathBuf,
    /// How long after issue an activation code becomes usable (about 10 minutes at OQS).
    pub activation_delay: Duration,
    /// Pending activation codes a facility may hold at once.
    pub max_pending_devices: u32,
    /// Argon2id memory cost in KiB for stored secrets.
    pub hash_memory_kib: u32,
    /// Argon2id passes.
    pub hash_passes: u32,
}

impl SimulatorConfig {
    pub fn new(state_path: PathBuf) -> Self {
        Self {
            fixture: None,
            state_path,
            activation_delay: Duration::from_secs(600),
            max_pending_devices: 20,
            hash_memory_kib: 19 * 1024,
            hash_passes: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot read the simulator fixture {path}: {reason}")]
    Fixture { path: String, reason: String },
    #[error("simulator key for card {card:?}: {reason}")]
    Key { card: String, reason: String },
    #[error("simulator state: {0}")]
    State(#[from] rusqlite::Error),
    /// The state file, its directory or its key file could not be made or read.
    #[error("simulator file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("simulator certificate: {0}")]
    Certificate(String),
}

/// Builds the simulated OQS and the simulated readers from one fixture.
pub fn build(
    config: &SimulatorConfig,
) -> Result<(Arc<Simulator>, Arc<SimulatedReaders>), SimulatorError> {
    let fixture = fixture::load(config.fixture.as_deref())?;
    let pki = pki::Pki::issue(&fixture)?;
    let state = state::State::open(config)?;
    let readers = Arc::new(SimulatedReaders::new(&fixture, &pki));
    let simulator = Arc::new(Simulator::new(fixture, pki, state, config));
    Ok((simulator, readers))
}

/// One card of the embedded fixture, as a test card outside the daemon (the PC/SC test card)
/// needs it to play that card so that the embedded simulator accepts its signatures.
pub struct FixtureCard {
    /// None: not a My Number card (no JPKI applet).
    pub medium: Option<Medium>,
    /// The 4-digit PIN (empty for an iPhone, which takes none at the reader).
    pub pin: String,
    pub tries_left: u8,
    /// 利用者証明用電子証明書 (DER) and its private key; None without a JPKI applet.
    pub credentials: Option<(Vec<u8>, PrivateKey)>,
}

/// The embedded fixture's card `card_id`, with a certificate issued by the simulator's fixed CA
/// under the same serial the simulator maps back to the card.
pub fn fixture_card(card_id: &str) -> Result<FixtureCard, SimulatorError> {
    let fixture = fixture::load(None)?;
    let card = fixture
        .card
        .iter()
        .find(|c| c.id == card_id)
        .ok_or_else(|| SimulatorError::Key {
            card: card_id.to_owned(),
            reason: "no such card in the embedded fixture".into(),
        })?;
    let medium = match card.medium {
        fixture::CardMedium::Card => Some(Medium::MyNumberCard),
        fixture::CardMedium::Android => Some(Medium::Android),
        fixture::CardMedium::Iphone => Some(Medium::Iphone),
        fixture::CardMedium::Other => None,
    };
    let mut pki = pki::Pki::issue(&fixture)?;
    Ok(FixtureCard {
        medium,
        pin: card.pin.clone(),
        tries_left: card.tries_left,
        credentials: pki
            .cards
            .remove(card_id)
            .map(|k| (k.certificate_der, k.key)),
    })
}

/// Builds only the simulated readers, for the reader plugin, which keeps no OQS state.
pub fn build_readers(
    fixture: Option<&std::path::Path>,
) -> Result<Arc<SimulatedReaders>, SimulatorError> {
    let fixture = fixture::load(fixture)?;
    let pki = pki::Pki::issue(&fixture)?;
    Ok(Arc::new(SimulatedReaders::new(&fixture, &pki)))
}
