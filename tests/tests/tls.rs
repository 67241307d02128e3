//! The daemon on a clinic LAN: mutual TLS with the facility's certificates, a role per client,
//! revocation without a restart, and the certificate identity in the audit trail — real TLS on
//! 127.0.0.1:0 with certificates from `shikaku-pki`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use shikaku_pki::Role;
use shikaku_tests::pb::check_by_card_request::Identity;
use shikaku_tests::pb::{
    CheckByCardRequest, CheckInRequest, IssueActivationCodeRequest,
    IssueVisualCheckPasswordRequest, ListAuditRecordsRequest, ListPatientLinksRequest,
    ListReadersRequest, PinIdentity,
};
use shikaku_tests::{TestDaemon, bin, pb, reason, test_config};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity as TlsIdentity};

/// A daemon whose data directory went through `shikaku tls init`, so it serves TLS only.
async fn tls_daemon(adjust: impl FnOnce(&mut shikaku_daemon::Config)) -> TestDaemon {
    TestDaemon::start_prepared(
        |dir| {
            shikaku_pki::init(dir, &["localhost".into(), "127.0.0.1".into()], false).unwrap();
        },
        adjust,
    )
    .await
}

/// A channel presenting the credentials in `out` (ca.pem, cert.pem, key.pem), connected.
async fn connect(d: &TestDaemon, out: &Path) -> Result<Channel, tonic::transport::Error> {
    let read = |f: &str| std::fs::read(out.join(f)).unwrap();
    let tls = ClientTlsConfig::new()
        .domain_name("localhost")
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(TlsIdentity::from_pem(read("cert.pem"), read("key.pem")));
    Endpoint::from_shared(format!("https://{}", d.running.addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

/// Issues `name` with `role` and connects with it.
async fn client(d: &TestDaemon, name: &str, role: Role) -> Channel {
    let out = d.dir.path().join(format!("client-{name}"));
    shikaku_pki::issue_client(d.dir.path(), name, role, &out, 30).unwrap();
    connect(d, &out).await.expect("a facility client connects")
}

/// Whether a call over credentials `out` is refused before any RPC is answered.
async fn refused(d: &TestDaemon, out: &Path) -> bool {
    let Ok(channel) = connect(d, out).await else {
        return true;
    };
    pb::qualification_service_client::QualificationServiceClient::new(channel)
        .list_readers(ListReadersRequest::default())
        .await
        .is_err_and(|e| !matches!(e.code(), Code::PermissionDenied))
}

fn check_in(reader: &str) -> CheckInRequest {
    CheckInRequest {
        card: Some(CheckByCardRequest {
            reader: reader.into(),
            identity: Some(Identity::Pin(PinIdentity {
                pin: "1234".into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// 照会番号の登録 for taro.
fn registration() -> pb::RegisterReferenceNumberRequest {
    pb::RegisterReferenceNumberRequest {
        patient_number: "P-1".into(),
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "01".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_kiosk_may_check_in_on_its_reader_and_nothing_an_admin_does() {
    let d = tls_daemon(|c| {
        c.clients = vec![shikaku_daemon::config::ClientConfig {
            name: "kiosk-1".into(),
            readers: vec!["sim-taro".into()],
        }];
    })
    .await;
    let kiosk = client(&d, "kiosk-1", Role::Kiosk).await;
    let mut reception = pb::reception_service_client::ReceptionServiceClient::new(kiosk.clone());
    reception.check_in(check_in("sim-taro")).await.unwrap();
    let e = reception
        .check_in(check_in("sim-hanako"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(reason(&e).0, "READER_NOT_ALLOWED");
    // Its reader list is narrowed too.
    let readers = pb::qualification_service_client::QualificationServiceClient::new(kiosk.clone())
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .readers;
    let names: Vec<&str> = readers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["sim-taro"]);

    let refusals = [
        pb::activation_code_service_client::ActivationCodeServiceClient::new(kiosk.clone())
            .issue_activation_code(IssueActivationCodeRequest {
                device_memo: "rogue".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        reception
            .list_patient_links(ListPatientLinksRequest::default())
            .await
            .unwrap_err(),
        reception
            .register_reference_number(registration())
            .await
            .unwrap_err(),
        pb::visual_check_password_service_client::VisualCheckPasswordServiceClient::new(
            kiosk.clone(),
        )
        .issue_visual_check_password(IssueVisualCheckPasswordRequest {
            account_id: "staff01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    ];
    for e in refusals {
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        let (why, meta) = reason(&e);
        assert_eq!(why, "ROLE_NOT_ALLOWED");
        assert_eq!(meta["role"], "kiosk");
        assert!(!meta["permission"].is_empty());
        // A refusal by the auth layer has its request id too (`request_ids.rs`).
        assert_eq!(e.metadata().get("x-request-id").map(|v| v.len()), Some(16));
    }

    // The audit trail names the certificate's identity, read by an admin.
    let admin = client(&d, "office-admin", Role::Admin).await;
    // An admin may register a 照会番号 (a kiosk may not).
    pb::reception_service_client::ReceptionServiceClient::new(admin.clone())
        .register_reference_number(registration())
        .await
        .unwrap();
    let trail = pb::audit_service_client::AuditServiceClient::new(admin)
        .list_audit_records(ListAuditRecordsRequest {
            operation: "CheckIn".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(!trail.is_empty());
    assert!(
        trail
            .iter()
            .all(|r| r.client == "kiosk-1" && r.role == "kiosk"),
        "{trail:?}"
    );
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn no_certificate_another_ca_revoked_and_expired_are_refused() {
    let d = tls_daemon(|_| {}).await;
    // Plaintext, and TLS without a client certificate.
    let plain = Channel::from_shared(format!("http://{}", d.running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let e = pb::qualification_service_client::QualificationServiceClient::new(plain)
        .list_readers(ListReadersRequest::default())
        .await
        .unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    let anonymous = Endpoint::from_shared(format!("https://{}", d.running.addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .domain_name("localhost")
                .ca_certificate(Certificate::from_pem(
                    std::fs::read(d.dir.path().join("tls/ca.pem")).unwrap(),
                )),
        )
        .unwrap();
    let no_cert = match anonymous.connect().await {
        Err(_) => true,
        Ok(channel) => pb::qualification_service_client::QualificationServiceClient::new(channel)
            .list_readers(ListReadersRequest::default())
            .await
            .is_err(),
    };
    assert!(no_cert, "a client without a certificate got in");

    // Another facility's CA.
    let elsewhere = tempfile::tempdir().unwrap();
    shikaku_pki::init(elsewhere.path(), &["localhost".into()], false).unwrap();
    let stranger = elsewhere.path().join("stranger");
    shikaku_pki::issue_client(
        elsewhere.path(),
        "reception-1",
        Role::Reception,
        &stranger,
        30,
    )
    .unwrap();
    // It trusts our server, so only its own certificate can be why it is refused.
    std::fs::copy(d.dir.path().join("tls/ca.pem"), stranger.join("ca.pem")).unwrap();
    assert!(refused(&d, &stranger).await, "another CA's client got in");

    // Expired.
    let expired = d.dir.path().join("expired");
    let day = Duration::from_secs(86_400);
    shikaku_pki::issue_client_for_period(
        d.dir.path(),
        "old-kiosk",
        Role::Kiosk,
        &expired,
        SystemTime::now() - 30 * day,
        SystemTime::now() - day,
    )
    .unwrap();
    assert!(refused(&d, &expired).await, "an expired client got in");

    // Revoked: works, then is refused on its next connection, without a restart — and on the
    // connection it already had open, within a second.
    let desk = d.dir.path().join("desk");
    shikaku_pki::issue_client(d.dir.path(), "desk", Role::Reception, &desk, 30).unwrap();
    assert!(!refused(&d, &desk).await, "a valid client was refused");
    let open = connect(&d, &desk).await.unwrap();
    let mut open = pb::qualification_service_client::QualificationServiceClient::new(open);
    open.list_readers(ListReadersRequest::default())
        .await
        .unwrap();
    shikaku_pki::revoke(d.dir.path(), "desk").unwrap();
    assert!(refused(&d, &desk).await, "a revoked client got in");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let e = loop {
        match open.list_readers(ListReadersRequest::default()).await {
            Err(e) => break e,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(_) => panic!("the open connection still works after revocation"),
        }
    };
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(reason(&e).0, "CLIENT_CERTIFICATE_REVOKED");
    d.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_network_address_without_tls_or_with_the_simulator_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = Command::new(bin("shikakud"))
        .env("SHIKAKU_METRICS__LISTEN", "127.0.0.1:0")
        .args(["--listen", "0.0.0.0:0", "--data-dir", data])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shikaku tls init"), "{stderr}");

    // With TLS, the embedded simulator is still refused on the network unless named.
    shikaku_pki::init(dir.path(), &["localhost".into()], false).unwrap();
    let mut config = test_config(&dir);
    config.listen = "0.0.0.0:0".parse().unwrap();
    let e = shikaku_daemon::Running::start(&config).await.err().unwrap();
    assert!(e.to_string().contains("on_network"), "{e}");
    config.simulator.on_network = true;
    let running = shikaku_daemon::Running::start(&config).await.unwrap();
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_past_its_rate_is_told_when_to_come_back() {
    let d = tls_daemon(|c| c.rate_limits.card_checks = 2).await;
    let desk = client(&d, "desk-2", Role::Reception).await;
    let mut qualification = pb::qualification_service_client::QualificationServiceClient::new(desk);
    for _ in 0..2 {
        qualification
            .check_by_card(check_in("sim-taro").card.unwrap())
            .await
            .unwrap();
    }
    let e = qualification
        .check_by_card(check_in("sim-taro").card.unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    let (why, meta) = reason(&e);
    assert_eq!(
        (why.as_str(), meta["limit"].as_str()),
        ("RATE_LIMITED", "2/min")
    );
    use tonic_types::StatusExt;
    let wait = e.get_details_retry_info().unwrap().retry_delay.unwrap();
    assert!(
        wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    d.running.stop().await.unwrap();
}

/// Runs a client binary to its end, within a minute.
fn run(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `--addr/--ca/--cert/--key/--tls-domain` for the credentials in `out`.
fn tls_args(cmd: &mut Command, d: &TestDaemon, out: &Path) {
    cmd.args(["--addr", &format!("https://{}", d.running.addr)])
        .arg("--ca")
        .arg(out.join("ca.pem"))
        .arg("--cert")
        .arg(out.join("cert.pem"))
        .arg("--key")
        .arg(out.join("key.pem"))
        .args(["--tls-domain", "localhost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_the_receipt_computer_and_the_cli_use_their_own_certificates() {
    let d = tls_daemon(|_| {}).await;
    let issue = |name: &str, role| {
        let out = d.dir.path().join(name);
        shikaku_pki::issue_client(d.dir.path(), name, role, &out, 30).unwrap();
        out
    };
    let (kiosk, desk, office) = (
        issue("kiosk-1", Role::Kiosk),
        issue("recept-pc", Role::Reception),
        issue("office", Role::Admin),
    );

    let mut cmd = Command::new(bin("shikaku-kiosk"));
    tls_args(&mut cmd, &d, &kiosk);
    cmd.args(["--reader", "sim-taro"])
        .env("SHIKAKU_PIN", "1234");
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = d.dir.path().join("receipt-computer.state");
    let mut cmd = Command::new(bin("shikaku-receipt-computer"));
    tls_args(&mut cmd, &d, &desk);
    cmd.arg("--state").arg(&state).args(["--exit-after", "1"]);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"id\":1"));

    // The CLI: the admin reads the trail; the kiosk may not.
    let audit = |creds: &Path| {
        let mut cmd = Command::new(bin("shikaku"));
        tls_args(&mut cmd, &d, creds);
        cmd.args(["audit", "--operation", "CheckIn"]);
        cmd
    };
    let mut admin = audit(&office);
    let out = tokio::task::spawn_blocking(move || run(&mut admin))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("kiosk-1") && text.contains("CheckIn"),
        "{text}"
    );
    let mut refused = audit(&kiosk);
    let out = tokio::task::spawn_blocking(move || run(&mut refused))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROLE_NOT_ALLOWED"));
    d.running.stop().await.unwrap();
}
