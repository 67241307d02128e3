//! TLS to shikakud. `--ca` (the facility's ca.pem) turns it on; `--cert` and `--key` present this
//! client's own certificate, which shikakud requires whenever it serves TLS. Without them the
//! connection stays plaintext, which shikakud allows on loopback only.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The TLS options, the same as the `shikaku` CLI's.
#[derive(clap::Args)]
pub struct TlsArgs {
    /// The facility CA (ca.pem from `shikaku tls client`); connects with TLS, trusting only it.
    #[arg(long, env = "SHIKAKU_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// This client's certificate (cert.pem); needs --key.
    #[arg(long, env = "SHIKAKU_CERT", value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// This client's private key (key.pem); needs --cert.
    #[arg(long, env = "SHIKAKU_KEY", value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The name shikakud's certificate must carry (default: the host of --addr).
    #[arg(long, env = "SHIKAKU_TLS_DOMAIN", value_name = "NAME")]
    tls_domain: Option<String>,
}

/// The endpoint for `addr`: plaintext as given, or `https://` with the TLS files when any is
/// given or the address is `https://`.
pub fn endpoint(addr: &str, tls: &TlsArgs) -> Result<Endpoint, String> {
    let plain = Endpoint::from_shared(addr.to_owned()).map_err(|e| format!("bad address: {e}"))?;
    let https = plain.uri().scheme_str() == Some("https");
    if !https && tls.ca.is_none() && tls.cert.is_none() {
        return Ok(plain);
    }
    let ca = tls
        .ca
        .as_deref()
        .ok_or("TLS needs --ca (or SHIKAKU_CA): the facility's ca.pem")?;
    let host = plain.uri().host().unwrap_or("localhost");
    let domain = tls.tls_domain.clone().unwrap_or_else(|| {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let mut config = ClientTlsConfig::new()
        .domain_name(domain)
        .ca_certificate(Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    let secure_addr = match addr.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => addr.to_owned(),
    };
    Endpoint::from_shared(secure_addr)
        .map_err(|e| format!("bad address: {e}"))?
        .tls_config(config)
        .map_err(|e| format!("cannot set up TLS: {e}"))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
