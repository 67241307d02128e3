//! Every RPC has a permission, every read of personal data is audited, and the audit trail
//! answers "who looked up this patient" — against the real daemon.

use std::collections::BTreeSet;

use prost::Message;
use shikaku_daemon::auth::METHODS;
use shikaku_tests::pb::{
    AuditSubject, ListAuditRecordsRequest, ListPatientLinksRequest, ListReceptionsRequest,
};
use shikaku_tests::{TestDaemon, reason, taro_numbers, violations};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// Every method the server registers, as gRPC paths, asked through reflection.
async fn registered_methods(d: &TestDaemon) -> BTreeSet<String> {
    let mut client = ServerReflectionClient::new(d.channel.clone());
    let ask = |request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(vec![ask(MessageRequest::ListServices(
            String::new(),
        ))]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("no service list");
    };
    let mut methods = BTreeSet::new();
    for service in list.service {
        let mut answers = client
            .server_reflection_info(tokio_stream::iter(vec![ask(
                MessageRequest::FileContainingSymbol(service.name.clone()),
            )]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::FileDescriptorResponse(files)) =
            answers.next().await.unwrap().unwrap().message_response
        else {
            panic!("no descriptor for {}", service.name);
        };
        for bytes in files.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            for s in &file.service {
                let full = format!("{}.{}", file.package(), s.name());
                if full != service.name {
                    continue;
                }
                for m in &s.method {
                    methods.insert(format!("/{full}/{}", m.name()));
                }
            }
        }
    }
    methods
}

#[tokio::test]
async fn every_registered_method_has_a_permission_and_every_entry_a_method() {
    let d = TestDaemon::start().await;
    let registered = registered_methods(&d).await;
    assert!(registered.len() > 20, "{registered:?}");
    let table: BTreeSet<String> = METHODS.iter().map(|(m, _)| (*m).to_owned()).collect();
    let unprotected: Vec<_> = registered.difference(&table).collect();
    assert!(
        unprotected.is_empty(),
        "methods without an entry in auth::METHODS: {unprotected:?}"
    );
    let stale: Vec<_> = table.difference(&registered).collect();
    assert!(
        stale.is_empty(),
        "entries for no registered method: {stale:?}"
    );
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn reads_are_audited_and_the_trail_finds_who_looked_up_a_person() {
    let d = TestDaemon::start().await;
    let mut check = tonic::Request::new(taro_numbers());
    check
        .metadata_mut()
        .insert("x-shikaku-operator", "automatic".parse().unwrap());
    let answer = d
        .qualification()
        .check_by_insurance_numbers(check)
        .await
        .unwrap()
        .into_inner();
    // The embedded simulator's results say they are made up.
    assert!(answer.result.unwrap().simulated);
    d.reception()
        .list_receptions(ListReceptionsRequest::default())
        .await
        .unwrap();
    d.reception()
        .list_patient_links(ListPatientLinksRequest::default())
        .await
        .unwrap();

    let mut audit = d.audit();
    let all = audit
        .list_audit_records(ListAuditRecordsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let operations: Vec<&str> = all.records.iter().map(|r| r.operation.as_str()).collect();
    for read in [
        "ListReceptions",
        "ListPatientLinks",
        "CheckByInsuranceNumbers",
    ] {
        assert!(operations.contains(&read), "{operations:?}");
    }
    let check = all
        .records
        .iter()
        .find(|r| r.operation == "CheckByInsuranceNumbers")
        .unwrap();
    assert_eq!(
        (check.client.as_str(), check.role.as_str()),
        ("local", "local")
    );
    assert!(check.concerns_person);
    // A client cannot pass itself off as the daemon's own automatic decisions.
    assert_eq!(check.claimed_operator, "");

    let person = |number: &str| ListAuditRecordsRequest {
        subject: Some(AuditSubject {
            insurer_number: "06130488".into(),
            symbol: "12-34".into(),
            number: number.into(),
            branch: "01".into(),
        }),
        ..Default::default()
    };
    let found = audit
        .list_audit_records(person("4260"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.records.len(), 1, "{found:?}");
    assert_eq!(found.records[0].operation, "CheckByInsuranceNumbers");
    let other = audit
        .list_audit_records(person("9999"))
        .await
        .unwrap()
        .into_inner();
    assert!(other.records.is_empty(), "{other:?}");

    // Paging: one record a page, following the token, sees each record once, newest first.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = audit
            .list_audit_records(ListAuditRecordsRequest {
                page_size: 1,
                page_token: token.clone(),
                operation: "ListAuditRecords".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.records.iter().map(|r| r.seq));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    let e = audit
        .list_audit_records(ListAuditRecordsRequest {
            page_size: 100_000,
            since: "yesterday".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["since", "page_size"]);
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_reception_status_is_a_field_violation_not_all() {
    let d = TestDaemon::start().await;
    let e = d
        .reception()
        .list_receptions(ListReceptionsRequest {
            status: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(reason(&e).0, "INVALID_FIELD");
    assert_eq!(violations(&e)[0].0, "status");
    // Staff read a Japanese text beside the English message.
    use tonic_types::StatusExt;
    let localized = e.get_details_localized_message().unwrap();
    assert_eq!(localized.locale, "ja-JP");
    assert!(localized.message.contains("入力"), "{localized:?}");
    d.running.stop().await.unwrap();
}
