//! A re-visit kiosk (再来受付機) talking to shikakud: the patient places the My Number card on the
//! kiosk's reader, enters the PIN (or looks at the face-auth camera), and the kiosk shows where to
//! go next. `--repeat N` runs N check-ins and prints their end-to-end latency.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use shikaku_proto::v1::check_by_card_request::Identity;
use shikaku_proto::v1::reception_service_client::ReceptionServiceClient;
use shikaku_proto::v1::{
    CheckByCardRequest, CheckInRequest, FaceIdentity, KioskInstruction, PinIdentity,
};
use tonic::transport::Channel;

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

fn request(reader: &str, pin: Option<&str>) -> CheckInRequest {
    let identity = match pin {
        Some(pin) => Identity::Pin(PinIdentity {
            pin: pin.into(),
            ..Default::default()
        }),
        None => Identity::Face(FaceIdentity {}),
    };
    CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: reader.into(),
            identity: Some(identity),
            ..Default::default()
        }),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(args: Args) -> Result<(), String> {
    let pin = if args.face { None } else { Some(read_pin()?) };
    let channel = Channel::from_shared(args.addr.clone())
        .map_err(|e| format!("bad address: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot reach shikakud at {}: {e}", args.addr))?;
    let mut client = ReceptionServiceClient::new(channel);
    let mut times = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let answer = client
            .check_in(request(&args.reader, pin.as_deref()))
            .await
            .map_err(|s| format!("check-in failed: {:?}: {}", s.code(), s.message()))?
            .into_inner();
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
