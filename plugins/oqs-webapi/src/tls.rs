//! The TLS side: the facility's client certificate, and the terminal's certificate checked
//! against a CA or a SHA-256 pin.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::{WebApiConfig, WebApiError};

fn read(path: &std::path::Path) -> Result<Vec<u8>, WebApiError> {
    std::fs::read(path).map_err(|e| WebApiError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn pin(text: &str) -> Result<[u8; 32], WebApiError> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bad = || WebApiError::Config(format!("server_pins_sha256: {text:?} is not 64 hex digits"));
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// Accepts exactly the server certificates whose DER hashes to a pin; signatures are still
/// checked, so only the holder of the pinned certificate's key gets through.
#[derive(Debug)]
struct Pinned {
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&digest) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the terminal's certificate does not match the pinned sha-256".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

pub(crate) fn client_config(config: &WebApiConfig) -> Result<rustls::ClientConfig, WebApiError> {
    let tls = |e: &dyn std::fmt::Display| WebApiError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?;
    let builder = match (&config.server_ca, config.server_pins_sha256.is_empty()) {
        (Some(ca), true) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read(ca)?) {
                roots.add(c.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
            }
            if roots.is_empty() {
                return Err(WebApiError::Config(format!(
                    "server_ca {} holds no certificate",
                    ca.display()
                )));
            }
            builder.with_root_certificates(roots)
        }
        (None, false) => {
            let pins = config
                .server_pins_sha256
                .iter()
                .map(|p| pin(p))
                .collect::<Result<_, _>>()?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { pins, provider }))
        }
        _ => {
            return Err(WebApiError::Config(
                "set exactly one of server_ca and server_pins_sha256".into(),
            ));
        }
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read(&config.client_certificate)?)
            .collect::<Result<_, _>>()
            .map_err(|e| tls(&e))?;
    if chain.is_empty() {
        return Err(WebApiError::Config(format!(
            "client_certificate {} holds no certificate",
            config.client_certificate.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&config.client_key)?).map_err(|e| tls(&e))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| tls(&e))
}
