//! The simulator's own durable state, as OQS would keep it: activation codes and visual-check
//! passwords as argon2id hashes only, and account lockouts.

use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{SimulatorConfig, SimulatorError};

pub(crate) struct State {
    pub conn: Mutex<Connection>,
    argon: Argon2<'static>,
    /// This installation's salt for activation-code hashes. One salt for all codes lets a redeem
    /// hash the presented code once and look it up, instead of trying every stored hash; the
    /// salt still defeats precomputation, and argon2 keeps 10^12 guesses out of reach.
    code_salt: SaltString,
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
CREATE TABLE IF NOT EXISTS accounts (
    account_id    TEXT PRIMARY KEY,
    password_hash TEXT,
    issued_at     INTEGER,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER
);";

impl State {
    pub fn open(config: &SimulatorConfig) -> Result<Self, SimulatorError> {
        if let Some(dir) = config.state_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(&config.state_path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
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
        let params = Params::new(config.hash_memory_kib, config.hash_passes, 1, None)
            .map_err(|e| SimulatorError::Certificate(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            conn: Mutex::new(conn),
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            code_salt,
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The deterministic (installation-salted) hash of an activation code.
    pub fn code_hash(&self, code: &[u8]) -> String {
        self.argon
            .hash_password(code, &self.code_salt)
            .expect("argon2 hash")
            .to_string()
    }

    /// A per-secret salted hash (PHC string).
    pub fn password_hash(&self, secret: &[u8]) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let salt = SaltString::encode_b64(&bytes).expect("16 bytes encode");
        self.argon
            .hash_password(secret, &salt)
            .expect("argon2 hash")
            .to_string()
    }

    pub fn password_matches(&self, secret: &[u8], phc: &str) -> bool {
        PasswordHash::new(phc)
            .map(|h| self.argon.verify_password(secret, &h).is_ok())
            .unwrap_or(false)
    }
}
