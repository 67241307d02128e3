//! Embeds the default fixture's card keys, so the simulator runs with no files beside the binary.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=fixtures");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("fixtures/keys");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures/keys")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".pem").map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut out = String::from("pub(crate) const EMBEDDED_KEYS: &[(&str, &str)] = &[\n");
    for n in names {
        writeln!(
            out,
            "    ({n:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/fixtures/keys/{n}.pem\"))),"
        )
        .unwrap();
    }
    out.push_str("];\n");
    let path = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_keys.rs");
    std::fs::write(path, out).unwrap();
}
