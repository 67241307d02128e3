//! The daemon's embedded OQS simulator accepts the test card's certificate and signature, for
//! each medium: the card plays the same fixture keys the simulator issued certificates for.

use std::sync::Arc;

use shikaku_domain::clock;
use shikaku_domain::pb::{ConsentChoices, Medium};
use shikaku_domain::reader::sha256_digest_info;
use shikaku_domain::upstream::{CardCheck, Evidence, Upstream};
use shikaku_simulator::SimulatorConfig;
use shikaku_vcard::applet::{Applet, EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID};
use shikaku_vcard::{Card, CardProfile};

fn ok(applet: &mut Applet, apdu: &[u8]) -> Vec<u8> {
    let mut r = applet.handle(apdu);
    let sw = r.split_off(r.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{apdu:02X?}");
    r
}

fn select(applet: &mut Applet, ef: u16) {
    let [hi, lo] = ef.to_be_bytes();
    ok(applet, &[0, 0xA4, 2, 0x0C, 2, hi, lo]);
}

/// The card's side of a PIN check: its certificate, and its signature over `challenge`.
fn card_check(id: &str, pin: &[u8], challenge: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut applet = Applet::new(Arc::new(Card::new(CardProfile::fixture(id).unwrap())), true);
    let mut select_ap = vec![0, 0xA4, 4, 0x0C, 10];
    select_ap.extend_from_slice(&JPKI_AID);
    ok(&mut applet, &select_ap);
    if !pin.is_empty() {
        select(&mut applet, EF_AUTH_PIN);
        let mut verify = vec![0, 0x20, 0, 0x80, 4];
        verify.extend_from_slice(pin);
        ok(&mut applet, &verify);
    }
    select(&mut applet, EF_AUTH_CERTIFICATE);
    let file = ok(&mut applet, &[0, 0xB0, 0, 0, 0, 0, 0]);
    let length = 4 + usize::from(u16::from_be_bytes([file[2], file[3]]));
    let certificate = file[..length].to_vec();
    select(&mut applet, EF_AUTH_KEY);
    let digest_info = sha256_digest_info(challenge);
    let mut sign = vec![0x80, 0x2A, 0, 0x80, digest_info.len() as u8];
    sign.extend_from_slice(&digest_info);
    sign.push(0);
    (certificate, ok(&mut applet, &sign))
}

#[test]
fn the_simulator_accepts_the_test_cards_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimulatorConfig::new(dir.path().join("simulator.sqlite"));
    config.hash_memory_kib = 64;
    config.hash_passes = 1;
    let (simulator, _) = shikaku_simulator::build(&config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (id, pin, medium) in [
        ("taro", &b"1234"[..], Medium::MyNumberCard),
        ("android", b"2468", Medium::Android),
        ("iphone", b"", Medium::Iphone),
    ] {
        let challenge = runtime.block_on(simulator.challenge()).unwrap();
        let (certificate, signature) = card_check(id, pin, &challenge);
        let result = runtime
            .block_on(simulator.check_by_card(CardCheck {
                certificate,
                medium,
                evidence: Evidence::Pin {
                    challenge,
                    signature,
                },
                consents: ConsentChoices::default(),
                confirmation_date: clock::today(),
            }))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(result.medium, medium as i32, "{id}");
    }
}
