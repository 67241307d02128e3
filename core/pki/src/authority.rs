//! The facility CA: creating it with the server certificate (`tls init`) and issuing client
//! certificates (`tls client`). Keys are ECDSA P-256; each certificate gets a random 16-byte
//! serial.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::cert::CertFacts;
use crate::files::{self, Access};
use crate::revocation::read_revoked;
use crate::{PkiError, Role, TlsPaths};

/// The CA lives 10 years: replacing it means new credentials on every kiosk.
const CA_DAYS: i64 = 3650;
/// The server certificate lives 825 days, the longest clients commonly accept.
const SERVER_DAYS: i64 = 825;
/// A client certificate lives one year unless `--days` says otherwise.
pub const CLIENT_DAYS: u32 = 365;
/// The longest a client certificate may live.
pub const MAX_CLIENT_DAYS: u32 = 825;
/// Certificates start a few minutes in the past, so a client whose clock is slightly behind
/// accepts a fresh one.
const BACKDATE_MINUTES: i64 = 5;

/// What `init` created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// `<data_dir>/tls`.
    pub dir: PathBuf,
    /// The names in the server certificate (subject alternative names).
    pub hosts: Vec<String>,
    /// When the server certificate expires, RFC 3339.
    pub server_not_after: String,
}

/// What `issue_client` wrote.
#[derive(Debug, Clone)]
pub struct IssuedClient {
    pub name: String,
    pub role: Role,
    pub serial: String,
    /// When the certificate expires, RFC 3339.
    pub not_after: String,
    /// The directory holding `ca.pem`, `cert.pem` and `key.pem`.
    pub out: PathBuf,
}

/// Creates the CA and the server certificate; refuses (error) when tls/ca.pem exists unless
/// `force`. With `force` the old `tls/` directory is kept beside the new one as
/// `tls.replaced-<time>`; every client certificate the old CA issued stops working. An empty
/// `hosts` means [`default_hosts`].
pub fn init(data_dir: &Path, hosts: &[String], force: bool) -> Result<InitReport, PkiError> {
    let hosts = if hosts.is_empty() {
        default_hosts()
    } else {
        let mut unique = Vec::new();
        for host in hosts {
            if !unique.contains(host) {
                unique.push(host.clone());
            }
        }
        unique
    };
    let names = hosts
        .iter()
        .map(|host| san(host))
        .collect::<Result<Vec<_>, _>>()?;
    let first_host = hosts.first().ok_or(PkiError::NoHosts)?;

    let paths = TlsPaths::new(data_dir);
    if paths.ca_cert().exists() {
        if !force {
            return Err(PkiError::AlreadyInitialised {
                path: paths.ca_cert(),
            });
        }
        move_aside(paths.dir())?;
    }
    files::private_dir(paths.dir())?;
    files::private_dir(&paths.clients())?;

    let now = truncate_to_second(Utc::now());
    let ca_key = KeyPair::generate().map_err(|error| PkiError::generate("CA key", error))?;
    // A random tag keeps two facilities' CAs apart by name, so a stranger's certificate is
    // refused as from an unknown issuer rather than checked against the wrong key.
    let tag: u32 = rand::random();
    let ca_name = format!("shikaku facility CA ({first_host}, {tag:08x})");
    let ca_params = ca_params(&ca_name, now)?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|error| PkiError::generate("CA certificate", error))?;
    let ca_key_pem = Zeroizing::new(ca_key.serialize_pem());
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key =
        KeyPair::generate().map_err(|error| PkiError::generate("server key", error))?;
    let mut server_params = leaf_params(
        first_host,
        None,
        now - Duration::minutes(BACKDATE_MINUTES),
        now + Duration::days(SERVER_DAYS),
    )?;
    server_params.subject_alt_names = names;
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(|error| PkiError::generate("server certificate", error))?;
    let server_key_pem = Zeroizing::new(server_key.serialize_pem());
    let server_facts =
        CertFacts::from_der(server_cert.der()).map_err(|reason| PkiError::Generate {
            what: "server certificate",
            reason,
        })?;

    // ca.pem last: its presence is what marks the directory as set up.
    files::write(&paths.ca_key(), ca_key_pem.as_bytes(), Access::Private)?;
    files::write(
        &paths.server_key(),
        server_key_pem.as_bytes(),
        Access::Private,
    )?;
    files::write(
        &paths.server_cert(),
        server_cert.pem().as_bytes(),
        Access::Public,
    )?;
    files::write(&paths.ca_cert(), ca_cert.pem().as_bytes(), Access::Public)?;

    Ok(InitReport {
        dir: paths.dir().to_owned(),
        hosts,
        server_not_after: server_facts.not_after_text(),
    })
}

/// Default SANs: the host name (from /etc/hostname or `hostname`, if any), "localhost",
/// "127.0.0.1", "::1".
pub fn default_hosts() -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(name) = host_name().filter(|name| san(name).is_ok() && name != "localhost") {
        hosts.push(name);
    }
    hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    hosts
}

fn host_name() -> Option<String> {
    let from_file = std::fs::read_to_string("/etc/hostname").ok();
    let from_command = || {
        std::process::Command::new("hostname")
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
    };
    from_file
        .filter(|name| !name.trim().is_empty())
        .or_else(from_command)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// Writes OUT/ca.pem, OUT/cert.pem, OUT/key.pem (key 0600, OUT created 0700 if missing) and
/// keeps clients/NAME.pem. Refuses a NAME that already has a certificate that is not revoked
/// (error says to revoke it first).
pub fn issue_client(
    data_dir: &Path,
    name: &str,
    role: Role,
    out: &Path,
    days: u32,
) -> Result<IssuedClient, PkiError> {
    if !(1..=MAX_CLIENT_DAYS).contains(&days) {
        return Err(PkiError::BadDays(days));
    }
    let now = truncate_to_second(Utc::now());
    let not_before = now - Duration::minutes(BACKDATE_MINUTES);
    let not_after = now + Duration::days(i64::from(days));
    issue(data_dir, name, role, out, not_before, not_after)
}

/// Like [`issue_client`], but valid exactly from `not_before` to `not_after`, with no limit on
/// the lifetime: for a certificate that starts on a chosen date, and for tests that need one
/// already expired or not yet valid.
pub fn issue_client_for_period(
    data_dir: &Path,
    name: &str,
    role: Role,
    out: &Path,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<IssuedClient, PkiError> {
    let (not_before, not_after) = (DateTime::from(not_before), DateTime::from(not_after));
    if not_before >= not_after {
        return Err(PkiError::BadPeriod);
    }
    issue(data_dir, name, role, out, not_before, not_after)
}

fn issue(
    data_dir: &Path,
    name: &str,
    role: Role,
    out: &Path,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<IssuedClient, PkiError> {
    check_name(name)?;
    let paths = TlsPaths::new(data_dir);
    let authority = Authority::load(&paths)?;
    let kept = paths.client_cert(name);
    if kept.exists() {
        let (existing, _) = CertFacts::from_pem_file(&kept)?;
        if !read_revoked(&paths.revoked())?.contains(&existing.serial) {
            return Err(PkiError::ClientExists {
                name: name.to_owned(),
                serial: existing.serial,
            });
        }
    }

    let key = KeyPair::generate().map_err(|error| PkiError::generate("client key", error))?;
    let mut params = leaf_params(name, Some(role.as_str()), not_before, not_after)?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .signed_by(&key, &authority.issuer)
        .map_err(|error| PkiError::generate("client certificate", error))?;
    let facts = CertFacts::from_der(cert.der()).map_err(|reason| PkiError::Generate {
        what: "client certificate",
        reason,
    })?;
    authority.check_issued(&facts)?;
    let key_pem = Zeroizing::new(key.serialize_pem());

    // The kept copy first: a certificate that exists anywhere can always be revoked by name.
    files::private_dir(&paths.clients())?;
    files::write(&kept, cert.pem().as_bytes(), Access::Public)?;
    files::new_private_dir(out)?;
    files::write(&out.join("ca.pem"), &authority.pem, Access::Public)?;
    files::write(&out.join("cert.pem"), cert.pem().as_bytes(), Access::Public)?;
    files::write(&out.join("key.pem"), key_pem.as_bytes(), Access::Private)?;

    Ok(IssuedClient {
        name: name.to_owned(),
        role,
        serial: facts.serial.clone(),
        not_after: facts.not_after_text(),
        out: out.to_owned(),
    })
}

/// A client name: 1–64 characters of `[A-Za-z0-9._-]`, so it is a safe file name and fits the
/// certificate's common name.
pub(crate) fn check_name(name: &str) -> Result<(), PkiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=64).contains(&name.len()) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(PkiError::BadName(name.to_owned()))
    }
}

/// The CA loaded for signing: its key, and its certificate to compare against.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    facts: CertFacts,
    pem: Vec<u8>,
}

impl Authority {
    fn load(paths: &TlsPaths) -> Result<Self, PkiError> {
        let cert_path = paths.ca_cert();
        if !cert_path.exists() {
            return Err(PkiError::NotInitialised { path: cert_path });
        }
        let pem = files::read(&cert_path)?;
        let (facts, _) = CertFacts::from_pem_file(&cert_path)?;
        let key_path = paths.ca_key();
        let bad_key = |reason: String| PkiError::BadFile {
            path: key_path.clone(),
            what: "CA key",
            reason,
        };
        let key_pem = files::read_secret(&key_path)?;
        let key_text = std::str::from_utf8(&key_pem).map_err(|_| bad_key("not PEM text".into()))?;
        let key = KeyPair::from_pem(key_text).map_err(|error| bad_key(error.to_string()))?;
        if key.subject_public_key_info() != facts.public_key {
            return Err(bad_key(format!(
                "it does not belong to {}",
                cert_path.display()
            )));
        }
        let common_name = facts.common_name.clone().ok_or_else(|| PkiError::BadFile {
            path: cert_path.clone(),
            what: "CA certificate",
            reason: "its subject has no common name".into(),
        })?;
        let params = ca_params(&common_name, Utc::now())?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            facts,
            pem,
        })
    }

    /// The issuer name rcgen wrote must be ca.pem's subject byte for byte, or no client would
    /// find the CA.
    fn check_issued(&self, issued: &CertFacts) -> Result<(), PkiError> {
        if issued.issuer == self.facts.subject {
            Ok(())
        } else {
            Err(PkiError::Generate {
                what: "client certificate",
                reason: "its issuer name does not match the subject of ca.pem".into(),
            })
        }
    }
}

/// The CA's parameters; the same common name gives the same subject, which `Authority::load`
/// relies on.
fn ca_params(common_name: &str, now: DateTime<Utc>) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    set_validity(
        &mut params,
        now - Duration::minutes(BACKDATE_MINUTES),
        now + Duration::days(CA_DAYS),
    )?;
    Ok(params)
}

/// A server or client certificate: subject CN (and OU for a client's role), a random serial.
fn leaf_params(
    common_name: &str,
    unit: Option<&str>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name, unit);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    set_validity(&mut params, not_before, not_after)?;
    Ok(params)
}

fn distinguished_name(common_name: &str, unit: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if let Some(unit) = unit {
        name.push(DnType::OrganizationalUnitName, unit);
    }
    name
}

/// 16 random bytes; the top bit cleared (serials are positive) and the next one set, so the
/// DER encoding is always exactly these 16 bytes and reads back as the same hex.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn set_validity(
    params: &mut CertificateParams,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<(), PkiError> {
    params.not_before = offset_time(not_before)?;
    params.not_after = offset_time(not_after)?;
    Ok(())
}

fn truncate_to_second(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}

fn offset_time(time: DateTime<Utc>) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(time.timestamp()).map_err(|error| PkiError::Generate {
        what: "certificate validity",
        reason: error.to_string(),
    })
}

/// One subject alternative name: an IP address, or a DNS name of letters, digits, '-' and '.'.
fn san(host: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(PkiError::BadHost(host.to_owned()));
    }
    host.to_owned()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|_| PkiError::BadHost(host.to_owned()))
}

/// Keeps a replaced `tls/` directory beside the new one instead of deleting keys.
fn move_aside(dir: &Path) -> Result<(), PkiError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut target = dir.with_file_name(format!("tls.replaced-{stamp}"));
    let mut attempt = 1;
    while target.exists() {
        attempt += 1;
        target = dir.with_file_name(format!("tls.replaced-{stamp}-{attempt}"));
    }
    std::fs::rename(dir, &target).map_err(|error| PkiError::io("move aside", dir, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert!(check_name("kiosk-1").is_ok());
        assert!(check_name("reception_2.a").is_ok());
        assert!(check_name(&"a".repeat(64)).is_ok());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name("../etc").is_err());
        assert!(check_name("受付").is_err());
    }

    #[test]
    fn hosts_are_ip_addresses_or_dns_names() {
        assert!(matches!(san("127.0.0.1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san("clinic-pc.local"), Ok(SanType::DnsName(_))));
        assert!(san("bad host").is_err());
        assert!(san("").is_err());
        assert!(san("-x").is_err());
    }

    #[test]
    fn serials_are_sixteen_bytes() {
        let serial = random_serial();
        assert_eq!(serial.len(), 16);
        let first = serial.to_bytes()[0];
        assert!(first & 0x80 == 0 && first & 0x40 != 0);
    }
}
