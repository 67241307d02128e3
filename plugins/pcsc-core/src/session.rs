//! One check's exclusive hold on a card or phone: the JPKI steps as APDUs.

use std::sync::Arc;
use std::time::Instant;

use pcsc::{Card, Disposition};
use shikaku_domain::pb::Medium;
use shikaku_domain::reader::ReaderError;
use shikaku_domain::secret::Pin;
use shikaku_plugin_sdk::{Deadline, ReaderSession};

use crate::Media;
use crate::apdu::{self, Response};
use crate::extended::{ReadPlan, ReaderMemory};
use crate::jpki;

/// The most a short READ BINARY returns.
const SHORT_READ: usize = 256;
/// The most an extended READ BINARY asks for: the whole file in one APDU.
const EXTENDED_READ: usize = 65536;
/// READ BINARY offsets are 15 bits (P1 bit 8 selects a short EF identifier instead).
const MAX_OFFSET: usize = 0x7FFF;

/// What is selected on the card, so a step does not repeat a SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    Nothing,
    Application,
    File(u16),
}

/// An open card: the session a reader plugin hands the daemon for one check.
pub struct PcscSession {
    /// None once the card left: the handle is let go at once, since pcscd keeps an exclusive
    /// handle's hold on the reader across a removal and would refuse the next card.
    card: Option<Card>,
    reader: String,
    /// Whether the next certificate read is extended.
    extended: bool,
    plan: ReadPlan,
    memory: Arc<ReaderMemory>,
    media: Media,
    medium: Option<Medium>,
    selected: Selected,
    pin_verified: bool,
    apdus: u32,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for PcscSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscSession")
            .field("reader", &self.reader)
            .field("extended", &self.extended)
            .field("medium", &self.medium)
            .field("apdus", &self.apdus)
            .finish_non_exhaustive()
    }
}

/// Maps a PC/SC error during a check. A card pulled in the first milliseconds of a check
/// shows in pcsc-lite as any of REMOVED_CARD, NO_SMARTCARD or NOT_TRANSACTED ("an attempt was
/// made to end a non-existent transaction"), and a card the reader reset has lost its
/// selection and verified PIN: each is the card gone from this check, to be placed again.
fn transmit_error(e: pcsc::Error) -> ReaderError {
    use pcsc::Error as E;
    match e {
        E::RemovedCard
        | E::NoSmartcard
        | E::NotTransacted
        | E::ResetCard
        | E::ReaderUnavailable
        | E::UnknownReader => ReaderError::CardRemoved,
        E::NoService | E::ServiceStopped => {
            ReaderError::Failure(format!("pcscd went away during the check: {e}"))
        }
        e => ReaderError::Failure(format!("card communication failed: {e}")),
    }
}

/// Whether a PC/SC error certainly ends the check, even while trying an extended APDU (other
/// errors then are the reader refusing to carry it).
fn ends_the_check(e: pcsc::Error) -> bool {
    use pcsc::Error as E;
    matches!(
        e,
        E::RemovedCard
            | E::NoSmartcard
            | E::ResetCard
            | E::ReaderUnavailable
            | E::UnknownReader
            | E::NoService
            | E::ServiceStopped
    )
}

fn unexpected(step: &str, sw: u16) -> ReaderError {
    ReaderError::Failure(format!("{step} failed with status {sw:04X}"))
}

/// Whether a READ BINARY's status word means the card does not take a short EF identifier
/// (function not supported, no such file, command not allowed, wrong P1-P2).
fn refuses_short_id(sw: u16) -> bool {
    matches!(sw, 0x6A81 | 0x6A82 | 0x6986 | 0x6981 | 0x6A86 | 0x6B00)
}

/// Whether an extended READ BINARY's status word means the card or reader does not take the
/// extended form (wrong length, 6Cxx, or the instruction or parameters refused).
fn refuses_extended(sw: u16) -> bool {
    matches!(sw, 0x6700 | 0x6D00 | 0x6E00 | 0x6A86) || sw >> 8 == 0x6C
}

impl PcscSession {
    pub(crate) fn new(
        card: Card,
        reader: &str,
        plan: ReadPlan,
        memory: Arc<ReaderMemory>,
        media: Media,
    ) -> Self {
        Self {
            card: Some(card),
            reader: reader.to_owned(),
            extended: match plan {
                ReadPlan::Fixed { extended } => extended,
                ReadPlan::Learn => true,
            },
            plan,
            memory,
            media,
            medium: None,
            selected: Selected::Nothing,
            pin_verified: false,
            apdus: 0,
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }

    /// APDUs sent to the card in this session.
    pub fn apdu_count(&self) -> u32 {
        self.apdus
    }

    /// Whether this session reads the certificate with extended-length APDUs (before the
    /// read: whether it will try to; after it: whether that worked).
    pub fn extended_length(&self) -> bool {
        self.extended
    }

    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Sends one APDU. `redact` keeps its data out of the trace (a VERIFY carries the PIN).
    fn transmit(
        &mut self,
        apdu: &[u8],
        redact: bool,
        deadline: Instant,
    ) -> Result<Response, ReaderError> {
        self.send(apdu, redact, deadline)?.map_err(|e| self.fail(e))
    }

    /// Maps a PC/SC error, letting go of a card that left.
    fn fail(&mut self, e: pcsc::Error) -> ReaderError {
        let err = transmit_error(e);
        if err == ReaderError::CardRemoved {
            self.let_go();
        }
        err
    }

    /// Sends one APDU, handing back a PC/SC error unmapped for the caller to judge.
    fn send(
        &mut self,
        apdu: &[u8],
        redact: bool,
        deadline: Instant,
    ) -> Result<Result<Response, pcsc::Error>, ReaderError> {
        let Some(card) = &self.card else {
            return Err(ReaderError::CardRemoved);
        };
        if Instant::now() >= deadline {
            return Err(ReaderError::Timeout);
        }
        self.apdus += 1;
        tracing::trace!(
            target: "shikaku_pcsc::apdu",
            reader = %self.reader,
            "> {}",
            apdu::trace_command(apdu, redact)
        );
        let raw = match card.transmit(apdu, &mut self.buffer) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::trace!(target: "shikaku_pcsc::apdu", reader = %self.reader, "< {e}");
                return Ok(Err(e));
            }
        };
        // pcscd answers the APDU during which the card left with success and no bytes; the
        // next ones fail with REMOVED_CARD until the handle reconnects.
        let Some(response) = Response::parse(raw) else {
            tracing::trace!(target: "shikaku_pcsc::apdu", reader = %self.reader, "< (no response)");
            self.let_go();
            return Err(ReaderError::CardRemoved);
        };
        tracing::trace!(
            target: "shikaku_pcsc::apdu",
            reader = %self.reader,
            "< {}",
            apdu::trace_response(&response)
        );
        Ok(Ok(response))
    }

    /// Lets go of a card that left the reader, so the next card can be taken.
    fn let_go(&mut self) {
        if let Some(card) = self.card.take() {
            tracing::debug!(reader = %self.reader, "card removed during the check");
            let _ = card.disconnect(Disposition::LeaveCard);
        }
    }

    /// Sends an APDU and completes T=0 exchanges: `6Cxx` (wrong Le: send again with xx) and
    /// `61xx` (more data: GET RESPONSE).
    fn exchange(
        &mut self,
        apdu: &[u8],
        redact: bool,
        deadline: Instant,
    ) -> Result<Response, ReaderError> {
        let response = self.transmit(apdu, redact, deadline)?;
        self.complete(apdu, response, redact, deadline)
    }

    /// Completes a T=0 exchange whose first answer is `response`.
    fn complete(
        &mut self,
        apdu: &[u8],
        mut response: Response,
        redact: bool,
        deadline: Instant,
    ) -> Result<Response, ReaderError> {
        // Short case 2 (header + Le) or short case 4 (header + Lc + data + Le).
        let short_with_le = apdu.len() == 5
            || (apdu.len() > 5 && apdu[4] != 0 && apdu.len() == 6 + usize::from(apdu[4]));
        if response.sw1() == 0x6C && !redact && short_with_le {
            let mut again = apdu.to_vec();
            if let Some(le) = again.last_mut() {
                *le = response.sw2();
            }
            response = self.transmit(&again, false, deadline)?;
        }
        while response.sw1() == 0x61 {
            let more = self.transmit(&[0x00, 0xC0, 0x00, 0x00, response.sw2()], false, deadline)?;
            response.data.extend_from_slice(&more.data);
            response.sw = more.sw;
        }
        Ok(response)
    }

    fn select_application(&mut self, deadline: Instant) -> Result<(), ReaderError> {
        if self.selected != Selected::Nothing {
            return Ok(());
        }
        let apdu = apdu::command([0x00, 0xA4, 0x04, 0x0C], &jpki::AID, None, false);
        let r = self.exchange(&apdu, false, deadline)?;
        if !r.is_ok() {
            // 6A82 on a card without the applet; other cards answer 6D00, 6E00, 6A86…
            tracing::debug!(reader = %self.reader, sw = format!("{:04X}", r.sw), "no jpki applet");
            return Err(ReaderError::NotMyNumberCard);
        }
        self.selected = Selected::Application;
        self.pin_verified = false;
        Ok(())
    }

    fn select_file(&mut self, id: u16, deadline: Instant) -> Result<(), ReaderError> {
        self.select_application(deadline)?;
        if self.selected == Selected::File(id) {
            return Ok(());
        }
        let apdu = apdu::command([0x00, 0xA4, 0x02, 0x0C], &id.to_be_bytes(), None, false);
        let r = self.exchange(&apdu, false, deadline)?;
        if !r.is_ok() {
            return Err(unexpected(&format!("select ef {id:04X}"), r.sw));
        }
        self.selected = Selected::File(id);
        Ok(())
    }

    fn read_binary(
        &mut self,
        offset: usize,
        length: usize,
        deadline: Instant,
    ) -> Result<Response, ReaderError> {
        let [p1, p2] = (offset as u16).to_be_bytes();
        let apdu = apdu::command([0x00, 0xB0, p1, p2], &[], Some(length), false);
        self.exchange(&apdu, false, deadline)
    }

    /// One extended READ BINARY, of the selected EF or of the EF a short identifier names (then
    /// `offset` must fit in P2); None when the reader refused to carry it (an error from the
    /// driver, not a status word from the card). If the card has in fact left, the short read
    /// that follows says so.
    fn read_binary_extended(
        &mut self,
        offset: usize,
        length: usize,
        short_id: Option<u8>,
        deadline: Instant,
    ) -> Result<Option<Response>, ReaderError> {
        let [p1, p2] = match short_id {
            // ISO 7816-4 READ BINARY: P1 = 100xxxxx names the EF by short identifier, P2 the offset.
            Some(id) => [0x80 | (id & 0x1F), offset as u8],
            None => (offset as u16).to_be_bytes(),
        };
        let apdu = apdu::command([0x00, 0xB0, p1, p2], &[], Some(length), true);
        match self.send(&apdu, false, deadline)? {
            Ok(response) => self.complete(&apdu, response, false, deadline).map(Some),
            Err(e) if ends_the_check(e) => Err(self.fail(e)),
            Err(e) => {
                tracing::debug!(reader = %self.reader, "the reader refused an extended apdu: {e}");
                Ok(None)
            }
        }
    }

    /// Reads the rest in short APDUs, and remembers for this reader when learning.
    fn fall_back_to_short_reads(&mut self, medium: Medium, why: &str) {
        tracing::debug!(
            reader = %self.reader,
            why,
            "extended read binary refused; reading in short apdus"
        );
        self.extended = false;
        if self.plan == ReadPlan::Learn {
            self.memory.remember(&self.reader, medium, false);
        }
    }

    /// The PIN's retry counter, asked with a VERIFY without data: `63Cx` is x tries left, and a
    /// blocked PIN (`6983`, `6984`) none. None when the card does not answer the question; the
    /// PIN is then verified without knowing.
    fn pin_tries_left(&mut self, deadline: Instant) -> Result<Option<u8>, ReaderError> {
        let r = self.exchange(&[0x00, 0x20, 0x00, 0x80], false, deadline)?;
        match (r.sw1(), r.sw2()) {
            (0x63, x) if x & 0xF0 == 0xC0 => Ok(Some(x & 0x0F)),
            (0x69, 0x83 | 0x84) => Ok(Some(0)),
            _ => {
                tracing::debug!(
                    reader = %self.reader,
                    sw = format!("{:04X}", r.sw),
                    "the card does not tell its pin tries"
                );
                Ok(None)
            }
        }
    }

    /// The JPKI token (card, Android or iPhone), read once per session.
    fn token(&mut self, deadline: Instant) -> Result<Medium, ReaderError> {
        if let Some(m) = self.medium {
            return Ok(m);
        }
        self.select_file(jpki::EF_TOKEN, deadline)?;
        let r = self.read_binary(0, jpki::TOKEN_LENGTH, deadline)?;
        if !r.is_ok() {
            return Err(unexpected("read token", r.sw));
        }
        let medium = jpki::medium_of(&r.data)?;
        match (self.media, medium) {
            (Media::Card, Medium::Android | Medium::Iphone) => {
                return Err(ReaderError::Failure(
                    "a smartphone is on the reader, and this plugin reads cards only".into(),
                ));
            }
            (Media::Smartphone, Medium::MyNumberCard) => {
                return Err(ReaderError::Failure(
                    "a my number card is on the reader, and this plugin reads smartphones only"
                        .into(),
                ));
            }
            _ => {}
        }
        tracing::debug!(reader = %self.reader, ?medium, "jpki token read");
        self.medium = Some(medium);
        Ok(medium)
    }
}

/// The session is the SDK's reader session itself: the host calls these through the plugin ABI.
impl ReaderSession for PcscSession {
    /// Selects the JPKI AP and reads its token: card, Android or iPhone.
    fn medium(&mut self, deadline: Deadline) -> Result<Medium, ReaderError> {
        self.token(deadline.instant())
    }

    /// 利用者証明用電子証明書 (DER), sized from its DER header: one extended READ BINARY for the
    /// whole file where the card and reader take it, else 256-byte reads. An Android phone
    /// shows it only after its PIN, an iPhone only once unlocked on the phone.
    ///
    /// The extended read names the file by its short EF identifier (`00 B0 8A 00 00 00 00`), so
    /// no SELECT EF 000A goes before it: jsapdu reads the JPKI certificates this way, right after
    /// selecting the AP (`readEfBinaryFull(JPKI_AP_EF.AUTH_CERT)`; [jsapdu] in
    /// /work/shared/reference/jpki-pcsc.md §1.1, and ISO 7816-4's READ BINARY with P1 b8 set).
    /// A card that refuses the short identifier (6A81, 6A82, 6986…) gets the SELECT and the
    /// same read of the selected EF, one APDU more.
    fn read_auth_certificate(&mut self, deadline: Deadline) -> Result<Vec<u8>, ReaderError> {
        let deadline = deadline.instant();
        let medium = self.token(deadline)?;
        if medium == Medium::Android && !self.pin_verified {
            return Err(ReaderError::PinRequired);
        }
        if self.plan == ReadPlan::Learn {
            self.extended = self.memory.recall(&self.reader, medium).unwrap_or(true);
        }
        let mut by_short_id =
            self.extended && self.selected != Selected::File(jpki::EF_AUTH_CERTIFICATE);
        let mut certificate = Vec::new();
        let mut total = None;
        loop {
            let offset = certificate.len();
            if total.is_some_and(|t| offset >= t) {
                break;
            }
            if offset > MAX_OFFSET {
                return Err(ReaderError::Failure(
                    "the certificate is larger than read binary can address".into(),
                ));
            }
            if !by_short_id {
                self.select_file(jpki::EF_AUTH_CERTIFICATE, deadline)?;
            }
            let want = match (self.extended, total) {
                (true, None) => EXTENDED_READ,
                (true, Some(t)) => (t - offset).min(EXTENDED_READ),
                (false, None) => SHORT_READ,
                (false, Some(t)) => (t - offset).min(SHORT_READ),
            };
            let r = if self.extended {
                let short_id = by_short_id.then_some(jpki::SFI_AUTH_CERTIFICATE);
                match self.read_binary_extended(offset, want, short_id, deadline)? {
                    Some(r) => r,
                    None => {
                        self.fall_back_to_short_reads(medium, "reader error");
                        by_short_id = false;
                        continue;
                    }
                }
            } else {
                self.read_binary(offset, want, deadline)?
            };
            if by_short_id {
                // Whether the card now counts EF 000A as selected is not known; the next
                // SELECT, of whichever EF, is sent.
                self.selected = Selected::Application;
            }
            match r.sw {
                // 6282: end of file before Le bytes; the data is still good.
                0x9000 | 0x6282 if !r.data.is_empty() => certificate.extend_from_slice(&r.data),
                0x6982 if medium == Medium::Android => return Err(ReaderError::PinRequired),
                0x6982 if medium == Medium::Iphone => return Err(ReaderError::PhoneLocked),
                sw if by_short_id && refuses_short_id(sw) => {
                    tracing::debug!(
                        reader = %self.reader,
                        sw = format!("{sw:04X}"),
                        "read binary by short ef identifier refused; selecting the ef"
                    );
                    by_short_id = false;
                    continue;
                }
                sw if self.extended && refuses_extended(sw) => {
                    self.fall_back_to_short_reads(medium, &format!("status {sw:04X}"));
                    by_short_id = false;
                    continue;
                }
                0x9000 | 0x6282 | 0x6B00 => {
                    return Err(ReaderError::Failure(
                        "the certificate file ends before the length its der header gives".into(),
                    ));
                }
                sw => return Err(unexpected("read certificate", sw)),
            }
            by_short_id = false;
            if total.is_none() {
                let length = jpki::der_length(&certificate).ok_or_else(|| {
                    ReaderError::Failure(
                        "the certificate file does not start with a der header".into(),
                    )
                })?;
                total = Some(length);
                if self.extended && self.plan == ReadPlan::Learn {
                    self.memory.remember(&self.reader, medium, true);
                }
            }
        }
        certificate.truncate(total.unwrap_or(0));
        Ok(certificate)
    }

    /// VERIFY the 4-digit user-authentication PIN, after asking for the tries left so that a
    /// locked card never receives it. `63Cx` reports x tries left; the try that blocks the
    /// card (`63C0`) and any try on a blocked card (`6983`) report it locked.
    fn verify_pin(&mut self, pin: &Pin, deadline: Deadline) -> Result<(), ReaderError> {
        let deadline = deadline.instant();
        if self.token(deadline)? == Medium::Iphone {
            return Err(ReaderError::Failure(
                "an iphone takes no pin at the reader; it unlocks on the phone".into(),
            ));
        }
        self.select_file(jpki::EF_AUTH_PIN, deadline)?;
        if self.pin_tries_left(deadline)? == Some(0) {
            return Err(ReaderError::CardLocked);
        }
        let apdu = apdu::command([0x00, 0x20, 0x00, 0x80], pin.expose(), None, false);
        let r = self.exchange(&apdu, true, deadline)?;
        self.pin_verified = r.is_ok();
        match (r.sw1(), r.sw2()) {
            (0x90, 0x00) => Ok(()),
            (0x63, 0xC0) | (0x69, 0x83) | (0x69, 0x84) => Err(ReaderError::CardLocked),
            (0x63, x) if x & 0xF0 == 0xC0 => Err(ReaderError::PinIncorrect {
                tries_left: x & 0x0F,
            }),
            _ => Err(unexpected("verify pin", r.sw)),
        }
    }

    /// Signs a DigestInfo (the card pads it, PKCS#1 v1.5) with the user-authentication key.
    fn sign(&mut self, digest_info: &[u8], deadline: Deadline) -> Result<Vec<u8>, ReaderError> {
        let deadline = deadline.instant();
        if digest_info.is_empty() || digest_info.len() > 255 {
            return Err(ReaderError::Failure(format!(
                "a digest info of {} bytes cannot be signed",
                digest_info.len()
            )));
        }
        self.token(deadline)?;
        self.select_file(jpki::EF_AUTH_KEY, deadline)?;
        let apdu = apdu::command([0x80, 0x2A, 0x00, 0x80], digest_info, Some(256), false);
        let r = self.exchange(&apdu, false, deadline)?;
        match r.sw {
            0x9000 if !r.data.is_empty() => Ok(r.data),
            0x6982 if self.medium == Some(Medium::Iphone) => Err(ReaderError::PhoneLocked),
            0x6982 => Err(ReaderError::Failure(
                "security status not satisfied: verify the pin before signing".into(),
            )),
            sw => Err(unexpected("sign", sw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_pulled_or_reset_early_is_removed_not_a_failure() {
        use pcsc::Error as E;
        for e in [
            E::NotTransacted,
            E::RemovedCard,
            E::NoSmartcard,
            E::ResetCard,
        ] {
            assert_eq!(transmit_error(e), ReaderError::CardRemoved, "{e:?}");
        }
        assert!(matches!(
            transmit_error(E::CommError),
            ReaderError::Failure(_)
        ));
    }

    #[test]
    fn a_reader_error_on_an_extended_apdu_is_a_refusal_unless_the_card_left() {
        use pcsc::Error as E;
        for e in [E::NotTransacted, E::InsufficientBuffer, E::InvalidParameter] {
            assert!(!ends_the_check(e), "{e:?}");
        }
        for e in [E::RemovedCard, E::NoSmartcard, E::ResetCard, E::NoService] {
            assert!(ends_the_check(e), "{e:?}");
        }
    }

    #[test]
    fn refusals_of_the_short_ef_identifier() {
        for sw in [0x6A81, 0x6A82, 0x6986, 0x6A86, 0x6B00] {
            assert!(refuses_short_id(sw), "{sw:04X}");
        }
        for sw in [0x9000, 0x6282, 0x6982, 0x6700] {
            assert!(!refuses_short_id(sw), "{sw:04X}");
        }
    }

    #[test]
    fn refusals_of_the_extended_form() {
        for sw in [0x6700, 0x6C00, 0x6CFF, 0x6D00, 0x6E00, 0x6A86] {
            assert!(refuses_extended(sw), "{sw:04X}");
        }
        for sw in [0x9000, 0x6282, 0x6982, 0x6B00, 0x6A82] {
            assert!(!refuses_extended(sw), "{sw:04X}");
        }
    }
}
