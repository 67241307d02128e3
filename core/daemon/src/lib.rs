//! `shikakud`: the server (`shikaku-server`) with its upstream and readers plugged in — the
//! plugins the configuration names, or the embedded simulator. The server's modules are
//! re-exported, so `shikaku_daemon::config` and the like name what the server has.

mod running;
pub mod wiring;

pub use running::Running;
pub use shikaku_server::*;
pub use wiring::{Wired, WiringError, wire};
