//! APDUs and time of one card check through the PC/SC test rig (the real pcscd, vsmartcard's
//! vpcd, the project's virtual card), twice: the card reading alone (`PcscSession` straight on
//! pcscd) and end to end (gRPC `CheckByCard` to shikakud with `libshikaku_pcsc.so` loaded and
//! the embedded OQS simulator as upstream). Medians over `--runs` after a short warm-up.
//!
//! ```sh
//! cargo build --release -p shikaku-bench --bin pcsc-check -p shikaku-pcsc
//! target/release/pcsc-check --runs 30
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use shikaku_daemon::config::PluginConfig;
use shikaku_daemon::{Config, Running};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::sha256_digest_info;
use shikaku_domain::secret::Pin;
use shikaku_pcsc_core::{Deadline, PcscConfig, PcscReaders, ReaderSession};
use shikaku_proto::v1 as pb;
use shikaku_vcard::{InsertOptions, Rig};

#[derive(Parser)]
struct Args {
    /// Measured runs per row (after `runs / 10 + 1` unmeasured ones).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// The card-reader plugin; by default the one beside this binary.
    #[arg(long)]
    plugin: Option<PathBuf>,
}

/// What a row measured: APDUs per run (the same every run, or the bench fails) and times.
struct Row {
    name: String,
    apdus: u32,
    times: Vec<Duration>,
}

impl Row {
    fn percentile(&self, p: f64) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t[((t.len() - 1) as f64 * p).round() as usize]
    }

    fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<72} {:>5} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.name,
            self.apdus,
            ms(self.percentile(0.5)),
            ms(self.percentile(0.0)),
            ms(self.percentile(0.9)),
            ms(self.percentile(1.0)),
        );
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "row": self.name,
            "apdus": self.apdus,
            "median_ms": self.percentile(0.5).as_secs_f64() * 1e3,
            "min_ms": self.percentile(0.0).as_secs_f64() * 1e3,
            "p90_ms": self.percentile(0.9).as_secs_f64() * 1e3,
            "max_ms": self.percentile(1.0).as_secs_f64() * 1e3,
            "runs": self.times.len(),
        })
    }
}

/// Runs `f` (warm-up, then `runs` times), counting the APDUs the card answered each time.
fn measure(
    name: &str,
    rig: &Rig,
    runs: usize,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<Row, String> {
    let mut row = Row {
        name: name.to_owned(),
        apdus: 0,
        times: Vec::with_capacity(runs),
    };
    for i in 0..runs / 10 + 1 + runs {
        rig.reader(0).reset_count();
        let started = Instant::now();
        f().map_err(|e| format!("{name}: {e}"))?;
        let took = started.elapsed();
        let apdus = rig.reader(0).apdu_count();
        if i > runs / 10 {
            if !row.times.is_empty() && apdus != row.apdus {
                return Err(format!("{name}: {apdus} apdus, earlier {}", row.apdus));
            }
            row.apdus = apdus;
            row.times.push(took);
        }
    }
    Ok(row)
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

/// The card-reading part of a check as the daemon runs it (workflow.rs), straight on pcscd:
/// with a PIN (`Some`, empty for an iPhone) or for a visual check (`None`: certificate only).
fn read_card(readers: &PcscReaders, reader: &str, pin: Option<&str>) -> Result<(), String> {
    let fail = |e: shikaku_domain::reader::ReaderError| e.to_string();
    let mut session = readers.open(reader, deadline().instant()).map_err(fail)?;
    let medium = session.medium(deadline()).map_err(fail)?;
    let Some(pin) = pin else {
        session.read_auth_certificate(deadline()).map_err(fail)?;
        return Ok(());
    };
    let verify = |session: &mut shikaku_pcsc_core::PcscSession| {
        let pin = Pin::parse(pin).map_err(|e| e.to_string())?;
        session.verify_pin(&pin, deadline()).map_err(fail)
    };
    if medium == Medium::Android {
        verify(&mut session)?;
    }
    session.read_auth_certificate(deadline()).map_err(fail)?;
    if medium == Medium::MyNumberCard {
        verify(&mut session)?;
    }
    let signature = session
        .sign(&sha256_digest_info(b"a challenge from oqs"), deadline())
        .map_err(fail)?;
    (signature.len() == 256)
        .then_some(())
        .ok_or_else(|| "not an rsa-2048 signature".to_owned())
}

type Client =
    pb::qualification_service_client::QualificationServiceClient<tonic::transport::Channel>;

/// Checks answered READER_BUSY and sent again. The daemon lets go of a card on a background
/// task once the card is read, so a check sent the moment the previous one answers can find
/// the card still held; a client sends it again, and so does the bench, counting.
static BUSY_RETRIES: AtomicU32 = AtomicU32::new(0);

async fn check(client: &mut Client, request: pb::CheckByCardRequest) -> Result<(), String> {
    let mut attempts = 0;
    let r = loop {
        match client.check_by_card(request.clone()).await {
            // READER_BUSY; ABORTED alone would also be a card removed.
            Err(s)
                if s.code() == tonic::Code::Aborted
                    && s.message().contains("busy")
                    && attempts < 100 =>
            {
                attempts += 1;
                BUSY_RETRIES.fetch_add(1, Ordering::Relaxed);
            }
            other => break other,
        }
    };
    let r = r
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner()
        .result
        .ok_or("no result")?;
    (r.validity() == pb::Validity::Valid)
        .then_some(())
        .ok_or_else(|| format!("validity {:?}", r.validity()))
}

fn pin_request(reader: &str, pin: &str) -> pb::CheckByCardRequest {
    pb::CheckByCardRequest {
        reader: reader.into(),
        identity: Some(pb::check_by_card_request::Identity::Pin(pb::PinIdentity {
            pin: pin.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn visual_request(reader: &str, password: &str) -> pb::CheckByCardRequest {
    pb::CheckByCardRequest {
        reader: reader.into(),
        identity: Some(pb::check_by_card_request::Identity::VisualCheck(
            pb::VisualCheckIdentity {
                account_id: "staff01".into(),
                password: password.into(),
            },
        )),
        ..Default::default()
    }
}

/// A card measured: fixture id, PIN, how it sits on the reader, and the row label.
struct Measured {
    id: &'static str,
    pin: &'static str,
    /// Takes extended APDUs (and, unless `contactless`, declares it in its ATR).
    extended: bool,
    /// Presents the contactless pseudo-ATR, which declares nothing.
    contactless: bool,
    label: &'static str,
}

/// The cards measured. The plugin remembers per reader and medium whether extended reads
/// worked, so for each medium the card that takes them comes first; the warm-up runs absorb
/// the one refused extended read a short-only card costs the first time.
const CARDS: &[Measured] = &[
    Measured {
        id: "taro",
        pin: "1234",
        extended: true,
        contactless: false,
        label: "my number card, contact atr, extended read",
    },
    Measured {
        id: "taro",
        pin: "1234",
        extended: true,
        contactless: true,
        label: "my number card, contactless atr, extended read",
    },
    Measured {
        id: "taro",
        pin: "1234",
        extended: false,
        contactless: true,
        label: "my number card, 256-byte reads",
    },
    Measured {
        id: "android",
        pin: "2468",
        extended: true,
        contactless: true,
        label: "android, extended read",
    },
    Measured {
        id: "android",
        pin: "2468",
        extended: false,
        contactless: true,
        label: "android, 256-byte reads",
    },
    Measured {
        id: "iphone",
        pin: "",
        extended: true,
        contactless: true,
        label: "iphone, extended read",
    },
    Measured {
        id: "iphone",
        pin: "",
        extended: false,
        contactless: true,
        label: "iphone, 256-byte reads",
    },
];

fn insert(rig: &Rig, card: &Measured) -> Result<(), String> {
    if rig.reader(0).is_inserted() {
        rig.reader(0).remove().map_err(|e| e.to_string())?;
    }
    let options = InsertOptions {
        extended: Some(card.extended),
        contactless: card.contactless,
        ..Default::default()
    };
    rig.insert_with(0, card.id, options)
        .map_err(|e| e.to_string())
}

async fn run(args: Args) -> Result<Vec<Row>, String> {
    let plugin = match args.plugin {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name(format!(
                "{}shikaku_pcsc{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )),
    };
    let rig = Rig::start(1).map_err(|e| e.to_string())?;
    let reader = rig.reader(0).name().to_owned();
    let runs = args.runs.max(1);
    let mut rows = Vec::new();

    // Card reading only.
    let readers = PcscReaders::new(PcscConfig::default());
    for card in CARDS {
        insert(&rig, card)?;
        let name = format!("read only: pin check, {}", card.label);
        rows.push(measure(&name, &rig, runs, || {
            read_card(&readers, &reader, Some(card.pin))
        })?);
        if card.id != "android" {
            let name = format!("read only: visual check, {}", card.label);
            rows.push(measure(&name, &rig, runs, || {
                read_card(&readers, &reader, None)
            })?);
        }
    }

    // End to end: shikakud with the plugin loaded, over gRPC on loopback.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.simulator.readers = false;
    config.simulator.hash_memory_kib = 64;
    config.simulator.hash_passes = 1;
    config.plugins = vec![PluginConfig {
        path: plugin,
        sha256: None,
        kind: None,
        max_concurrency: 64,
        timeout_ms: 10_000,
        grace_ms: 1_000,
        config: serde_json::json!({ "readers": [reader] })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }];
    let running = Running::start(&config).await.map_err(|e| e.to_string())?;
    let channel = tonic::transport::Channel::from_shared(running.url())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = Client::new(channel.clone());
    let password = pb::visual_check_password_service_client::VisualCheckPasswordServiceClient::new(
        channel.clone(),
    )
    .issue_visual_check_password(pb::IssueVisualCheckPasswordRequest {
        account_id: "staff01".into(),
        ..Default::default()
    })
    .await
    .map_err(|s| s.message().to_owned())?
    .into_inner()
    .password;
    let handle = tokio::runtime::Handle::current();
    for card in CARDS {
        insert(&rig, card)?;
        let name = format!("end to end: pin check, {}", card.label);
        rows.push(measure(&name, &rig, runs, || {
            tokio::task::block_in_place(|| {
                handle.block_on(check(&mut client, pin_request(&reader, card.pin)))
            })
        })?);
        if card.id != "android" {
            let name = format!("end to end: visual check, {}", card.label);
            rows.push(measure(&name, &rig, runs, || {
                tokio::task::block_in_place(|| {
                    handle.block_on(check(&mut client, visual_request(&reader, &password)))
                })
            })?);
        }
    }
    // The same daemon without a card: gRPC, audit and the simulator alone.
    let mut numbers = pb::qualification_service_client::QualificationServiceClient::new(channel);
    rows.push(measure(
        "end to end: check by numbers (no card)",
        &rig,
        runs,
        || {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    numbers
                        .check_by_insurance_numbers(shikaku_bench::taro())
                        .await
                        .map(|_| ())
                        .map_err(|s| s.message().to_owned())
                })
            })
        },
    )?);
    running.stop().await.map_err(|e| e.to_string())?;
    Ok(rows)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let runs = args.runs;
    match run(args).await {
        Ok(rows) => {
            println!(
                "{:<72} {:>5} {:>9} {:>9} {:>9} {:>9}",
                "row", "apdus", "median ms", "min ms", "p90 ms", "max ms"
            );
            for r in &rows {
                r.print();
            }
            let busy = BUSY_RETRIES.load(Ordering::Relaxed);
            println!("end-to-end checks sent again after READER_BUSY: {busy}");
            let rows: Vec<_> = rows.iter().map(Row::json).collect();
            println!(
                "{}",
                serde_json::json!({ "runs": runs, "rows": rows, "reader_busy_retries": busy })
            );
        }
        Err(e) => {
            eprintln!("pcsc-check: {e}");
            std::process::exit(1);
        }
    }
}
