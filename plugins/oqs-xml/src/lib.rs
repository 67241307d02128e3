//! The XML messages (`XmlMsg`) a receipt computer exchanges with the 資格確認端末 (the facility's
//! qualification-check terminal), through its shared folders or its Web API.
//!
//! - [`encoding`]: UTF-8 and Shift_JIS, detected from the XML declaration.
//! - [`dom`]: a small, bounded, order-independent element tree that never panics on any input.
//! - [`names`]: the message kinds and their file names (`OQSsiquc01req_….xml`, face files).
//! - [`model`]: requests and results, every field the public sources name, as raw strings.
//! - [`map`]: results to and from `shikaku.v1.QualificationResult`, errors to `UpstreamError`.
//! - [`zipped`]: results that come as a zip archive of XML, read with bounds.
//!
//! The official layout (外部インターフェイス仕様書 別紙3-1) is not public; what the public sources only
//! suggest is configurable through [`Dialect`] rather than fixed in code.

pub mod dialect;
pub mod dom;
pub mod encoding;
pub mod map;
pub mod model;
pub mod names;
mod out;
pub mod registry;
mod text;
pub mod zipped;

pub use dialect::{Dialect, EncodingCheck, InsurerPadding};
pub use dom::{Element, Limits};
pub use encoding::Encoding;
pub use model::{
    BulkConfirmUnit, MessageHeader, QualificationRecord, RegistrationInfo, Request, ResultBody,
    ResultMessage, SearchInfo,
};
pub use names::{BulkKind, Direction, FileName, MessageKind};

/// Why a message could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the message is empty")]
    Empty,
    #[error("unsupported encoding {0:?}: only UTF-8 and Shift_JIS are used by the terminal")]
    UnsupportedEncoding(String),
    #[error("the bytes are not valid {0}")]
    BadBytes(&'static str),
    #[error("the declaration says {declared} but CharacterCodeIdentifier says {identified}")]
    EncodingMismatch {
        declared: &'static str,
        identified: &'static str,
    },
    #[error("xml syntax error at byte {position}: {message}")]
    Syntax { position: u64, message: String },
    #[error("the document ends before its root element closes (truncated)")]
    Truncated,
    #[error("the document has no root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
    #[error("root element is {0:?}, expected XmlMsg")]
    NotXmlMsg(String),
    #[error("the message has no {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Limit(String),
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error("a character cannot be written in {0}")]
    Unencodable(&'static str),
}
