//! The PC/SC card-reader plugin (汎用カードリーダー): reads My Number cards, and by default
//! Android and iPhone スマホ用電子証明書 too, through any PC/SC reader. The daemon loads this
//! crate's `cdylib`; the code lives in `shikaku-pcsc-core`, which the smartphone plugin shares
//! (a Rust dependency on this crate would carry its entry symbol into that library as well).

pub use shikaku_pcsc_core::*;

shikaku_plugin_sdk::export_card_reader!(
    shikaku_pcsc_core::plugin::CardPlugin,
    name = "pcsc",
    version = env!("CARGO_PKG_VERSION")
);
