//! The one error table, pinned row by row, and every error surviving the trip across the wire.

use shikaku_contract::errors::{self, every_reader_error, every_upstream_error};
use shikaku_contract::wire;
use shikaku_domain::pb::ErrorReason as R;
use shikaku_domain::reader::ReaderError;
use shikaku_plugin_abi::status::*;

/// (code, reason, wire reason) of each reader error, in `every_reader_error` order.
const READER_ROWS: &[(i32, R, &str)] = &[
    (NOT_FOUND, R::ReaderNotFound, "READER_NOT_FOUND"),
    (FAILED_PRECONDITION, R::NoCard, "NO_CARD"),
    (
        FAILED_PRECONDITION,
        R::NotAMyNumberCard,
        "NOT_A_MY_NUMBER_CARD",
    ),
    (UNAUTHENTICATED, R::PinIncorrect, "PIN_INCORRECT"),
    (FAILED_PRECONDITION, R::CardLocked, "CARD_LOCKED"),
    (ABORTED, R::CardRemoved, "CARD_REMOVED"),
    (ABORTED, R::ReaderBusy, "READER_BUSY"),
    (FAILED_PRECONDITION, R::PinRequired, "PIN_REQUIRED"),
    (FAILED_PRECONDITION, R::PhoneLocked, "PHONE_LOCKED"),
    (
        FAILED_PRECONDITION,
        R::FaceAuthUnsupported,
        "FACE_AUTH_UNSUPPORTED",
    ),
    (UNAUTHENTICATED, R::FaceNotMatched, "FACE_NOT_MATCHED"),
    (UNAVAILABLE, R::PluginFailed, "FAILURE"),
    (DEADLINE_EXCEEDED, R::PluginFailed, "FAILURE"),
    (UNAVAILABLE, R::PluginFailed, "PLUGIN_FAILED"),
];

/// (code, reason, wire reason) of each upstream error, in `every_upstream_error` order.
const UPSTREAM_ROWS: &[(i32, R, &str)] = &[
    (UNAVAILABLE, R::UpstreamUnavailable, "UPSTREAM_UNAVAILABLE"),
    (UNAVAILABLE, R::UpstreamUnavailable, "UPSTREAM_UNAVAILABLE"),
    (
        DEADLINE_EXCEEDED,
        R::UpstreamUnavailable,
        "UPSTREAM_UNAVAILABLE",
    ),
    (FAILED_PRECONDITION, R::UpstreamError, "UPSTREAM_ERROR"),
    (UNAUTHENTICATED, R::UpstreamError, "SIGNATURE_INVALID"),
    (FAILED_PRECONDITION, R::UpstreamError, "CERTIFICATE_UNKNOWN"),
    (
        FAILED_PRECONDITION,
        R::CertificateExpired,
        "CERTIFICATE_EXPIRED",
    ),
    (
        UNAUTHENTICATED,
        R::VisualCheckPasswordIncorrect,
        "VISUAL_CHECK_PASSWORD_INCORRECT",
    ),
    (
        FAILED_PRECONDITION,
        R::VisualCheckPasswordNotIssued,
        "VISUAL_CHECK_PASSWORD_NOT_ISSUED",
    ),
    (FAILED_PRECONDITION, R::AccountLocked, "ACCOUNT_LOCKED"),
    (NOT_FOUND, R::AccountNotFound, "ACCOUNT_NOT_FOUND"),
    (
        FAILED_PRECONDITION,
        R::ActivationCodeNotYetUsable,
        "ACTIVATION_CODE_NOT_YET_USABLE",
    ),
    (
        FAILED_PRECONDITION,
        R::ActivationCodeAlreadyUsed,
        "ACTIVATION_CODE_ALREADY_USED",
    ),
    (
        FAILED_PRECONDITION,
        R::ActivationCodeRevoked,
        "ACTIVATION_CODE_REVOKED",
    ),
    (
        NOT_FOUND,
        R::ActivationCodeNotFound,
        "ACTIVATION_CODE_NOT_FOUND",
    ),
    (
        RESOURCE_EXHAUSTED,
        R::DeviceLimitReached,
        "DEVICE_LIMIT_REACHED",
    ),
    (UNIMPLEMENTED, R::UpstreamError, "UNSUPPORTED"),
    (UNAVAILABLE, R::PluginFailed, "PLUGIN_FAILED"),
];

#[test]
fn every_reader_error_has_its_row() {
    let all = every_reader_error();
    assert_eq!(all.len(), READER_ROWS.len());
    for (e, &(code, reason, wire_reason)) in all.iter().zip(READER_ROWS) {
        let class = errors::reader(e);
        assert_eq!(
            (class.code, class.reason, class.wire_reason),
            (code, reason, wire_reason),
            "{e:?}"
        );
    }
}

#[test]
fn every_upstream_error_has_its_row() {
    let all = every_upstream_error();
    assert_eq!(all.len(), UPSTREAM_ROWS.len());
    for (e, &(code, reason, wire_reason)) in all.iter().zip(UPSTREAM_ROWS) {
        let class = errors::upstream(e);
        assert_eq!(
            (class.code, class.reason, class.wire_reason),
            (code, reason, wire_reason),
            "{e:?}"
        );
    }
}

#[test]
fn every_reader_error_crosses_the_wire_unchanged_with_the_tables_code() {
    for e in every_reader_error() {
        let (code, w) = wire::reader_error_to_wire(&e);
        assert_eq!(code, errors::reader(&e).code, "{e:?}");
        assert_eq!(wire::reader_error_from_wire(code, w), e);
    }
}

#[test]
fn a_reason_the_host_does_not_know_is_a_reader_failure_with_the_plugins_message() {
    // What an older daemon does with a newer plugin's PHONE_LOCKED, and this one with any reason
    // added later; an older plugin sends its locked phone as a plain FAILURE.
    let (code, mut w) = wire::reader_error_to_wire(&ReaderError::PhoneLocked);
    assert_eq!(code, FAILED_PRECONDITION);
    w.reason = "A_REASON_FROM_THE_FUTURE".into();
    let message = w.message.clone();
    assert_eq!(
        wire::reader_error_from_wire(code, w),
        ReaderError::Failure(message)
    );
}

#[test]
fn every_upstream_error_crosses_the_wire_unchanged_with_the_tables_code() {
    for e in every_upstream_error() {
        let (code, w) = wire::upstream_error_to_wire(&e);
        assert_eq!(code, errors::upstream(&e).code, "{e:?}");
        assert_eq!(wire::upstream_error_from_wire(code, w), e);
    }
}

#[test]
fn every_reason_has_a_japanese_text_for_staff() {
    let reasons: Vec<R> = (0..256).filter_map(|n| R::try_from(n).ok()).collect();
    assert!(reasons.len() > 30);
    for reason in reasons {
        let text = shikaku_contract::messages::ja(reason);
        assert!(
            text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
            "{reason:?}: {text}"
        );
    }
}
