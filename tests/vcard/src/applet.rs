//! The JPKI AP (公的個人認証AP) as the test card plays it: what each APDU answers.
//!
//! Choices no real card confirmed (see the reference's list): a READ BINARY that runs past the
//! end answers 9000 with fewer bytes, an offset past the end 6B00; VERIFY without data answers
//! 63Cx (6983 once blocked); the blocking try answers 63C0 and later ones 6983; the security
//! state clears on SELECT of the AP and on reset; a locked iPhone answers 6982 to the
//! certificate read and the signature (what a phone does before it is unlocked is not public);
//! READ BINARY by short EF identifier makes that EF the current one (ISO 7816-4; jsapdu reads
//! the JPKI certificates this way, but whether a real card then counts the EF as selected is
//! not known).

use std::sync::Arc;

use rsa::Pkcs1v15Sign;

use crate::apdu::{self, Command, sw};
use crate::card::{Card, Kind};

/// JPKI AP DF name (AID).
pub const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// EF holding the token that names the medium.
pub const EF_TOKEN: u16 = 0x0006;
/// 利用者証明用電子証明書.
pub const EF_AUTH_CERTIFICATE: u16 = 0x000A;
/// 利用者証明用 private key.
pub const EF_AUTH_KEY: u16 = 0x0017;
/// 利用者証明用 PIN.
pub const EF_AUTH_PIN: u16 = 0x0018;
/// Wrong PINs before the card blocks.
pub const MAX_TRIES: u8 = 3;

/// The size of the EF holding the certificate: larger than the DER, as on a real card, so a
/// host must size its read from the DER header.
const CERTIFICATE_EF_SIZE: usize = 2048;
/// The size of EF 0006; the token is space-padded to 32 bytes, then zero filler.
const TOKEN_EF_SIZE: usize = 160;

/// One power-up of a card: what is selected and whether the PIN was verified.
#[derive(Debug)]
pub struct Applet {
    card: Arc<Card>,
    extended: bool,
    /// Presents the contactless pseudo-ATR, whatever `extended` says.
    contactless_atr: bool,
    phone_locked: bool,
    /// Refuses READ BINARY by short EF identifier.
    no_short_ids: bool,
    jpki_selected: bool,
    ef: Option<u16>,
    verified: bool,
}

/// A response APDU: data then SW1 SW2.
fn answer(data: &[u8], sw: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&sw.to_be_bytes());
    out
}

impl Applet {
    pub fn new(card: Arc<Card>, extended: bool) -> Self {
        Self {
            card,
            extended,
            contactless_atr: false,
            phone_locked: false,
            no_short_ids: false,
            jpki_selected: false,
            ef: None,
            verified: false,
        }
    }

    /// Presents the pseudo-ATR of a contactless reader, which declares nothing about extended
    /// length, even when the card takes extended APDUs.
    pub fn with_contactless_atr(mut self) -> Self {
        self.contactless_atr = true;
        self
    }

    /// A phone whose screen is locked: an iPhone keeps its certificate and key closed (6982).
    pub fn with_phone_locked(mut self) -> Self {
        self.phone_locked = true;
        self
    }

    /// A card that reads only the selected EF: READ BINARY by short EF identifier answers 6A81.
    pub fn without_short_ids(mut self) -> Self {
        self.no_short_ids = true;
        self
    }

    pub fn atr(&self) -> Vec<u8> {
        self.card
            .profile
            .kind
            .atr(self.extended && !self.contactless_atr)
    }

    /// An iPhone that has not been unlocked on the phone.
    fn locked_iphone(&self) -> bool {
        self.phone_locked && self.kind() == Kind::Iphone
    }

    /// Power off, power on or reset: the card forgets its selection and security state.
    pub fn reset(&mut self) {
        self.jpki_selected = false;
        self.ef = None;
        self.verified = false;
    }

    fn kind(&self) -> Kind {
        self.card.profile.kind
    }

    /// Answers one command APDU.
    pub fn handle(&mut self, raw: &[u8]) -> Vec<u8> {
        let cmd = match apdu::parse(raw) {
            Ok(c) => c,
            Err(sw) => return answer(&[], sw),
        };
        if cmd.extended && !self.extended {
            return answer(&[], sw::WRONG_LENGTH);
        }
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => answer(&[], self.select(&cmd)),
            (0x00, 0xB0) => self.read_binary(&cmd),
            (0x00, 0x20) => answer(&[], self.verify(&cmd)),
            (0x80, 0x2A) => self.sign(&cmd),
            (0x00 | 0x80, _) => answer(&[], sw::INS_NOT_SUPPORTED),
            _ => answer(&[], sw::CLA_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command<'_>) -> u16 {
        match cmd.p1 {
            0x04 if cmd.data == JPKI_AID && self.kind() != Kind::Other => {
                self.jpki_selected = true;
                self.ef = None;
                self.verified = false;
                sw::OK
            }
            0x04 => sw::FILE_NOT_FOUND,
            0x02 if self.jpki_selected => {
                let Ok(id) = <[u8; 2]>::try_from(cmd.data).map(u16::from_be_bytes) else {
                    return sw::WRONG_LENGTH;
                };
                if self.exists(id) {
                    self.ef = Some(id);
                    sw::OK
                } else {
                    sw::FILE_NOT_FOUND
                }
            }
            0x02 => sw::FILE_NOT_FOUND,
            _ => sw::WRONG_P1P2,
        }
    }

    /// Whether the JPKI AP holds EF `id`.
    fn exists(&self, id: u16) -> bool {
        match id {
            EF_TOKEN | EF_AUTH_CERTIFICATE | EF_AUTH_KEY => true,
            // An iPhone takes no PIN at the reader.
            EF_AUTH_PIN => self.kind() != Kind::Iphone,
            _ => false,
        }
    }

    fn file(&self, id: u16) -> Result<Vec<u8>, u16> {
        match id {
            EF_TOKEN => {
                let token = self.kind().token().ok_or(sw::FILE_NOT_FOUND)?;
                let mut ef = vec![b' '; 32];
                ef[..token.len()].copy_from_slice(token);
                ef.resize(TOKEN_EF_SIZE, 0);
                Ok(ef)
            }
            EF_AUTH_CERTIFICATE => {
                if (self.kind() == Kind::Android && !self.verified) || self.locked_iphone() {
                    return Err(sw::SECURITY_NOT_SATISFIED);
                }
                let mut ef = self.card.profile.certificate.clone();
                let size = CERTIFICATE_EF_SIZE.max(ef.len());
                ef.resize(size, 0xFF);
                Ok(ef)
            }
            _ => Err(sw::INCOMPATIBLE_FILE),
        }
    }

    fn read_binary(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let by_short_id = cmd.p1 & 0x80 != 0;
        if by_short_id && (self.no_short_ids || cmd.p1 & 0x60 != 0) {
            return answer(&[], sw::FUNCTION_NOT_SUPPORTED);
        }
        let Some(le) = cmd.le else {
            return answer(&[], sw::WRONG_LENGTH);
        };
        if by_short_id {
            // P1 = 100xxxxx: the EF whose identifier is 00xx; it becomes the current EF.
            let id = u16::from(cmd.p1 & 0x1F);
            if !self.jpki_selected || !self.exists(id) {
                return answer(&[], sw::FILE_NOT_FOUND);
            }
            self.ef = Some(id);
        }
        let Some(ef) = self.ef else {
            return answer(&[], sw::NO_CURRENT_EF);
        };
        let file = match self.file(ef) {
            Ok(f) => f,
            Err(sw) => return answer(&[], sw),
        };
        let offset = if by_short_id {
            usize::from(cmd.p2)
        } else {
            usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]))
        };
        if offset >= file.len() {
            return answer(&[], sw::WRONG_OFFSET);
        }
        let end = file.len().min(offset + le);
        answer(&file[offset..end], sw::OK)
    }

    fn verify(&mut self, cmd: &Command<'_>) -> u16 {
        if cmd.p1 != 0x00 || cmd.p2 != 0x80 {
            return sw::WRONG_P1P2;
        }
        if self.ef != Some(EF_AUTH_PIN) {
            return sw::REFERENCE_NOT_FOUND;
        }
        let tries = self.card.tries_left();
        if tries == 0 {
            return sw::AUTH_BLOCKED;
        }
        if cmd.data.is_empty() {
            return sw::tries_left(tries);
        }
        if cmd.data.len() != 4 {
            return sw::WRONG_LENGTH;
        }
        if self.card.profile.pin.as_ref().map(|p| &p[..]) == Some(cmd.data) {
            self.card.set_tries_left(MAX_TRIES);
            self.verified = true;
            sw::OK
        } else {
            self.card.set_tries_left(tries - 1);
            self.verified = false;
            sw::tries_left(tries - 1)
        }
    }

    fn sign(&self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x00 || cmd.p2 != 0x80 {
            return answer(&[], sw::WRONG_P1P2);
        }
        if self.ef != Some(EF_AUTH_KEY) {
            return answer(&[], sw::REFERENCE_NOT_FOUND);
        }
        // An iPhone's key is unlocked by biometrics on the phone, not by a PIN at the reader.
        if (!self.verified && self.kind() != Kind::Iphone) || self.locked_iphone() {
            return answer(&[], sw::SECURITY_NOT_SATISFIED);
        }
        let Some(key) = self.card.profile.key.as_ref() else {
            return answer(&[], sw::FILE_NOT_FOUND);
        };
        match key.sign(Pkcs1v15Sign::new_unprefixed(), cmd.data) {
            Ok(signature) => answer(&signature, sw::OK),
            Err(_) => answer(&[], sw::WRONG_LENGTH),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardProfile;

    fn applet(id: &str) -> Applet {
        Applet::new(Arc::new(Card::new(CardProfile::fixture(id).unwrap())), true)
    }

    fn sw(response: &[u8]) -> u16 {
        let n = response.len();
        u16::from_be_bytes([response[n - 2], response[n - 1]])
    }

    fn select(a: &mut Applet, ef: u16) -> u16 {
        let [hi, lo] = ef.to_be_bytes();
        sw(&a.handle(&[0, 0xA4, 2, 0x0C, 2, hi, lo]))
    }

    fn select_ap(a: &mut Applet) -> u16 {
        let mut apdu = vec![0, 0xA4, 4, 0x0C, 10];
        apdu.extend_from_slice(&JPKI_AID);
        sw(&a.handle(&apdu))
    }

    #[test]
    fn an_android_phone_shows_its_certificate_after_the_pin() {
        let mut a = applet("android");
        assert_eq!(select_ap(&mut a), sw::OK);
        assert_eq!(select(&mut a, EF_AUTH_CERTIFICATE), sw::OK);
        assert_eq!(
            sw(&a.handle(&[0, 0xB0, 0, 0, 7])),
            sw::SECURITY_NOT_SATISFIED
        );
        assert_eq!(select(&mut a, EF_AUTH_PIN), sw::OK);
        assert_eq!(sw(&a.handle(b"\x00\x20\x00\x80\x042468")), sw::OK);
        assert_eq!(select(&mut a, EF_AUTH_CERTIFICATE), sw::OK);
        let r = a.handle(&[0, 0xB0, 0, 0, 7]);
        assert_eq!((sw(&r), r[0], r[1]), (sw::OK, 0x30, 0x82));
    }

    #[test]
    fn the_third_wrong_pin_blocks_and_reset_forgets_the_verification() {
        let mut a = applet("taro");
        select_ap(&mut a);
        select(&mut a, EF_AUTH_PIN);
        assert_eq!(sw(&a.handle(&[0, 0x20, 0, 0x80])), 0x63C3);
        assert_eq!(sw(&a.handle(b"\x00\x20\x00\x80\x041234")), sw::OK);
        a.reset();
        select_ap(&mut a);
        assert_eq!(select(&mut a, EF_AUTH_KEY), sw::OK);
        assert_eq!(
            sw(&a.handle(&[0x80, 0x2A, 0, 0x80, 1, 0, 0])),
            sw::SECURITY_NOT_SATISFIED
        );
        select(&mut a, EF_AUTH_PIN);
        for expected in [0x63C2, 0x63C1, 0x63C0, sw::AUTH_BLOCKED] {
            assert_eq!(sw(&a.handle(b"\x00\x20\x00\x80\x040000")), expected);
        }
        assert_eq!(sw(&a.handle(b"\x00\x20\x00\x80\x041234")), sw::AUTH_BLOCKED);
    }

    #[test]
    fn a_short_only_card_refuses_extended_apdus() {
        let mut a = Applet::new(
            Arc::new(Card::new(CardProfile::fixture("taro").unwrap())),
            false,
        );
        select_ap(&mut a);
        select(&mut a, EF_AUTH_CERTIFICATE);
        assert_eq!(sw(&a.handle(&[0, 0xB0, 0, 0, 0, 0, 0])), sw::WRONG_LENGTH);
        assert_eq!(a.handle(&[0, 0xB0, 0, 0, 0]).len(), 258);
    }

    #[test]
    fn a_contactless_atr_says_nothing_of_what_the_card_takes() {
        let card = Arc::new(Card::new(CardProfile::fixture("taro").unwrap()));
        let mut a = Applet::new(card, true).with_contactless_atr();
        assert_eq!(a.atr(), Kind::MyNumberCard.atr(false));
        select_ap(&mut a);
        select(&mut a, EF_AUTH_CERTIFICATE);
        let r = a.handle(&[0, 0xB0, 0, 0, 0, 0, 0]);
        assert_eq!((sw(&r), r[0]), (sw::OK, 0x30));
    }

    #[test]
    fn a_locked_iphone_keeps_its_certificate_and_key_closed() {
        let card = Arc::new(Card::new(CardProfile::fixture("iphone").unwrap()));
        let mut a = Applet::new(card, false).with_phone_locked();
        assert_eq!(select_ap(&mut a), sw::OK);
        assert_eq!(select(&mut a, EF_TOKEN), sw::OK);
        assert_eq!(sw(&a.handle(&[0, 0xB0, 0, 0, 0x20])), sw::OK);
        select(&mut a, EF_AUTH_CERTIFICATE);
        assert_eq!(
            sw(&a.handle(&[0, 0xB0, 0, 0, 7])),
            sw::SECURITY_NOT_SATISFIED
        );
        select(&mut a, EF_AUTH_KEY);
        assert_eq!(
            sw(&a.handle(&[0x80, 0x2A, 0, 0x80, 1, 0, 0])),
            sw::SECURITY_NOT_SATISFIED
        );
    }

    #[test]
    fn a_short_ef_identifier_reads_the_file_without_a_select() {
        let mut a = applet("taro");
        select_ap(&mut a);
        let r = a.handle(&[0, 0xB0, 0x8A, 0, 0, 0, 0]);
        assert_eq!((sw(&r), r[0], r[1]), (sw::OK, 0x30, 0x82));
        assert_eq!(
            sw(&a.handle(&[0, 0xB0, 0x9F, 0, 0, 0, 0])),
            sw::FILE_NOT_FOUND
        );
        let card = Arc::new(Card::new(CardProfile::fixture("taro").unwrap()));
        let mut a = Applet::new(card, true).without_short_ids();
        select_ap(&mut a);
        assert_eq!(
            sw(&a.handle(&[0, 0xB0, 0x8A, 0, 0, 0, 0])),
            sw::FUNCTION_NOT_SUPPORTED
        );
    }

    #[test]
    fn a_card_without_the_applet_finds_no_aid() {
        let mut a = applet("other");
        assert_eq!(select_ap(&mut a), sw::FILE_NOT_FOUND);
        assert_eq!(select(&mut a, EF_TOKEN), sw::FILE_NOT_FOUND);
    }
}
