//! An upstream-transport plugin as the domain's `Upstream`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use prost::Message;
use shikaku_contract::wire;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::secret::{ActivationCode, VisualCheckPassword};
use shikaku_domain::upstream::{
    BulkQuery, CardCheck, IssuedActivationCode, IssuedPassword, NumbersCheck, Receipt,
    ReferenceNumberRegistration, RegisteredReferenceNumber, Upstream, UpstreamError, UpstreamEvent,
};
use shikaku_domain::values::{AccountId, DeviceMemo};
use shikaku_plugin_abi::{MethodFn, UpstreamVTableV1, status};
use shikaku_proto::plugin::v1 as w;
use tokio::sync::broadcast;
use zeroize::Zeroize;

use crate::call::{CallError, PluginHandle, decode};

pub struct PluginUpstream {
    handle: Arc<PluginHandle>,
    vtable: UpstreamVTableV1,
    bulk: bool,
    events: Option<broadcast::Sender<UpstreamEvent>>,
    /// The first subscription, made with the channel: events the pump gets before the daemon
    /// subscribes (results an earlier run left, collected at start-up) wait in it, not dropped.
    first: std::sync::Mutex<Option<broadcast::Receiver<UpstreamEvent>>>,
}

fn upstream_error(e: CallError) -> UpstreamError {
    match e {
        CallError::Status { code, error } => wire::upstream_error_from_wire(code, *error),
        CallError::Unimplemented => UpstreamError::Unsupported("this operation"),
        CallError::Hung => UpstreamError::Timeout,
        CallError::Failed(why) => UpstreamError::PluginFailed(why),
        CallError::Garbled(why) => UpstreamError::Unavailable(why),
    }
}

fn garbled(e: wire::WireError) -> UpstreamError {
    UpstreamError::Unavailable(format!("the upstream plugin sent a {e}"))
}

impl PluginUpstream {
    pub(crate) fn new(
        handle: Arc<PluginHandle>,
        vtable: UpstreamVTableV1,
        bulk: bool,
    ) -> Arc<Self> {
        let (events, first) = match vtable.next_event {
            Some(_) => {
                let (tx, rx) = broadcast::channel(256);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let upstream = Arc::new(Self {
            handle,
            vtable,
            bulk: bulk && vtable.bulk_check.is_some(),
            events,
            first: std::sync::Mutex::new(first),
        });
        if upstream.events.is_some() {
            tokio::spawn(pump(Arc::downgrade(&upstream)));
        }
        upstream
    }

    pub fn handle(&self) -> &Arc<PluginHandle> {
        &self.handle
    }

    async fn call(
        &self,
        method: Option<MethodFn>,
        request: Vec<u8>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, UpstreamError> {
        self.handle
            .call_instance(method, request, self.handle.timeout)
            .await
            .map_err(upstream_error)
    }
}

/// How long the event loop waits for the daemon to store an event before asking for the next.
const STORE_WAIT: Duration = Duration::from_secs(30);

/// Asks the plugin for unsolicited results in a loop and broadcasts them.
async fn pump(upstream: std::sync::Weak<PluginUpstream>) {
    loop {
        let Some(u) = upstream.upgrade() else { return };
        let Some(events) = &u.events else { return };
        match u
            .handle
            .call_instance(u.vtable.next_event, Vec::new(), Duration::from_secs(1))
            .await
        {
            Ok(bytes) => match decode::<w::UpstreamEventReply>(&bytes, "upstream event") {
                Ok(w::UpstreamEventReply { event: Some(e) }) => {
                    match wire::upstream_event_from_wire(e) {
                        Ok(mut event) => {
                            let (receipt, stored) = Receipt::new();
                            event.receipt = receipt;
                            // The next `next_event` lets the plugin drop this event (the folder
                            // transport deletes its file), so ask only once it is stored.
                            if events.send(event).is_ok()
                                && tokio::time::timeout(STORE_WAIT, stored.notified())
                                    .await
                                    .is_err()
                            {
                                tracing::warn!(
                                    plugin = %u.handle.info.name,
                                    "an upstream event was not stored within {STORE_WAIT:?}"
                                );
                            }
                        }
                        Err(e) => tracing::warn!(plugin = %u.handle.info.name, "{e}"),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(plugin = %u.handle.info.name, "{e:?}"),
            },
            Err(CallError::Failed(_) | CallError::Hung | CallError::Unimplemented) => return,
            Err(CallError::Status {
                code: status::DEADLINE_EXCEEDED,
                ..
            }) => {}
            Err(e) => {
                tracing::warn!(plugin = %u.handle.info.name, error = ?e, "upstream events failed");
                drop(u);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[async_trait]
impl Upstream for PluginUpstream {
    async fn challenge(&self) -> Result<Vec<u8>, UpstreamError> {
        Ok(self.call(self.vtable.challenge, Vec::new()).await?.to_vec())
    }

    async fn check_by_card(&self, check: CardCheck) -> Result<QualificationResult, UpstreamError> {
        let request = wire::card_check_to_wire(&check).encode_to_vec();
        let bytes = self.call(self.vtable.check_by_card, request).await?;
        decode(&bytes, "qualification result").map_err(upstream_error)
    }

    async fn check_by_numbers(
        &self,
        check: &NumbersCheck,
    ) -> Result<QualificationResult, UpstreamError> {
        let request = wire::numbers_check_to_wire(check).encode_to_vec();
        let bytes = self.call(self.vtable.check_by_numbers, request).await?;
        decode(&bytes, "qualification result").map_err(upstream_error)
    }

    async fn issue_activation_code(
        &self,
        memo: &DeviceMemo,
    ) -> Result<IssuedActivationCode, UpstreamError> {
        let request = w::IssueActivationCodeRequest {
            device_memo: memo.as_str().to_owned(),
        }
        .encode_to_vec();
        let bytes = self
            .call(self.vtable.issue_activation_code, request)
            .await?;
        let mut reply: w::IssuedActivationCode =
            decode(&bytes, "activation code").map_err(upstream_error)?;
        let issued = wire::issued_code_from_wire(&reply);
        reply.code.zeroize();
        issued.map_err(garbled)
    }

    async fn redeem_activation_code(
        &self,
        code: &ActivationCode,
        device_id: &str,
    ) -> Result<String, UpstreamError> {
        let mut message = w::RedeemActivationCodeRequest {
            code: code.reveal(),
            device_id: device_id.to_owned(),
        };
        let request = message.encode_to_vec();
        message.code.zeroize();
        let bytes = self
            .call(self.vtable.redeem_activation_code, request)
            .await?;
        let reply: w::RedeemActivationCodeReply =
            decode(&bytes, "redeem reply").map_err(upstream_error)?;
        Ok(reply.id)
    }

    async fn revoke_activation_code(&self, id: &str) -> Result<(), UpstreamError> {
        let request = w::RevokeActivationCodeRequest { id: id.to_owned() }.encode_to_vec();
        self.call(self.vtable.revoke_activation_code, request)
            .await
            .map(drop)
    }

    async fn issue_visual_check_password(
        &self,
        account: &AccountId,
    ) -> Result<IssuedPassword, UpstreamError> {
        let request = w::VisualCheckPasswordRequest {
            account: account.as_str().to_owned(),
            password: String::new(),
        }
        .encode_to_vec();
        let bytes = self
            .call(self.vtable.issue_visual_check_password, request)
            .await?;
        let mut reply: w::IssuedPassword = decode(&bytes, "password").map_err(upstream_error)?;
        let issued = wire::issued_password_from_wire(&reply);
        reply.password.zeroize();
        issued.map_err(garbled)
    }

    async fn verify_visual_check_password(
        &self,
        account: &AccountId,
        password: &VisualCheckPassword,
    ) -> Result<(), UpstreamError> {
        let mut message = w::VisualCheckPasswordRequest {
            account: account.as_str().to_owned(),
            password: password.reveal(),
        };
        let request = message.encode_to_vec();
        message.password.zeroize();
        self.call(self.vtable.verify_visual_check_password, request)
            .await
            .map(drop)
    }

    fn supports_bulk(&self) -> bool {
        self.bulk
    }

    async fn bulk_check(
        &self,
        checks: &[NumbersCheck],
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        let request = w::BulkCheckRequest {
            checks: checks.iter().map(wire::numbers_check_to_wire).collect(),
        }
        .encode_to_vec();
        let bytes = self.call(self.vtable.bulk_check, request).await?;
        let reply: w::BulkCheckReply = decode(&bytes, "bulk reply").map_err(upstream_error)?;
        if reply.items.len() != checks.len() {
            return Err(UpstreamError::Unavailable(format!(
                "the upstream plugin answered {} of {} bulk checks",
                reply.items.len(),
                checks.len()
            )));
        }
        Ok(reply
            .items
            .into_iter()
            .map(|item| match item.outcome {
                Some(w::bulk_check_item::Outcome::Result(r)) => Ok(r),
                Some(w::bulk_check_item::Outcome::Error(e)) => {
                    Err(wire::upstream_error_from_wire(status::UNKNOWN, e))
                }
                None => Err(UpstreamError::Unavailable("an empty bulk answer".into())),
            })
            .collect())
    }

    async fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        if self.vtable.register_reference_number.is_none() {
            return Err(UpstreamError::Unsupported("照会番号 registration"));
        }
        let request = wire::registration_to_wire(registration).encode_to_vec();
        let bytes = self
            .call(self.vtable.register_reference_number, request)
            .await?;
        let reply: w::ReferenceNumberReply =
            decode(&bytes, "registration reply").map_err(upstream_error)?;
        Ok(wire::registered_from_wire(reply))
    }

    async fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        if self.vtable.bulk_query.is_none() {
            return Err(UpstreamError::Unsupported("this kind of bulk query"));
        }
        let request = wire::bulk_query_to_wire(query, confirmation_date).encode_to_vec();
        let bytes = self.call(self.vtable.bulk_query, request).await?;
        let reply: w::BulkCheckReply = decode(&bytes, "bulk reply").map_err(upstream_error)?;
        Ok(reply
            .items
            .into_iter()
            .map(|item| match item.outcome {
                Some(w::bulk_check_item::Outcome::Result(r)) => Ok(r),
                Some(w::bulk_check_item::Outcome::Error(e)) => {
                    Err(wire::upstream_error_from_wire(status::UNKNOWN, e))
                }
                None => Err(UpstreamError::Unavailable("an empty bulk answer".into())),
            })
            .collect())
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<UpstreamEvent>> {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        first.or_else(|| self.events.as_ref().map(|e| e.subscribe()))
    }
}
