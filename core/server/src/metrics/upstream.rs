//! The upstream, wrapped so every call is timed by transport and operation, its failures counted
//! by reason, and the calls under way counted against the terminal's 20 sessions.
//!
//! The transports' own guards (`oqs-guard`: breaker, session limiter) live inside their plugins;
//! from here a call under way is a session held or waited for, and an answer to retry later is
//! the breaker open or every session busy.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::secret::{ActivationCode, VisualCheckPassword};
use shikaku_domain::upstream::{
    BulkQuery, CardCheck, IssuedActivationCode, IssuedPassword, NumbersCheck,
    ReferenceNumberRegistration, RegisteredReferenceNumber, Upstream, UpstreamError, UpstreamEvent,
};
use shikaku_domain::values::{AccountId, DeviceMemo};

use super::{Metrics, TERMINAL_SESSION_LIMIT, TransportLabel, UpstreamCall, UpstreamFailure};

/// The operations, as the `operation` label names them.
const OPERATIONS: [&str; 11] = [
    "challenge",
    "check_by_card",
    "check_by_numbers",
    "issue_activation_code",
    "redeem_activation_code",
    "revoke_activation_code",
    "issue_visual_check_password",
    "verify_visual_check_password",
    "bulk_check",
    "register_reference_number",
    "bulk_query",
];

/// An error's reason, as the `reason` label names it.
fn reason(e: &UpstreamError) -> &'static str {
    use UpstreamError::*;
    match e {
        Unavailable(_) => "unavailable",
        RetryLater { .. } => "retry_later",
        Timeout => "timeout",
        ErrorResult { .. } => "error_result",
        SignatureInvalid => "signature_invalid",
        CertificateUnknown => "certificate_unknown",
        CertificateExpired { .. } => "certificate_expired",
        PasswordIncorrect { .. } => "password_incorrect",
        PasswordNotIssued => "password_not_issued",
        AccountLocked { .. } => "account_locked",
        AccountNotFound(_) => "account_not_found",
        CodeNotYetUsable { .. } => "code_not_yet_usable",
        CodeAlreadyUsed => "code_already_used",
        CodeRevoked => "code_revoked",
        CodeNotFound => "code_not_found",
        DeviceLimit(_) => "device_limit",
        Unsupported(_) => "unsupported",
        PluginFailed(_) => "plugin_failed",
    }
}

/// `inner`, recording into `metrics` as transport `transport`. It must forward every method of
/// `Upstream`, those with a default body included: a default here would answer for the
/// transport (the merge that added this wrapper left 照会番号 registration "unsupported"; those
/// two now have no default, so the compiler asks for them).
pub struct Metered {
    inner: Arc<dyn Upstream>,
    transport: &'static str,
    /// One histogram per operation, in `OPERATIONS` order, made once.
    seconds: Vec<Histogram>,
    errors: Family<UpstreamFailure, Counter>,
    in_flight: Gauge,
    failing_fast: Gauge,
}

impl Metered {
    /// `transport` names the upstream on every series ("simulator", or the plugin's name); it
    /// is made `'static` once per daemon, so recording never allocates.
    pub fn new(inner: Arc<dyn Upstream>, transport: &str, metrics: &Metrics) -> Self {
        let transport: &'static str = Box::leak(transport.to_owned().into_boxed_str());
        let label = TransportLabel { transport };
        metrics
            .upstream_session_limit
            .get_or_create(&label)
            .set(TERMINAL_SESSION_LIMIT);
        Self {
            inner,
            transport,
            seconds: OPERATIONS
                .iter()
                .map(|&operation| {
                    metrics.upstream_seconds.get_or_create_owned(&UpstreamCall {
                        transport,
                        operation,
                    })
                })
                .collect(),
            errors: metrics.upstream_errors.clone(),
            in_flight: metrics.upstream_in_flight.get_or_create_owned(&label),
            failing_fast: metrics.upstream_failing_fast.get_or_create_owned(&label),
        }
    }

    async fn timed<T>(
        &self,
        op: usize,
        call: impl Future<Output = Result<T, UpstreamError>>,
    ) -> Result<T, UpstreamError> {
        // Counted down on drop too: a call whose caller went away is no longer under way.
        let in_flight = super::GaugeGuard::new(&self.in_flight);
        let start = Instant::now();
        let answer = call.await;
        drop(in_flight);
        self.seconds[op].observe(start.elapsed().as_secs_f64());
        match &answer {
            Err(e) => {
                self.failing_fast
                    .set(i64::from(matches!(e, UpstreamError::RetryLater { .. })));
                self.errors
                    .get_or_create(&UpstreamFailure {
                        transport: self.transport,
                        operation: OPERATIONS[op],
                        reason: reason(e),
                    })
                    .inc();
            }
            Ok(_) => {
                self.failing_fast.set(0);
            }
        }
        answer
    }
}

#[async_trait]
impl Upstream for Metered {
    async fn challenge(&self) -> Result<Vec<u8>, UpstreamError> {
        self.timed(0, self.inner.challenge()).await
    }

    async fn check_by_card(&self, check: CardCheck) -> Result<QualificationResult, UpstreamError> {
        self.timed(1, self.inner.check_by_card(check)).await
    }

    async fn check_by_numbers(
        &self,
        check: &NumbersCheck,
    ) -> Result<QualificationResult, UpstreamError> {
        self.timed(2, self.inner.check_by_numbers(check)).await
    }

    async fn issue_activation_code(
        &self,
        memo: &DeviceMemo,
    ) -> Result<IssuedActivationCode, UpstreamError> {
        self.timed(3, self.inner.issue_activation_code(memo)).await
    }

    async fn redeem_activation_code(
        &self,
        code: &ActivationCode,
        device_id: &str,
    ) -> Result<String, UpstreamError> {
        self.timed(4, self.inner.redeem_activation_code(code, device_id))
            .await
    }

    async fn revoke_activation_code(&self, id: &str) -> Result<(), UpstreamError> {
        self.timed(5, self.inner.revoke_activation_code(id)).await
    }

    async fn issue_visual_check_password(
        &self,
        account: &AccountId,
    ) -> Result<IssuedPassword, UpstreamError> {
        self.timed(6, self.inner.issue_visual_check_password(account))
            .await
    }

    async fn verify_visual_check_password(
        &self,
        account: &AccountId,
        password: &VisualCheckPassword,
    ) -> Result<(), UpstreamError> {
        self.timed(
            7,
            self.inner.verify_visual_check_password(account, password),
        )
        .await
    }

    fn supports_bulk(&self) -> bool {
        self.inner.supports_bulk()
    }

    async fn bulk_check(
        &self,
        checks: &[NumbersCheck],
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        self.timed(8, self.inner.bulk_check(checks)).await
    }

    async fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        self.timed(9, self.inner.register_reference_number(registration))
            .await
    }

    async fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: chrono::NaiveDate,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        self.timed(10, self.inner.bulk_query(query, confirmation_date))
            .await
    }

    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<UpstreamEvent>> {
        self.inner.subscribe()
    }
}
