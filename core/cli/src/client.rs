//! The connection to shikakud, shared by every service client.

use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;
use tonic::{Request, Status};

/// A channel that adds the caller's metadata to every request.
pub type Channel = InterceptedService<tonic::transport::Channel, CallerMetadata>;

/// Who is calling, sent with every request so the daemon can put it in the audit trail.
#[derive(Clone, Default)]
pub struct CallerMetadata {
    /// `x-shikaku-terminal`: which receipt computer or kiosk.
    pub terminal: Option<AsciiMetadataValue>,
    /// `x-shikaku-operator`: which staff member.
    pub operator: Option<AsciiMetadataValue>,
}

impl Interceptor for CallerMetadata {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        if let Some(terminal) = &self.terminal {
            metadata.insert("x-shikaku-terminal", terminal.clone());
        }
        if let Some(operator) = &self.operator {
            metadata.insert("x-shikaku-operator", operator.clone());
        }
        Ok(request)
    }
}

/// Connects lazily, so that an unreachable daemon shows up as the call's own `UNAVAILABLE` status
/// and is reported like any other RPC error.
pub fn connect(endpoint: Endpoint, caller: CallerMetadata) -> Channel {
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    InterceptedService::new(channel, caller)
}

/// Checks `--addr` while parsing arguments, so a malformed address is a usage error.
pub fn parse_endpoint(addr: &str) -> Result<Endpoint, String> {
    Endpoint::from_shared(addr.to_owned()).map_err(|error| format!("not a valid URI: {error}"))
}

/// Checks `--terminal` and `--operator` while parsing arguments: gRPC metadata values must be
/// printable ASCII, which tonic's own conversion does not fully enforce (it lets bytes above 127
/// through).
pub fn parse_metadata(value: &str) -> Result<AsciiMetadataValue, String> {
    let printable = value.bytes().all(|byte| (b' '..=b'~').contains(&byte));
    let parsed = AsciiMetadataValue::try_from(value)
        .ok()
        .filter(|_| printable);
    parsed.ok_or_else(|| "must be printable ASCII (gRPC metadata)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_printable_ascii() {
        assert!(parse_metadata("reception-1").is_ok());
        assert!(parse_metadata("山田").is_err());
        assert!(parse_metadata("tab\there").is_err());
    }
}
