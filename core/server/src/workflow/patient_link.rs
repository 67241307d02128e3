//! LinkPatient (患者番号の紐付け): whom to link — the person as the clerk typed them, or as a
//! reception entry's check result names them — the 照会番号 registered with OQS first when asked
//! (so a refusal links nothing), then the link itself.

use shikaku_domain::pb::link_patient_request::Person;
use shikaku_domain::pb::{LinkPatientRequest, LinkPatientResponse, LinkedPerson};
use shikaku_domain::{ValueError, clock, patient};

use crate::audit::Note;
use crate::context::Context;
use crate::error::ServiceError;
use crate::validate::{patient_number, reference, validate_registration};
use crate::workflow::reference_number;

/// Links `req`'s patient number to its person for `actor`, noting the person and the outcome
/// for the audit line.
pub async fn link(
    ctx: &Context,
    actor: &str,
    req: &LinkPatientRequest,
    note: &mut Note,
) -> Result<LinkPatientResponse, ServiceError> {
    let number = patient_number(&req.patient_number, "patient_number");
    let person = person(ctx, req.person.as_ref()).await;
    let (number, person) = match (number, person) {
        (Ok(n), Ok(p)) => (n, p),
        (Err(ServiceError::Invalid(mut a)), Err(ServiceError::Invalid(b))) => {
            a.extend(b);
            return Err(ServiceError::Invalid(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let registered = if req.register_reference_number {
        note.person = ctx.people.person(
            &person.insurer_number,
            &person.symbol,
            &person.number,
            &person.branch,
        );
        let registration = validate_registration(
            number.as_str(),
            &person.insurer_number,
            &person.symbol,
            &person.number,
            &person.branch,
        )
        .map_err(|e| {
            ServiceError::field(
                "register_reference_number",
                ValueError::Rule(format!(
                    "registering a 照会番号 needs the person's insurance numbers: {e}"
                )),
            )
        })?;
        Some(reference_number::register(ctx, &registration).await?)
    } else {
        None
    };
    let (link, created) = ctx
        .reception
        .link(&ctx.store, &number, &person, actor)
        .await?;
    note.subject = link.id.clone();
    note.detail = match (created, registered.is_some()) {
        (true, false) => "linked",
        (false, false) => "unchanged",
        (true, true) => "linked registered",
        (false, true) => "unchanged registered",
    }
    .into();
    Ok(LinkPatientResponse {
        link: Some(link),
        created,
        reference_number: registered,
    })
}

/// The person to link: as given, or as a reception entry's result names them.
async fn person(ctx: &Context, person: Option<&Person>) -> Result<LinkedPerson, ServiceError> {
    match person {
        None => Err(ServiceError::field(
            "person",
            ValueError::Rule("give the person's details or a reception entry".into()),
        )),
        Some(Person::Details(d)) => {
            patient::validate_person(d, clock::today()).map_err(ServiceError::Invalid)
        }
        Some(Person::Reception(r)) => {
            let (date, id) = reference(Some(r), "reception")?;
            ctx.reception
                .person_on_entry(&ctx.store, &date, id)
                .await?
                .ok_or_else(|| {
                    ServiceError::field(
                        "reception",
                        ValueError::Rule("the entry names no single insured person to link".into()),
                    )
                })
        }
    }
}
