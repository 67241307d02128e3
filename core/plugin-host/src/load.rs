//! Loading a plugin: the allow-listed path, its SHA-256, the entry symbol, then every size and
//! version in the descriptor, all before the plugin's `create` runs.

use std::ffi::c_void;
use std::mem::{MaybeUninit, size_of};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use shikaku_plugin_abi::{
    ABI_MAJOR, ABI_MINOR, Bytes, ENTRY_SYMBOL_V1, EntryFn, FLAG_THREAD_SAFE, HostApi,
    KIND_CARD_READER, KIND_SMARTPHONE_READER, KIND_UPSTREAM, PluginDescriptor, ReaderVTableV1,
    UPSTREAM_VTABLE_V1_0_SIZE, UpstreamVTableV1, log_level, status,
};

use crate::call::{PluginHandle, PluginInfo, Target, take};
use crate::{Loaded, PluginReader, PluginUpstream};

/// One `[[plugins]]` entry of the daemon's config.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub path: PathBuf,
    /// Hex SHA-256 the file must have, when set.
    pub sha256: Option<String>,
    /// The kind the operator expects, when set: "card_reader", "smartphone_reader", "upstream".
    pub kind: Option<String>,
    /// Passed to the plugin's `create` as JSON.
    pub config: serde_json::Value,
    /// Calls at once, for a thread-safe plugin (others get one).
    pub max_concurrency: usize,
    /// The deadline of each call.
    pub timeout: Duration,
    /// How long past its deadline a call may run before the plugin counts as hung.
    pub grace: Duration,
}

impl PluginSpec {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sha256: None,
            kind: None,
            config: serde_json::Value::Object(Default::default()),
            max_concurrency: 64,
            timeout: Duration::from_secs(10),
            grace: Duration::from_secs(1),
        }
    }
}

/// Why a plugin was refused: each says exactly what did not match.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {path}: cannot read the file: {reason}")]
    Read { path: String, reason: String },
    #[error("plugin {path}: sha-256 is {found}, the config requires {expected}")]
    Sha256Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("plugin {path}: cannot load the shared library: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "plugin {path}: no entry symbol shikaku_plugin_entry_v1 (this daemon speaks plugin abi major {ABI_MAJOR}){found}"
    )]
    NoEntrySymbol { path: String, found: String },
    #[error("plugin {path}: the entry symbol returned a null descriptor")]
    NullDescriptor { path: String },
    #[error(
        "plugin {path}: built for plugin abi {major}.{minor}, this daemon accepts major {ABI_MAJOR} (minor up to {ABI_MINOR})"
    )]
    AbiMajor {
        path: String,
        major: u16,
        minor: u16,
    },
    #[error("plugin {path}: {what} is {found} bytes, abi 1 needs at least {needed}")]
    TooSmall {
        path: String,
        what: &'static str,
        found: usize,
        needed: usize,
    },
    #[error(
        "plugin {path}: unknown plugin kind {kind} (1 card reader, 2 smartphone reader, 3 upstream)"
    )]
    UnknownKind { path: String, kind: u32 },
    #[error("plugin {path}: it is a {found} plugin, the config expects {expected}")]
    KindMismatch {
        path: String,
        found: &'static str,
        expected: String,
    },
    #[error("plugin {path}: the descriptor has no {what}")]
    Missing { path: String, what: &'static str },
    #[error("plugin {path}: {what} is not utf-8")]
    NotUtf8 { path: String, what: &'static str },
    #[error("plugin {path} ({name}) refused to start: {reason}")]
    Create {
        path: String,
        name: String,
        reason: String,
    },
}

pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_CARD_READER => "card_reader",
        KIND_SMARTPHONE_READER => "smartphone_reader",
        KIND_UPSTREAM => "upstream",
        _ => "unknown",
    }
}

/// Copies a struct the plugin owns into a zeroed local, taking only the bytes its own size field
/// covers: an older plugin's shorter struct leaves the newer fields null.
///
/// # Safety
/// `src` points to at least `size` readable bytes, and every all-zero `T` is valid.
unsafe fn copy_prefix<T>(src: *const c_void, size: usize) -> T {
    let mut dst = MaybeUninit::<T>::zeroed();
    let n = size.min(size_of::<T>());
    // SAFETY: per the contract above; `dst` has room for `size_of::<T>()` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr() as *mut u8, n);
        dst.assume_init()
    }
}

fn string(path: &str, what: &'static str, b: Bytes) -> Result<String, LoadError> {
    // SAFETY: descriptor strings are static in the plugin.
    std::str::from_utf8(unsafe { b.as_slice() })
        .map(str::to_owned)
        .map_err(|_| LoadError::NotUtf8 {
            path: path.to_owned(),
            what,
        })
}

fn check_sha256(path: &Path, expected: &str) -> Result<(), LoadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let found: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !found.eq_ignore_ascii_case(expected.trim()) {
        return Err(LoadError::Sha256Mismatch {
            path: shown,
            expected: expected.trim().to_ascii_lowercase(),
            found,
        });
    }
    Ok(())
}

/// Forwards a plugin's log lines into the daemon's `tracing`, tagged with the plugin's name.
unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, msg: Bytes) {
    // SAFETY: `ctx` is the leaked name `host_api` made; `msg` is valid for the call.
    let name: &str = unsafe { &*(ctx as *const String) };
    let text = String::from_utf8_lossy(unsafe { msg.as_slice() });
    match level {
        log_level::ERROR => tracing::error!(target: "plugin", plugin = name, "{text}"),
        log_level::WARN => tracing::warn!(target: "plugin", plugin = name, "{text}"),
        log_level::INFO => tracing::info!(target: "plugin", plugin = name, "{text}"),
        log_level::DEBUG => tracing::debug!(target: "plugin", plugin = name, "{text}"),
        _ => tracing::trace!(target: "plugin", plugin = name, "{text}"),
    }
}

/// The host API for one plugin, leaked: the plugin may keep it for the life of the process.
fn host_api(name: &str) -> &'static HostApi {
    let ctx: &'static mut String = Box::leak(Box::new(name.to_owned()));
    let max = tracing::level_filters::LevelFilter::current();
    let max_log_level = match max.into_level() {
        None => 0,
        Some(tracing::Level::ERROR) => log_level::ERROR,
        Some(tracing::Level::WARN) => log_level::WARN,
        Some(tracing::Level::INFO) => log_level::INFO,
        Some(tracing::Level::DEBUG) => log_level::DEBUG,
        Some(tracing::Level::TRACE) => log_level::TRACE,
    };
    Box::leak(Box::new(HostApi {
        struct_size: size_of::<HostApi>(),
        abi: shikaku_plugin_abi::AbiVersion {
            major: ABI_MAJOR,
            minor: ABI_MINOR,
        },
        ctx: ctx as *mut String as *mut c_void,
        max_log_level,
        log: host_log,
    }))
}

/// Opens the library and reads its descriptor: the only plugin code run before the checks is
/// the library's initialisers and the entry function.
fn open(path: &Path) -> Result<&'static PluginDescriptor, LoadError> {
    let shown = path.display().to_string();
    // SAFETY: loading runs the library's initialisers; only allow-listed paths from the
    // operator's config get here. The library is leaked: plugins are never unloaded.
    let library: &'static libloading::Library = Box::leak(Box::new(
        unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open {
            path: shown.clone(),
            reason: e.to_string(),
        })?,
    ));
    // SAFETY: the symbol's type is fixed by the ABI.
    let entry = match unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_V1) } {
        Ok(entry) => entry,
        Err(_) => {
            let others: Vec<String> = (2..=9)
                .filter(|m| {
                    let name = format!("shikaku_plugin_entry_v{m}\0");
                    // SAFETY: only probing for presence; nothing is called.
                    unsafe { library.get::<EntryFn>(name.as_bytes()) }.is_ok()
                })
                .map(|m| format!("shikaku_plugin_entry_v{m}"))
                .collect();
            let found = if others.is_empty() {
                String::new()
            } else {
                format!("; it exports {} (a newer abi major)", others.join(", "))
            };
            return Err(LoadError::NoEntrySymbol { path: shown, found });
        }
    };
    // SAFETY: the entry function takes nothing and returns a static descriptor.
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(LoadError::NullDescriptor { path: shown });
    }
    // SAFETY: non-null, and static in a library we never unload.
    Ok(unsafe { &*descriptor })
}

/// Loads, validates and creates one plugin.
pub fn load(spec: &PluginSpec) -> Result<Loaded, LoadError> {
    let path = spec.path.display().to_string();
    if let Some(expected) = &spec.sha256 {
        check_sha256(&spec.path, expected)?;
    }
    let raw = open(&spec.path)?;
    // Read the frozen prefix fields one by one before trusting the size of the whole.
    let size = raw.struct_size;
    let prefix_needed = std::mem::offset_of!(PluginDescriptor, kind);
    if size < prefix_needed {
        return Err(LoadError::TooSmall {
            path,
            what: "the descriptor",
            found: size,
            needed: prefix_needed,
        });
    }
    if raw.abi.major != ABI_MAJOR {
        return Err(LoadError::AbiMajor {
            path,
            major: raw.abi.major,
            minor: raw.abi.minor,
        });
    }
    let needed = size_of::<PluginDescriptor>();
    if size < needed {
        return Err(LoadError::TooSmall {
            path,
            what: "the descriptor",
            found: size,
            needed,
        });
    }
    // SAFETY: the size covers the whole struct and every zero value is valid.
    let desc: PluginDescriptor = unsafe { copy_prefix(raw as *const _ as *const c_void, size) };
    let missing = |what| LoadError::Missing {
        path: path.clone(),
        what,
    };
    let free_buf = desc.free_buf.ok_or_else(|| missing("free_buf"))?;
    let create = desc.create.ok_or_else(|| missing("create"))?;
    if desc.vtable.is_null() {
        return Err(missing("vtable"));
    }
    let kind = desc.kind;
    if !matches!(
        kind,
        KIND_CARD_READER | KIND_SMARTPHONE_READER | KIND_UPSTREAM
    ) {
        return Err(LoadError::UnknownKind { path, kind });
    }
    if let Some(expected) = &spec.kind
        && expected != kind_name(kind)
    {
        return Err(LoadError::KindMismatch {
            path,
            found: kind_name(kind),
            expected: expected.clone(),
        });
    }
    // SAFETY: a vtable starts with its size.
    let vtable_size = unsafe { *(desc.vtable as *const usize) };
    let vtable_needed = match kind {
        KIND_UPSTREAM => UPSTREAM_VTABLE_V1_0_SIZE,
        _ => size_of::<ReaderVTableV1>(),
    };
    if vtable_size < vtable_needed {
        return Err(LoadError::TooSmall {
            path,
            what: "the vtable",
            found: vtable_size,
            needed: vtable_needed,
        });
    }
    let info = PluginInfo {
        name: string(&path, "the name", desc.name)?,
        version: string(&path, "the version", desc.plugin_version)?,
        kind,
        abi_major: desc.abi.major,
        abi_minor: desc.abi.minor,
        thread_safe: desc.flags & FLAG_THREAD_SAFE != 0,
        source: path.clone(),
        build_info: string(&path, "the build info", desc.build_info)?,
    };

    let config = serde_json::to_vec(&spec.config).unwrap_or_default();
    let mut instance: *mut c_void = std::ptr::null_mut();
    // SAFETY: the descriptor passed every check; the API is leaked and the config outlives
    // the call.
    let status = unsafe {
        create(
            host_api(&info.name),
            Bytes::from_slice(&config),
            &mut instance,
        )
    };
    // SAFETY: the error buffer comes from this plugin.
    let error = unsafe { take(status.error, free_buf) };
    if status.code != status::OK || instance.is_null() {
        let reason = prost::Message::decode(error.as_slice())
            .map(|e: shikaku_proto::plugin::v1::Error| e.message)
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("create returned status {}", status.code));
        return Err(LoadError::Create {
            path,
            name: info.name,
            reason,
        });
    }
    tracing::info!(
        plugin = %info.name, version = %info.version, kind = kind_name(kind),
        abi = %format!("{}.{}", info.abi_major, info.abi_minor), source = %info.source,
        "plugin loaded"
    );
    let handle = Arc::new(PluginHandle::new(
        info,
        Target(instance),
        free_buf,
        spec.max_concurrency,
        spec.timeout,
        spec.grace,
    ));
    Ok(match kind {
        KIND_UPSTREAM => {
            // SAFETY: checked to cover at least ABI 1.0's methods; zero-filled past its size.
            let vtable: UpstreamVTableV1 = unsafe { copy_prefix(desc.vtable, vtable_size) };
            let bulk = desc.flags & shikaku_plugin_abi::FLAG_BULK_CHECK != 0;
            Loaded::Upstream(PluginUpstream::new(handle, vtable, bulk))
        }
        _ => {
            // SAFETY: checked to cover the whole vtable.
            let vtable: ReaderVTableV1 = unsafe { copy_prefix(desc.vtable, vtable_size) };
            let reader = PluginReader::new(handle, vtable);
            if kind == KIND_CARD_READER {
                Loaded::CardReader(reader)
            } else {
                Loaded::SmartphoneReader(reader)
            }
        }
    })
}
