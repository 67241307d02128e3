//! 照会番号の登録: the facility's patient number registered with OQS for a person, so OQS's later
//! results for them (face-auth results too) carry it and the reception desk finds them by it.

use shikaku_domain::clock;
use shikaku_domain::pb::RegisteredReferenceNumber;
use shikaku_domain::upstream::ReferenceNumberRegistration;

use crate::context::Context;
use crate::error::ServiceError;

/// Registers one 照会番号 upstream and answers what OQS said.
pub async fn register(
    ctx: &Context,
    registration: &ReferenceNumberRegistration,
) -> Result<RegisteredReferenceNumber, ServiceError> {
    let answer = ctx.upstream.register_reference_number(registration).await?;
    Ok(RegisteredReferenceNumber {
        reference_number: if answer.reference_number.is_empty() {
            registration.reference_number.to_string()
        } else {
            answer.reference_number
        },
        processing_result_code: answer.processing_result_code,
        processing_result_message: answer.processing_result_message,
        registered_at: clock::rfc3339(clock::now()),
    })
}
