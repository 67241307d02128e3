//! Request ids: the id a client sends comes back as `x-request-id`, a missing or malformed one
//! is replaced with a new id, and errors and refusals carry it too.

use shikaku_tests::pb::CheckByCardRequest;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::{TestDaemon, taro_numbers};

fn id_of(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-request-id")
        .expect("every answer has a request id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn with_id<T>(message: T, id: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("x-request-id", id.parse().unwrap());
    r
}

#[tokio::test]
async fn the_sent_id_comes_back_and_a_missing_one_is_made() {
    let d = TestDaemon::start().await;
    let mut q = d.qualification();

    let answer = q
        .check_by_insurance_numbers(with_id(taro_numbers(), "recept-pc:42"))
        .await
        .unwrap();
    assert_eq!(id_of(answer.metadata()), "recept-pc:42");

    let answer = q.check_by_insurance_numbers(taro_numbers()).await.unwrap();
    let made = id_of(answer.metadata());
    assert_eq!(made.len(), 16, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
    let again = id_of(
        q.check_by_insurance_numbers(taro_numbers())
            .await
            .unwrap()
            .metadata(),
    );
    assert_ne!(made, again, "each call its own id");

    // Too long, or with characters a log line should not carry: replaced.
    for bad in ["x".repeat(65), "a b".into(), "id;drop".into()] {
        let answer = q
            .check_by_insurance_numbers(with_id(taro_numbers(), &bad))
            .await
            .unwrap();
        let id = id_of(answer.metadata());
        assert_ne!(id, bad);
        assert_eq!(id.len(), 16);
    }
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn errors_carry_the_id_too() {
    let d = TestDaemon::start().await;
    let mut q = d.qualification();
    let no_reader = CheckByCardRequest {
        reader: "no-such-reader".into(),
        identity: Some(Identity::Face(Default::default())),
        ..Default::default()
    };
    let e = q
        .check_by_card(with_id(no_reader.clone(), "kiosk-1-0007"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert_eq!(id_of(e.metadata()), "kiosk-1-0007");
    let e = q.check_by_card(no_reader).await.unwrap_err();
    assert_eq!(id_of(e.metadata()).len(), 16);

    // A request refused by validation, before any workflow: still its id.
    let mut bad = taro_numbers();
    bad.insurer_number = "not a number".into();
    let e = q
        .check_by_insurance_numbers(with_id(bad, "bad-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(id_of(e.metadata()), "bad-1");
    d.running.stop().await.unwrap();
}
