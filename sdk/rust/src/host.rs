//! The host's services as a plugin sees them: logging, with `tracing` and panics forwarded.
//!
//! A plugin is a separate copy of std and tracing, with its own globals: without a bridge its
//! `tracing` events would go nowhere and its panic messages straight to stderr.

use std::ffi::c_void;
use std::fmt::Write as _;
use std::sync::Once;

use shikaku_plugin_abi::{Bytes, HostApi, log_level};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

type LogFn = unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: Bytes);

/// The daemon, as seen from inside a plugin.
#[derive(Clone, Copy)]
pub struct Host {
    ctx: *mut c_void,
    log: Option<LogFn>,
    max_level: u32,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("max_level", &self.max_level)
            .finish()
    }
}

// SAFETY: the ABI requires the host's `log` to be thread-safe and its `ctx` to live as long as
// the process.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

fn level_number(level: Level) -> u32 {
    match level {
        Level::ERROR => log_level::ERROR,
        Level::WARN => log_level::WARN,
        Level::INFO => log_level::INFO,
        Level::DEBUG => log_level::DEBUG,
        Level::TRACE => log_level::TRACE,
    }
}

impl Host {
    /// Copies what it needs out of the host's API, reading only fields its size covers.
    ///
    /// # Safety
    /// `api` is null or points to a `HostApi` valid for the call.
    pub(crate) unsafe fn from_api(api: *const HostApi) -> Self {
        let none = Host {
            ctx: std::ptr::null_mut(),
            log: None,
            max_level: 0,
        };
        if api.is_null() {
            return none;
        }
        // SAFETY: non-null and valid per the contract above.
        let api = unsafe { &*api };
        if api.struct_size < std::mem::size_of::<HostApi>() {
            return none;
        }
        Host {
            ctx: api.ctx,
            log: Some(api.log),
            max_level: api.max_log_level,
        }
    }

    /// Whether the host records `level`.
    pub fn enabled(&self, level: Level) -> bool {
        self.log.is_some() && level_number(level) <= self.max_level
    }

    /// Records one line in the daemon's log. Never pass a secret.
    pub fn log(&self, level: Level, message: &str) {
        if let (Some(log), true) = (self.log, self.enabled(level)) {
            // SAFETY: the host keeps `ctx` and `log` valid for the process; the bytes live
            // through the call.
            unsafe {
                log(
                    self.ctx,
                    level_number(level),
                    Bytes::from_slice(message.as_bytes()),
                )
            }
        }
    }

    /// Sends this plugin's `tracing` events and panic messages to the host, once per process.
    pub(crate) fn install(&self) {
        static ONCE: Once = Once::new();
        let host = *self;
        ONCE.call_once(move || {
            let filter = match host.max_level {
                0 => LevelFilter::OFF,
                1 => LevelFilter::ERROR,
                2 => LevelFilter::WARN,
                3 => LevelFilter::INFO,
                4 => LevelFilter::DEBUG,
                _ => LevelFilter::TRACE,
            };
            let subscriber = tracing_subscriber::registry()
                .with(ToHost(host))
                .with(filter);
            let _ = tracing::subscriber::set_global_default(subscriber);
            std::panic::set_hook(Box::new(move |info| {
                host.log(Level::ERROR, &format!("plugin panicked: {info}"));
            }));
        });
    }
}

/// A `tracing` layer that formats each event as one line for the host.
struct ToHost(Host);

impl<S: Subscriber> Layer<S> for ToHost {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if !self.0.enabled(level) {
            return;
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        let text = format!("{}: {}", event.metadata().target(), line.0.trim_start());
        self.0.log(level, &text);
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}
