//! The 資格確認端末 Web API transport: the same XML messages as the folder transport, one HTTPS
//! POST per request, with the facility's client certificate (mutual TLS). The terminal's server
//! certificate is verified against a configured CA, or pinned by the SHA-256 of its DER.
//!
//! The official Web API is not public (the reference marks its shape as inferred), so the URL
//! of each message is configurable: `base_url` + `path_template`, where `{kind}` becomes the
//! message's file-name stem (e.g. `OQSsiquc01req`). The default matches the terminal simulator.
//!
//! Every request goes through [`shikaku_oqs_guard::Guard`], like the folder transport's.
//! The client is blocking: call it from plain threads (the plugin host's), not from inside an
//! async runtime.

mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Deserialize;
use shikaku_domain::pb::QualificationResult;
use shikaku_domain::upstream::{
    BulkQuery, NumbersCheck, ReferenceNumberRegistration, RegisteredReferenceNumber, UpstreamError,
};
use shikaku_domain::values::FacilityCode;
use shikaku_oqs_guard::bulk::{self, BulkExchange, BulkJob};
use shikaku_oqs_guard::{Guard, GuardConfig, Repeat};
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::names::{BulkKind, FileName};
use shikaku_oqs_xml::{Dialect, Encoding, Request, ResultMessage, XmlError};
use shikaku_oqs_xml::{map, registry};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebApiConfig {
    /// `https://<terminal>:<port>`.
    pub base_url: String,
    /// The path of each message; `{kind}` is replaced by e.g. `OQSsiquc01req`.
    #[serde(default = "path_template")]
    pub path_template: String,
    /// The facility's client certificate chain and its private key (PEM, PKCS#8 or PKCS#1).
    pub client_certificate: PathBuf,
    pub client_key: PathBuf,
    /// Verify the terminal's certificate against this CA (PEM)…
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
    /// …or accept only a certificate whose DER has one of these SHA-256 digests (hex).
    #[serde(default)]
    pub server_pins_sha256: Vec<String>,
    pub facility_code: String,
    #[serde(default = "utf8")]
    pub request_encoding: Encoding,
    #[serde(default)]
    pub result_encoding: Option<Encoding>,
    #[serde(default = "connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "bulk::default_poll_ms")]
    pub bulk_poll_ms: u64,
    #[serde(default = "bulk::default_max_result_bytes")]
    pub max_result_bytes: usize,
    #[serde(default)]
    pub dialect: Dialect,
    #[serde(default)]
    pub guard: GuardConfig,
}

fn path_template() -> String {
    "/oqs/{kind}".into()
}
fn utf8() -> Encoding {
    Encoding::Utf8
}
fn connect_ms() -> u64 {
    3_000
}

impl WebApiConfig {
    pub fn new(
        base_url: &str,
        client_certificate: PathBuf,
        client_key: PathBuf,
        facility_code: &str,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            path_template: path_template(),
            client_certificate,
            client_key,
            server_ca: None,
            server_pins_sha256: Vec::new(),
            facility_code: facility_code.into(),
            request_encoding: utf8(),
            result_encoding: None,
            connect_timeout_ms: connect_ms(),
            bulk_poll_ms: bulk::default_poll_ms(),
            max_result_bytes: bulk::default_max_result_bytes(),
            dialect: Dialect::default(),
            guard: GuardConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebApiError {
    #[error("web api transport configuration: {0}")]
    Config(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("tls: {0}")]
    Tls(String),
}

/// The Web API transport to one terminal.
#[derive(Debug)]
pub struct WebApiTransport {
    client: reqwest::blocking::Client,
    config: WebApiConfig,
    facility_code: String,
    guard: Guard,
    limits: Limits,
    sequence: std::sync::atomic::AtomicU64,
}

fn xml_error(e: XmlError) -> UpstreamError {
    match e {
        XmlError::Unencodable(_) => {
            UpstreamError::Unsupported("a character the configured request encoding cannot hold")
        }
        other => UpstreamError::Unavailable(format!("cannot write the request: {other}")),
    }
}

impl WebApiTransport {
    pub fn from_json(config: &serde_json::Value) -> Result<Self, WebApiError> {
        let config: WebApiConfig = serde_json::from_value(config.clone())
            .map_err(|e| WebApiError::Config(e.to_string()))?;
        Self::new(config)
    }

    pub fn new(config: WebApiConfig) -> Result<Self, WebApiError> {
        let facility = FacilityCode::parse(&config.facility_code)
            .map_err(|e| WebApiError::Config(format!("facility_code: {e}")))?;
        if !config.base_url.starts_with("https://") {
            return Err(WebApiError::Config(
                "base_url must start with https://".into(),
            ));
        }
        if !config.path_template.contains("{kind}") {
            return Err(WebApiError::Config(
                "path_template must contain {kind}".into(),
            ));
        }
        let tls = tls::client_config(&config)?;
        let client = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(None)
            .build()
            .map_err(|e| WebApiError::Tls(e.to_string()))?;
        let guard = Guard::new(&config.guard).map_err(|e| WebApiError::Config(e.to_string()))?;
        Ok(Self {
            client,
            facility_code: facility.as_str().to_owned(),
            limits: Limits {
                max_bytes: config.max_result_bytes,
                ..Limits::default()
            },
            config,
            guard,
            sequence: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    fn url(&self, request: &Request) -> String {
        let kind = FileName::request(request.kind(), "x");
        let stem = kind
            .to_string()
            .split('_')
            .next()
            .unwrap_or_default()
            .to_owned();
        format!(
            "{}{}",
            self.config.base_url.trim_end_matches('/'),
            self.config.path_template.replace("{kind}", &stem)
        )
    }

    /// One POST: the request's bytes out, the result's back, within `deadline`.
    fn exchange(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(UpstreamError::Timeout);
        }
        let bytes = request
            .to_xml(self.config.request_encoding)
            .map_err(xml_error)?;
        let content_type = format!(
            "application/xml; charset={}",
            self.config.request_encoding.xml_name()
        );
        let response = self
            .client
            .post(self.url(request))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .timeout(left)
            .send()
            .map_err(|e| {
                if e.is_timeout() {
                    UpstreamError::Timeout
                } else {
                    UpstreamError::Unavailable(format!("the terminal's web api: {}", chain(&e)))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            let reason = format!("the terminal's web api answered {status}");
            // Retry-After in seconds (the HTTP-date form is not used by a local terminal).
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(match retry_after {
                Some(retry_after) => UpstreamError::RetryLater {
                    reason,
                    retry_after,
                },
                None => UpstreamError::Unavailable(reason),
            });
        }
        let body = response.bytes().map_err(|e| {
            if e.is_timeout() {
                UpstreamError::Timeout
            } else {
                UpstreamError::Unavailable(format!("reading the terminal's answer: {}", chain(&e)))
            }
        })?;
        let unreadable = |e: XmlError| {
            UpstreamError::Unavailable(format!("the terminal sent an unreadable result: {e}"))
        };
        // XML, or (a bulk result) a zip holding XML.
        ResultMessage::read(
            &body,
            &self.config.dialect,
            &self.limits,
            self.config.result_encoding,
        )
        .map_err(unreadable)
    }

    fn file_identifier(&self) -> String {
        let n = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!(
            "W{}{n:06}",
            shikaku_domain::clock::now().format("%y%m%d%H%M%S")
        )
    }

    /// 資格確認 by insurance numbers. Safe to repeat, so retried on faults.
    pub fn check_by_numbers(
        &self,
        check: &NumbersCheck,
        deadline: Instant,
    ) -> Result<QualificationResult, UpstreamError> {
        self.guard.run(Repeat::Safe, deadline, |attempt_deadline| {
            let id = self.file_identifier();
            let request =
                map::numbers_request(check, &self.facility_code, &id, &self.config.dialect);
            let m = self.exchange(&request, attempt_deadline)?;
            let echoed = m.header.arbitrary_file_identifier.trim();
            if !echoed.is_empty() && echoed != id {
                return Err(UpstreamError::Unavailable(format!(
                    "the answer is for another request ({echoed})"
                )));
            }
            map::single_result(&m)
        })
    }

    /// 一括照会: one upload (never repeated), then polls until ready.
    pub fn bulk_check(
        &self,
        checks: &[NumbersCheck],
        deadline: Instant,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let upload = map::bulk_request(
            checks,
            &self.facility_code,
            &self.file_identifier(),
            &self.config.dialect,
        );
        let job = BulkJob {
            kind: BulkKind::Qualification,
            facility_code: &self.facility_code,
            poll_every: Duration::from_millis(self.config.bulk_poll_ms),
        };
        let m = bulk::upload_and_poll(&self.guard, self, job, &upload, deadline)?;
        Ok(map::bulk_results(checks.len(), &m))
    }
}

impl WebApiTransport {
    /// 照会番号の登録 (OQSsiimm01): registering the same number again changes nothing, so it
    /// is retried on faults.
    pub fn register_reference_number(
        &self,
        registration: &ReferenceNumberRegistration,
        deadline: Instant,
    ) -> Result<RegisteredReferenceNumber, UpstreamError> {
        let sent = registration.reference_number.as_str();
        self.guard.run(Repeat::Safe, deadline, |attempt_deadline| {
            let request = registry::registration_request(
                registration,
                &self.facility_code,
                &self.file_identifier(),
                &self.config.dialect,
            );
            registry::registration_result(&self.exchange(&request, attempt_deadline)?, sent)
        })
    }

    /// 一括照会 of a query kind (医療扶助, 訪問診療, オンライン診療): one upload, then polls.
    pub fn bulk_query(
        &self,
        query: &BulkQuery,
        confirmation_date: NaiveDate,
        deadline: Instant,
    ) -> Result<Vec<Result<QualificationResult, UpstreamError>>, UpstreamError> {
        let upload = registry::query_request(
            query,
            confirmation_date,
            &self.facility_code,
            &self.file_identifier(),
        );
        let job = BulkJob {
            kind: registry::query_kind(query),
            facility_code: &self.facility_code,
            poll_every: Duration::from_millis(self.config.bulk_poll_ms),
        };
        let m = bulk::upload_and_poll(&self.guard, self, job, &upload, deadline)?;
        Ok(registry::query_results(&m))
    }
}

impl BulkExchange for WebApiTransport {
    fn send_and_wait(
        &self,
        request: &Request,
        deadline: Instant,
    ) -> Result<ResultMessage, UpstreamError> {
        self.exchange(request, deadline)
    }
}

/// An error and its causes, so "error sending request" says why.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
