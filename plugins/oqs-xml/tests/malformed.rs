//! The parser refuses broken input with an error, never a panic: every truncation of a real
//! result, byte flips, and hand-made oddities.

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map;
use shikaku_oqs_xml::{Dialect, Encoding, ResultMessage, XmlError};
use shikaku_simulator::Directory;

fn sample(encoding: Encoding) -> Vec<u8> {
    let directory = Directory::load(None).unwrap();
    let r = directory.person("disease").unwrap();
    ResultMessage {
        header: map::result_header(&r, "1311111114", "x"),
        body: map::from_result(&r),
        ..Default::default()
    }
    .to_xml(encoding, &Dialect::default())
    .unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let dialect = Dialect::default();
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let full = sample(encoding);
        assert!(ResultMessage::parse(&full, &dialect, &Limits::default()).is_ok());
        // The closing tag is followed by a newline; cutting that alone leaves a whole document.
        let end = full.len() - 1;
        for cut in 0..end {
            let r = ResultMessage::parse(&full[..cut], &dialect, &Limits::default());
            assert!(r.is_err(), "{encoding:?} cut at {cut} parsed");
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let dialect = Dialect::default();
    let full = sample(Encoding::ShiftJis);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut bytes = full.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 32) as u8;
        }
        let _ = ResultMessage::parse(&bytes, &dialect, &Limits::default());
    }
}

#[test]
fn odd_documents_have_clear_errors() {
    let d = Dialect::default();
    let l = Limits::default();
    let parse = |s: &[u8]| ResultMessage::parse(s, &d, &l);
    assert_eq!(parse(b""), Err(XmlError::Empty));
    assert_eq!(parse(b"   \n"), Err(XmlError::Empty));
    assert_eq!(
        parse(b"<Other><MessageHeader/></Other>"),
        Err(XmlError::NotXmlMsg("Other".into()))
    );
    assert_eq!(
        parse(b"<XmlMsg><MessageBody/></XmlMsg>"),
        Err(XmlError::Missing("MessageHeader"))
    );
    assert!(matches!(
        parse(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><XmlMsg>\x82</XmlMsg>"),
        Err(XmlError::BadBytes("Shift_JIS"))
    ));
    assert!(matches!(
        parse(b"<XmlMsg>\xff\xfe</XmlMsg>"),
        Err(XmlError::BadBytes("UTF-8"))
    ));
    assert!(matches!(
        parse(b"<!DOCTYPE x [<!ENTITY a \"b\">]><XmlMsg/>"),
        Err(XmlError::Syntax { .. })
    ));
    assert_eq!(parse(b"<XmlMsg><MessageHeader>"), Err(XmlError::Truncated));
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    assert!(matches!(
        ResultMessage::parse(b"<XmlMsg><MessageHeader/></XmlMsg>", &d, &small),
        Err(XmlError::Limit(_))
    ));
}
