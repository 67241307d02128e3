//! Zipped results (`OQSmuquc02res_….zip`): read like their XML, in both encodings, and refused
//! with a clear error when an archive is too big, too full, or names a path outside itself.

use std::io::{Cursor, Write};

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map;
use shikaku_oqs_xml::{Dialect, Encoding, ResultMessage, XmlError};
use shikaku_simulator::shapes;
use zip::write::SimpleFileOptions;

fn bulk_xml(encoding: Encoding) -> Vec<u8> {
    let text = shapes::shape("bulk-result", "1311111114").unwrap();
    let text = match encoding {
        Encoding::Utf8 => text,
        Encoding::ShiftJis => text
            .replace("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\"")
            .replace("<CharacterCodeIdentifier>0<", "<CharacterCodeIdentifier>1<"),
    };
    encoding.encode(&text).unwrap()
}

fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn read(bytes: &[u8], limits: &Limits) -> Result<ResultMessage, XmlError> {
    ResultMessage::read(bytes, &Dialect::default(), limits, None)
}

#[test]
fn a_zipped_bulk_result_reads_as_its_xml_in_both_encodings() {
    for encoding in [Encoding::Utf8, Encoding::ShiftJis] {
        let xml = bulk_xml(encoding);
        let plain = read(&xml, &Limits::default()).unwrap();
        let zipped = read(
            &archive(&[("OQSmuquc02res_0001.xml", &xml)]),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(zipped, plain, "{encoding:?}");
        let results = map::bulk_results(2, &zipped);
        assert_eq!(results[0].as_ref().unwrap().reference_number, "P-000123");
        assert_eq!(
            results[1].as_ref().unwrap().qualifications[0].name,
            "診療　花子"
        );
        // The encoding check applies inside the archive too.
        let other = match encoding {
            Encoding::Utf8 => Encoding::ShiftJis,
            Encoding::ShiftJis => Encoding::Utf8,
        };
        assert!(matches!(
            ResultMessage::read(
                &archive(&[("r.xml", &xml)]),
                &Dialect::default(),
                &Limits::default(),
                Some(other)
            ),
            Err(XmlError::EncodingMismatch { .. })
        ));
    }
}

#[test]
fn several_documents_in_one_archive_give_every_unit() {
    let xml = bulk_xml(Encoding::Utf8);
    let m = read(
        &archive(&[("readme.txt", b"ignored"), ("a.xml", &xml), ("b.xml", &xml)]),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(m.units.len(), 4);
}

#[test]
fn unsafe_or_oversized_archives_are_refused() {
    let xml = bulk_xml(Encoding::Utf8);
    let limits = Limits::default();
    for name in ["../OQSmuquc02res_1.xml", "/tmp/x.xml", "a/../../x.xml"] {
        let e = read(&archive(&[(name, &xml)]), &limits).unwrap_err();
        assert!(
            e.to_string().contains("path traversal refused"),
            "{name}: {e}"
        );
    }
    let many: Vec<(String, Vec<u8>)> = (0..=shikaku_oqs_xml::zipped::MAX_ENTRIES)
        .map(|i| (format!("{i}.xml"), xml.clone()))
        .collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let e = read(&archive(&many), &limits).unwrap_err();
    assert!(
        matches!(&e, XmlError::Limit(m) if m.contains("entries")),
        "{e}"
    );

    // Highly compressible: small archive, large content.
    let padding = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageHeader/>{}</XmlMsg>",
        " ".repeat(200_000)
    );
    let bomb = archive(&[("big.xml", padding.as_bytes())]);
    let small = Limits {
        max_bytes: 100_000,
        ..Limits::default()
    };
    assert!(bomb.len() < small.max_bytes);
    let e = read(&bomb, &small).unwrap_err();
    assert!(
        matches!(&e, XmlError::Limit(m) if m.contains("inflates")),
        "{e}"
    );

    let e = read(&archive(&[("notes.txt", b"x")]), &limits).unwrap_err();
    assert!(e.to_string().contains("no .xml file"), "{e}");
    let whole = archive(&[("r.xml", &xml)]);
    for cut in [10, whole.len() / 2, whole.len() - 5] {
        assert!(read(&whole[..cut], &limits).is_err(), "cut at {cut}");
    }
}
