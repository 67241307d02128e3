//! A retried request (same `request_id`) gets the first answer and never issues, appends or
//! starts twice — against the real daemon.

use shikaku_tests::pb::bulk_check_item::Target;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    BulkCheckItem, CheckByCardRequest, CheckInRequest, IssueActivationCodeRequest,
    ListActivationCodesRequest, ListBulkChecksRequest, ListReceptionsRequest, PinIdentity,
    StartBulkCheckRequest,
};
use shikaku_tests::{TestDaemon, taro_numbers, violations};
use tonic::Code;

#[tokio::test]
async fn the_same_request_id_gives_one_code_one_entry_one_job() {
    let d = TestDaemon::start().await;
    let issue = |id: &str| IssueActivationCodeRequest {
        device_memo: "往診用タブレット".into(),
        request_id: id.into(),
    };
    let mut activation = d.activation();
    let first = activation
        .issue_activation_code(issue("req-1"))
        .await
        .unwrap()
        .into_inner();
    let again = activation
        .issue_activation_code(issue("req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.code, again.code);
    assert_eq!(first.record, again.record);
    let other = activation
        .issue_activation_code(issue("req-2"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(first.code, other.code);
    let records = activation
        .list_activation_codes(ListActivationCodesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(records.len(), 2, "{records:?}");

    let check_in = CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        request_id: "kiosk-1:0001".into(),
    };
    // Two copies at once (a retry racing the original) still append once.
    let mut a = d.reception();
    let mut b = d.reception();
    let (x, y) = tokio::join!(a.check_in(check_in.clone()), b.check_in(check_in.clone()));
    let (x, y) = (x.unwrap().into_inner(), y.unwrap().into_inner());
    assert_eq!(x.entry, y.entry);
    let entries = d
        .reception()
        .list_receptions(ListReceptionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");

    let start = StartBulkCheckRequest {
        items: vec![BulkCheckItem {
            key: "1".into(),
            target: Some(Target::Numbers(taro_numbers())),
        }],
        request_id: "tomorrow".into(),
        ..Default::default()
    };
    let mut bulk = d.bulk();
    let j1 = bulk
        .start_bulk_check(start.clone())
        .await
        .unwrap()
        .into_inner();
    let j2 = bulk.start_bulk_check(start).await.unwrap().into_inner();
    assert_eq!(j1.job.unwrap().id, j2.job.unwrap().id);
    let jobs = bulk
        .list_bulk_checks(ListBulkChecksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1);

    let e = activation
        .issue_activation_code(issue("has spaces"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violations(&e)[0].0, "request_id");
    d.running.stop().await.unwrap();
}
