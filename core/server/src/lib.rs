//! shikakud's server: the gRPC services between receipt computers, kiosks and readers on one side
//! and OQS on the other, over the workflows. It knows the upstream and the readers only by their
//! domain traits; `shikaku-daemon` (the binary) plugs them in.
//!
//! - `config`: the layered configuration.
//! - `connection`: accepted connections, written one buffer per flush.
//! - `server`: builds the parts (store, upstream, readers) and serves the gRPC services.
//! - `services`: one module per gRPC service; thin — they validate, call a workflow, audit.
//! - `context`: what every workflow and service shares.
//! - `validate`: requests to domain values, for services and workflows alike.
//! - `workflow`: what each operation does, step by step (card check, reception, bulk).
//! - `tls`: the listener's connections, TLS 1.3 with client certificates or loopback plaintext.
//! - `auth`: every RPC's permission, each role's permissions, and the layer enforcing them.
//! - `replay`: a repeated request id gets the first answer again.
//! - `audit`: who called, and the durable audit record of every operation.
//! - `error`: the one error type and its mapping to `tonic::Status`.
//! - `observe`: each call's request id, span and metrics.
//! - `metrics`: the Prometheus series and their `/metrics` endpoint.

pub mod audit;
pub mod auth;
pub mod config;
pub mod connection;
pub mod context;
pub mod error;
pub mod metrics;
pub mod observe;
pub mod replay;
pub mod server;
pub mod services;
pub mod tls;
pub mod validate;
pub mod workflow;

pub use config::Config;
pub use server::{Daemon, DaemonError, Parts};
