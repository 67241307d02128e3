//! shikaku-terminal-sim: a simulated 資格確認端末 for demos and manual tests.
//!
//! Watches `<root>/req`, answers into `<root>/res`, drops face files into `<root>/face`, and
//! optionally serves the same messages over HTTPS with mutual TLS. Commands on standard input
//! change its behaviour while it runs:
//!
//! ```text
//! face <person>            drop a face-auth result for a fixture person (e.g. `face taro`)
//! people                   list the fixture's people
//! shape <name>             drop a result file of a shape real terminals write (e.g.
//!                          `shape medical-assistance-terminal`); `shapes` lists them
//! zip on | off             answer completed bulk results zipped (OQSmuquc02res_….zip)
//! fault none | slow <ms> | slow-write <ms> | error <code> | file-error <code>
//!       | malformed | truncated | never | down
//! quit
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use shikaku_oqs_xml::Encoding;
use shikaku_terminal_sim::{Fault, Terminal, TerminalConfig};

#[derive(Debug, Parser)]
#[command(
    name = "shikaku-terminal-sim",
    about = "A simulated 資格確認端末 (req/res/face folders and HTTPS)"
)]
struct Args {
    /// The share root holding req, res and face.
    #[arg(long)]
    root: PathBuf,
    /// A fixture file instead of the embedded one.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Encoding of the results written: utf-8 or shift_jis.
    #[arg(long, default_value = "utf-8", value_parser = parse_encoding)]
    encoding: Encoding,
    /// 医療機関コード (the fixture's when not given).
    #[arg(long)]
    facility_code: Option<String>,
    /// How long a bulk upload stays 処理中, in milliseconds.
    #[arg(long, default_value_t = 300)]
    bulk_delay_ms: u64,
    /// Serve HTTPS on this address too, e.g. 127.0.0.1:8443.
    #[arg(long)]
    https: Option<std::net::SocketAddr>,
    /// Where to write the HTTPS test certificates (ca.pem, client.pem, client.key, …).
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Misbehave from the start: none, slow:<ms>, slow-write:<ms>, error:<code>,
    /// file-error:<code>, malformed, truncated, never, down.
    #[arg(long, default_value = "none", value_parser = parse_fault)]
    fault: Fault,
    /// Drop a face file for this person at start (repeatable).
    #[arg(long)]
    face: Vec<String>,
    /// Answer completed bulk results zipped from the start.
    #[arg(long)]
    zip_bulk: bool,
}

fn parse_encoding(s: &str) -> Result<Encoding, String> {
    Encoding::from_label(s).map_err(|e| e.to_string())
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    let (what, arg) = s
        .split_once([':', ' '])
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((s, ""));
    let ms = || {
        arg.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{what} needs milliseconds, e.g. {what}:2000"))
    };
    let code = || {
        if arg.is_empty() {
            Err(format!("{what} needs a code, e.g. {what}:EOQE0001"))
        } else {
            Ok(arg.to_owned())
        }
    };
    Ok(match what.trim() {
        "none" => Fault::None,
        "slow" => Fault::Slow(ms()?),
        "slow-write" => Fault::SlowWrite(ms()?),
        "error" => Fault::ErrorResult {
            code: code()?,
            message: "シミュレータのエラー結果".into(),
        },
        "file-error" => Fault::FileError {
            code: code()?,
            message: "シミュレータの異常終了".into(),
        },
        "malformed" => Fault::Malformed,
        "truncated" => Fault::Truncated,
        "never" => Fault::NeverAnswer,
        "down" => Fault::Down,
        other => return Err(format!("unknown fault {other:?}")),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = TerminalConfig::new(&args.root);
    config.fixture = args.fixture;
    config.encoding = args.encoding;
    config.facility_code = args.facility_code;
    config.bulk_delay = Duration::from_millis(args.bulk_delay_ms);
    let terminal = Terminal::start(config)?;
    terminal.set_fault(args.fault);
    terminal.set_zip_bulk_results(args.zip_bulk);
    println!(
        "terminal simulator for {}: req {} → res {}, face {}",
        terminal.facility_code(),
        terminal.req_dir().display(),
        terminal.res_dir().display(),
        terminal.face_dir().display()
    );
    let _https = match args.https {
        Some(addr) => {
            let server = terminal.serve_https(addr)?;
            if let Some(dir) = &args.cert_dir {
                server.pki().write_to(dir)?;
                println!("test certificates written to {}", dir.display());
            }
            println!(
                "https: {} (POST /oqs/<kind>, client certificate required)",
                server.base_url()
            );
            Some(server)
        }
        None => None,
    };
    for person in &args.face {
        println!("face: {}", terminal.drop_face(person)?.display());
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let line = line.trim();
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "" => {}
            "quit" | "exit" => return Ok(()),
            "people" => println!("{}", terminal.people().join(" ")),
            "face" => match terminal.drop_face(rest.trim()) {
                Ok(p) => println!("face: {}", p.display()),
                Err(e) => println!("error: {e}"),
            },
            "shapes" => println!("{}", shikaku_simulator::shapes::names().join(" ")),
            "shape" => match terminal.drop_shape(rest.trim()) {
                Ok(p) => println!("face: {}", p.display()),
                Err(e) => println!("error: {e}"),
            },
            "zip" => match rest.trim() {
                "on" | "off" => {
                    terminal.set_zip_bulk_results(rest.trim() == "on");
                    println!("zip bulk results: {}", rest.trim());
                }
                _ => println!("error: zip on | off"),
            },
            "fault" => match parse_fault(rest.trim()) {
                Ok(f) => {
                    println!("fault: {f:?}");
                    terminal.set_fault(f);
                }
                Err(e) => println!("error: {e}"),
            },
            other => println!(
                "error: unknown command {other:?} (face, people, shape, shapes, zip, fault, quit)"
            ),
        }
    }
    // Standard input closed (run in the background): keep serving until killed.
    loop {
        std::thread::park();
    }
}
