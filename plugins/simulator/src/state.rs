//! The simulator's own durable state, as OQS would keep it: activation codes and visual-check
//! passwords as argon2id hashes only, account lockouts, and the 照会番号 registered for people.
//!
//! A visual-check password has 4 digits by OQS's rule: 10,000 candidates, which no hash
//! protects alone once the database is copied. So every secret is first keyed with
//! HMAC-SHA256 under a 32-byte key held apart, in a 0600 file beside the database
//! (`simulator.key` beside `simulator.sqlite`): the database alone cannot be searched. A new key
//! (a lost key file, or a database from before keys) makes the stored hashes useless, so on
//! opening with a key the database has not seen, passwords are cleared (staff are issued new
//! ones) and pending activation codes revoked (issue new ones). It is a simulator.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{SimulatorConfig, SimulatorError};

pub(crate) struct State {
    pub conn: Mutex<Connection>,
    argon: Argon2<'static>,
    params: Params,
    /// This installation's salt for activation-code hashes. One salt for all codes lets a redeem
    /// hash the presented code once and look it up, instead of trying every stored hash; the
    /// salt still defeats precomputation, and argon2 keeps 10^12 guesses out of reach.
    code_salt: SaltString,
    /// The HMAC key every secret is keyed with before hashing.
    key: Zeroizing<[u8; 32]>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activation_codes (
    id          TEXT PRIMARY KEY,
    code_hash   TEXT NOT NULL UNIQUE,
    device_memo TEXT NOT NULL,
    state       TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    usable_from INTEGER NOT NULL,
    device_id   TEXT
);
CREATE TABLE IF NOT EXISTS reference_numbers (
    person_id        TEXT PRIMARY KEY,
    reference_number TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    account_id    TEXT PRIMARY KEY,
    password_hash TEXT,
    issued_at     INTEGER,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER
);";

/// Page cache of the simulator's connection (and of its temporary database), in KiB.
const STATE_CACHE_KIB: i64 = 128;

impl State {
    pub fn open(config: &SimulatorConfig) -> Result<Self, SimulatorError> {
        let path = &config.state_path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| file_error(dir, &e))?;
        }
        // 0600 before SQLite creates it 0644; its -wal and -shm follow this file's mode.
        create_private(path, &[]).map_err(|e| file_error(path, &e))?;
        let key_path = path.with_extension("key");
        let key = load_or_create_key(&key_path).map_err(|e| file_error(&key_path, &e))?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The simulator's tables hold a few codes and passwords per device; SQLite's default
        // 2 MiB page cache would only be a share of the daemon's memory it never needs.
        conn.pragma_update(None, "cache_size", -STATE_CACHE_KIB)?;
        conn.pragma_update(Some("temp"), "cache_size", -STATE_CACHE_KIB)?;
        conn.execute_batch(SCHEMA)?;
        let salt: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'code_salt'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let code_salt = match salt.and_then(|s| SaltString::from_b64(&s).ok()) {
            Some(s) => s,
            None => {
                let mut bytes = [0u8; 16];
                rand::rng().fill_bytes(&mut bytes);
                let s = SaltString::encode_b64(&bytes).expect("16 bytes encode");
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('code_salt', ?1)",
                    params![s.as_str()],
                )?;
                s
            }
        };
        forget_secrets_of_other_keys(&conn, &key)?;
        let params = Params::new(config.hash_memory_kib, config.hash_passes, 1, None)
            .map_err(|e| SimulatorError::Certificate(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            conn: Mutex::new(conn),
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            code_salt,
            key,
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The deterministic (installation-salted) hash of an activation code.
    pub fn code_hash(&self, code: &[u8]) -> String {
        self.phc(code, &self.code_salt)
    }

    /// A per-secret salted hash (PHC string).
    pub fn password_hash(&self, secret: &[u8]) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let salt = SaltString::encode_b64(&bytes).expect("16 bytes encode");
        self.phc(secret, &salt)
    }

    pub fn password_matches(&self, secret: &[u8], phc: &str) -> bool {
        let Ok(stored) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return false;
        };
        // The stored hash's own cost, which an older configuration may have set.
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(stored.algorithm),
            Params::try_from(&stored),
        ) else {
            return false;
        };
        let version = stored
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or_default();
        let argon = Argon2::new(algorithm, version, params);
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        hash_into(&argon, &hmac_sha256(&self.key, secret)[..], salt, &mut out).is_ok()
            && Output::new(&out).is_ok_and(|computed| computed == expected)
    }

    /// The PHC string of the keyed `secret` under `salt`, with this state's cost.
    fn phc(&self, secret: &[u8], salt: &SaltString) -> String {
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt
            .decode_b64(&mut salt_bytes)
            .expect("salts made here decode");
        let mut out = Zeroizing::new([0u8; 32]);
        hash_into(
            &self.argon,
            &hmac_sha256(&self.key, secret)[..],
            salt_raw,
            &mut out[..],
        )
        .expect("argon2 hash");
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).expect("valid parameters"),
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out[..]).expect("32-byte output")),
        }
        .to_string()
    }
}

thread_local! {
    /// This thread's argon2 working memory, kept for its next hash. Only the hashing pool's
    /// threads hash, so there are at most `hashing::THREADS` of these: a fixed 2 × 19 MiB, where
    /// a fresh buffer per hash let the allocator keep one after another.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2 of `secret` into `out`, in this thread's working memory, wiped afterwards (it holds
/// values derived from the secret).
fn hash_into(argon: &Argon2<'_>, secret: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    MEMORY.with_borrow_mut(|memory| {
        let blocks = argon.params().block_count();
        memory.resize(blocks, Block::default());
        let result = argon.hash_password_into_with_memory(secret, salt, out, &mut memory[..blocks]);
        memory.fill(Block::default());
        result
    })
}

fn file_error(path: &Path, e: &std::io::Error) -> SimulatorError {
    SimulatorError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` 0600 holding `bytes`; an existing file is left as it is.
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(bytes).and_then(|()| file.sync_all()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The HMAC key in `path`, made (32 random bytes, 0600) if there is none.
fn load_or_create_key(path: &Path) -> std::io::Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    if !path.exists() {
        rand::rng().fill_bytes(&mut key[..]);
        create_private(path, &key[..])?;
    }
    let bytes = Zeroizing::new(std::fs::read(path)?);
    if bytes.len() != key.len() {
        return Err(std::io::Error::other(format!(
            "holds {} bytes, not a 32-byte key",
            bytes.len()
        )));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// Clears what was hashed under another key (or none): those hashes can never match again.
fn forget_secrets_of_other_keys(conn: &Connection, key: &[u8; 32]) -> Result<(), SimulatorError> {
    // Names the key without revealing it.
    let key_id: String = hmac_sha256(key, b"shikaku simulator key id")[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let known: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'key_id'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if known.as_deref() == Some(key_id.as_str()) {
        return Ok(());
    }
    let passwords = conn.execute(
        "UPDATE accounts SET password_hash = NULL, issued_at = NULL WHERE password_hash IS NOT NULL",
        [],
    )?;
    let codes = conn.execute(
        "UPDATE activation_codes SET state = 'revoked' WHERE state = 'pending'",
        [],
    )?;
    if passwords + codes > 0 {
        tracing::warn!(
            passwords,
            activation_codes = codes,
            "the simulator's key is new: its visual-check passwords are cleared and pending activation codes revoked; issue new ones"
        );
    }
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('key_id', ?1)",
        params![key_id],
    )?;
    Ok(())
}

/// HMAC-SHA256 (RFC 2104) of `message` under a 32-byte key.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut inner_pad = Zeroizing::new([0x36u8; 64]);
    let mut outer_pad = Zeroizing::new([0x5cu8; 64]);
    for (i, k) in key.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(&inner_pad[..])
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&outer_pad[..])
        .chain_update(inner)
        .finalize();
    Zeroizing::new(outer.into())
}

#[cfg(test)]
mod tests {
    use super::hmac_sha256;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2_shape() {
        // RFC 4231 test case 2 has a 4-byte key ("Jefe"); zero-padded to 32 bytes it is the same
        // key to HMAC, whose block is 64 bytes.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
