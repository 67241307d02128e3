//! The Web API transport (`shikaku-oqs-webapi`) as an upstream plugin. `[plugins.config]` is
//! `shikaku_oqs_webapi::WebApiConfig`: `base_url`, `client_certificate`, `client_key`,
//! `server_ca` or `server_pins_sha256`, `facility_code`, and the optional settings there.

use chrono::NaiveDate;
use shikaku_oqs_webapi::WebApiTransport;
use shikaku_plugin_sdk::domain::pb::QualificationResult;
use shikaku_plugin_sdk::domain::upstream::{
    BulkQuery, CardCheck, NumbersCheck, ReferenceNumberRegistration, RegisteredReferenceNumber,
    UpstreamError,
};
use shikaku_plugin_sdk::{Deadline, Host, PluginError, UpstreamPlugin, export_upstream};

const CARD_CHECKS: &str = "card checks through the web api (its layout is not public yet)";

pub struct WebApiPlugin(WebApiTransport);

impl UpstreamPlugin for WebApiPlugin {
    const SUPPORTS_BULK: bool = true;

    fn create(_host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        WebApiTransport::from_json(config)
            .map(Self)
            .map_err(PluginError::config)
    }

    fn challenge(&self, _: Deadline) -> Result<Vec<u8>, UpstreamError> {
        Err(UpstreamError::Unsupported(CARD_CHECKS))
    }

    fn check_by_card(
        &self,
        _: CardCheck,
        _: Deadline,
    ) -> Result<QualificationResult, UpstreamError> {
        Err(UpstreamError::Unsupported(CARD_CHECKS))
    }

    fn check_by_numbers(
        &self,
        check: &NumbersCheck,
        deadline: Deadline,
    ) -> Result<QualificationResult, UpstreamError> {
        self.0.check_by_numbers(check, deadline.instant())
    }

    fn bulk_check(
        &self,
        checks: &[NumbersCheck],
        deadline: Deadline,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        self.0.bulk_check(checks, deadline.instant())
    }

    fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
        deadline: Deadline,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        self.0
            .register_reference_number(registration, deadline.instant())
    }

    fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
        deadline: Deadline,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        self.0
            .bulk_query(query, confirmation_date, deadline.instant())
    }
}

export_upstream!(
    WebApiPlugin,
    name = "oqs-webapi",
    version = env!("CARGO_PKG_VERSION")
);
