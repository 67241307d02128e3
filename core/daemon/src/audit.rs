//! Who called, and the audit record every operation leaves — success or failure — before its
//! answer goes out. Records hold codes and ids, never a PIN, a password, a code or patient data.

use shikaku_domain::clock;
use shikaku_store::{AuditRecord, Store};
use tonic::{Request, Response, Status};

use crate::error::ServiceError;

/// The caller, from request metadata and the connection.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub terminal: String,
    pub operator: String,
    pub peer: String,
}

/// Metadata values are free text from the network: keep them short and printable.
fn header<T>(req: &Request<T>, key: &str) -> String {
    req.metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .unwrap_or_default()
}

impl Caller {
    pub fn of<T>(req: &Request<T>) -> Self {
        Self {
            terminal: header(req, "x-shikaku-terminal"),
            operator: header(req, "x-shikaku-operator"),
            peer: req.remote_addr().map(|a| a.to_string()).unwrap_or_default(),
        }
    }
}

/// What an operation's audit line says besides the caller.
#[derive(Debug)]
pub struct Entry {
    pub operation: &'static str,
    pub method: &'static str,
    /// The validity code of a check, or what happened, for a success.
    pub detail: String,
    /// What it concerned: a check id, a record id, an account id.
    pub subject: String,
}

/// Writes the audit line for `result` and turns it into the RPC's answer. A success is only
/// answered once its audit line is on disk; if that fails the caller gets an error instead.
pub async fn finish<T>(
    store: &Store,
    caller: &Caller,
    entry: Entry,
    result: Result<T, ServiceError>,
) -> Result<T, Status> {
    let (outcome, detail) = match &result {
        Ok(_) => ("ok".to_owned(), entry.detail),
        Err(e) => (format!("{:?}", e.code()), e.reason().to_owned()),
    };
    let record = AuditRecord {
        at: clock::rfc3339(clock::now()),
        operation: entry.operation.to_owned(),
        method: entry.method.to_owned(),
        terminal: caller.terminal.clone(),
        operator: caller.operator.clone(),
        peer: caller.peer.clone(),
        outcome,
        detail,
        subject: entry.subject,
    };
    let written = store.audit(record).await;
    match (result, written) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(ServiceError::Store(e).into()),
        (Err(e), written) => {
            if let Err(w) = written {
                tracing::error!(error = %w, "cannot write the audit record of a failed operation");
            }
            Err(e.into())
        }
    }
}

/// What a handler notes for its audit line as it goes; the envelope adds who called, the
/// operation and the outcome.
#[derive(Debug)]
pub struct Note {
    pub method: &'static str,
    /// What happened, for a success (a failure records its reason instead).
    pub detail: String,
    /// What it concerned: a check id, a record id, a reception entry.
    pub subject: String,
}

/// Runs one operation inside its audit envelope: takes the caller off the request, runs `run`
/// with the message, and answers only once the audit line (success or failure) is on disk.
/// Every audited RPC goes through here, so the envelope is written once.
pub async fn audited<Req, Res>(
    store: &Store,
    request: Request<Req>,
    operation: &'static str,
    method: &'static str,
    run: impl AsyncFnOnce(&Caller, Req, &mut Note) -> Result<Res, ServiceError>,
) -> Result<Response<Res>, Status> {
    let caller = Caller::of(&request);
    let mut note = Note {
        method,
        detail: String::new(),
        subject: String::new(),
    };
    let result = run(&caller, request.into_inner(), &mut note).await;
    let entry = Entry {
        operation,
        method: note.method,
        detail: note.detail,
        subject: note.subject,
    };
    finish(store, &caller, entry, result)
        .await
        .map(Response::new)
}

/// A fresh id with a readable prefix, e.g. `chk_5f1c…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}
