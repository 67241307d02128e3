//! Zipped answers, as a terminal may write a bulk result (`OQSmuquc02res_….zip`).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

/// A zip archive holding one deflated entry `name` with `bytes`.
pub(crate) fn archive(name: &str, bytes: &[u8]) -> Vec<u8> {
    // Writing into memory cannot fail short of allocation; answer unzipped rather than nothing.
    write(name, bytes).unwrap_or_else(|_| bytes.to_vec())
}

fn write(name: &str, bytes: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file(name, options)?;
    writer.write_all(bytes)?;
    Ok(writer.finish()?.into_inner())
}
