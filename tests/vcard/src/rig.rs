//! The PC/SC test rig: the real pcscd with vsmartcard's vpcd reader driver, and the test card
//! on its slots. Tests wait on what pcscd reports (reader listed, card present), never on sleeps.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};

use crate::VcardError;
use crate::card::{Card, Wallet};
use crate::slot::{ApduRecord, InsertOptions, Slot, VPCD_BASE_PORT};

/// How long pcscd may take to notice a card come or go (it polls vpcd about every 400 ms).
const CARD_WAIT: Duration = Duration::from_secs(10);
/// How long a freshly started pcscd may take to list its readers.
const READER_WAIT: Duration = Duration::from_secs(5);
/// The variable that turns "pcscd not reachable" from a skip into a failure (set by CI).
pub const REQUIRE_ENV: &str = "SHIKAKU_REQUIRE_PCSCD";

/// vpcd readers and a test card on each, owned by one test.
pub struct Rig {
    wallet: Wallet,
    readers: Vec<RigReader>,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field(
                "readers",
                &self.readers.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One vpcd reader of the rig, held exclusively by this test (a file lock, so tests in other
/// processes wait their turn instead of inserting cards into each other's reader).
pub struct RigReader {
    name: String,
    context: Context,
    slot: Slot,
    /// What a wait last confirmed: card present, and pcscd's event count for the reader.
    settled: std::sync::Mutex<Option<(bool, u32)>>,
    _lock: File,
}

fn unavailable(e: impl std::fmt::Display) -> VcardError {
    VcardError::PcscdUnavailable(e.to_string())
}

/// vpcd readers by slot: `Virtual PCD 00 01` is slot 1.
fn vpcd_readers(context: &Context) -> Result<Vec<(u16, String)>, VcardError> {
    let names = match context.list_readers_owned() {
        Ok(n) => n,
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(unavailable(e)),
    };
    let mut out: Vec<(u16, String)> = names
        .iter()
        .filter_map(|n| n.to_str().ok())
        .filter(|n| n.starts_with("Virtual PCD"))
        .filter_map(|n| {
            let slot = u16::from_str_radix(n.rsplit(' ').next()?, 16).ok()?;
            Some((slot, n.to_owned()))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn lock_file(port: u16) -> Result<(File, std::path::PathBuf), VcardError> {
    let path = std::env::temp_dir().join(format!("shikaku-vpcd-{port}.lock"));
    let file = File::create(&path).map_err(|e| VcardError::Lock(path.clone(), e))?;
    Ok((file, path))
}

/// Takes `wanted` readers. One reader: the first free one, else wait for the first. Several:
/// wait for each in slot order (a fixed order, so two tests never wait on each other).
fn lock_readers(
    found: Vec<(u16, String)>,
    wanted: usize,
) -> Result<Vec<(u16, String, File)>, VcardError> {
    use rustix::fs::{FlockOperation, flock};
    if wanted == 1 {
        for (slot, name) in &found {
            let (file, _) = lock_file(VPCD_BASE_PORT + slot)?;
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                return Ok(vec![(*slot, name.clone(), file)]);
            }
        }
    }
    let mut out = Vec::new();
    for (slot, name) in found.into_iter().take(wanted) {
        let (file, path) = lock_file(VPCD_BASE_PORT + slot)?;
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| VcardError::Lock(path, e.into()))?;
        out.push((slot, name, file));
    }
    Ok(out)
}

impl Rig {
    /// Connects to pcscd and takes `readers` vpcd readers, waiting for other tests to free them.
    pub fn start(readers: usize) -> Result<Rig, VcardError> {
        let context = Context::establish(Scope::User).map_err(unavailable)?;
        let deadline = Instant::now() + READER_WAIT;
        let mut pnp = [ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
        let found = loop {
            let found = vpcd_readers(&context)?;
            if found.len() >= readers {
                break found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(unavailable(format!(
                    "pcscd lists {} vpcd readers, the test needs {readers} \
                     (is vsmartcard-vpcd installed and pcscd restarted since?)",
                    found.len()
                )));
            }
            match context.get_status_change(left, &mut pnp) {
                Ok(()) | Err(pcsc::Error::Timeout) => pnp[0].sync_current_state(),
                Err(e) => return Err(unavailable(e)),
            }
        };
        let mut taken = Vec::new();
        for (slot, name, lock) in lock_readers(found, readers)? {
            let reader = RigReader {
                name,
                // Its own context: pcsc-lite runs one call at a time per context.
                context: Context::establish(Scope::User).map_err(unavailable)?,
                slot: Slot::new(VPCD_BASE_PORT + slot),
                settled: std::sync::Mutex::new(None),
                _lock: lock,
            };
            // A card left by a test that crashed is gone once its process is; wait for pcscd
            // to notice.
            reader.wait_for_card(false)?;
            taken.push(reader);
        }
        Ok(Rig {
            wallet: Wallet::default(),
            readers: taken,
        })
    }

    /// Like [`Rig::start`], but when pcscd (with vpcd) is not reachable and
    /// `SHIKAKU_REQUIRE_PCSCD` is unset, says so on stderr and answers None: the test skips.
    pub fn start_or_skip(test: &str, readers: usize) -> Option<Rig> {
        let mut started = Rig::start(readers);
        if matches!(started, Err(VcardError::PcscdUnavailable(_)))
            && std::env::var_os(REQUIRE_ENV).is_some()
            && revive_pcscd(test)
        {
            started = Rig::start(readers);
        }
        match started {
            Ok(rig) => Some(rig),
            Err(VcardError::PcscdUnavailable(why)) if std::env::var_os(REQUIRE_ENV).is_none() => {
                // Straight to stderr: the test harness would swallow eprintln! of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: pcscd with vsmartcard-vpcd is not reachable ({why}); \
                     set {REQUIRE_ENV}=1 to make this a failure"
                );
                None
            }
            Err(e) => panic!("{test}: the PC/SC rig did not start: {e}"),
        }
    }

    pub fn reader(&self, index: usize) -> &RigReader {
        &self.readers[index]
    }

    /// This test's card `id` from the simulator fixture (same counter on every reader).
    pub fn card(&self, id: &str) -> Result<Arc<Card>, VcardError> {
        self.wallet.card(id)
    }

    /// Puts card `id` on reader `index` and waits until pcscd reports it present.
    pub fn insert(&self, index: usize, id: &str) -> Result<(), VcardError> {
        self.insert_with(index, id, InsertOptions::default())
    }

    pub fn insert_with(
        &self,
        index: usize,
        id: &str,
        options: InsertOptions,
    ) -> Result<(), VcardError> {
        self.readers[index].insert(self.wallet.card(id)?, options)
    }
}

/// Where the tests require pcscd (CI) and it is gone — it has been seen to die between tests on
/// a busy machine — starts it again and waits until it answers. Says so on stderr, so a test
/// run that needed it is visible.
fn revive_pcscd(test: &str) -> bool {
    // Tests run on threads: one revives, the others find it answering.
    static REVIVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = REVIVING.lock().unwrap_or_else(|p| p.into_inner());
    if Context::establish(Scope::User).is_ok() {
        return true;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: pcscd is not reachable; starting it again"
    );
    let _ = std::fs::remove_file("/var/run/pcscd/pcscd.pid");
    let spawned = std::process::Command::new("pcscd")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if spawned.is_err() {
        return false;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if Context::establish(Scope::User).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

impl RigReader {
    /// The PC/SC reader name, e.g. `Virtual PCD 00 00`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn insert(&self, card: Arc<Card>, options: InsertOptions) -> Result<(), VcardError> {
        self.slot.insert(card, options)?;
        self.wait_for_card(true)
    }

    /// Takes the card off and waits until pcscd reports the reader empty.
    pub fn remove(&self) -> Result<(), VcardError> {
        self.slot.remove();
        self.wait_for_card(false)
    }

    /// Waits until pcscd reports a card on the reader (`present`) or none.
    ///
    /// pcscd's poller must have seen the change, not only the failed APDU of a card that left
    /// mid-check (which marks the reader empty without counting an event): if the card came
    /// back before the poller looked, the poller never sees it leave and never reports it
    /// back. So the wait also needs pcscd's event count to move.
    pub fn wait_for_card(&self, present: bool) -> Result<(), VcardError> {
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + CARD_WAIT;
        let name = CString::new(self.name.clone()).map_err(unavailable)?;
        let mut state = [ReaderState::new(name, State::UNAWARE)];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.context.get_status_change(left, &mut state) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => {
                    return Err(VcardError::Timeout(format!(
                        "{} did not become {} within {CARD_WAIT:?} (last state {:?})",
                        self.name,
                        if present { "present" } else { "empty" },
                        state[0].event_state()
                    )));
                }
                Err(e) => return Err(unavailable(e)),
            }
            let s = state[0].event_state();
            let count = state[0].event_count();
            let reached = if present {
                s.contains(State::PRESENT) && !s.contains(State::MUTE)
            } else {
                s.contains(State::EMPTY)
            };
            let confirmed = match *settled {
                None => true,
                // Already so at the last wait: nothing happened, nothing to wait for.
                Some((was, last)) if last == count => was == present,
                Some(_) => true,
            };
            if reached && confirmed {
                *settled = Some((present, count));
                return Ok(());
            }
            state[0].sync_current_state();
        }
    }

    /// Whether the test card is still connected to vpcd.
    pub fn is_inserted(&self) -> bool {
        self.slot.is_inserted()
    }

    /// APDUs the card received since insertion (or [`RigReader::reset_count`]).
    pub fn apdu_count(&self) -> u32 {
        self.slot.apdu_count()
    }

    pub fn apdu_log(&self) -> Vec<ApduRecord> {
        self.slot.apdu_log()
    }

    pub fn reset_count(&self) {
        self.slot.reset_count();
    }
}

impl Drop for RigReader {
    fn drop(&mut self) {
        self.slot.remove();
        // Hand the reader on empty, so the next test does not see this test's card.
        let _ = self.wait_for_card(false);
    }
}
