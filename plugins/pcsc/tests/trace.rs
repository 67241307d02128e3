//! APDU tracing: every APDU is traced at trace level, and a PIN never appears in it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{ReaderSession, deadline, pin, plugin};
use shikaku_vcard::Rig;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_apdu_trace_never_shows_a_pin() {
    let Some(rig) = Rig::start_or_skip("the_apdu_trace_never_shows_a_pin", 1) else {
        return;
    };
    rig.insert(0, "taro").unwrap();
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let readers = plugin();
        let mut session = readers
            .open(rig.reader(0).name(), deadline().instant())
            .unwrap();
        session.verify_pin(&pin("1234"), deadline()).unwrap();
        // A wrong PIN too: its digits must not show either.
        let _ = session.verify_pin(&pin("9876"), deadline());
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"),
        "{log}"
    );
    assert!(log.contains("00 20 00 80 [4 bytes redacted]"), "{log}");
    for secret in ["31 32 33 34", "1234", "39 38 37 36", "9876"] {
        assert!(!log.contains(secret), "{secret} in the trace:\n{log}");
    }
}
