//! TLS to shikakud: with `--ca` (and `--cert`/`--key` for the client's own certificate) the CLI
//! talks TLS, trusting only the facility CA; without them, plaintext as before (shikakud allows
//! that on loopback only).

use std::path::{Path, PathBuf};

use tonic::codegen::http::Uri;
use tonic::codegen::http::uri::Scheme;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use zeroize::Zeroizing;

use crate::error::CliError;

/// The TLS files and the name to check in the server's certificate.
#[derive(Debug, Default, Clone)]
pub struct TlsFiles {
    /// The facility CA (`ca.pem`), the only one trusted for the server's certificate.
    pub ca: Option<PathBuf>,
    /// This client's certificate and key (`cert.pem`, `key.pem`), for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry; by default the address's host.
    pub domain: Option<String>,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

/// The endpoint to connect to: unchanged for plaintext, or switched to `https://` with the TLS
/// configuration when TLS files are given or the address is `https://`.
pub fn secure(endpoint: Endpoint, tls: &TlsFiles) -> Result<Endpoint, CliError> {
    let uri = endpoint.uri().clone();
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    if !https && !tls.any() {
        return Ok(endpoint);
    }
    let ca = tls.ca.as_deref().ok_or_else(|| {
        CliError::Setup(
            "TLS needs --ca (or SHIKAKU_CA): the facility's ca.pem, written by `shikaku tls client`"
                .to_owned(),
        )
    })?;
    let domain = tls.domain.clone().unwrap_or_else(|| host_of(&uri));
    let mut config = ClientTlsConfig::new()
        .domain_name(domain)
        .ca_certificate(Certificate::from_pem(read("--ca", ca)?));
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let key = Zeroizing::new(read("--key", key)?);
            config = config.identity(Identity::from_pem(read("--cert", cert)?, key.as_slice()));
        }
        (None, None) => {}
        _ => {
            return Err(CliError::Setup(
                "--cert and --key (SHIKAKU_CERT, SHIKAKU_KEY) go together".to_owned(),
            ));
        }
    }
    Endpoint::from(with_https(uri)?)
        .tls_config(config)
        .map_err(|error| CliError::Setup(format!("cannot set up TLS: {error}")))
}

/// The host of the address, without the brackets of an IPv6 literal.
fn host_of(uri: &Uri) -> String {
    uri.host()
        .unwrap_or("localhost")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

fn with_https(uri: Uri) -> Result<Uri, CliError> {
    let mut parts = uri.into_parts();
    parts.scheme = Some(Scheme::HTTPS);
    Uri::from_parts(parts).map_err(|error| CliError::Setup(format!("not a valid address: {error}")))
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|error| CliError::Setup(format!("cannot read {flag} {}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(addr: &'static str) -> Endpoint {
        Endpoint::from_static(addr)
    }

    #[test]
    fn plaintext_without_tls_files() {
        let plain = secure(endpoint("http://127.0.0.1:50051"), &TlsFiles::default()).unwrap();
        assert_eq!(plain.uri().scheme_str(), Some("http"));
    }

    #[test]
    fn tls_files_switch_to_https() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let data = dir.path().join("data");
        shikaku_pki::init(&data, &["localhost".to_owned()], false).unwrap();
        std::fs::copy(data.join("tls/ca.pem"), &ca).unwrap();
        let files = TlsFiles {
            ca: Some(ca),
            ..TlsFiles::default()
        };
        let secured = secure(endpoint("http://127.0.0.1:50051"), &files).unwrap();
        assert_eq!(secured.uri().to_string(), "https://127.0.0.1:50051/");
    }

    #[test]
    fn https_without_a_ca_is_a_clear_error() {
        let Err(CliError::Setup(message)) =
            secure(endpoint("https://clinic-pc:50051"), &TlsFiles::default())
        else {
            panic!("expected a setup error");
        };
        assert!(message.contains("--ca"), "{message}");
    }

    #[test]
    fn unreadable_files_are_named() {
        let files = TlsFiles {
            ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsFiles::default()
        };
        let Err(CliError::Setup(message)) = secure(endpoint("http://127.0.0.1:1"), &files) else {
            panic!("expected a setup error");
        };
        assert!(message.contains("--ca /nonexistent/ca.pem"), "{message}");
    }

    #[test]
    fn the_server_name_defaults_to_the_host() {
        assert_eq!(host_of(&"https://[::1]:50051".parse().unwrap()), "::1");
        assert_eq!(
            host_of(&"https://clinic-pc:50051".parse().unwrap()),
            "clinic-pc"
        );
    }
}
