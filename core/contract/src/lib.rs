//! The plugin contract, low in the house: below both the plugin host (inside the daemon) and the
//! plugin SDK (inside each plugin), above the domain.
//!
//! - `errors`: the one table from domain errors to gRPC code, `ErrorReason` and metadata.
//! - `messages`: the ja-JP text staff read for every reason.
//! - `wire`: domain values and errors as the `shikaku.plugin.v1` messages that cross the ABI.
//!
//! Both sides of the ABI use this one crate, so an error or a check means the same thing on both.

pub mod errors;
pub mod messages;
pub mod wire;
