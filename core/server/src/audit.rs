//! Who called, and the audit record every operation leaves — success or failure — before its
//! answer goes out. Records hold codes and ids, never a PIN, a password, a code or patient data.

use shikaku_domain::clock;
use shikaku_store::AuditRecord;
use tonic::{Request, Response, Status};

use crate::auth::Identity;

use crate::error::ServiceError;

/// The caller: who it is (authenticated by the auth layer) and what it claims about itself.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client certificate's name, "local" on loopback plaintext, "daemon" for its own work.
    pub client: String,
    pub role: &'static str,
    /// `x-shikaku-terminal`, as claimed.
    pub terminal: String,
    /// `x-shikaku-operator`, as claimed.
    pub operator: String,
    pub peer: String,
    /// The readers the client may use; `None` for any.
    pub readers: Option<std::sync::Arc<[String]>>,
}

/// What the daemon writes as the actor of its own decisions; a client cannot claim it.
pub const AUTOMATIC: &str = "automatic";

/// Metadata values are free text from the network: keep them short and printable, and never
/// the reserved `automatic`.
fn header<T>(req: &Request<T>, key: &str) -> String {
    let value = req
        .metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .unwrap_or_default();
    if value.trim().eq_ignore_ascii_case(AUTOMATIC) {
        String::new()
    } else {
        value
    }
}

impl Caller {
    pub fn of<T>(req: &Request<T>) -> Self {
        let identity = req.extensions().get::<Identity>();
        Self {
            client: identity.map(|i| i.client.clone()).unwrap_or_default(),
            role: identity.map(|i| i.role.as_str()).unwrap_or_default(),
            terminal: header(req, "x-shikaku-terminal"),
            operator: header(req, "x-shikaku-operator"),
            peer: identity.map(|i| i.peer.clone()).unwrap_or_default(),
            readers: identity.and_then(|i| i.readers.clone()),
        }
    }

    /// The daemon itself, for what it does on its own (face-auth results, finished bulk jobs).
    pub fn daemon() -> Self {
        Self {
            client: "daemon".into(),
            role: "daemon",
            terminal: String::new(),
            operator: String::new(),
            peer: String::new(),
            readers: None,
        }
    }

    /// Whether the caller may use `reader` (a kiosk is narrowed to its own).
    pub fn may_use_reader(&self, reader: &str) -> bool {
        self.readers
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|r| r == reader))
    }

    /// Who decided or linked, as the reception list shows it: the staff member the client
    /// names, else its terminal, else the client itself.
    pub fn actor(&self) -> String {
        [&self.operator, &self.terminal, &self.client]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }
}

/// Keys the hash of a person's insurance numbers, so the trail can answer "who looked up this
/// patient, when" without holding numbers anyone with a copy of the database could search: the
/// key lives in its own file (0600) beside the database.
///
/// HMAC-SHA256 with the key's two padded blocks absorbed once, at load: each hash then costs two
/// SHA-256 blocks instead of four (it runs on every check; `bench/instructions.sh`).
pub struct PersonKey {
    /// SHA-256 after `key ^ ipad`, and after `key ^ opad`; wiped on drop like the key.
    inner: sha2::Sha256,
    outer: sha2::Sha256,
}

impl PersonKey {
    /// Reads `audit.key` in `data_dir`, creating it on first start.
    pub fn load_or_create(data_dir: &std::path::Path) -> std::io::Result<Self> {
        let path = data_dir.join("audit.key");
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => key.copy_from_slice(&bytes),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a 32-byte key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rand::fill(&mut key[..]);
                std::fs::create_dir_all(data_dir)?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                std::io::Write::write_all(&mut options.open(&path)?, &key[..])?;
            }
            Err(e) => return Err(e),
        }
        Ok(Self::new(&key))
    }

    fn new(key: &[u8; 32]) -> Self {
        use sha2::{Digest, Sha256};
        let mut inner_pad = zeroize::Zeroizing::new([0x36u8; 64]);
        let mut outer_pad = zeroize::Zeroizing::new([0x5cu8; 64]);
        for (i, k) in key.iter().enumerate() {
            inner_pad[i] ^= k;
            outer_pad[i] ^= k;
        }
        Self {
            inner: Sha256::new().chain_update(&inner_pad[..]),
            outer: Sha256::new().chain_update(&outer_pad[..]),
        }
    }

    /// The person's keyed hash (HMAC-SHA256, first 16 bytes in hex) from their insurance
    /// numbers; the same person gives the same hash in checks, reception and the audit query.
    pub fn person(&self, insurer: &str, symbol: &str, number: &str, branch: &str) -> String {
        use sha2::Digest;
        let mut inner = self.inner.clone();
        for (i, part) in [insurer, symbol, number, branch].into_iter().enumerate() {
            if i > 0 {
                inner.update([0x1f]);
            }
            inner.update(part.trim().as_bytes());
        }
        let mac = self.outer.clone().chain_update(inner.finalize()).finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(32);
        for b in &mac[..16] {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        hex
    }

    /// The keyed hash of the one insured person a result names, or "" (no match, several).
    pub fn of_result(&self, result: &shikaku_domain::pb::QualificationResult) -> String {
        shikaku_domain::patient::person_of(result)
            .map(|p| self.person(&p.insurer_number, &p.symbol, &p.number, &p.branch))
            .unwrap_or_default()
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
    /// The keyed hash of the person it concerned (`PersonKey::person`), or "".
    pub person: String,
}

/// Writes the audit line for `result` and turns it into the RPC's answer. A success is only
/// answered once its audit line is on disk; if that fails the caller gets an error instead.
pub async fn finish<T>(
    ctx: &crate::context::Context,
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
        client: caller.client.clone(),
        role: caller.role.to_owned(),
        person: entry.person,
    };
    let start = std::time::Instant::now();
    let written = ctx.store.audit(record).await;
    ctx.metrics.audit_commit(start.elapsed());
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
    /// The keyed hash of the person it concerned, or "".
    pub person: String,
}

/// Runs one operation inside its audit envelope: takes the caller off the request, runs `run`
/// with the message, and answers only once the audit line (success or failure) is on disk.
/// Every audited RPC goes through here, so the envelope is written once.
pub async fn audited<Req, Res>(
    ctx: &crate::context::Context,
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
        person: String::new(),
    };
    let result = run(&caller, request.into_inner(), &mut note).await;
    let entry = Entry {
        operation,
        method: note.method,
        detail: note.detail,
        subject: note.subject,
        person: note.person,
    };
    finish(ctx, &caller, entry, result).await.map(Response::new)
}

/// The audit line of one reception entry a watch delivers to a client, written before the entry
/// goes out: it names the person (keyed hash), so the trail answers who saw whom.
pub async fn delivered(
    ctx: &crate::context::Context,
    caller: &Caller,
    entry: shikaku_domain::pb::ReceptionEntry,
) -> Result<shikaku_domain::pb::ReceptionEntry, Status> {
    let line = Entry {
        operation: "WatchReceptions.entry",
        method: "read",
        detail: String::new(),
        subject: format!("{}/{}", entry.date, entry.id),
        person: entry
            .result
            .as_ref()
            .map(|r| ctx.people.of_result(r))
            .unwrap_or_default(),
    };
    finish(ctx, caller, line, Ok(entry)).await
}

/// A fresh id with a readable prefix, e.g. `chk_5f1c…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows already in an audit trail were hashed as plain HMAC-SHA256 (key, 保険者番号 US 記号 US
    /// 番号 US 枝番, each trimmed); the hash must not change, or the query loses them.
    #[test]
    fn the_person_hash_is_hmac_sha256_of_the_numbers() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let people = PersonKey::new(&key);
        // Python: hmac.new(bytes(range(32)), b"06130488\x1f12-34\x1f4260\x1f01", "sha256")
        let expected = "654226a4ae1d48269d7a7b4d22ee4b53";
        assert_eq!(people.person("06130488", "12-34", "4260", "01"), expected);
        assert_eq!(people.person(" 06130488", "12-34 ", "4260", "01"), expected);
        assert_ne!(people.person("06130488", "12-34", "4260", "02"), expected);
    }
}
