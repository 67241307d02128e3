//! Bounded against abuse: oversize and undecodable requests, names no entry can hold, watch
//! streams that end with their client, and idle connections that cannot starve the daemon —
//! against the real daemon.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use shikaku_pki::Role;
use shikaku_tests::pb::link_patient_request::Person;
use shikaku_tests::pb::{
    IssueActivationCodeRequest, LinkPatientRequest, LinkedPerson, Sex, WatchReadersRequest,
};
use shikaku_tests::{TestDaemon, reason, violations};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn person(name: String, insurer: &str) -> LinkPatientRequest {
    LinkPatientRequest {
        patient_number: "01234".into(),
        person: Some(Person::Details(LinkedPerson {
            insurer_number: insurer.into(),
            symbol: "12-34".into(),
            number: "4260".into(),
            branch: "01".into(),
            name,
            name_kana: "ヤマダ タロウ".into(),
            birth_date: "1970-01-01".into(),
            sex: Sex::Male as i32,
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn no_link_can_hold_a_poison_name_or_a_number_no_check_accepts() {
    let d = TestDaemon::start().await;
    let mut reception = d.reception();
    let e = reception
        .link_patient(person("山".repeat(300_000), "06130488"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violations(&e)[0].0, "details.name");
    let e = reception
        .link_patient(person("山田 太郎".into(), "06130489"))
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "CHECK_DIGIT_MISMATCH");
    reception
        .link_patient(person("山田 太郎".into(), "06130488"))
        .await
        .unwrap();
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn undecodable_and_oversize_requests_say_what_was_wrong() {
    let d = TestDaemon::start().await;
    // A message whose field 1 is a number where the request has a string.
    let mut grpc = tonic::client::Grpc::new(d.channel.clone());
    grpc.ready().await.unwrap();
    let path = "/shikaku.v1.QualificationService/CheckByInsuranceNumbers"
        .parse()
        .unwrap();
    let e = grpc
        .unary::<_, prost_types::Duration, _>(
            tonic::Request::new(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(violations(&e)[0].0, "request");

    let e = d
        .activation()
        .issue_activation_code(IssueActivationCodeRequest {
            device_memo: "x".repeat(5 << 20),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("size limit"), "{e:?}");
    d.running.stop().await.unwrap();
}

/// This process's resident memory, from /proc.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_watches_free_what_they_held() {
    let d = TestDaemon::start_with(|c| c.limits.watches_per_client = 4).await;
    let mut qualification = d.qualification();
    let open =
        |q: &mut shikaku_tests::pb::qualification_service_client::QualificationServiceClient<_>| {
            let mut q = q.clone();
            async move {
                let mut events = q
                    .watch_readers(WatchReadersRequest::default())
                    .await?
                    .into_inner();
                // The first event: the watch is registered on the daemon's side.
                events.next().await.unwrap()?;
                Ok::<_, tonic::Status>(events)
            }
        };
    for _ in 0..200 {
        drop(open(&mut qualification).await.unwrap());
    }
    let before = rss_kib();
    for _ in 0..2_000 {
        drop(open(&mut qualification).await.unwrap());
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "RSS grew {grown} KiB over 2,000 cancelled watches"
    );
    // Every cancelled watch was counted off: four may be held, not a fifth.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(open(&mut qualification).await.unwrap());
    }
    let e = open(&mut qualification).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(reason(&e).0, "TOO_MANY_STREAMS");
    drop(held);
    d.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_shed_while_health_answers() {
    // Room for 1,100 sockets on each side of loopback in this one process.
    let mut limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current = limit.maximum;
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let d = TestDaemon::start_prepared(
        |dir| {
            shikaku_pki::init(dir, &["localhost".into()], false).unwrap();
        },
        |_| {},
    )
    .await;
    let out = d.dir.path().join("monitor");
    shikaku_pki::issue_client(d.dir.path(), "monitor", Role::Admin, &out, 30).unwrap();
    let addr = d.running.addr;
    let idle = tokio::task::spawn_blocking(move || {
        (0..1_100)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    let read = |f: &str| std::fs::read(out.join(f)).unwrap();
    let tls = ClientTlsConfig::new()
        .domain_name("localhost")
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(read("cert.pem"), read("key.pem")));
    let started = Instant::now();
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "health took {took:?}");

    // The daemon closes connections that never finish a handshake.
    let closed = tokio::task::spawn_blocking(move || {
        idle.into_iter()
            .filter(|s| {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut byte = [0u8; 1];
                match (&*s).read(&mut byte) {
                    Ok(n) => n == 0,
                    Err(e) => !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                }
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 1_100);
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_enum_values_are_field_violations() {
    use shikaku_tests::pb::check_by_card_request::Identity as CardIdentity;
    use shikaku_tests::pb::{CheckByCardRequest, ConsentChoices, FaceIdentity};
    let d = TestDaemon::start().await;
    let e = d
        .qualification()
        .check_by_card(CheckByCardRequest {
            reader: "sim-taro".into(),
            identity: Some(CardIdentity::Face(FaceIdentity {})),
            consents: Some(ConsentChoices {
                medication: 99,
                surgery: -5,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["consents.medication", "consents.surgery"]);
    let e = d
        .activation()
        .list_activation_codes(shikaku_tests::pb::ListActivationCodesRequest {
            state: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "state");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn list_answers_come_in_pages() {
    use shikaku_tests::pb::bulk_check_item::Target;
    use shikaku_tests::pb::{
        BulkCheckItem, CheckByInsuranceNumbersRequest, GetBulkCheckResultsRequest,
        StartBulkCheckRequest,
    };
    let d = TestDaemon::start().await;
    let mut bulk = d.bulk();
    // Rows with bad numbers settle at once, so the job's three items are all there to page.
    let items = (0..3)
        .map(|i| BulkCheckItem {
            key: i.to_string(),
            target: Some(Target::Numbers(CheckByInsuranceNumbersRequest {
                insurer_number: "06130489".into(),
                number: "1".into(),
                birth_date: "1970-01-01".into(),
                ..Default::default()
            })),
        })
        .collect();
    let job = bulk
        .start_bulk_check(StartBulkCheckRequest {
            items,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let page = |token: String, size| GetBulkCheckResultsRequest {
        job_id: job.id.clone(),
        page_size: size,
        page_token: token,
    };
    let first = bulk
        .get_bulk_check_results(page(String::new(), 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = bulk
        .get_bulk_check_results(page(first.next_page_token, 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.items.len(), 1);
    assert!(second.next_page_token.is_empty());
    let e = bulk
        .get_bulk_check_results(page("x".into(), 5_000))
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["page_size", "page_token"]);
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn readers_and_plugins_come_in_pages_too() {
    use shikaku_tests::pb::{ListPluginsRequest, ListReadersRequest};
    let d = TestDaemon::start().await;
    let (mut qualification, mut plugins) = (d.qualification(), d.plugins());
    let all = qualification
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(all.readers.len() > 1 && all.next_page_token.is_empty());
    // One reader a page: every reader once, in the same order, then an empty token.
    let (mut names, mut token) = (Vec::new(), String::new());
    loop {
        let page = qualification
            .list_readers(ListReadersRequest {
                page_size: 1,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.readers.len(), 1);
        names.push(page.readers[0].name.clone());
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<String> = all.readers.iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, want);
    let e = qualification
        .list_readers(ListReadersRequest {
            page_size: 1001,
            page_token: "x".into(),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["page_size", "page_token"]);

    let all = plugins
        .list_plugins(ListPluginsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!all.plugins.is_empty() && all.next_page_token.is_empty());
    let first = plugins
        .list_plugins(ListPluginsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.plugins, all.plugins[..1]);
    assert_eq!(first.next_page_token.is_empty(), all.plugins.len() == 1);
    let e = plugins
        .list_plugins(ListPluginsRequest {
            page_size: 5_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&e)[0].0, "page_size");
    d.running.stop().await.unwrap();
}

/// Fields no other rule bounds (an id, a code whose hyphens are skipped, the numbers an audit
/// search hashes, a page token) still refuse what no real value is as long as.
#[tokio::test]
async fn strings_without_a_format_still_have_a_maximum() {
    use shikaku_tests::pb::{
        AuditSubject, ListAuditRecordsRequest, ListReceptionsRequest, RedeemActivationCodeRequest,
        RemovePatientLinkRequest,
    };
    let d = TestDaemon::start().await;
    let fields = |e: tonic::Status| -> Vec<String> {
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        violations(&e).into_iter().map(|(f, _)| f).collect()
    };
    let e = d
        .reception()
        .remove_patient_link(RemovePatientLinkRequest {
            patient_number: "01234".into(),
            link_id: "x".repeat(65),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), ["link_id"]);
    let e = d
        .activation()
        .redeem_activation_code(RedeemActivationCodeRequest {
            code: format!("1234-5678-9012{}", "-".repeat(100_000)),
            device_id: "tablet-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), ["code"]);
    let e = d
        .audit()
        .list_audit_records(ListAuditRecordsRequest {
            subject: Some(AuditSubject {
                insurer_number: "06130488".into(),
                symbol: "記".repeat(39),
                number: "4260".into(),
                branch: "001".into(),
            }),
            page_token: format!("{}1", "0".repeat(20)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        fields(e),
        ["subject.symbol", "subject.branch", "page_token"]
    );
    let e = d
        .reception()
        .list_receptions(ListReceptionsRequest {
            page_token: format!("{}1", "0".repeat(20)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(fields(e), ["page_token"]);
    d.running.stop().await.unwrap();
}
