//! A reader plugin as the domain's `CardReader`, its sessions as `CardSession`s.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shikaku_contract::wire;
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::{CardReader, CardSession, ReaderError, ReaderEvent, ReaderInfo};
use shikaku_domain::secret::Pin;
use shikaku_plugin_abi::{Bytes, ReaderVTableV1, status};
use shikaku_proto::plugin::v1 as w;
use tokio::sync::broadcast;

use crate::call::{CallError, PluginHandle, PluginState, Target, decode};

/// How long one `next_event` call waits; short for plugins that take one call at a time, so
/// the event loop does not hold them up.
fn event_wait(handle: &PluginHandle) -> Duration {
    if handle.info.thread_safe {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(200)
    }
}

pub struct PluginReader {
    handle: Arc<PluginHandle>,
    vtable: ReaderVTableV1,
    events: broadcast::Sender<ReaderEvent>,
}

fn reader_error(e: CallError) -> ReaderError {
    match e {
        CallError::Status { code, error } => wire::reader_error_from_wire(code, *error),
        CallError::Unimplemented => {
            ReaderError::Failure("the reader plugin does not do this".into())
        }
        CallError::Hung => ReaderError::Timeout,
        CallError::Failed(why) => ReaderError::PluginFailed(why),
        CallError::Garbled(why) => ReaderError::Failure(why),
    }
}

impl PluginReader {
    pub(crate) fn new(handle: Arc<PluginHandle>, vtable: ReaderVTableV1) -> Arc<Self> {
        let (events, _) = broadcast::channel(64);
        let reader = Arc::new(Self {
            handle,
            vtable,
            events,
        });
        if reader.vtable.next_event.is_some() {
            tokio::spawn(pump(Arc::downgrade(&reader)));
        }
        reader
    }

    pub fn handle(&self) -> &Arc<PluginHandle> {
        &self.handle
    }

    /// Waits up to `wait` for one reader or card event straight from the plugin (the event
    /// loop uses the same call).
    pub async fn next_event(&self, wait: Duration) -> Result<Option<ReaderEvent>, ReaderError> {
        let bytes = self
            .handle
            .call_instance(self.vtable.next_event, Vec::new(), wait)
            .await
            .map_err(reader_error)?;
        let reply: w::ReaderEventReply = decode(&bytes, "reader event").map_err(reader_error)?;
        reply
            .event
            .map(wire::reader_event_from_wire)
            .transpose()
            .map_err(|e| ReaderError::Failure(e.to_string()))
    }
}

/// Asks the plugin for events in a loop and broadcasts them, until the plugin fails or the
/// reader is dropped.
async fn pump(reader: std::sync::Weak<PluginReader>) {
    loop {
        let Some(r) = reader.upgrade() else { return };
        match r.next_event(event_wait(&r.handle)).await {
            Ok(Some(event)) => {
                let _ = r.events.send(event);
            }
            Ok(None) => {}
            Err(_) if r.handle.state() != PluginState::Ready => return,
            Err(ReaderError::Timeout) => {}
            Err(e) => {
                tracing::warn!(plugin = %r.handle.info.name, error = %e, "reader events failed");
                drop(r);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[async_trait]
impl CardReader for PluginReader {
    async fn list_readers(&self) -> Result<Vec<ReaderInfo>, ReaderError> {
        let bytes = self
            .handle
            .call_instance(self.vtable.list_readers, Vec::new(), self.handle.timeout)
            .await
            .map_err(reader_error)?;
        let list: w::ReaderList = decode(&bytes, "reader list").map_err(reader_error)?;
        Ok(list
            .readers
            .into_iter()
            .map(wire::reader_from_wire)
            .collect())
    }

    fn subscribe(&self) -> broadcast::Receiver<ReaderEvent> {
        self.events.subscribe()
    }

    async fn open(&self, reader: &str) -> Result<Box<dyn CardSession>, ReaderError> {
        let open = self
            .vtable
            .open
            .ok_or_else(|| reader_error(CallError::Unimplemented))?;
        let close = self.vtable.close;
        let instance = self.handle.instance;
        let free_buf = self.handle.free_buf;
        let timeout = self.handle.timeout;
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let name = reader.to_owned();
        let (code, error, session) = self
            .handle
            .run_blocking(timeout, move || {
                let mut session: *mut c_void = std::ptr::null_mut();
                // SAFETY: a validated method on a live instance; the name outlives the call.
                let status = unsafe {
                    open(
                        instance.ptr(),
                        Bytes::from_slice(name.as_bytes()),
                        timeout_ms,
                        &mut session,
                    )
                };
                // SAFETY: the error buffer comes from this plugin.
                let error = unsafe { crate::call::take(status.error, free_buf) };
                (status.code, error, Target(session))
            })
            .await
            .map_err(reader_error)?;
        if code != status::OK {
            return Err(reader_error(self.handle.status_error(code, error)));
        }
        if session.0.is_null() {
            return Err(ReaderError::Failure(
                "the plugin opened a null session".into(),
            ));
        }
        Ok(Box::new(PluginSession {
            handle: self.handle.clone(),
            vtable: self.vtable,
            session,
            close,
        }))
    }
}

/// One check's hold on a card, through the plugin.
struct PluginSession {
    handle: Arc<PluginHandle>,
    vtable: ReaderVTableV1,
    session: Target,
    close: Option<unsafe extern "C" fn(*mut c_void)>,
}

impl PluginSession {
    async fn call(
        &self,
        method: Option<shikaku_plugin_abi::MethodFn>,
        request: Vec<u8>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ReaderError> {
        self.handle
            .call(method, self.session, request, self.handle.timeout)
            .await
            .map_err(reader_error)
    }
}

#[async_trait]
impl CardSession for PluginSession {
    async fn medium(&mut self) -> Result<Medium, ReaderError> {
        let bytes = self.call(self.vtable.medium, Vec::new()).await?;
        let reply: w::MediumReply = decode(&bytes, "medium").map_err(reader_error)?;
        wire::medium_from_wire(reply.medium).map_err(|e| ReaderError::Failure(e.to_string()))
    }

    async fn read_auth_certificate(&mut self) -> Result<Vec<u8>, ReaderError> {
        let bytes = self
            .call(self.vtable.read_auth_certificate, Vec::new())
            .await?;
        Ok(bytes.to_vec())
    }

    async fn verify_pin(&mut self, pin: &Pin) -> Result<(), ReaderError> {
        self.call(self.vtable.verify_pin, pin.expose().to_vec())
            .await
            .map(drop)
    }

    async fn sign(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let bytes = self.call(self.vtable.sign, digest_info.to_vec()).await?;
        Ok(bytes.to_vec())
    }

    async fn authenticate_face(&mut self) -> Result<(), ReaderError> {
        // A plugin without the method has no face-auth reader.
        if self.vtable.authenticate_face.is_none() {
            return Err(ReaderError::FaceAuthUnsupported);
        }
        self.call(self.vtable.authenticate_face, Vec::new())
            .await
            .map(drop)
    }
}

impl Drop for PluginSession {
    /// Releases the card on the blocking pool, in turn with the plugin's other calls.
    fn drop(&mut self) {
        let Some(close) = self.close else { return };
        let session = self.session;
        let gate = self.handle.gate();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // SAFETY: a live session, closed once.
            unsafe { close(session.ptr()) };
            return;
        };
        runtime.spawn(async move {
            let Ok(permit) = gate.acquire_owned().await else {
                return;
            };
            let _ = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                // SAFETY: a live session, closed once.
                unsafe { close(session.ptr()) };
            })
            .await;
        });
    }
}
