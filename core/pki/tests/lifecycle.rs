//! The facility PKI on real folders: `init`, `issue_client`, `client_identity` and `list`.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use shikaku_pki::{PkiError, Role, TlsPaths, client_identity, init, issue_client, list};

fn hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

fn der_of(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

#[test]
fn issued_client_carries_its_name_role_and_serial() {
    let data = tempfile::tempdir().unwrap();
    let report = init(data.path(), &hosts(), false).unwrap();
    assert_eq!(report.dir, data.path().join("tls"));
    assert_eq!(report.hosts, hosts());

    let out = data.path().join("kiosk-1-credentials");
    let issued = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 30).unwrap();
    assert_eq!(issued.out, out);
    assert_eq!(issued.serial.len(), 32);
    assert!(
        issued
            .serial
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    assert_eq!(
        std::fs::read(out.join("ca.pem")).unwrap(),
        std::fs::read(TlsPaths::new(data.path()).ca_cert()).unwrap()
    );

    let identity = client_identity(&der_of(&out.join("cert.pem"))).unwrap();
    assert_eq!(identity.name, "kiosk-1");
    assert_eq!(identity.role, Role::Kiosk);
    assert_eq!(identity.serial, issued.serial);
}

#[test]
fn server_certificate_is_no_client_identity() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &hosts(), false).unwrap();
    let server = der_of(&TlsPaths::new(data.path()).server_cert());
    let error = client_identity(&server).unwrap_err();
    assert!(matches!(error, PkiError::NoIdentity(_)), "{error}");
    assert!(matches!(
        client_identity(b"not a certificate"),
        Err(PkiError::BadCertificate(_))
    ));
}

#[test]
fn init_refuses_an_existing_ca_unless_forced() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &hosts(), false).unwrap();
    let ca = TlsPaths::new(data.path()).ca_cert();
    let first = std::fs::read(&ca).unwrap();
    let error = init(data.path(), &hosts(), false).unwrap_err();
    assert!(
        error.to_string().contains("ca.pem already exists"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        first,
        "refusal leaves the CA alone"
    );

    init(data.path(), &hosts(), true).unwrap();
    assert_ne!(std::fs::read(&ca).unwrap(), first, "--force makes a new CA");
    let kept_aside = std::fs::read_dir(data.path())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("tls.replaced-")
        });
    assert!(
        kept_aside,
        "the old tls directory is kept beside the new one"
    );
}

#[test]
fn issuing_needs_init_a_valid_name_and_sane_days() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out");
    let error = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 365).unwrap_err();
    assert!(error.to_string().contains("shikaku tls init"), "{error}");

    init(data.path(), &hosts(), false).unwrap();
    for name in ["", "../x", "a b", &"a".repeat(65)] {
        let error = issue_client(data.path(), name, Role::Kiosk, &out, 365).unwrap_err();
        assert!(matches!(error, PkiError::BadName(_)), "{name:?}: {error}");
    }
    for days in [0, 826] {
        let error = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, days).unwrap_err();
        assert!(matches!(error, PkiError::BadDays(_)), "{days}: {error}");
    }
    assert!(!out.exists(), "nothing written for refused requests");
}

#[test]
fn a_name_is_issued_again_only_after_revocation() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &hosts(), false).unwrap();
    let out = data.path().join("out");
    let first = issue_client(data.path(), "desk", Role::Reception, &out, 365).unwrap();
    let error = issue_client(data.path(), "desk", Role::Reception, &out, 365).unwrap_err();
    assert!(
        error.to_string().contains("revoke it first"),
        "error says what to do: {error}"
    );
    assert_eq!(
        shikaku_pki::revoke(data.path(), "desk").unwrap(),
        first.serial
    );
    let second = issue_client(data.path(), "desk", Role::Admin, &out, 365).unwrap();
    assert_ne!(second.serial, first.serial);
    let identity = client_identity(&der_of(&out.join("cert.pem"))).unwrap();
    assert_eq!(identity.role, Role::Admin);
}

#[test]
fn list_shows_every_certificate_with_its_expiry() {
    let data = tempfile::tempdir().unwrap();
    let report = init(data.path(), &hosts(), false).unwrap();
    let out = data.path().join("out");
    let kiosk = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 30).unwrap();
    let admin = issue_client(data.path(), "admin", Role::Admin, &out, 365).unwrap();
    shikaku_pki::revoke(data.path(), "kiosk-1").unwrap();

    let summaries = list(data.path()).unwrap();
    let kinds: Vec<_> = summaries
        .iter()
        .map(|summary| (summary.kind.as_str(), summary.name.as_str()))
        .collect();
    assert_eq!(kinds[0].0, "ca");
    assert!(kinds[0].1.starts_with("shikaku facility CA (localhost, "));
    assert_eq!(
        kinds[1..],
        [
            ("server", "localhost"),
            ("client", "admin"),
            ("client", "kiosk-1"),
        ]
    );
    let [ca, server, admin_summary, kiosk_summary] = summaries.as_slice() else {
        unreachable!()
    };
    assert!((3649..=3650).contains(&ca.days_left), "{}", ca.days_left);
    assert_eq!(server.not_after, report.server_not_after);
    assert!((824..=825).contains(&server.days_left));
    assert_eq!(kiosk_summary.serial, kiosk.serial);
    assert_eq!(kiosk_summary.not_after, kiosk.not_after);
    assert_eq!(kiosk_summary.role, Some(Role::Kiosk));
    assert!((29..=30).contains(&kiosk_summary.days_left));
    assert!(kiosk_summary.revoked);
    assert_eq!(admin_summary.serial, admin.serial);
    assert!(!admin_summary.revoked);
    assert_eq!(server.role, None);
}

#[cfg(unix)]
#[test]
fn keys_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;

    let data = tempfile::tempdir().unwrap();
    init(data.path(), &hosts(), false).unwrap();
    let paths = TlsPaths::new(data.path());
    assert_eq!(mode(paths.dir()), 0o700);
    assert_eq!(mode(&paths.ca_key()), 0o600);
    assert_eq!(mode(&paths.server_key()), 0o600);

    let out = data.path().join("new").join("kiosk");
    issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 365).unwrap();
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("key.pem")), 0o600);

    let files = shikaku_pki::load_server(data.path()).unwrap().unwrap();
    assert!(!files.key_pem.is_empty());
    std::fs::set_permissions(paths.server_key(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = shikaku_pki::load_server(data.path()).unwrap_err();
    assert!(error.to_string().contains("server.key"), "{error}");
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[test]
fn no_server_files_before_init() {
    let data = tempfile::tempdir().unwrap();
    assert!(shikaku_pki::load_server(data.path()).unwrap().is_none());
}

#[test]
fn a_period_must_not_be_empty() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &hosts(), false).unwrap();
    let now = std::time::SystemTime::now();
    let error = shikaku_pki::issue_client_for_period(
        data.path(),
        "k",
        Role::Kiosk,
        &data.path().join("out"),
        now,
        now,
    )
    .unwrap_err();
    assert!(matches!(error, PkiError::BadPeriod), "{error}");
}
