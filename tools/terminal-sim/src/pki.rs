//! Test certificates for the HTTPS side, made fresh at start-up: a CA, the terminal's server
//! certificate (localhost, 127.0.0.1) and the facility's client certificate, plus a client
//! certificate from a stranger CA that the server must refuse.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::TerminalError;

/// PEM texts, ready to write to files or hand to a client.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_cert_der: Vec<u8>,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// A client certificate the server's CA did not issue.
    pub stranger_cert_pem: String,
    pub stranger_key_pem: String,
}

fn err(e: impl std::fmt::Display) -> TerminalError {
    TerminalError::Certificates(e.to_string())
}

fn ca(name: &str) -> Result<(Issuer<'static, KeyPair>, String), TerminalError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((Issuer::new(params, key), cert.pem()))
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, Vec<u8>, String), TerminalError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.subject_alt_names = sans
        .into_iter()
        .map(|s| match s.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s.try_into().map(SanType::DnsName).map_err(err),
        })
        .collect::<Result<_, _>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, issuer).map_err(err)?;
    Ok((cert.pem(), cert.der().to_vec(), key.serialize_pem()))
}

impl TestPki {
    /// Fresh certificates; the client certificate names the facility.
    pub fn generate(facility_code: &str) -> Result<Self, TerminalError> {
        let (issuer, ca_pem) = ca("shikaku terminal simulator test CA")?;
        let (server_cert_pem, server_cert_der, server_key_pem) = leaf(
            &issuer,
            "localhost",
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert_pem, _, client_key_pem) = leaf(
            &issuer,
            facility_code,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        let (stranger, _) = ca("a CA the terminal does not trust")?;
        let (stranger_cert_pem, _, stranger_key_pem) = leaf(
            &stranger,
            facility_code,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(Self {
            ca_pem,
            server_cert_pem,
            server_cert_der,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
            stranger_cert_pem,
            stranger_key_pem,
        })
    }

    /// Writes every PEM into `dir` (ca.pem, server.pem, server.key, client.pem, client.key).
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_cert_pem),
            ("server.key", &self.server_key_pem),
            ("client.pem", &self.client_cert_pem),
            ("client.key", &self.client_key_pem),
        ] {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }
}
