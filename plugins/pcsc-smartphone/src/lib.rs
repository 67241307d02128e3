//! The smartphone-certificate reader kind (スマホ用電子証明書) over PC/SC: the `pcsc` plugin's
//! code (`shikaku-pcsc-core`) with its media fixed to Android and iPhone. A library exports one
//! plugin, so this kind needs its own; its `[plugins.config]` takes the same keys as `pcsc`
//! (`media` may only be `"smartphone"`).

shikaku_plugin_sdk::export_smartphone_reader!(
    shikaku_pcsc_core::plugin::SmartphonePlugin,
    name = "pcsc-smartphone",
    version = env!("CARGO_PKG_VERSION")
);
