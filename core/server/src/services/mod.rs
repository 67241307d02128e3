//! One module per gRPC service, each thin over the workflows: validate, call, map, audit.

pub mod activation;
pub mod audit_trail;
pub mod bulk;
pub mod plugins;
pub mod qualification;
pub mod reception;
pub mod visual_check;

use std::sync::Arc;

use shikaku_domain::pb::{CheckByCardRequest, QualificationResult};

use crate::audit::{Caller, Note};
use crate::context::{Context, Readers};
use crate::error::ServiceError;
use crate::validate::validate_card;
use crate::workflow::card_check::run_card_check;

/// The card check CheckByCard and CheckIn both run: validate (taking the secrets out of the
/// request), keep a kiosk to its own readers, check, and note the method and the person for the
/// audit line. Answers the reader and the result.
pub(crate) async fn card_check(
    ctx: &Context,
    readers: &Arc<Readers>,
    caller: &Caller,
    note: &mut Note,
    card: &mut CheckByCardRequest,
) -> Result<(String, QualificationResult), ServiceError> {
    let validated = validate_card(card);
    if let Ok((_, identity, _)) = &validated {
        note.method = identity.method_name();
    }
    let (reader, identity, date) = validated?;
    if !caller.may_use_reader(&reader) {
        return Err(ServiceError::ReaderNotAllowed {
            client: caller.client.clone(),
            reader,
        });
    }
    let consents = card.consents.take().unwrap_or_default();
    let result = run_card_check(ctx, readers, &reader, identity, consents, date).await?;
    note.person = ctx.people.of_result(&result);
    Ok((reader, result))
}
