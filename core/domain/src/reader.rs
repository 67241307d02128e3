//! The card-reader trait: what a reader plugin (PC/SC, a face-auth reader, the simulator) offers.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::pb::Medium;
use crate::secret::Pin;

/// A reader as its plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub name: String,
    pub description: String,
    pub card_present: bool,
    /// 顔認証付きカードリーダー.
    pub face_auth: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderEventKind {
    ReaderAdded,
    ReaderRemoved,
    CardInserted,
    CardRemoved,
}

#[derive(Debug, Clone)]
pub struct ReaderEvent {
    pub kind: ReaderEventKind,
    pub reader: ReaderInfo,
}

/// What can go wrong at a reader. Each maps to one `ErrorReason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaderError {
    #[error("no reader named {0:?}")]
    NotFound(String),
    #[error("no card or phone on the reader")]
    NoCard,
    #[error("the card is not a my number card (no jpki applet)")]
    NotMyNumberCard,
    #[error("pin incorrect, {tries_left} tries left")]
    PinIncorrect { tries_left: u8 },
    #[error("the card's pin is locked after 3 wrong tries")]
    CardLocked,
    #[error("the card was removed during the check")]
    CardRemoved,
    #[error("the reader is busy with another check")]
    Busy,
    #[error("an android smartphone needs its pin before its certificate can be read")]
    PinRequired,
    /// An iPhone keeps its certificate and key closed until it is unlocked on the phone; the
    /// same check succeeds once it is.
    #[error("the smartphone is locked: unlock it, then hold it to the reader again")]
    PhoneLocked,
    #[error("the reader cannot do face authentication")]
    FaceAuthUnsupported,
    #[error("the face did not match the card photo")]
    FaceNotMatched,
    #[error("reader failure: {0}")]
    Failure(String),
    #[error("the reader did not answer in time")]
    Timeout,
    /// The reader's plugin panicked or hung earlier; it stays failed until the daemon restarts.
    #[error("reader plugin failed: {0}")]
    PluginFailed(String),
}

/// A reader plugin: lists readers, reports card events, and opens a reader for one check.
#[async_trait]
pub trait CardReader: Send + Sync + 'static {
    async fn list_readers(&self) -> Result<Vec<ReaderInfo>, ReaderError>;

    /// Reader and card events from now on.
    fn subscribe(&self) -> broadcast::Receiver<ReaderEvent>;

    /// Takes the card on `reader` exclusively for one check; dropping the session lets it go.
    async fn open(&self, reader: &str) -> Result<Box<dyn CardSession>, ReaderError>;
}

/// One check's exclusive hold on a card or phone.
#[async_trait]
pub trait CardSession: Send {
    /// Selects the JPKI applet and reads its token: card, Android or iPhone.
    async fn medium(&mut self) -> Result<Medium, ReaderError>;

    /// 利用者証明用電子証明書, DER.
    async fn read_auth_certificate(&mut self) -> Result<Vec<u8>, ReaderError>;

    /// VERIFY the 4-digit PIN; a wrong PIN reports tries left, the third locks the card.
    async fn verify_pin(&mut self, pin: &Pin) -> Result<(), ReaderError>;

    /// Signs a SHA-256 DigestInfo with the user-authentication key (needs a verified PIN).
    async fn sign(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, ReaderError>;

    /// Face authentication at a face-auth reader.
    async fn authenticate_face(&mut self) -> Result<(), ReaderError>;
}

/// The DER prefix of a SHA-256 DigestInfo (PKCS#1 v1.5), which the JPKI card pads and signs.
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The SHA-256 DigestInfo of `data`.
pub fn sha256_digest_info(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = SHA256_DIGEST_INFO_PREFIX.to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(data));
    out
}
