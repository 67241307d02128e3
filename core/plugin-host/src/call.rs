//! Calling into a plugin: on the blocking pool, under its concurrency limit, with a deadline.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use shikaku_domain::pb::ErrorReason;
use shikaku_plugin_abi::{Bytes, MethodFn, OwnedBuf, status};
use shikaku_proto::plugin::v1 as w;
use tokio::sync::{Semaphore, watch};
use zeroize::{Zeroize, Zeroizing};

/// What a plugin says about itself, plus where it came from.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub thread_safe: bool,
    /// The shared library's path.
    pub source: String,
    pub build_info: String,
}

/// Whether a plugin still takes calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginState {
    Ready,
    /// It panicked or hung; it stays failed until the daemon restarts.
    Failed(String),
}

/// A raw pointer the plugin gave us (an instance or a session), sent to blocking threads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target(pub *mut c_void);

// SAFETY: the plugin declared thread-safety, or the host serialises every call to it (one
// permit); either way the pointer is only used under the ABI's rules.
unsafe impl Send for Target {}
unsafe impl Sync for Target {}

impl Target {
    /// The pointer; a method, so closures capture the whole (sendable) `Target`.
    pub(crate) fn ptr(self) -> *mut c_void {
        self.0
    }
}

/// How a call failed, before the kind-specific adapter turns it into a domain error.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The plugin answered with an error status.
    Status { code: i32, error: Box<w::Error> },
    /// The plugin does not implement this call (a null method).
    Unimplemented,
    /// The call did not return in time; the plugin is now marked failed.
    Hung,
    /// The plugin failed earlier (or just now).
    Failed(String),
    /// The answer does not decode.
    Garbled(String),
}

/// The plugin's concurrency limit kept a call waiting past its deadline.
fn busy() -> CallError {
    CallError::Status {
        code: status::DEADLINE_EXCEEDED,
        error: Box::new(w::Error {
            message: "the plugin stayed busy with other calls past the deadline".into(),
            ..Default::default()
        }),
    }
}

/// One loaded plugin instance and the means to call it.
pub struct PluginHandle {
    pub info: PluginInfo,
    pub(crate) instance: Target,
    pub(crate) free_buf: unsafe extern "C" fn(OwnedBuf),
    gate: Arc<Semaphore>,
    /// How long past its deadline a call may run before the plugin counts as hung.
    grace: Duration,
    /// The default deadline of calls whose caller gives none.
    pub(crate) timeout: Duration,
    state: watch::Sender<PluginState>,
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("info", &self.info)
            .finish()
    }
}

impl shikaku_domain::plugin::LoadedPlugin for PluginHandle {
    fn describe(&self) -> shikaku_domain::pb::Plugin {
        use shikaku_domain::pb::PluginState as State;
        let (state, failure) = match self.state() {
            PluginState::Ready => (State::Ready, String::new()),
            PluginState::Failed(why) => (State::Failed, why),
        };
        shikaku_domain::pb::Plugin {
            name: self.info.name.clone(),
            kind: self.info.kind as i32,
            version: self.info.version.clone(),
            state: state as i32,
            source: self.info.source.clone(),
            failure,
        }
    }

    fn failed(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'static>> {
        let mut state = self.watch_state();
        Box::pin(async move { state.wait_for(|s| *s != PluginState::Ready).await.is_ok() })
    }
}

/// Copies a plugin's buffer into our memory and gives the original back to the plugin.
///
/// # Safety
/// `buf` came from the plugin whose `free_buf` this is, and is not used again.
pub(crate) unsafe fn take(buf: OwnedBuf, free_buf: unsafe extern "C" fn(OwnedBuf)) -> Vec<u8> {
    if buf.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin promises `len` readable bytes at `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec();
    // SAFETY: returned to the allocator that made it, once.
    unsafe { free_buf(buf) };
    bytes
}

impl PluginHandle {
    pub(crate) fn new(
        info: PluginInfo,
        instance: Target,
        free_buf: unsafe extern "C" fn(OwnedBuf),
        max_concurrency: usize,
        timeout: Duration,
        grace: Duration,
    ) -> Self {
        let permits = if info.thread_safe {
            max_concurrency.max(1)
        } else {
            1
        };
        Self {
            info,
            instance,
            free_buf,
            gate: Arc::new(Semaphore::new(permits)),
            grace,
            timeout,
            state: watch::Sender::new(PluginState::Ready),
        }
    }

    pub fn state(&self) -> PluginState {
        self.state.borrow().clone()
    }

    /// Changes of state, for health reporting.
    pub fn watch_state(&self) -> watch::Receiver<PluginState> {
        self.state.subscribe()
    }

    pub(crate) fn fail(&self, why: String) {
        tracing::error!(plugin = %self.info.name, reason = %why, "plugin marked failed");
        self.state.send_if_modified(|s| {
            if *s == PluginState::Ready {
                *s = PluginState::Failed(why);
                true
            } else {
                false
            }
        });
    }

    fn failure(&self) -> Option<String> {
        match &*self.state.borrow() {
            PluginState::Ready => None,
            PluginState::Failed(why) => Some(why.clone()),
        }
    }

    /// Calls `method` on `target` with `request`, answering the plugin's bytes.
    ///
    /// The request buffer is wiped after the call and the answer is wiped when dropped: either
    /// may carry a PIN, a password or an activation code.
    pub(crate) async fn call(
        &self,
        method: Option<MethodFn>,
        target: Target,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Zeroizing<Vec<u8>>, CallError> {
        let mut request = Zeroizing::new(request);
        let method = method.ok_or(CallError::Unimplemented)?;
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let free_buf = self.free_buf;
        let (code, answer, error) = self
            .run_blocking(timeout, move || {
                let mut out = OwnedBuf::EMPTY;
                // SAFETY: `method` and `target` come from a validated descriptor; the request
                // outlives the call and `out` is writable.
                let status = unsafe {
                    method(
                        target.ptr(),
                        Bytes::from_slice(&request),
                        timeout_ms,
                        &mut out,
                    )
                };
                request.zeroize();
                // SAFETY: both buffers come from this plugin and are not used again.
                let answer = Zeroizing::new(unsafe { take(out, free_buf) });
                let error = unsafe { take(status.error, free_buf) };
                (status.code, answer, error)
            })
            .await?;
        if code == status::OK {
            Ok(answer)
        } else {
            Err(self.status_error(code, error))
        }
    }

    /// Calls the instance.
    pub(crate) async fn call_instance(
        &self,
        method: Option<MethodFn>,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Zeroizing<Vec<u8>>, CallError> {
        self.call(method, self.instance, request, timeout).await
    }

    /// Runs `f` on the blocking pool under the plugin's concurrency limit (for `open` and
    /// `close`, which have their own signatures), with the same deadline rules as `call`.
    pub(crate) async fn run_blocking<T: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CallError> {
        if let Some(why) = self.failure() {
            return Err(CallError::Failed(why));
        }
        let permit = tokio::time::timeout(timeout, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| CallError::Failed("plugin closed".into()))?;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        });
        match tokio::time::timeout(timeout + self.grace, task).await {
            Err(_) => {
                self.fail(format!(
                    "a call ran more than {:?} past its {:?} deadline",
                    self.grace, timeout
                ));
                Err(CallError::Hung)
            }
            Ok(Err(e)) => {
                let why = format!("a call failed on the host side: {e}");
                self.fail(why.clone());
                Err(CallError::Failed(why))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Turns a failed call's status into a `CallError`, marking the plugin failed when it
    /// reports a panic.
    pub(crate) fn status_error(&self, code: i32, error: Vec<u8>) -> CallError {
        let error = w::Error::decode(error.as_slice()).unwrap_or_else(|_| w::Error {
            message: format!("status {code} with an error that does not decode"),
            ..Default::default()
        });
        if error.reason == ErrorReason::PluginFailed.as_str_name() {
            self.fail(error.message.clone());
            return CallError::Failed(error.message);
        }
        CallError::Status {
            code,
            error: Box::new(error),
        }
    }

    /// The gate, for callers that close sessions from `Drop`.
    pub(crate) fn gate(&self) -> Arc<Semaphore> {
        self.gate.clone()
    }
}

pub(crate) fn decode<M: Message + Default>(bytes: &[u8], what: &str) -> Result<M, CallError> {
    M::decode(bytes).map_err(|e| CallError::Garbled(format!("{what} does not decode: {e}")))
}
