//! Revocation through the `revoked` file: `revoke` writes it, `Revocations` notices changes.

use shikaku_pki::{PkiError, Revocations, Role, TlsPaths, init, issue_client, revoke};

#[test]
fn revoking_takes_effect_without_a_new_reader() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &["localhost".to_owned()], false).unwrap();
    let out = data.path().join("out");
    let kiosk = issue_client(data.path(), "kiosk-1", Role::Kiosk, &out, 365).unwrap();
    let desk = issue_client(data.path(), "desk", Role::Reception, &out, 365).unwrap();

    let revocations = Revocations::new(data.path());
    assert!(!revocations.is_revoked(&kiosk.serial), "no file yet");

    assert_eq!(revoke(data.path(), "kiosk-1").unwrap(), kiosk.serial);
    assert!(revocations.is_revoked(&kiosk.serial));
    assert!(!revocations.is_revoked(&desk.serial));

    assert_eq!(revoke(data.path(), "kiosk-1").unwrap(), kiosk.serial);
    let revoked_file = TlsPaths::new(data.path()).revoked();
    let text = std::fs::read_to_string(&revoked_file).unwrap();
    assert_eq!(
        text,
        format!("{} # kiosk-1\n", kiosk.serial),
        "revoke is idempotent"
    );

    std::fs::write(
        &revoked_file,
        format!("# edited by hand\n{}\n", desk.serial),
    )
    .unwrap();
    assert!(
        !revocations.is_revoked(&kiosk.serial),
        "rewritten file re-read"
    );
    assert!(revocations.is_revoked(&desk.serial));
    assert!(revocations.is_revoked(&desk.serial.to_uppercase()));

    std::fs::remove_file(&revoked_file).unwrap();
    assert!(
        !revocations.is_revoked(&desk.serial),
        "removed file revokes nothing"
    );
}

#[test]
fn revoking_an_unknown_client_names_it() {
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &["localhost".to_owned()], false).unwrap();
    let error = revoke(data.path(), "nobody").unwrap_err();
    assert!(matches!(error, PkiError::UnknownClient { .. }));
    assert!(
        error
            .to_string()
            .contains("client nobody has no certificate"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn an_unreadable_revocation_file_revokes_everyone() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    init(data.path(), &["localhost".to_owned()], false).unwrap();
    let revoked_file = TlsPaths::new(data.path()).revoked();
    std::fs::write(&revoked_file, "").unwrap();
    let revocations = Revocations::new(data.path());
    assert!(!revocations.is_revoked("4a"));
    // A directory in its place cannot be read as a file, even by root.
    std::fs::remove_file(&revoked_file).unwrap();
    std::fs::create_dir(&revoked_file).unwrap();
    std::fs::set_permissions(&revoked_file, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(revocations.is_revoked("4a"));
}
