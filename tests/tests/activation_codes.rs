//! ActivationCodeService: issue, list, revoke, redeem — and each way a code is refused.

use shikaku_tests::pb::{
    ActivationCodeState, IssueActivationCodeRequest, ListActivationCodesRequest,
    RedeemActivationCodeRequest, RevokeActivationCodeRequest,
};
use shikaku_tests::{TestDaemon, reason, violations};
use tonic::Code;

#[tokio::test]
async fn lifecycle_and_refusals() {
    let d = TestDaemon::start().await;
    let mut c = d.activation();
    let issued = c
        .issue_activation_code(IssueActivationCodeRequest {
            device_memo: "訪問診療用 iPad 1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let code = issued.code.clone();
    assert_eq!(code.len(), 14);
    assert!(code.chars().enumerate().all(|(i, ch)| if i == 4 || i == 9 {
        ch == '-'
    } else {
        ch.is_ascii_digit()
    }));
    let record = issued.record.unwrap();
    assert_eq!(record.state(), ActivationCodeState::Pending);

    let redeem = |code: String| RedeemActivationCodeRequest {
        code,
        device_id: "ipad-1".into(),
    };
    let r = c
        .redeem_activation_code(redeem(code.clone()))
        .await
        .unwrap()
        .into_inner();
    let rec = r.record.unwrap();
    assert_eq!(rec.state(), ActivationCodeState::Redeemed);
    assert_eq!(rec.device_id, "ipad-1");
    let e = c
        .redeem_activation_code(redeem(code.clone()))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "ACTIVATION_CODE_ALREADY_USED");

    let second = c
        .issue_activation_code(IssueActivationCodeRequest {
            device_memo: "iPad 2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = second.record.unwrap().id;
    let r = c
        .revoke_activation_code(RevokeActivationCodeRequest { id: id.clone() })
        .await
        .unwrap();
    assert_eq!(
        r.into_inner().record.unwrap().state(),
        ActivationCodeState::Revoked
    );
    let e = c
        .redeem_activation_code(redeem(second.code))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "ACTIVATION_CODE_REVOKED");
    let e = c
        .revoke_activation_code(RevokeActivationCodeRequest {
            id: "ac_nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let e = c
        .redeem_activation_code(redeem("0000-0000-0000".into()))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "ACTIVATION_CODE_NOT_FOUND");
    let e = c
        .redeem_activation_code(redeem("1234".into()))
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "code");
    let e = c
        .issue_activation_code(IssueActivationCodeRequest {
            device_memo: " ".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "device_memo");

    let all = c
        .list_activation_codes(ListActivationCodesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.records.len(), 2);
    let pending = c
        .list_activation_codes(ListActivationCodesRequest {
            state: ActivationCodeState::Pending as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pending.records.is_empty());
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn codes_are_not_usable_early_and_pending_devices_are_capped() {
    let d = TestDaemon::start_with(|c| {
        c.simulator.activation_delay_secs = 600;
        c.simulator.max_pending_devices = 2;
    })
    .await;
    let mut c = d.activation();
    let issue = |memo: &str| IssueActivationCodeRequest {
        device_memo: memo.into(),
        ..Default::default()
    };
    let first = c
        .issue_activation_code(issue("a"))
        .await
        .unwrap()
        .into_inner();
    let e = c
        .redeem_activation_code(RedeemActivationCodeRequest {
            code: first.code,
            device_id: "d".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let (why, meta) = reason(&e);
    assert_eq!(why, "ACTIVATION_CODE_NOT_YET_USABLE");
    assert_eq!(meta["usable_from"], first.record.unwrap().usable_from);
    c.issue_activation_code(issue("b")).await.unwrap();
    let e = c.issue_activation_code(issue("c")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(reason(&e).0, "DEVICE_LIMIT_REACHED");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn the_list_comes_in_pages_newest_first() {
    let d = TestDaemon::start().await;
    let mut c = d.activation();
    let mut issued = Vec::new();
    for memo in ["受付 iPad 1", "受付 iPad 2", "受付 iPad 3"] {
        let response = c
            .issue_activation_code(IssueActivationCodeRequest {
                device_memo: memo.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        issued.push(response.record.unwrap().id);
    }
    let page = |page_token: String| ListActivationCodesRequest {
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let first = c.list_activation_codes(page(String::new())).await.unwrap();
    let first = first.into_inner();
    assert_eq!(first.records.len(), 2);
    assert!(!first.next_page_token.is_empty(), "a third code follows");
    let second = c
        .list_activation_codes(page(first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.records.len(), 1);
    assert_eq!(second.next_page_token, "", "the last page");
    let listed: Vec<String> = first
        .records
        .into_iter()
        .chain(second.records)
        .map(|r| r.id)
        .collect();
    issued.reverse();
    assert_eq!(listed, issued, "each code once, newest first");
    d.running.stop().await.unwrap();
}
