//! Sends one check by insurance numbers through the terminal's folders and prints the result as
//! JSON: a way to try a share's setup by hand (and the process tests kill mid-request).
//!
//! Usage: shikaku-oqs-folder-check <config.json> <insurer> <number> <birth YYYY-MM-DD> [deadline ms]

use std::time::{Duration, Instant};

use shikaku_domain::upstream::NumbersCheck;
use shikaku_domain::values::{CardNumber, InsurerNumber, parse_date};
use shikaku_oqs_folder::FolderTransport;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, insurer, number, birth, rest @ ..] = args.as_slice() else {
        return Err("usage: shikaku-oqs-folder-check <config.json> <insurer> <number> <birth YYYY-MM-DD> [deadline ms]".into());
    };
    let deadline_ms: u64 = rest
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(config)?)?;
    let transport = FolderTransport::from_json(&config)?;
    let check = NumbersCheck {
        insurer: InsurerNumber::parse(insurer)?,
        symbol: None,
        number: CardNumber::parse(number)?,
        branch: None,
        birth_date: parse_date(birth)?,
        limit_certificate_consent: false,
        confirmation_date: shikaku_domain::clock::today(),
    };
    println!("sending");
    let result =
        transport.check_by_numbers(&check, Instant::now() + Duration::from_millis(deadline_ms))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
