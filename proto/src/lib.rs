//! The `shikaku.v1` gRPC contract: generated messages, clients and servers.
//!
//! The `.proto` files beside this crate are the source of truth; clients in other languages
//! generate their code from them.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("shikaku.v1");
    include!(concat!(env!("OUT_DIR"), "/shikaku.v1.serde.rs"));

    /// The encoded file descriptor set, served by gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/shikaku_descriptor.bin"));

    /// The `google.rpc.ErrorInfo` domain of every shikaku error.
    pub const ERROR_DOMAIN: &str = "shikaku.v1";
}

/// The payloads that cross the plugin C ABI (`shikaku.plugin.v1`).
pub mod plugin {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/shikaku.plugin.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/shikaku.plugin.v1.serde.rs"));
    }
}
