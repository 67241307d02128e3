//! The C ABI between `shikakud` and the plugins it loads (card readers, smartphone-certificate
//! readers, upstream transports), mirrored by `sdk/include/shikaku_plugin.h`.
//!
//! Modelled on PKCS#11's function list and Envoy's dynamic modules: a plugin exports one entry
//! symbol per major ABI version returning a static [`PluginDescriptor`]; only `repr(C)` structs,
//! fixed-width integers, raw pointers and `extern "C"` functions cross; anything richer crosses as
//! protobuf bytes (`proto/shikaku/plugin/v1/plugin.proto`); each side frees what it allocated.
//! Structs are append-only within a major version and carry their own size, so a newer host
//! reads a field only when the plugin's struct is long enough to hold it.
#![no_std]
#![allow(unsafe_code)] // `unsafe impl Sync` for the static descriptor and vtables.

use core::ffi::c_void;

/// The ABI major version: a new major means a new entry symbol.
pub const ABI_MAJOR: u16 = 1;
/// The ABI minor version: 1.1 appended `next_event` and `bulk_check` to the upstream vtable,
/// 1.2 `register_reference_number` and `bulk_query`.
pub const ABI_MINOR: u16 = 2;
/// The entry symbol of ABI major 1.
pub const ENTRY_SYMBOL_V1: &[u8] = b"shikaku_plugin_entry_v1\0";

/// A card reader (PC/SC, a face-auth reader) reading My Number cards.
pub const KIND_CARD_READER: u32 = 1;
/// A reader of スマホ用電子証明書 (Android and iPhone).
pub const KIND_SMARTPHONE_READER: u32 = 2;
/// An upstream transport to OQS (the 資格確認端末 folders, the Web API).
pub const KIND_UPSTREAM: u32 = 3;

/// The plugin may be called from many threads at once; without it the host serialises calls.
pub const FLAG_THREAD_SAFE: u64 = 1 << 0;
/// The upstream sends many checks as one bulk upload (一括照会) in `bulk_check`.
pub const FLAG_BULK_CHECK: u64 = 1 << 1;

/// Call status codes: the gRPC code numbers, so the host maps them one to one.
pub mod status {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// Log levels for [`HostApi::log`].
pub mod log_level {
    pub const ERROR: u32 = 1;
    pub const WARN: u32 = 2;
    pub const INFO: u32 = 3;
    pub const DEBUG: u32 = 4;
    pub const TRACE: u32 = 5;
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiVersion {
    pub major: u16,
    pub minor: u16,
}

/// Borrowed bytes, valid only for the duration of the call they are passed to.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl Bytes {
    pub const EMPTY: Bytes = Bytes {
        ptr: core::ptr::null(),
        len: 0,
    };

    pub const fn from_static(s: &'static str) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    pub fn from_slice(s: &[u8]) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes for the lifetime `'a`, or be null with `len` 0.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees the pointer and length.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// Bytes a plugin allocated and hands to the host; the host gives them back to
/// [`PluginDescriptor::free_buf`], never to its own allocator.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl OwnedBuf {
    pub const EMPTY: OwnedBuf = OwnedBuf {
        ptr: core::ptr::null_mut(),
        len: 0,
        cap: 0,
    };
}

/// The outcome of a call: `code` is [`status::OK`] or a gRPC code, and on failure `error` holds an
/// encoded `shikaku.plugin.v1.Error` (or is empty).
#[repr(C)]
#[derive(Debug)]
pub struct CallStatus {
    pub code: i32,
    pub error: OwnedBuf,
}

/// What the host offers a plugin, passed to `create`. Append-only, like the descriptor.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    pub struct_size: usize,
    pub abi: AbiVersion,
    pub ctx: *mut c_void,
    /// The most verbose level the host will record, so a plugin skips formatting the rest.
    pub max_log_level: u32,
    /// Records one log line from the plugin. Thread-safe; `msg` is UTF-8.
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: Bytes),
}

/// A call on an instance or a session: a protobuf (or raw) request in, a buffer out.
pub type MethodFn = unsafe extern "C" fn(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus;

/// Makes an instance from the host API and a JSON configuration.
pub type CreateFn = unsafe extern "C" fn(
    host: *const HostApi,
    config: Bytes,
    out_instance: *mut *mut c_void,
) -> CallStatus;

/// What the entry symbol returns. The prefix up to `vtable` is frozen for ABI major 1.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    pub struct_size: usize,
    pub abi: AbiVersion,
    pub kind: u32,
    pub flags: u64,
    /// Static UTF-8, e.g. "acme-ccid".
    pub name: Bytes,
    pub plugin_version: Bytes,
    /// Free-form build facts for diagnostics (compiler, target), like stabby's canaries.
    pub build_info: Bytes,
    pub free_buf: Option<unsafe extern "C" fn(buf: OwnedBuf)>,
    /// Makes an instance from the host API and a JSON configuration.
    pub create: Option<CreateFn>,
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
    /// Points to the vtable of `kind`: [`ReaderVTableV1`] or [`UpstreamVTableV1`].
    pub vtable: *const c_void,
}

/// Card readers and smartphone-certificate readers. A null method means "not supported".
///
/// Instance methods take the instance; session methods take the session `open` made.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ReaderVTableV1 {
    pub struct_size: usize,
    /// → `ReaderList`.
    pub list_readers: Option<MethodFn>,
    /// Blocks until a reader or card event or the timeout → `ReaderEventReply`.
    pub next_event: Option<MethodFn>,
    /// Takes the card on the reader named in `reader` (UTF-8) exclusively for one check.
    pub open: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            reader: Bytes,
            timeout_ms: u32,
            out_session: *mut *mut c_void,
        ) -> CallStatus,
    >,
    /// Releases the card.
    pub close: Option<unsafe extern "C" fn(session: *mut c_void)>,
    /// Session → `MediumReply`.
    pub medium: Option<MethodFn>,
    /// Session → the user-authentication certificate, DER.
    pub read_auth_certificate: Option<MethodFn>,
    /// Session, request = the PIN's ASCII digits → nothing.
    pub verify_pin: Option<MethodFn>,
    /// Session, request = a SHA-256 DigestInfo → the RSA signature.
    pub sign: Option<MethodFn>,
    /// Session → nothing.
    pub authenticate_face: Option<MethodFn>,
}

/// Upstream transports. Every request and answer is a `shikaku.plugin.v1` message; a null
/// method means "not supported".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UpstreamVTableV1 {
    pub struct_size: usize,
    /// → raw challenge bytes.
    pub challenge: Option<MethodFn>,
    /// `CardCheckRequest` → `shikaku.v1.QualificationResult`.
    pub check_by_card: Option<MethodFn>,
    /// `NumbersCheckRequest` → `shikaku.v1.QualificationResult`.
    pub check_by_numbers: Option<MethodFn>,
    /// `IssueActivationCodeRequest` → `IssuedActivationCode`.
    pub issue_activation_code: Option<MethodFn>,
    /// `RedeemActivationCodeRequest` → `RedeemActivationCodeReply`.
    pub redeem_activation_code: Option<MethodFn>,
    /// `RevokeActivationCodeRequest` → nothing.
    pub revoke_activation_code: Option<MethodFn>,
    /// `VisualCheckPasswordRequest` → `IssuedPassword`.
    pub issue_visual_check_password: Option<MethodFn>,
    /// `VisualCheckPasswordRequest` → nothing.
    pub verify_visual_check_password: Option<MethodFn>,
    // --- ABI 1.1 ---
    /// Blocks until an unsolicited result or the timeout → `UpstreamEventReply`.
    pub next_event: Option<MethodFn>,
    /// `BulkCheckRequest` → `BulkCheckReply`.
    pub bulk_check: Option<MethodFn>,
    // --- ABI 1.2 ---
    /// `ReferenceNumberRequest` → `ReferenceNumberReply` (照会番号の登録).
    pub register_reference_number: Option<MethodFn>,
    /// `BulkQueryRequest` → `BulkCheckReply` (医療扶助, 訪問診療, オンライン診療 一括照会).
    pub bulk_query: Option<MethodFn>,
}

/// The size of the upstream vtable in ABI 1.0, before `next_event` and `bulk_check`.
pub const UPSTREAM_VTABLE_V1_0_SIZE: usize = core::mem::offset_of!(UpstreamVTableV1, next_event);

// SAFETY: descriptors and vtables are immutable statics; their pointers point to other statics
// (names, vtables) or functions, which are safe to share between threads.
unsafe impl Sync for PluginDescriptor {}
unsafe impl Sync for ReaderVTableV1 {}
unsafe impl Sync for UpstreamVTableV1 {}
unsafe impl Send for HostApi {}
unsafe impl Sync for HostApi {}

/// The entry symbol's type.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;
