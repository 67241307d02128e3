//! Records the compiler and target a plugin was built with, for the descriptor's `build_info`
//! (a diagnostic, like stabby's canaries: the ABI itself does not depend on it).
fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    println!(
        "cargo:rustc-env=SHIKAKU_SDK_BUILD_INFO=shikaku-plugin-sdk {}; {}; {}",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        version.trim(),
        target
    );
    println!("cargo:rerun-if-changed=build.rs");
}
