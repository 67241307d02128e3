//! One vpcd slot: a card is on the reader while we hold a TCP connection to vpcd's port.
//!
//! The vpcd protocol: every message is a 2-byte big-endian length then the payload. A 1-byte
//! payload from vpcd is a control code (0 power off, 1 power on, 2 reset, 4 send the ATR); anything
//! longer is a command APDU. The card answers the ATR request and each APDU, nothing else.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::VcardError;
use crate::applet::Applet;
use crate::card::Card;

/// vpcd's first port (`/etc/reader.conf.d/vpcd`: `DEVICENAME /dev/null:0x8C7B`); slot N listens
/// on this port + N and shows as reader `Virtual PCD 00 0N`.
pub const VPCD_BASE_PORT: u16 = 0x8C7B;

const CTRL_OFF: u8 = 0;
const CTRL_ON: u8 = 1;
const CTRL_RESET: u8 = 2;
const CTRL_ATR: u8 = 4;

/// How a card is placed on the reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct InsertOptions {
    /// Take extended-length APDUs (and say so in the ATR). None: the card kind's default
    /// (a My Number card yes, phones no).
    pub extended: Option<bool>,
    /// Leave the reader when the Nth APDU after insertion arrives, without answering it:
    /// a card pulled off mid-check (1: in the first milliseconds of a check).
    pub remove_after: Option<u32>,
    /// Present the pseudo-ATR a contactless reader synthesizes, which declares nothing about
    /// extended length, whatever the card takes.
    pub contactless: bool,
    /// A phone whose screen is locked: an iPhone answers 6982 to the certificate read and
    /// the signature until it is unlocked.
    pub phone_locked: bool,
    /// Refuse READ BINARY by short EF identifier (6A81), as a card might that only reads the
    /// selected EF.
    pub no_short_ids: bool,
}

/// One APDU the card answered, without its data (a VERIFY's data is a PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApduRecord {
    pub header: [u8; 4],
    pub command_len: usize,
    pub response_len: usize,
    pub sw: u16,
}

impl std::fmt::Display for ApduRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [cla, ins, p1, p2] = self.header;
        write!(
            f,
            "{cla:02X} {ins:02X} {p1:02X} {p2:02X} ({} bytes) -> {:04X} ({} bytes)",
            self.command_len, self.sw, self.response_len
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    apdus: AtomicU32,
    log: Mutex<Vec<ApduRecord>>,
}

#[derive(Debug)]
struct Link {
    stream: TcpStream,
    thread: JoinHandle<()>,
}

/// A vpcd slot the test card can be put on and taken off.
#[derive(Debug)]
pub struct Slot {
    port: u16,
    counters: Arc<Counters>,
    link: Mutex<Option<Link>>,
}

impl Slot {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            counters: Arc::default(),
            link: Mutex::new(None),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Puts `card` on the reader (taking off whatever was there). The APDU count restarts.
    pub fn insert(&self, card: Arc<Card>, options: InsertOptions) -> Result<(), VcardError> {
        self.remove();
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| VcardError::Vpcd(self.port, e))?;
        // vpcd sends the length and the APDU in two writes; without these each exchange waits
        // ~40 ms for a delayed ACK.
        stream
            .set_nodelay(true)
            .map_err(|e| VcardError::Vpcd(self.port, e))?;
        let reader = stream
            .try_clone()
            .map_err(|e| VcardError::Vpcd(self.port, e))?;
        self.counters.apdus.store(0, Ordering::SeqCst);
        self.lock_log().clear();
        let extended = options
            .extended
            .unwrap_or(card.profile.kind.extended_by_default());
        let mut applet = Applet::new(card, extended);
        if options.contactless {
            applet = applet.with_contactless_atr();
        }
        if options.phone_locked {
            applet = applet.with_phone_locked();
        }
        if options.no_short_ids {
            applet = applet.without_short_ids();
        }
        let counters = self.counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vcard-{}", self.port))
            .spawn(move || {
                // The loop ends when vpcd or `remove` closes the connection.
                let _ = serve(reader, applet, &counters, options.remove_after);
            })
            .map_err(|e| VcardError::Vpcd(self.port, e))?;
        *self.lock_link() = Some(Link { stream, thread });
        Ok(())
    }

    /// Takes the card off the reader (closes the connection to vpcd).
    pub fn remove(&self) {
        if let Some(link) = self.lock_link().take() {
            let _ = link.stream.shutdown(Shutdown::Both);
            let _ = link.thread.join();
        }
    }

    /// Whether the card is still connected (it may have left by itself: `remove_after`).
    pub fn is_inserted(&self) -> bool {
        self.lock_link()
            .as_ref()
            .is_some_and(|l| !l.thread.is_finished())
    }

    /// APDUs the card received since it was inserted or the count was reset.
    pub fn apdu_count(&self) -> u32 {
        self.counters.apdus.load(Ordering::SeqCst)
    }

    pub fn apdu_log(&self) -> Vec<ApduRecord> {
        self.lock_log().clone()
    }

    pub fn reset_count(&self) {
        self.counters.apdus.store(0, Ordering::SeqCst);
        self.lock_log().clear();
    }

    fn lock_link(&self) -> std::sync::MutexGuard<'_, Option<Link>> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, Vec<ApduRecord>> {
        self.counters.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.remove();
    }
}

fn serve(
    stream: TcpStream,
    mut applet: Applet,
    counters: &Counters,
    remove_after: Option<u32>,
) -> io::Result<()> {
    let sock = socket2::SockRef::from(&stream);
    let mut io = &stream;
    loop {
        // Linux turns quick ACKs off again after a while; set it before every receive.
        sock.set_tcp_quickack(true)?;
        let mut len = [0u8; 2];
        io.read_exact(&mut len)?;
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        io.read_exact(&mut payload)?;
        if std::env::var_os("SHIKAKU_VCARD_TRACE").is_some() {
            eprintln!(
                "vcard {:?}: {:02X?}",
                std::time::Instant::now(),
                &payload[..payload.len().min(5)]
            );
        }
        let response = match payload[..] {
            [] => continue,
            [CTRL_ATR] => applet.atr(),
            [CTRL_OFF | CTRL_ON | CTRL_RESET] => {
                applet.reset();
                continue;
            }
            [_] => continue,
            _ => {
                let n = counters.apdus.fetch_add(1, Ordering::SeqCst) + 1;
                if remove_after.is_some_and(|limit| n >= limit) {
                    return stream.shutdown(Shutdown::Both);
                }
                let response = applet.handle(&payload);
                let sw = response
                    .len()
                    .checked_sub(2)
                    .map(|i| u16::from_be_bytes([response[i], response[i + 1]]))
                    .unwrap_or(0);
                let mut header = [0u8; 4];
                let n = payload.len().min(4);
                header[..n].copy_from_slice(&payload[..n]);
                counters
                    .log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ApduRecord {
                        header,
                        command_len: payload.len(),
                        response_len: response.len(),
                        sw,
                    });
                response
            }
        };
        let mut frame = Vec::with_capacity(response.len() + 2);
        frame.extend_from_slice(&(response.len() as u16).to_be_bytes());
        frame.extend_from_slice(&response);
        io.write_all(&frame)?;
    }
}
