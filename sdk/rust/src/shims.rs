//! The `extern "C"` functions behind every descriptor, generic over the vendor's type.
//!
//! Each one: turns the raw arguments into safe values, runs the trait method under
//! `catch_unwind`, and turns the result into protobuf bytes or an error. A panic poisons the
//! instance: its later calls fail fast, since its state may be half-changed.

// A failure carries a whole wire error by value; it is the cold path, so its size costs nothing.
#![allow(clippy::result_large_err)]

use std::any::Any;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use shikaku_domain::pb::ErrorReason;
use shikaku_domain::reader::ReaderError;
use shikaku_domain::secret::{ActivationCode, Pin, VisualCheckPassword};
use shikaku_domain::upstream::UpstreamError;
use shikaku_domain::values::{AccountId, DeviceMemo};
use shikaku_plugin_abi::{
    ABI_MAJOR, ABI_MINOR, AbiVersion, Bytes, CallStatus, CreateFn, FLAG_BULK_CHECK,
    FLAG_THREAD_SAFE, HostApi, OwnedBuf, PluginDescriptor, ReaderVTableV1, UpstreamVTableV1,
    status,
};
use shikaku_proto::plugin::v1 as w;
use zeroize::Zeroize;

use crate::wire::{self, WireError};
use crate::{Deadline, Host, ReaderPlugin, ReaderSession, UpstreamPlugin};

type Failure = (i32, w::Error);

struct Instance<P> {
    plugin: P,
    poisoned: AtomicBool,
}

struct Session<P: ReaderPlugin> {
    session: Mutex<P::Session>,
    /// The instance outlives its sessions: the host closes every session before `destroy`.
    instance: *const Instance<P>,
}

fn into_owned(bytes: Vec<u8>) -> OwnedBuf {
    let mut bytes = ManuallyDrop::new(bytes);
    OwnedBuf {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

/// Gives back a buffer this library allocated, wiping it first: some carry secrets.
pub(crate) unsafe extern "C" fn free_buf(buf: OwnedBuf) {
    if !buf.ptr.is_null() {
        // SAFETY: the buffer came from `into_owned` in this library, unchanged.
        let mut bytes = unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) };
        bytes.zeroize();
    }
}

fn ok() -> CallStatus {
    CallStatus {
        code: status::OK,
        error: OwnedBuf::EMPTY,
    }
}

fn failed((code, error): Failure) -> CallStatus {
    CallStatus {
        code,
        error: into_owned(error.encode_to_vec()),
    }
}

fn plugin_failed(message: String) -> Failure {
    (
        status::INTERNAL,
        w::Error {
            reason: ErrorReason::PluginFailed.as_str_name().to_owned(),
            message,
            ..Default::default()
        },
    )
}

fn invalid(e: impl std::fmt::Display) -> Failure {
    (
        status::INVALID_ARGUMENT,
        w::Error {
            reason: ErrorReason::InvalidField.as_str_name().to_owned(),
            message: e.to_string(),
            ..Default::default()
        },
    )
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into());
    format!("plugin panicked: {text}")
}

/// Runs one call: refuses on a poisoned instance, catches a panic, writes the answer to `out`.
unsafe fn run(
    poisoned: &AtomicBool,
    out: *mut OwnedBuf,
    call: impl FnOnce() -> Result<Vec<u8>, Failure>,
) -> CallStatus {
    if poisoned.load(Ordering::Acquire) {
        return failed(plugin_failed(
            "the plugin panicked earlier and refuses further calls".into(),
        ));
    }
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(bytes)) => {
            if out.is_null() {
                // SAFETY: nowhere to put it; give it back ourselves.
                unsafe { free_buf(into_owned(bytes)) };
            } else {
                // SAFETY: the host passes a valid, writable `out` for the call.
                unsafe { out.write(into_owned(bytes)) };
            }
            ok()
        }
        Ok(Err(failure)) => failed(failure),
        Err(payload) => {
            poisoned.store(true, Ordering::Release);
            failed(plugin_failed(panic_message(payload.as_ref())))
        }
    }
}

fn deadline(timeout_ms: u32) -> Deadline {
    Deadline::after(Duration::from_millis(u64::from(timeout_ms)))
}

fn reader_err(e: ReaderError) -> Failure {
    wire::reader_error_to_wire(&e)
}

fn upstream_err(e: UpstreamError) -> Failure {
    wire::upstream_error_to_wire(&e)
}

fn wire_err(e: WireError) -> Failure {
    invalid(e)
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Failure> {
    M::decode(bytes).map_err(|e| invalid(format!("request does not decode: {e}")))
}

/// # Safety
/// `target` is an instance made by `create_*::<P>` and not yet destroyed.
unsafe fn instance<'a, P>(target: *mut c_void) -> &'a Instance<P> {
    // SAFETY: per the contract above.
    unsafe { &*(target as *const Instance<P>) }
}

/// # Safety
/// `request` is valid for the call.
unsafe fn bytes<'a>(request: Bytes) -> &'a [u8] {
    // SAFETY: per the contract above.
    unsafe { request.as_slice() }
}

unsafe fn create<P: Send + Sync + 'static>(
    host: *const HostApi,
    config: Bytes,
    out_instance: *mut *mut c_void,
    make: impl FnOnce(Host, &serde_json::Value) -> Result<P, crate::PluginError>,
) -> CallStatus {
    // SAFETY: the host passes a valid (or null) API and config for the call.
    let host = unsafe { Host::from_api(host) };
    host.install();
    let config = unsafe { config.as_slice() };
    let never_poisoned = AtomicBool::new(false);
    unsafe {
        run(&never_poisoned, std::ptr::null_mut(), || {
            let config: serde_json::Value = if config.is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_json::from_slice(config)
                    .map_err(|e| invalid(format!("plugin configuration is not json: {e}")))?
            };
            let plugin = make(host, &config).map_err(|e| {
                (
                    status::FAILED_PRECONDITION,
                    w::Error {
                        message: e.message,
                        ..Default::default()
                    },
                )
            })?;
            let instance = Box::new(Instance {
                plugin,
                poisoned: AtomicBool::new(false),
            });
            // SAFETY: the host passes a valid out pointer.
            out_instance.write(Box::into_raw(instance) as *mut c_void);
            Ok(Vec::new())
        })
    }
}

/// # Safety
/// Called by the host per the ABI: `host` null or valid, `config` valid for the call,
/// `out_instance` writable.
pub unsafe extern "C" fn create_reader<P: ReaderPlugin>(
    host: *const HostApi,
    config: Bytes,
    out_instance: *mut *mut c_void,
) -> CallStatus {
    unsafe { create(host, config, out_instance, P::create) }
}

/// # Safety
/// Called by the host per the ABI: `host` null or valid, `config` valid for the call,
/// `out_instance` writable.
pub unsafe extern "C" fn create_upstream<P: UpstreamPlugin>(
    host: *const HostApi,
    config: Bytes,
    out_instance: *mut *mut c_void,
) -> CallStatus {
    unsafe { create(host, config, out_instance, P::create) }
}

unsafe fn destroy<P>(target: *mut c_void) {
    if !target.is_null() {
        // SAFETY: made by `create` and destroyed once, after its sessions closed.
        let instance = unsafe { Box::from_raw(target as *mut Instance<P>) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(instance)));
    }
}

/// # Safety
/// `target` was made by the matching `create_*` and is destroyed once, after its sessions.
pub unsafe extern "C" fn destroy_reader<P: ReaderPlugin>(target: *mut c_void) {
    unsafe { destroy::<P>(target) }
}

/// # Safety
/// `target` was made by the matching `create_*` and is destroyed once, after its sessions.
pub unsafe extern "C" fn destroy_upstream<P: UpstreamPlugin>(target: *mut c_void) {
    unsafe { destroy::<P>(target) }
}

pub const fn descriptor(
    kind: u32,
    flags: u64,
    name: &'static str,
    version: &'static str,
    vtable: *const c_void,
    create: CreateFn,
    destroy: unsafe extern "C" fn(*mut c_void),
) -> PluginDescriptor {
    PluginDescriptor {
        struct_size: std::mem::size_of::<PluginDescriptor>(),
        abi: AbiVersion {
            major: ABI_MAJOR,
            minor: ABI_MINOR,
        },
        kind,
        flags,
        name: Bytes::from_static(name),
        plugin_version: Bytes::from_static(version),
        build_info: Bytes::from_static(env!("SHIKAKU_SDK_BUILD_INFO")),
        free_buf: Some(free_buf),
        create: Some(create),
        destroy: Some(destroy),
        vtable,
    }
}

// --- readers ---

pub const fn reader_vtable<P: ReaderPlugin>() -> ReaderVTableV1 {
    ReaderVTableV1 {
        struct_size: std::mem::size_of::<ReaderVTableV1>(),
        list_readers: Some(list_readers::<P>),
        next_event: Some(next_reader_event::<P>),
        open: Some(open::<P>),
        close: Some(close::<P>),
        medium: Some(medium::<P>),
        read_auth_certificate: Some(read_auth_certificate::<P>),
        verify_pin: Some(verify_pin::<P>),
        sign: Some(sign::<P>),
        authenticate_face: Some(authenticate_face::<P>),
    }
}

unsafe extern "C" fn list_readers<P: ReaderPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let inst = unsafe { instance::<P>(target) };
    unsafe {
        run(&inst.poisoned, out, || {
            let readers = inst
                .plugin
                .list_readers(deadline(timeout_ms))
                .map_err(reader_err)?;
            Ok(w::ReaderList {
                readers: readers.iter().map(wire::reader_to_wire).collect(),
            }
            .encode_to_vec())
        })
    }
}

unsafe extern "C" fn next_reader_event<P: ReaderPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let inst = unsafe { instance::<P>(target) };
    unsafe {
        run(&inst.poisoned, out, || {
            let event = inst
                .plugin
                .next_event(deadline(timeout_ms))
                .map_err(reader_err)?;
            Ok(w::ReaderEventReply {
                event: event.as_ref().map(wire::reader_event_to_wire),
            }
            .encode_to_vec())
        })
    }
}

unsafe extern "C" fn open<P: ReaderPlugin>(
    target: *mut c_void,
    reader: Bytes,
    timeout_ms: u32,
    out_session: *mut *mut c_void,
) -> CallStatus {
    let instance_ptr = target as *const Instance<P>;
    let inst = unsafe { instance::<P>(target) };
    let reader = unsafe { bytes(reader) };
    unsafe {
        run(&inst.poisoned, std::ptr::null_mut(), || {
            let reader = std::str::from_utf8(reader).map_err(invalid)?;
            let session = inst
                .plugin
                .open(reader, deadline(timeout_ms))
                .map_err(reader_err)?;
            let session = Box::new(Session::<P> {
                session: Mutex::new(session),
                instance: instance_ptr,
            });
            // SAFETY: the host passes a valid out pointer.
            out_session.write(Box::into_raw(session) as *mut c_void);
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn close<P: ReaderPlugin>(session: *mut c_void) {
    if !session.is_null() {
        // SAFETY: made by `open` and closed once.
        let session = unsafe { Box::from_raw(session as *mut Session<P>) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(session)));
    }
}

/// Runs a session method under the session's lock and its instance's poison flag.
unsafe fn with_session<P: ReaderPlugin>(
    target: *mut c_void,
    out: *mut OwnedBuf,
    call: impl FnOnce(&mut P::Session) -> Result<Vec<u8>, Failure>,
) -> CallStatus {
    // SAFETY: `target` is a session made by `open` and not yet closed; its instance outlives it.
    let session = unsafe { &*(target as *const Session<P>) };
    let inst = unsafe { &*session.instance };
    unsafe {
        run(&inst.poisoned, out, || {
            let mut guard = session
                .session
                .lock()
                .map_err(|_| plugin_failed("the session panicked earlier".into()))?;
            call(&mut guard)
        })
    }
}

unsafe extern "C" fn medium<P: ReaderPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    unsafe {
        with_session::<P>(target, out, |s| {
            let medium = s.medium(deadline(timeout_ms)).map_err(reader_err)?;
            Ok(w::MediumReply {
                medium: medium as i32,
            }
            .encode_to_vec())
        })
    }
}

unsafe extern "C" fn read_auth_certificate<P: ReaderPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    unsafe {
        with_session::<P>(target, out, |s| {
            s.read_auth_certificate(deadline(timeout_ms))
                .map_err(reader_err)
        })
    }
}

unsafe extern "C" fn verify_pin<P: ReaderPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let digits = unsafe { bytes(request) };
    unsafe {
        with_session::<P>(target, out, |s| {
            let pin = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| Pin::parse(d).ok())
                .ok_or_else(|| invalid("the pin must be 4 digits"))?;
            s.verify_pin(&pin, deadline(timeout_ms))
                .map_err(reader_err)?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn sign<P: ReaderPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let digest_info = unsafe { bytes(request) };
    unsafe {
        with_session::<P>(target, out, |s| {
            s.sign(digest_info, deadline(timeout_ms))
                .map_err(reader_err)
        })
    }
}

unsafe extern "C" fn authenticate_face<P: ReaderPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    unsafe {
        with_session::<P>(target, out, |s| {
            s.authenticate_face(deadline(timeout_ms))
                .map_err(reader_err)?;
            Ok(Vec::new())
        })
    }
}

// --- upstreams ---

pub const fn upstream_flags<P: UpstreamPlugin>() -> u64 {
    if P::SUPPORTS_BULK {
        FLAG_THREAD_SAFE | FLAG_BULK_CHECK
    } else {
        FLAG_THREAD_SAFE
    }
}

pub const fn upstream_vtable<P: UpstreamPlugin>() -> UpstreamVTableV1 {
    UpstreamVTableV1 {
        struct_size: std::mem::size_of::<UpstreamVTableV1>(),
        challenge: Some(challenge::<P>),
        check_by_card: Some(check_by_card::<P>),
        check_by_numbers: Some(check_by_numbers::<P>),
        issue_activation_code: Some(issue_activation_code::<P>),
        redeem_activation_code: Some(redeem_activation_code::<P>),
        revoke_activation_code: Some(revoke_activation_code::<P>),
        issue_visual_check_password: Some(issue_visual_check_password::<P>),
        verify_visual_check_password: Some(verify_visual_check_password::<P>),
        next_event: Some(next_upstream_event::<P>),
        bulk_check: Some(bulk_check::<P>),
        register_reference_number: Some(register_reference_number::<P>),
        bulk_query: Some(bulk_query::<P>),
    }
}

/// Runs an upstream method: decodes nothing itself, so each method reads its own request.
unsafe fn upstream_call<P: UpstreamPlugin>(
    target: *mut c_void,
    out: *mut OwnedBuf,
    call: impl FnOnce(&P) -> Result<Vec<u8>, Failure>,
) -> CallStatus {
    let inst = unsafe { instance::<P>(target) };
    unsafe { run(&inst.poisoned, out, || call(&inst.plugin)) }
}

unsafe extern "C" fn challenge<P: UpstreamPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    unsafe {
        upstream_call::<P>(target, out, |p| {
            p.challenge(deadline(timeout_ms)).map_err(upstream_err)
        })
    }
}

unsafe extern "C" fn check_by_card<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let check = wire::card_check_from_wire(decode(request)?).map_err(wire_err)?;
            let result = p
                .check_by_card(check, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(result.encode_to_vec())
        })
    }
}

unsafe extern "C" fn check_by_numbers<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let check = wire::numbers_check_from_wire(&decode(request)?).map_err(wire_err)?;
            let result = p
                .check_by_numbers(&check, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(result.encode_to_vec())
        })
    }
}

unsafe extern "C" fn issue_activation_code<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::IssueActivationCodeRequest = decode(request)?;
            let memo = DeviceMemo::parse(&req.device_memo).map_err(invalid)?;
            let issued = p
                .issue_activation_code(&memo, deadline(timeout_ms))
                .map_err(upstream_err)?;
            let mut reply = wire::issued_code_to_wire(&issued);
            let bytes = reply.encode_to_vec();
            reply.code.zeroize();
            Ok(bytes)
        })
    }
}

unsafe extern "C" fn redeem_activation_code<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let mut req: w::RedeemActivationCodeRequest = decode(request)?;
            let code = ActivationCode::parse(&req.code);
            req.code.zeroize();
            let code = code.map_err(|_| invalid("the activation code must be 12 digits"))?;
            let id = p
                .redeem_activation_code(&code, &req.device_id, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(w::RedeemActivationCodeReply { id }.encode_to_vec())
        })
    }
}

unsafe extern "C" fn revoke_activation_code<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::RevokeActivationCodeRequest = decode(request)?;
            p.revoke_activation_code(&req.id, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn issue_visual_check_password<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::VisualCheckPasswordRequest = decode(request)?;
            let account = AccountId::parse(&req.account).map_err(invalid)?;
            let issued = p
                .issue_visual_check_password(&account, deadline(timeout_ms))
                .map_err(upstream_err)?;
            let mut reply = wire::issued_password_to_wire(&issued);
            let bytes = reply.encode_to_vec();
            reply.password.zeroize();
            Ok(bytes)
        })
    }
}

unsafe extern "C" fn verify_visual_check_password<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let mut req: w::VisualCheckPasswordRequest = decode(request)?;
            let password = VisualCheckPassword::parse(&req.password);
            req.password.zeroize();
            let password = password.map_err(|_| invalid("the password must be 4 digits"))?;
            let account = AccountId::parse(&req.account).map_err(invalid)?;
            p.verify_visual_check_password(&account, &password, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(Vec::new())
        })
    }
}

unsafe extern "C" fn next_upstream_event<P: UpstreamPlugin>(
    target: *mut c_void,
    _: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let event = p.next_event(deadline(timeout_ms)).map_err(upstream_err)?;
            Ok(w::UpstreamEventReply {
                event: event.as_ref().map(wire::upstream_event_to_wire),
            }
            .encode_to_vec())
        })
    }
}

unsafe extern "C" fn bulk_check<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::BulkCheckRequest = decode(request)?;
            let checks = req
                .checks
                .iter()
                .map(wire::numbers_check_from_wire)
                .collect::<Result<Vec<_>, _>>()
                .map_err(wire_err)?;
            let answers = p
                .bulk_check(&checks, deadline(timeout_ms))
                .map_err(upstream_err)?;
            let items = answers
                .into_iter()
                .map(|a| w::BulkCheckItem {
                    outcome: Some(match a {
                        Ok(r) => w::bulk_check_item::Outcome::Result(r),
                        Err(e) => w::bulk_check_item::Outcome::Error(upstream_err(e).1),
                    }),
                })
                .collect();
            Ok(w::BulkCheckReply { items }.encode_to_vec())
        })
    }
}

unsafe extern "C" fn register_reference_number<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::ReferenceNumberRequest = decode(request)?;
            let registration = wire::registration_from_wire(&req).map_err(wire_err)?;
            let registered = p
                .register_reference_number(&registration, deadline(timeout_ms))
                .map_err(upstream_err)?;
            Ok(wire::registered_to_wire(&registered).encode_to_vec())
        })
    }
}

unsafe extern "C" fn bulk_query<P: UpstreamPlugin>(
    target: *mut c_void,
    request: Bytes,
    timeout_ms: u32,
    out: *mut OwnedBuf,
) -> CallStatus {
    let request = unsafe { bytes(request) };
    unsafe {
        upstream_call::<P>(target, out, |p| {
            let req: w::BulkQueryRequest = decode(request)?;
            let (query, date) = wire::bulk_query_from_wire(&req).map_err(wire_err)?;
            let answers = p
                .bulk_query(&query, date, deadline(timeout_ms))
                .map_err(upstream_err)?;
            let items = answers
                .into_iter()
                .map(|a| w::BulkCheckItem {
                    outcome: Some(match a {
                        Ok(r) => w::bulk_check_item::Outcome::Result(r),
                        Err(e) => w::bulk_check_item::Outcome::Error(upstream_err(e).1),
                    }),
                })
                .collect();
            Ok(w::BulkCheckReply { items }.encode_to_vec())
        })
    }
}
