//! A re-visit kiosk (再来受付機) talking to shikakud: the patient places the My Number card on the
//! kiosk's reader, enters the PIN (or looks at the face-auth camera), and the kiosk shows where to
//! go next. `--repeat N` runs N check-ins and prints their end-to-end latency. With `--ca`,
//! `--cert` and `--key` (from `shikaku tls client NAME --role kiosk`) it talks TLS.
//!
//! When the card has one PIN try left, shikakud refuses the check before the PIN is sent
//! (PIN_LAST_TRY); the kiosk warns the patient that a wrong PIN locks the card and repeats the
//! check only if the patient says yes.

mod tls;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use shikaku_proto::v1::check_by_card_request::Identity;
use shikaku_proto::v1::reception_service_client::ReceptionServiceClient;
use shikaku_proto::v1::{
    CheckByCardRequest, CheckInRequest, CheckInResponse, FaceIdentity, KioskInstruction,
    PinIdentity,
};
use tonic::Status;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Example re-visit kiosk client of shikakud.
#[derive(Parser)]
struct Args {
    /// Address of shikakud.
    #[arg(long, env = "SHIKAKU_ADDR", default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// The kiosk's card reader.
    #[arg(long)]
    reader: String,
    /// 顔認証 instead of a PIN (the PIN is read from SHIKAKU_PIN or the first line of stdin).
    #[arg(long)]
    face: bool,
    /// Check in this many times and print the latency of each call.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    #[command(flatten)]
    tls: tls::TlsArgs,
}

fn read_pin() -> Result<String, String> {
    if let Ok(pin) = std::env::var("SHIKAKU_PIN") {
        return Ok(pin);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the pin from stdin: {e}"))?;
    Ok(line.trim().to_owned())
}

/// `last_try_acknowledged`: the patient was warned that the card has one PIN try left.
fn request(reader: &str, pin: Option<&str>, last_try_acknowledged: bool) -> CheckInRequest {
    let identity = match pin {
        Some(pin) => Identity::Pin(PinIdentity {
            pin: pin.into(),
            last_try_acknowledged,
        }),
        None => Identity::Face(FaceIdentity {}),
    };
    CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: reader.into(),
            identity: Some(identity),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Whether shikakud refused the check because the card has one PIN try left.
fn is_last_try(status: &Status) -> bool {
    status
        .get_error_details()
        .error_info()
        .is_some_and(|info| info.reason == "PIN_LAST_TRY")
}

/// Warns the patient and asks; only "y" or "yes" goes on. Read from stdin, after the PIN.
fn patient_risks_last_try() -> Result<bool, String> {
    eprintln!(
        "注意: このカードの暗証番号は、あと1回しか試せません。間違えるとカードがロックされます。"
    );
    eprintln!("Warning: this card has one PIN try left. A wrong PIN locks the card.");
    eprint!("続けますか? (y/N) ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer from stdin: {e}"))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// One check-in; on PIN_LAST_TRY, repeated with the acknowledgement once the patient agrees.
async fn check_in(
    client: &mut ReceptionServiceClient<Channel>,
    reader: &str,
    pin: Option<&str>,
) -> Result<CheckInResponse, String> {
    let mut acknowledged = false;
    loop {
        match client.check_in(request(reader, pin, acknowledged)).await {
            Ok(answer) => return Ok(answer.into_inner()),
            Err(status) if pin.is_some() && !acknowledged && is_last_try(&status) => {
                if !patient_risks_last_try()? {
                    return Err("check-in cancelled: the card has one PIN try left".into());
                }
                acknowledged = true;
            }
            Err(s) => return Err(format!("check-in failed: {:?}: {}", s.code(), s.message())),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(args: Args) -> Result<(), String> {
    let pin = if args.face { None } else { Some(read_pin()?) };
    let channel = tls::endpoint(&args.addr, &args.tls)?
        .connect()
        .await
        .map_err(|e| format!("cannot reach shikakud at {}: {e}", args.addr))?;
    let mut client = ReceptionServiceClient::new(channel);
    let mut times = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let answer = check_in(&mut client, &args.reader, pin.as_deref()).await?;
        times.push(started.elapsed());
        if args.repeat <= 1 {
            let entry = answer.entry.unwrap_or_default();
            let instruction = KioskInstruction::try_from(answer.instruction)
                .unwrap_or(KioskInstruction::Unspecified);
            println!("{}", answer.message);
            println!(
                "instruction={} reception={}#{} patient_number={}",
                instruction.as_str_name(),
                entry.date,
                entry.id,
                entry.patient_number
            );
        }
    }
    if args.repeat > 1 {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "check-ins={} min={:.1}ms median={:.1}ms p95={:.1}ms max={:.1}ms",
            times.len(),
            ms(times[0]),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shikaku-kiosk: {e}");
            ExitCode::FAILURE
        }
    }
}
