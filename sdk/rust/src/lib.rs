//! Write a shikaku plugin in safe Rust: implement one trait, invoke one export macro.
//!
//! ```ignore
//! struct AcmeReader { /* a pcsc::Context, ... */ }
//! impl shikaku_plugin_sdk::ReaderPlugin for AcmeReader { /* ... */ }
//! shikaku_plugin_sdk::export_card_reader!(AcmeReader, name = "acme-ccid", version = env!("CARGO_PKG_VERSION"));
//! ```
//!
//! The macro exports `shikaku_plugin_entry_v1`, whose descriptor points at generic shims that
//! run each call under `catch_unwind` (a panic becomes an error and poisons the instance), turn
//! the trait's typed values into the protobuf bytes of `shikaku.plugin.v1`, and hand buffers back
//! to the host to return to this library's `free_buf`. Plugins built with `panic = "abort"` do not
//! compile, since an abort would take the daemon down with the plugin.

#![allow(unsafe_code)] // The shims are the one place unsafe lives, so a vendor writes none.

mod host;
mod shims;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use shikaku_contract::wire;
pub use shikaku_domain as domain;
pub use shikaku_plugin_abi as abi;
pub use shikaku_proto::plugin::v1 as pb;

pub use host::Host;
use shikaku_domain::pb::{Medium, QualificationResult};
use shikaku_domain::reader::{ReaderError, ReaderEvent, ReaderInfo};
use shikaku_domain::secret::{ActivationCode, Pin, VisualCheckPassword};
use shikaku_domain::upstream::{
    BulkQuery, CardCheck, IssuedActivationCode, IssuedPassword, NumbersCheck,
    ReferenceNumberRegistration, RegisteredReferenceNumber, UpstreamError, UpstreamEvent,
};
use shikaku_domain::values::{AccountId, DeviceMemo};
pub use tracing::Level;

#[cfg(not(panic = "unwind"))]
compile_error!(
    "shikaku plugins must be built with panic = \"unwind\": a panic is caught at the plugin \
     boundary and reported, while an abort would take the whole daemon down"
);

/// When a call must have answered by. The host passes it with every call.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Self(Instant::now() + timeout)
    }

    pub fn instant(&self) -> Instant {
        self.0
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Why `create` refused: a bad configuration or a device that cannot be opened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    pub message: String,
}

impl PluginError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn config(message: impl std::fmt::Display) -> Self {
        Self::new(format!("bad plugin configuration: {message}"))
    }
}

/// A card reader or smartphone-certificate reader (`export_card_reader!`,
/// `export_smartphone_reader!`). Calls come from many threads at once.
pub trait ReaderPlugin: Send + Sync + Sized + 'static {
    type Session: ReaderSession;

    /// Builds the plugin from its `[plugins.config]` table (as JSON).
    fn create(host: Host, config: &serde_json::Value) -> Result<Self, PluginError>;

    fn list_readers(&self, deadline: Deadline) -> Result<Vec<ReaderInfo>, ReaderError>;

    /// Blocks until the next reader or card event, or answers `None` at the deadline
    /// (like `SCardGetStatusChange`). The host calls it in a loop from one thread.
    fn next_event(&self, deadline: Deadline) -> Result<Option<ReaderEvent>, ReaderError>;

    /// Takes the card on `reader` exclusively for one check; dropping the session releases it.
    fn open(&self, reader: &str, deadline: Deadline) -> Result<Self::Session, ReaderError>;
}

/// One check's exclusive hold on a card or phone.
pub trait ReaderSession: Send + 'static {
    /// Selects the JPKI applet and reads its token: card, Android or iPhone.
    fn medium(&mut self, deadline: Deadline) -> Result<Medium, ReaderError>;
    /// 利用者証明用電子証明書, DER.
    fn read_auth_certificate(&mut self, deadline: Deadline) -> Result<Vec<u8>, ReaderError>;
    fn verify_pin(&mut self, pin: &Pin, deadline: Deadline) -> Result<(), ReaderError>;
    /// Signs a SHA-256 DigestInfo with the user-authentication key.
    fn sign(&mut self, digest_info: &[u8], deadline: Deadline) -> Result<Vec<u8>, ReaderError>;
    fn authenticate_face(&mut self, _deadline: Deadline) -> Result<(), ReaderError> {
        Err(ReaderError::FaceAuthUnsupported)
    }
}

/// An upstream transport to OQS (`export_upstream!`). Calls come from many threads at once.
pub trait UpstreamPlugin: Send + Sync + Sized + 'static {
    /// Whether `bulk_check` sends one bulk upload (一括照会) rather than one check per patient.
    const SUPPORTS_BULK: bool = false;

    fn create(host: Host, config: &serde_json::Value) -> Result<Self, PluginError>;

    /// A fresh random challenge for the card to sign.
    fn challenge(&self, deadline: Deadline) -> Result<Vec<u8>, UpstreamError>;

    fn check_by_card(
        &self,
        check: CardCheck,
        deadline: Deadline,
    ) -> Result<QualificationResult, UpstreamError>;

    fn check_by_numbers(
        &self,
        check: &NumbersCheck,
        deadline: Deadline,
    ) -> Result<QualificationResult, UpstreamError>;

    fn issue_activation_code(
        &self,
        _memo: &DeviceMemo,
        _deadline: Deadline,
    ) -> Result<IssuedActivationCode, UpstreamError> {
        Err(UpstreamError::Unsupported("activation codes"))
    }

    fn redeem_activation_code(
        &self,
        _code: &ActivationCode,
        _device_id: &str,
        _deadline: Deadline,
    ) -> Result<String, UpstreamError> {
        Err(UpstreamError::Unsupported("activation codes"))
    }

    fn revoke_activation_code(&self, _id: &str, _deadline: Deadline) -> Result<(), UpstreamError> {
        Err(UpstreamError::Unsupported("activation codes"))
    }

    fn issue_visual_check_password(
        &self,
        _account: &AccountId,
        _deadline: Deadline,
    ) -> Result<IssuedPassword, UpstreamError> {
        Err(UpstreamError::Unsupported("visual-check passwords"))
    }

    fn verify_visual_check_password(
        &self,
        _account: &AccountId,
        _password: &VisualCheckPassword,
        _deadline: Deadline,
    ) -> Result<(), UpstreamError> {
        Err(UpstreamError::Unsupported("visual-check passwords"))
    }

    /// Unsolicited results (the folder transport's `face` files), or `None` at the deadline.
    fn next_event(&self, deadline: Deadline) -> Result<Option<UpstreamEvent>, UpstreamError> {
        std::thread::sleep(deadline.remaining());
        Ok(None)
    }

    /// Many checks by numbers; each answer in the order asked. The default checks one by one.
    #[allow(clippy::type_complexity)]
    fn bulk_check(
        &self,
        checks: &[NumbersCheck],
        deadline: Deadline,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        Ok(checks
            .iter()
            .map(|c| {
                if deadline.expired() {
                    Err(UpstreamError::Timeout)
                } else {
                    self.check_by_numbers(c, deadline)
                }
            })
            .collect())
    }

    /// 照会番号の登録 for one person.
    fn register_reference_number(
        &self,
        _registration: &ReferenceNumberRegistration,
        _deadline: Deadline,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        Err(UpstreamError::Unsupported("照会番号 registration"))
    }

    /// 一括照会 of a query kind (医療扶助, 訪問診療, オンライン診療): everyone OQS lists.
    #[allow(clippy::type_complexity)]
    fn bulk_query(
        &self,
        _query: &BulkQuery,
        _confirmation_date: chrono::NaiveDate,
        _deadline: Deadline,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        Err(UpstreamError::Unsupported("this kind of bulk query"))
    }
}

/// Runs a future to completion on a runtime this plugin owns (built on first use), so an async
/// transport (reqwest, say) never touches the daemon's runtime: each side has its own tokio.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("shikaku-plugin")
                .enable_all()
                .build()
                .expect("build the plugin's tokio runtime")
        })
        .block_on(future)
}

/// Exports a card-reader plugin: `export_card_reader!(Type, name = "...", version = "...")`.
#[macro_export]
macro_rules! export_card_reader {
    ($plugin:ty, name = $name:expr, version = $version:expr $(,)?) => {
        $crate::__export_reader!($plugin, $crate::abi::KIND_CARD_READER, $name, $version);
    };
}

/// Exports a smartphone-certificate reader plugin.
#[macro_export]
macro_rules! export_smartphone_reader {
    ($plugin:ty, name = $name:expr, version = $version:expr $(,)?) => {
        $crate::__export_reader!(
            $plugin,
            $crate::abi::KIND_SMARTPHONE_READER,
            $name,
            $version
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_reader {
    ($plugin:ty, $kind:expr, $name:expr, $version:expr) => {
        #[cfg(not(panic = "unwind"))]
        compile_error!("shikaku plugins must be built with panic = \"unwind\"");

        /// The plugin's entry point (ABI major 1).
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn shikaku_plugin_entry_v1() -> *const $crate::abi::PluginDescriptor {
            static VTABLE: $crate::abi::ReaderVTableV1 =
                $crate::__private::reader_vtable::<$plugin>();
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::__private::descriptor(
                $kind,
                $crate::abi::FLAG_THREAD_SAFE,
                $name,
                $version,
                &VTABLE as *const $crate::abi::ReaderVTableV1 as *const ::core::ffi::c_void,
                $crate::__private::create_reader::<$plugin>,
                $crate::__private::destroy_reader::<$plugin>,
            );
            &DESCRIPTOR
        }
    };
}

/// Exports an upstream-transport plugin: `export_upstream!(Type, name = "...", version = "...")`.
#[macro_export]
macro_rules! export_upstream {
    ($plugin:ty, name = $name:expr, version = $version:expr $(,)?) => {
        #[cfg(not(panic = "unwind"))]
        compile_error!("shikaku plugins must be built with panic = \"unwind\"");

        /// The plugin's entry point (ABI major 1).
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn shikaku_plugin_entry_v1() -> *const $crate::abi::PluginDescriptor {
            static VTABLE: $crate::abi::UpstreamVTableV1 =
                $crate::__private::upstream_vtable::<$plugin>();
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::__private::descriptor(
                $crate::abi::KIND_UPSTREAM,
                $crate::__private::upstream_flags::<$plugin>(),
                $name,
                $version,
                &VTABLE as *const $crate::abi::UpstreamVTableV1 as *const ::core::ffi::c_void,
                $crate::__private::create_upstream::<$plugin>,
                $crate::__private::destroy_upstream::<$plugin>,
            );
            &DESCRIPTOR
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::shims::{
        create_reader, create_upstream, descriptor, destroy_reader, destroy_upstream,
        reader_vtable, upstream_flags, upstream_vtable,
    };
}
