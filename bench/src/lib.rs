//! The benchmark's own echo contract, shared by the echo server and the load generator.

/// Generated `shikaku.bench.v1` messages, client and server.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("shikaku.bench.v1");
}
