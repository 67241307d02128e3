//! Reading secrets (PINs, passwords, activation codes) without ever taking them from argv, where
//! other users could see them in the process list and shell history.

use std::io::{BufRead, IsTerminal};

use zeroize::Zeroizing;

use crate::error::CliError;

/// Where a secret comes from: an environment variable for scripts, else one line of stdin (typed
/// without echo when stdin is a terminal).
pub struct SecretSource {
    /// Shown as the prompt when stdin is a terminal, and in the error when nothing was given.
    pub label: &'static str,
    /// The environment variable that may hold it instead.
    pub env: &'static str,
}

/// Reads the secret, wiped from memory when dropped.
pub fn read(source: &SecretSource) -> Result<Zeroizing<String>, CliError> {
    let secret = match std::env::var(source.env) {
        Ok(value) => Zeroizing::new(value),
        Err(_) => read_stdin_line(source.label)?,
    };
    if secret.is_empty() {
        return Err(CliError::Input(format!(
            "no {} given: write it to stdin or set {}",
            source.label, source.env
        )));
    }
    Ok(secret)
}

fn read_stdin_line(label: &str) -> Result<Zeroizing<String>, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return read_without_echo(label);
    }
    // Reserved up front so the line is never moved to a bigger buffer, leaving an unwiped copy.
    let mut line = Zeroizing::new(String::with_capacity(256));
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|error| CliError::Input(format!("cannot read the {label} from stdin: {error}")))?;
    let length = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(length);
    Ok(line)
}

/// Typed at a terminal: prompts on it and reads with echo off, so the secret never shows on the
/// screen, in a scrollback or a screen recording.
fn read_without_echo(label: &str) -> Result<Zeroizing<String>, CliError> {
    rpassword::prompt_password(format!("{label}: "))
        .map(Zeroizing::new)
        .map_err(|error| {
            CliError::Input(format!(
                "cannot read the {label} from the terminal: {error}"
            ))
        })
}
