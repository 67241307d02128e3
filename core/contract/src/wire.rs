//! Conversions between the domain types and the `shikaku.plugin.v1` messages that cross the ABI.
//!
//! Both sides use this one module — the SDK inside a plugin and the host inside the daemon — so
//! an error or a check means the same thing on both sides of the boundary.

use chrono::{DateTime, FixedOffset, NaiveDate};
use shikaku_domain::clock;
use shikaku_domain::patient::PatientNumber;
use shikaku_domain::pb::{self, ErrorReason, Medium};
use shikaku_domain::reader::{ReaderError, ReaderEvent, ReaderEventKind, ReaderInfo};
use shikaku_domain::secret::{ActivationCode, VisualCheckPassword};
use shikaku_domain::upstream::{
    BulkQuery, CardCheck, Evidence, IssuedActivationCode, IssuedPassword, NumbersCheck,
    OnlineDates, ReferenceNumberRegistration, RegisteredReferenceNumber, UpstreamError,
    UpstreamEvent,
};
use shikaku_domain::values::{
    AccountId, BranchNumber, CardNumber, CardSymbol, InsurerNumber, iso, parse_date,
};
use shikaku_plugin_abi::status;
use shikaku_proto::plugin::v1 as w;

use crate::errors::{self, wire_reason as reason};

/// A request or answer that does not decode or breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct WireError {
    pub what: &'static str,
    pub why: String,
}

fn malformed(what: &'static str, why: impl ToString) -> WireError {
    WireError {
        what,
        why: why.to_string(),
    }
}

/// A reader error as a status code and wire error: the code and reason from the one table.
pub fn reader_error_to_wire(e: &ReaderError) -> (i32, w::Error) {
    let class = errors::reader(e);
    let mut err = w::Error {
        reason: class.wire_reason.to_owned(),
        message: match e {
            ReaderError::Failure(m) | ReaderError::PluginFailed(m) => m.clone(),
            _ => e.to_string(),
        },
        ..Default::default()
    };
    match e {
        ReaderError::NotFound(r) => err.subject = r.clone(),
        ReaderError::PinIncorrect { tries_left } => err.tries_left = u32::from(*tries_left),
        _ => {}
    }
    (class.code, err)
}

/// A status code and wire error back as a reader error.
pub fn reader_error_from_wire(code: i32, e: w::Error) -> ReaderError {
    use ErrorReason as R;
    if code == status::DEADLINE_EXCEEDED {
        return ReaderError::Timeout;
    }
    match ErrorReason::from_str_name(&e.reason) {
        Some(R::ReaderNotFound) => ReaderError::NotFound(e.subject),
        Some(R::NoCard) => ReaderError::NoCard,
        Some(R::NotAMyNumberCard) => ReaderError::NotMyNumberCard,
        Some(R::PinIncorrect) => ReaderError::PinIncorrect {
            tries_left: e.tries_left.min(u32::from(u8::MAX)) as u8,
        },
        Some(R::CardLocked) => ReaderError::CardLocked,
        Some(R::CardRemoved) => ReaderError::CardRemoved,
        Some(R::ReaderBusy) => ReaderError::Busy,
        Some(R::PinRequired) => ReaderError::PinRequired,
        // Sent only by plugins built with an SDK that knows it; older ones say FAILURE.
        Some(R::PhoneLocked) => ReaderError::PhoneLocked,
        Some(R::FaceAuthUnsupported) => ReaderError::FaceAuthUnsupported,
        Some(R::FaceNotMatched) => ReaderError::FaceNotMatched,
        Some(R::PluginFailed) => ReaderError::PluginFailed(e.message),
        _ => ReaderError::Failure(fallback_message(code, e.message)),
    }
}

fn fallback_message(code: i32, message: String) -> String {
    if message.is_empty() {
        format!("status {code} without a message")
    } else {
        message
    }
}

/// An upstream error as a status code and wire error: the code and reason from the one table.
pub fn upstream_error_to_wire(e: &UpstreamError) -> (i32, w::Error) {
    let class = errors::upstream(e);
    let mut err = w::Error {
        reason: class.wire_reason.to_owned(),
        message: match e {
            UpstreamError::Unavailable(m)
            | UpstreamError::RetryLater { reason: m, .. }
            | UpstreamError::ErrorResult { message: m, .. }
            | UpstreamError::PluginFailed(m) => m.clone(),
            _ => e.to_string(),
        },
        ..Default::default()
    };
    match e {
        UpstreamError::ErrorResult { code, .. } => err.upstream_code = code.clone(),
        UpstreamError::CertificateExpired { expired_on } => err.expired_on = iso(*expired_on),
        UpstreamError::PasswordIncorrect { attempts_left } => {
            err.tries_left = u32::from(*attempts_left)
        }
        UpstreamError::AccountLocked { until } => err.until = clock::rfc3339(*until),
        UpstreamError::AccountNotFound(a) => err.subject = a.clone(),
        UpstreamError::CodeNotYetUsable { usable_from } => err.until = clock::rfc3339(*usable_from),
        UpstreamError::DeviceLimit(n) => err.subject = n.to_string(),
        UpstreamError::RetryLater { retry_after, .. } => {
            // At least 1 ms: 0 on the wire means no hint.
            err.retry_after_ms = u64::try_from(retry_after.as_millis())
                .unwrap_or(u64::MAX)
                .max(1)
        }
        _ => {}
    }
    (class.code, err)
}

fn time(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

/// A status code and wire error back as an upstream error.
pub fn upstream_error_from_wire(code: i32, e: w::Error) -> UpstreamError {
    use ErrorReason as R;
    let garbled = |what: &str| UpstreamError::Unavailable(format!("plugin sent a bad {what}"));
    match e.reason.as_str() {
        reason::SIGNATURE_INVALID => return UpstreamError::SignatureInvalid,
        reason::CERTIFICATE_UNKNOWN => return UpstreamError::CertificateUnknown,
        reason::UNSUPPORTED => return UpstreamError::Unsupported("this operation"),
        _ => {}
    }
    if code == status::DEADLINE_EXCEEDED {
        return UpstreamError::Timeout;
    }
    match ErrorReason::from_str_name(&e.reason) {
        Some(R::UpstreamUnavailable) if e.retry_after_ms > 0 => UpstreamError::RetryLater {
            reason: e.message,
            retry_after: std::time::Duration::from_millis(e.retry_after_ms),
        },
        Some(R::UpstreamUnavailable) => UpstreamError::Unavailable(e.message),
        Some(R::UpstreamError) => UpstreamError::ErrorResult {
            code: e.upstream_code,
            message: e.message,
        },
        Some(R::CertificateExpired) => match parse_date(&e.expired_on) {
            Ok(expired_on) => UpstreamError::CertificateExpired { expired_on },
            Err(_) => garbled("expiry date"),
        },
        Some(R::VisualCheckPasswordIncorrect) => UpstreamError::PasswordIncorrect {
            attempts_left: e.tries_left.min(u32::from(u8::MAX)) as u8,
        },
        Some(R::VisualCheckPasswordNotIssued) => UpstreamError::PasswordNotIssued,
        Some(R::AccountLocked) => match time(&e.until) {
            Some(until) => UpstreamError::AccountLocked { until },
            None => garbled("lock time"),
        },
        Some(R::AccountNotFound) => UpstreamError::AccountNotFound(e.subject),
        Some(R::ActivationCodeNotYetUsable) => match time(&e.until) {
            Some(usable_from) => UpstreamError::CodeNotYetUsable { usable_from },
            None => garbled("usable-from time"),
        },
        Some(R::ActivationCodeAlreadyUsed) => UpstreamError::CodeAlreadyUsed,
        Some(R::ActivationCodeRevoked) => UpstreamError::CodeRevoked,
        Some(R::ActivationCodeNotFound) => UpstreamError::CodeNotFound,
        Some(R::DeviceLimitReached) => UpstreamError::DeviceLimit(e.subject.parse().unwrap_or(0)),
        Some(R::PluginFailed) => UpstreamError::PluginFailed(e.message),
        _ => UpstreamError::Unavailable(fallback_message(code, e.message)),
    }
}

pub fn reader_to_wire(r: &ReaderInfo) -> w::Reader {
    w::Reader {
        name: r.name.clone(),
        description: r.description.clone(),
        card_present: r.card_present,
        face_auth: r.face_auth,
    }
}

pub fn reader_from_wire(r: w::Reader) -> ReaderInfo {
    ReaderInfo {
        name: r.name,
        description: r.description,
        card_present: r.card_present,
        face_auth: r.face_auth,
    }
}

pub fn reader_event_to_wire(e: &ReaderEvent) -> w::ReaderEvent {
    let kind = match e.kind {
        ReaderEventKind::ReaderAdded => w::ReaderEventKind::ReaderAdded,
        ReaderEventKind::ReaderRemoved => w::ReaderEventKind::ReaderRemoved,
        ReaderEventKind::CardInserted => w::ReaderEventKind::CardInserted,
        ReaderEventKind::CardRemoved => w::ReaderEventKind::CardRemoved,
    };
    w::ReaderEvent {
        kind: kind as i32,
        reader: Some(reader_to_wire(&e.reader)),
    }
}

pub fn reader_event_from_wire(e: w::ReaderEvent) -> Result<ReaderEvent, WireError> {
    let kind = match w::ReaderEventKind::try_from(e.kind) {
        Ok(w::ReaderEventKind::ReaderAdded) => ReaderEventKind::ReaderAdded,
        Ok(w::ReaderEventKind::ReaderRemoved) => ReaderEventKind::ReaderRemoved,
        Ok(w::ReaderEventKind::CardInserted) => ReaderEventKind::CardInserted,
        Ok(w::ReaderEventKind::CardRemoved) => ReaderEventKind::CardRemoved,
        _ => return Err(malformed("reader event", format!("kind {}", e.kind))),
    };
    let reader = e
        .reader
        .ok_or_else(|| malformed("reader event", "no reader"))?;
    Ok(ReaderEvent {
        kind,
        reader: reader_from_wire(reader),
    })
}

pub fn medium_from_wire(m: i32) -> Result<Medium, WireError> {
    match Medium::try_from(m) {
        Ok(m @ (Medium::MyNumberCard | Medium::Android | Medium::Iphone)) => Ok(m),
        _ => Err(malformed("medium", format!("{m} is not a card or phone"))),
    }
}

pub fn card_check_to_wire(c: &CardCheck) -> w::CardCheckRequest {
    use w::card_check_request::Evidence as E;
    let evidence = match &c.evidence {
        Evidence::Pin {
            challenge,
            signature,
        } => E::Pin(w::PinEvidence {
            challenge: challenge.clone(),
            signature: signature.clone(),
        }),
        Evidence::VisualCheck { account } => E::VisualCheck(w::VisualCheckEvidence {
            account: account.as_str().to_owned(),
        }),
        Evidence::Face { reader } => E::Face(w::FaceEvidence {
            reader: reader.clone(),
        }),
    };
    w::CardCheckRequest {
        certificate: c.certificate.clone(),
        medium: c.medium as i32,
        evidence: Some(evidence),
        consents: Some(c.consents),
        confirmation_date: iso(c.confirmation_date),
    }
}

fn date(what: &'static str, s: &str) -> Result<NaiveDate, WireError> {
    parse_date(s).map_err(|e| malformed(what, e))
}

pub fn card_check_from_wire(c: w::CardCheckRequest) -> Result<CardCheck, WireError> {
    use w::card_check_request::Evidence as E;
    let evidence = match c.evidence {
        Some(E::Pin(p)) => Evidence::Pin {
            challenge: p.challenge,
            signature: p.signature,
        },
        Some(E::VisualCheck(v)) => Evidence::VisualCheck {
            account: AccountId::parse(&v.account).map_err(|e| malformed("account", e))?,
        },
        Some(E::Face(f)) => Evidence::Face { reader: f.reader },
        None => return Err(malformed("card check", "no evidence")),
    };
    Ok(CardCheck {
        certificate: c.certificate,
        medium: medium_from_wire(c.medium)?,
        evidence,
        consents: c.consents.unwrap_or_default(),
        confirmation_date: date("confirmation date", &c.confirmation_date)?,
    })
}

pub fn numbers_check_to_wire(c: &NumbersCheck) -> w::NumbersCheckRequest {
    w::NumbersCheckRequest {
        insurer_number: c.insurer.as_str().to_owned(),
        symbol: c
            .symbol
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        number: c.number.as_str().to_owned(),
        branch: c
            .branch
            .as_ref()
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default(),
        birth_date: iso(c.birth_date),
        limit_certificate_consent: c.limit_certificate_consent,
        confirmation_date: iso(c.confirmation_date),
    }
}

fn optional<T>(
    s: &str,
    parse: impl Fn(&str) -> Result<T, shikaku_domain::ValueError>,
    what: &'static str,
) -> Result<Option<T>, WireError> {
    if s.is_empty() {
        Ok(None)
    } else {
        parse(s).map(Some).map_err(|e| malformed(what, e))
    }
}

pub fn numbers_check_from_wire(c: &w::NumbersCheckRequest) -> Result<NumbersCheck, WireError> {
    Ok(NumbersCheck {
        insurer: InsurerNumber::parse(&c.insurer_number)
            .map_err(|e| malformed("insurer number", e))?,
        symbol: optional(&c.symbol, CardSymbol::parse, "symbol")?,
        number: CardNumber::parse(&c.number).map_err(|e| malformed("number", e))?,
        branch: optional(&c.branch, BranchNumber::parse, "branch")?,
        birth_date: date("birth date", &c.birth_date)?,
        limit_certificate_consent: c.limit_certificate_consent,
        confirmation_date: date("confirmation date", &c.confirmation_date)?,
    })
}

pub fn registration_to_wire(r: &ReferenceNumberRegistration) -> w::ReferenceNumberRequest {
    w::ReferenceNumberRequest {
        reference_number: r.reference_number.as_str().to_owned(),
        insurer_number: r.insurer.as_str().to_owned(),
        symbol: r
            .symbol
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        number: r.number.as_str().to_owned(),
        branch: r
            .branch
            .as_ref()
            .map(|b| b.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub fn registration_from_wire(
    r: &w::ReferenceNumberRequest,
) -> Result<ReferenceNumberRegistration, WireError> {
    Ok(ReferenceNumberRegistration {
        reference_number: PatientNumber::parse(&r.reference_number)
            .map_err(|e| malformed("reference number", e))?,
        insurer: InsurerNumber::parse(&r.insurer_number)
            .map_err(|e| malformed("insurer number", e))?,
        symbol: optional(&r.symbol, CardSymbol::parse, "symbol")?,
        number: CardNumber::parse(&r.number).map_err(|e| malformed("number", e))?,
        branch: optional(&r.branch, BranchNumber::parse, "branch")?,
    })
}

pub fn registered_to_wire(r: &RegisteredReferenceNumber) -> w::ReferenceNumberReply {
    w::ReferenceNumberReply {
        reference_number: r.reference_number.clone(),
        processing_result_code: r.processing_result_code.clone(),
        processing_result_message: r.processing_result_message.clone(),
    }
}

pub fn registered_from_wire(r: w::ReferenceNumberReply) -> RegisteredReferenceNumber {
    RegisteredReferenceNumber {
        reference_number: r.reference_number,
        processing_result_code: r.processing_result_code,
        processing_result_message: r.processing_result_message,
    }
}

pub fn bulk_query_to_wire(q: &BulkQuery, confirmation_date: NaiveDate) -> w::BulkQueryRequest {
    let (kind, from, to) = match *q {
        BulkQuery::MedicalAssistance { month } => ("medical_assistance", iso(month), String::new()),
        BulkQuery::HomeVisit { from, to } => ("home_visit", iso(from), iso(to)),
        BulkQuery::OnlineConsultation { by, from, to } => (
            match by {
                OnlineDates::Examination => "online_examination",
                OnlineDates::Consent => "online_consent",
            },
            iso(from),
            iso(to),
        ),
    };
    w::BulkQueryRequest {
        kind: kind.into(),
        from,
        to,
        confirmation_date: iso(confirmation_date),
    }
}

pub fn bulk_query_from_wire(q: &w::BulkQueryRequest) -> Result<(BulkQuery, NaiveDate), WireError> {
    let from = date("from", &q.from)?;
    let to = || date("to", &q.to);
    let query = match q.kind.as_str() {
        "medical_assistance" => BulkQuery::MedicalAssistance { month: from },
        "home_visit" => BulkQuery::HomeVisit { from, to: to()? },
        "online_examination" => BulkQuery::OnlineConsultation {
            by: OnlineDates::Examination,
            from,
            to: to()?,
        },
        "online_consent" => BulkQuery::OnlineConsultation {
            by: OnlineDates::Consent,
            from,
            to: to()?,
        },
        other => return Err(malformed("bulk query kind", other)),
    };
    Ok((query, date("confirmation date", &q.confirmation_date)?))
}

pub fn issued_code_to_wire(i: &IssuedActivationCode) -> w::IssuedActivationCode {
    w::IssuedActivationCode {
        id: i.id.clone(),
        code: i.code.reveal(),
        issued_at: clock::rfc3339(i.issued_at),
        usable_from: clock::rfc3339(i.usable_from),
    }
}

pub fn issued_code_from_wire(
    i: &w::IssuedActivationCode,
) -> Result<IssuedActivationCode, WireError> {
    Ok(IssuedActivationCode {
        id: i.id.clone(),
        code: ActivationCode::parse(&i.code)
            .map_err(|_| malformed("activation code", "not 12 digits"))?,
        issued_at: time(&i.issued_at).ok_or_else(|| malformed("issue time", &i.issued_at))?,
        usable_from: time(&i.usable_from)
            .ok_or_else(|| malformed("usable-from time", &i.usable_from))?,
    })
}

pub fn issued_password_to_wire(p: &IssuedPassword) -> w::IssuedPassword {
    w::IssuedPassword {
        password: p.password.reveal(),
        issued_at: clock::rfc3339(p.issued_at),
        replaced: p.replaced,
    }
}

pub fn issued_password_from_wire(p: &w::IssuedPassword) -> Result<IssuedPassword, WireError> {
    Ok(IssuedPassword {
        password: VisualCheckPassword::parse(&p.password)
            .map_err(|_| malformed("visual-check password", "not 4 digits"))?,
        issued_at: time(&p.issued_at).ok_or_else(|| malformed("issue time", &p.issued_at))?,
        replaced: p.replaced,
    })
}

pub fn upstream_event_to_wire(e: &UpstreamEvent) -> w::UpstreamEvent {
    w::UpstreamEvent {
        received_at: clock::rfc3339(e.received_at),
        source: e.source.clone(),
        result: Some(e.result.clone()),
    }
}

pub fn upstream_event_from_wire(e: w::UpstreamEvent) -> Result<UpstreamEvent, WireError> {
    Ok(UpstreamEvent {
        received_at: time(&e.received_at).ok_or_else(|| malformed("event time", &e.received_at))?,
        source: e.source,
        result: e.result.ok_or_else(|| malformed("event", "no result"))?,
        receipt: Default::default(),
    })
}

/// Keeps `pb` in the public API for plugin authors who build results by hand.
pub type QualificationResult = pb::QualificationResult;
