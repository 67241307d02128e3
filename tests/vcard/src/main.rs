//! `shikaku-vcard`: the test card as a program, driven by commands on stdin.
//!
//! ```text
//! shikaku-vcard [--slot N | --port P] [--reader NAME]
//! ```
//! Slot N (default 0) is vpcd port 35963 + N, shown by pcscd as reader `Virtual PCD 00 0N`.
//! One command per line; each answers one line on stdout starting with `ok` or `error`:
//!
//! | command                                     | what it does                                     |
//! |---------------------------------------------|--------------------------------------------------|
//! | `insert CARD [short\|extended] [contactless] [phone-locked] [no-short-ids] [remove-after=N]` | puts fixture card CARD (taro, android, iphone, locked, other…) on the reader; waits until pcscd reports it when pcscd is reachable. `contactless`: the contactless pseudo-ATR whatever the card takes; `phone-locked`: an iPhone not unlocked (6982); `no-short-ids`: READ BINARY by short EF identifier refused (6A81) |
//! | `remove`                                    | takes the card off                               |
//! | `count`                                     | `ok N`: APDUs since insertion                    |
//! | `log`                                       | `ok` then one line per APDU (header and SW, never data) |
//! | `tries CARD`                                | `ok N`: PIN tries left on CARD                   |
//! | `set-tries CARD N`                          | sets the retry counter (0 locks the card)        |
//! | `quit`                                      | takes the card off and exits (so does end of input) |
//!
//! Counters live as long as the program: removing and re-inserting a card keeps them.

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::time::Duration;

use pcsc::{Context, ReaderState, Scope, State};
use shikaku_vcard::{InsertOptions, Slot, VPCD_BASE_PORT, Wallet};

struct Args {
    port: u16,
    reader: String,
}

fn args() -> Result<Args, String> {
    let mut slot = 0u16;
    let mut port = None;
    let mut reader = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--slot" => {
                slot = value("--slot")?
                    .parse()
                    .map_err(|e| format!("--slot: {e}"))?
            }
            "--port" => {
                port = Some(
                    value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?,
                )
            }
            "--reader" => reader = Some(value("--reader")?),
            "-h" | "--help" => {
                return Err(
                    "usage: shikaku-vcard [--slot N | --port P] [--reader NAME]; \
                            commands on stdin: insert CARD [short|extended] [contactless] \
                            [phone-locked] [remove-after=N], \
                            remove, count, log, tries CARD, set-tries CARD N, quit"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let port = port.unwrap_or(VPCD_BASE_PORT + slot);
    let reader = reader.unwrap_or(format!("Virtual PCD 00 {:02X}", port - VPCD_BASE_PORT));
    Ok(Args { port, reader })
}

/// Waits (up to 10 s) until pcscd reports the reader with or without a card; does nothing when
/// pcscd is not reachable, so the program also works against a bare vpcd.
fn wait_for_card(reader: &str, present: bool) -> Result<(), String> {
    let Ok(context) = Context::establish(Scope::User) else {
        return Ok(());
    };
    let name = CString::new(reader).map_err(|e| e.to_string())?;
    let mut state = [ReaderState::new(name, State::UNAWARE)];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        context
            .get_status_change(left, &mut state)
            .map_err(|e| format!("waiting for {reader}: {e}"))?;
        let s = state[0].event_state();
        if (present && s.contains(State::PRESENT)) || (!present && s.contains(State::EMPTY)) {
            return Ok(());
        }
        state[0].sync_current_state();
    }
}

fn run(line: &str, slot: &Slot, wallet: &Wallet, reader: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["insert", card, rest @ ..] => {
            let mut options = InsertOptions::default();
            for w in rest {
                match *w {
                    "short" => options.extended = Some(false),
                    "extended" => options.extended = Some(true),
                    "contactless" => options.contactless = true,
                    "phone-locked" => options.phone_locked = true,
                    "no-short-ids" => options.no_short_ids = true,
                    w => match w.strip_prefix("remove-after=") {
                        Some(n) => {
                            options.remove_after =
                                Some(n.parse().map_err(|e| format!("remove-after: {e}"))?)
                        }
                        None => return Err(format!("unknown insert option {w:?}")),
                    },
                }
            }
            let card = wallet.card(card).map_err(|e| e.to_string())?;
            slot.insert(card, options).map_err(|e| e.to_string())?;
            wait_for_card(reader, true)?;
            Ok(format!("inserted {}", words[1]))
        }
        ["remove"] => {
            slot.remove();
            wait_for_card(reader, false)?;
            Ok("removed".into())
        }
        ["count"] => Ok(slot.apdu_count().to_string()),
        ["log"] => Ok(slot.apdu_log().iter().map(|r| format!("\n{r}")).collect()),
        ["tries", card] => Ok(wallet
            .card(card)
            .map_err(|e| e.to_string())?
            .tries_left()
            .to_string()),
        ["set-tries", card, n] => {
            let n = n.parse().map_err(|e| format!("tries: {e}"))?;
            wallet
                .card(card)
                .map_err(|e| e.to_string())?
                .set_tries_left(n);
            Ok(format!("{card} has {n} tries left"))
        }
        _ => Err(format!("unknown command {line:?}")),
    }
}

fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let slot = Slot::new(args.port);
    let wallet = Wallet::default();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            break;
        }
        let answer = match run(line, &slot, &wallet, &args.reader) {
            Ok(s) => format!("ok {s}"),
            Err(e) => format!("error {e}"),
        };
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", answer.trim_end());
        let _ = out.flush();
    }
    slot.remove();
    std::process::ExitCode::SUCCESS
}
