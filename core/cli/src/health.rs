//! `shikaku health`: asks the daemon's gRPC health service (grpc.health.v1) whether it serves,
//! for container health checks and monitoring scripts. Exits 0 only when the answer is SERVING.

use clap::Args;
use serde::Serialize;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format};

#[derive(Args)]
pub struct HealthCommand {
    /// The service to ask about, e.g. `shikaku.v1.QualificationService` or
    /// `shikaku.plugin.<name>`; the daemon as a whole when omitted.
    #[arg(long, default_value = "")]
    service: String,
}

#[derive(Serialize)]
struct Health {
    service: String,
    status: &'static str,
}

pub async fn run(command: HealthCommand, channel: Channel, format: Format) -> Result<(), CliError> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: command.service.clone(),
        })
        .await?
        .into_inner();
    let status = response.status();
    let health = Health {
        service: command.service,
        status: status.as_str_name(),
    };
    output::print(format, &health, |h| {
        h.status.to_lowercase().replace('_', " ")
    })?;
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(CliError::NotServing)
    }
}
