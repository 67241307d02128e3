//! The folder transport (`shikaku-oqs-folder`) as an upstream plugin. `[plugins.config]` is
//! `shikaku_oqs_folder::FolderConfig`: `root` (or `req_dir`/`res_dir`/`face_dir`),
//! `state_dir`, `facility_code`, and the optional settings documented there.
//!
//! Card checks are not requests the folder interface has: the patient uses the terminal's own
//! face-auth reader, and its results come back through `next_event` (the `face` folder).

use chrono::NaiveDate;
use shikaku_oqs_folder::FolderTransport;
use shikaku_plugin_sdk::domain::pb::QualificationResult;
use shikaku_plugin_sdk::domain::upstream::{
    BulkQuery, CardCheck, NumbersCheck, ReferenceNumberRegistration, RegisteredReferenceNumber,
    UpstreamError, UpstreamEvent,
};
use shikaku_plugin_sdk::{Deadline, Host, PluginError, UpstreamPlugin, export_upstream};

const CARD_CHECKS: &str = "card checks through the folders (they happen at the terminal's face-auth reader and arrive as events)";

pub struct FolderPlugin(FolderTransport);

impl UpstreamPlugin for FolderPlugin {
    const SUPPORTS_BULK: bool = true;

    fn create(_host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        FolderTransport::from_json(config)
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

    fn next_event(&self, deadline: Deadline) -> Result<Option<UpstreamEvent>, UpstreamError> {
        self.0.next_event(deadline.instant())
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
    FolderPlugin,
    name = "oqs-folder",
    version = env!("CARGO_PKG_VERSION")
);
