//! Any bytes, read as a result file (XML, or a zip archive of XML: the `zip-*` seeds) and as
//! every kind of request, must give a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::{Dialect, MessageKind, Request, ResultMessage, map};

fuzz_target!(|data: &[u8]| {
    let dialect = Dialect::default();
    let limits = Limits::default();
    if let Ok(m) = ResultMessage::parse(data, &dialect, &limits) {
        let _ = map::to_result(&m.header, &m.body);
        for u in &m.units {
            let _ = map::to_result(&m.header, u);
        }
    }
    for kind in MessageKind::all() {
        let _ = Request::parse(kind, data, &limits);
    }
});
