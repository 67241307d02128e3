//! `sdk/include/shikaku_plugin.h` stays in step with `shikaku-plugin-abi`: a C program prints
//! each struct's size and field offsets as the C compiler lays them out, and they must equal
//! Rust's.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use shikaku_plugin_abi::*;

#[test]
fn the_c_header_matches_the_rust_abi() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("layout");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg("-I")
        .arg(sdk.join("include"))
        .arg(sdk.join("tests/c/layout.c"))
        .status()
        .expect("run the C compiler (cc)");
    assert!(status.success());
    let output = Command::new(&exe).output().unwrap();
    let c: Vec<(String, u64)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();

    macro_rules! size {
        ($c:literal, $t:ty) => {
            ($c.to_owned(), size_of::<$t>() as u64)
        };
    }
    macro_rules! field {
        ($c:literal, $t:ty, $f:ident) => {
            (
                format!("{}.{}", $c, stringify!($f)),
                offset_of!($t, $f) as u64,
            )
        };
    }
    let rust = vec![
        size!("ShikakuAbiVersion", AbiVersion),
        size!("ShikakuBytes", Bytes),
        size!("ShikakuOwnedBuf", OwnedBuf),
        size!("ShikakuCallStatus", CallStatus),
        field!("ShikakuCallStatus", CallStatus, error),
        size!("ShikakuHostApi", HostApi),
        field!("ShikakuHostApi", HostApi, abi),
        field!("ShikakuHostApi", HostApi, ctx),
        field!("ShikakuHostApi", HostApi, max_log_level),
        field!("ShikakuHostApi", HostApi, log),
        size!("ShikakuPluginDescriptor", PluginDescriptor),
        field!("ShikakuPluginDescriptor", PluginDescriptor, abi),
        field!("ShikakuPluginDescriptor", PluginDescriptor, kind),
        field!("ShikakuPluginDescriptor", PluginDescriptor, flags),
        field!("ShikakuPluginDescriptor", PluginDescriptor, name),
        field!("ShikakuPluginDescriptor", PluginDescriptor, plugin_version),
        field!("ShikakuPluginDescriptor", PluginDescriptor, build_info),
        field!("ShikakuPluginDescriptor", PluginDescriptor, free_buf),
        field!("ShikakuPluginDescriptor", PluginDescriptor, create),
        field!("ShikakuPluginDescriptor", PluginDescriptor, destroy),
        field!("ShikakuPluginDescriptor", PluginDescriptor, vtable),
        size!("ShikakuReaderVTableV1", ReaderVTableV1),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, list_readers),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, next_event),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, open),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, close),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, medium),
        field!(
            "ShikakuReaderVTableV1",
            ReaderVTableV1,
            read_auth_certificate
        ),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, verify_pin),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, sign),
        field!("ShikakuReaderVTableV1", ReaderVTableV1, authenticate_face),
        size!("ShikakuUpstreamVTableV1", UpstreamVTableV1),
        field!("ShikakuUpstreamVTableV1", UpstreamVTableV1, challenge),
        field!("ShikakuUpstreamVTableV1", UpstreamVTableV1, check_by_card),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            check_by_numbers
        ),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            issue_activation_code
        ),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            redeem_activation_code
        ),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            revoke_activation_code
        ),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            issue_visual_check_password
        ),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            verify_visual_check_password
        ),
        field!("ShikakuUpstreamVTableV1", UpstreamVTableV1, next_event),
        field!("ShikakuUpstreamVTableV1", UpstreamVTableV1, bulk_check),
        field!(
            "ShikakuUpstreamVTableV1",
            UpstreamVTableV1,
            register_reference_number
        ),
        field!("ShikakuUpstreamVTableV1", UpstreamVTableV1, bulk_query),
        (
            "SHIKAKU_UPSTREAM_VTABLE_V1_0_SIZE".to_owned(),
            UPSTREAM_VTABLE_V1_0_SIZE as u64,
        ),
        ("SHIKAKU_ABI_MAJOR".to_owned(), u64::from(ABI_MAJOR)),
        ("SHIKAKU_ABI_MINOR".to_owned(), u64::from(ABI_MINOR)),
        ("SHIKAKU_KIND_UPSTREAM".to_owned(), u64::from(KIND_UPSTREAM)),
        ("SHIKAKU_FLAG_BULK_CHECK".to_owned(), FLAG_BULK_CHECK),
    ];
    assert_eq!(c, rust);
}
