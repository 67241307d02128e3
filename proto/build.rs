//! Generates the shikaku.v1 code with protox, a pure-Rust protobuf compiler, so building never
//! needs `protoc`. Also writes the descriptor set that server reflection serves, and serde impls
//! (pbjson) so the CLI's `--json` and the simulator's fixtures use the canonical protobuf JSON form.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "shikaku/v1/common.proto",
    "shikaku/v1/qualification.proto",
    "shikaku/v1/activation.proto",
    "shikaku/v1/visual_check.proto",
    "shikaku/v1/plugin.proto",
    "shikaku/v1/reception.proto",
    "shikaku/v1/bulk.proto",
    "shikaku/v1/audit.proto",
    "shikaku/plugin/v1/plugin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build 0.14 does not emit this itself.
    println!("cargo:rerun-if-changed=shikaku");
    println!("cargo:rerun-if-changed=google");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds = protox::compile(FILES, ["."])?;
    let bytes = prost::Message::encode_to_vec(&fds);
    std::fs::write(out.join("shikaku_descriptor.bin"), &bytes)?;
    tonic_prost_build::configure().compile_fds(fds)?;
    pbjson_build::Builder::new()
        .register_descriptors(&bytes)?
        .build(&[".shikaku"])?;
    Ok(())
}
