//! The simulated terminal over HTTPS: mutual TLS with test certificates, the same messages as
//! the folders.

use std::time::Duration;

use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::map;
use shikaku_oqs_xml::{Dialect, Encoding, MessageHeader, Request, ResultMessage, SearchInfo};
use shikaku_terminal_sim::pki::TestPki;
use shikaku_terminal_sim::{Fault, Terminal, TerminalConfig};

fn client(pki: &TestPki, cert: &str, key: &str) -> reqwest::blocking::Client {
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .identity(identity)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn request() -> Vec<u8> {
    Request::QualificationCheck {
        header: MessageHeader {
            qualification_confirmation_date: "20260929".into(),
            medical_institution_code: "1311111114".into(),
            arbitrary_file_identifier: "W1".into(),
            ..Default::default()
        },
        search: SearchInfo {
            insurer_number: "01320027".into(),
            insured_identification_number: "88".into(),
            birthdate: "19540303".into(),
            limit_application_certificate_related_cons_flg: "1".into(),
            ..Default::default()
        },
    }
    .to_xml(Encoding::ShiftJis)
    .unwrap()
}

#[test]
fn answers_over_mutual_tls_and_refuses_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TerminalConfig::new(dir.path());
    c.encoding = Encoding::ShiftJis;
    let t = Terminal::start(c).unwrap();
    let server = t.serve_https("127.0.0.1:0".parse().unwrap()).unwrap();
    let pki = server.pki().clone();
    let url = format!("{}/oqs/OQSsiquc01req", server.base_url());

    let ok = client(&pki, &pki.client_cert_pem, &pki.client_key_pem);
    let resp = ok.post(&url).body(request()).send().unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().unwrap();
    let m = ResultMessage::parse(&bytes, &Dialect::default(), &Limits::default()).unwrap();
    assert_eq!(m.header.arbitrary_file_identifier, "W1");
    let r = map::to_result(&m.header, &m.body).unwrap();
    assert_eq!(r.qualifications[0].name, "高齢　次郎");
    assert!(r.qualifications[0].limit_certificate.is_some());

    let missing = ok
        .post(format!("{}/oqs/NOPE", server.base_url()))
        .body(request())
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);

    let stranger = client(&pki, &pki.stranger_cert_pem, &pki.stranger_key_pem);
    assert!(stranger.post(&url).body(request()).send().is_err());
    let anonymous = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert!(anonymous.post(&url).body(request()).send().is_err());

    t.set_fault(Fault::Down);
    let down = ok.post(&url).body(request()).send().unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(t.answered(), 1);
}
