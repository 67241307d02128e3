//! One module per gRPC service, each thin over the workflows: validate, call, map, audit.

pub mod activation;
pub mod audit_trail;
pub mod bulk;
pub mod plugins;
pub mod qualification;
pub mod reception;
pub mod visual_check;
