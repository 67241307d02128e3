//! Who may call what: every RPC's permission in one table, each role's permissions, and the
//! tower layer that enforces them before any handler runs.
//!
//! A caller's identity comes from its TLS client certificate (name and role, written into the
//! certificate by `shikaku tls client`); a plaintext connection, which the daemon only accepts on
//! loopback, is the `local` role. `shikaku.toml` may narrow a client further (`[[clients]]`: the
//! readers a kiosk may use). A method missing from the table is refused, so a new RPC cannot ship
//! unprotected (and `tests/tests/auth.rs` walks every registered method to catch it sooner).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use shikaku_contract::messages::{LOCALE, ja};
use shikaku_domain::pb::{ERROR_DOMAIN, ErrorReason};
use shikaku_pki::Role as CertRole;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

use crate::tls::Peer;

/// What an RPC needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Health and reflection: any authenticated caller.
    Public,
    /// A check by card on a reader (CheckByCard).
    CardCheck,
    /// A check by insurance numbers.
    NumbersCheck,
    /// Listing and watching readers.
    Readers,
    /// A kiosk's check-in (再来受付).
    CheckIn,
    /// The reception list: reading it and deciding entries.
    Reception,
    /// Patient links (患者番号の紐付け).
    PatientLinks,
    /// 照会番号の登録 with OQS.
    ReferenceNumbers,
    /// Bulk checks (一括照会).
    Bulk,
    /// Activation codes for マイナ資格確認アプリ devices.
    ActivationCodes,
    /// Visual-check passwords (目視確認用パスワード).
    VisualCheckPasswords,
    /// Plugins and their state.
    Plugins,
    /// The audit trail.
    Audit,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::CardCheck => "card_check",
            Self::NumbersCheck => "numbers_check",
            Self::Readers => "readers",
            Self::CheckIn => "check_in",
            Self::Reception => "reception",
            Self::PatientLinks => "patient_links",
            Self::ReferenceNumbers => "reference_numbers",
            Self::Bulk => "bulk",
            Self::ActivationCodes => "activation_codes",
            Self::VisualCheckPasswords => "visual_check_passwords",
            Self::Plugins => "plugins",
            Self::Audit => "audit",
        }
    }
}

/// Every RPC the daemon serves, with the permission it needs.
pub const METHODS: &[(&str, Permission)] = {
    use Permission::*;
    &[
        ("/grpc.health.v1.Health/Check", Public),
        ("/grpc.health.v1.Health/Watch", Public),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Public,
        ),
        ("/shikaku.v1.QualificationService/CheckByCard", CardCheck),
        (
            "/shikaku.v1.QualificationService/CheckByInsuranceNumbers",
            NumbersCheck,
        ),
        ("/shikaku.v1.QualificationService/ListReaders", Readers),
        ("/shikaku.v1.QualificationService/WatchReaders", Readers),
        ("/shikaku.v1.ReceptionService/CheckIn", CheckIn),
        ("/shikaku.v1.ReceptionService/LinkPatient", PatientLinks),
        (
            "/shikaku.v1.ReceptionService/ListPatientLinks",
            PatientLinks,
        ),
        (
            "/shikaku.v1.ReceptionService/RemovePatientLink",
            PatientLinks,
        ),
        (
            "/shikaku.v1.ReceptionService/RegisterReferenceNumber",
            ReferenceNumbers,
        ),
        ("/shikaku.v1.ReceptionService/ListReceptions", Reception),
        ("/shikaku.v1.ReceptionService/WatchReceptions", Reception),
        ("/shikaku.v1.ReceptionService/AcceptReception", Reception),
        ("/shikaku.v1.ReceptionService/RejectReception", Reception),
        ("/shikaku.v1.BulkCheckService/StartBulkCheck", Bulk),
        ("/shikaku.v1.BulkCheckService/WatchBulkCheck", Bulk),
        ("/shikaku.v1.BulkCheckService/GetBulkCheckResults", Bulk),
        ("/shikaku.v1.BulkCheckService/ListBulkChecks", Bulk),
        (
            "/shikaku.v1.ActivationCodeService/IssueActivationCode",
            ActivationCodes,
        ),
        (
            "/shikaku.v1.ActivationCodeService/ListActivationCodes",
            ActivationCodes,
        ),
        (
            "/shikaku.v1.ActivationCodeService/RevokeActivationCode",
            ActivationCodes,
        ),
        (
            "/shikaku.v1.ActivationCodeService/RedeemActivationCode",
            ActivationCodes,
        ),
        (
            "/shikaku.v1.VisualCheckPasswordService/IssueVisualCheckPassword",
            VisualCheckPasswords,
        ),
        ("/shikaku.v1.PluginService/ListPlugins", Plugins),
        ("/shikaku.v1.AuditService/ListAuditRecords", Audit),
    ]
};

/// A caller's role: one written into its certificate, or `local` for loopback plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 再来受付機: checks in patients on the readers it is given.
    Kiosk,
    /// The receipt computer (レセコン): checks, the reception list, patient links, bulk.
    Reception,
    /// Facility administration: activation codes, visual-check passwords, plugins, the audit.
    Admin,
    /// A process on the daemon's own machine over plaintext loopback: everything.
    Local,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kiosk => "kiosk",
            Self::Reception => "reception",
            Self::Admin => "admin",
            Self::Local => "local",
        }
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Local => true,
            Self::Kiosk => matches!(permission, Public | CardCheck | Readers | CheckIn),
            Self::Reception => matches!(
                permission,
                Public
                    | CardCheck
                    | NumbersCheck
                    | Readers
                    | CheckIn
                    | Reception
                    | PatientLinks
                    | ReferenceNumbers
                    | Bulk
            ),
            Self::Admin => matches!(
                permission,
                Public
                    | ReferenceNumbers
                    | ActivationCodes
                    | VisualCheckPasswords
                    | Plugins
                    | Audit
            ),
        }
    }
}

impl From<CertRole> for Role {
    fn from(r: CertRole) -> Self {
        match r {
            CertRole::Kiosk => Self::Kiosk,
            CertRole::Reception => Self::Reception,
            CertRole::Admin => Self::Admin,
        }
    }
}

/// The authenticated caller, put into every admitted request's extensions.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate's subject name, or "local".
    pub client: String,
    pub role: Role,
    /// The readers this client may use; `None` for any.
    pub readers: Option<Arc<[String]>>,
    pub peer: String,
}

/// The operations a client may only call so often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Limited {
    CardChecks,
    Redemptions,
    Issuance,
}

fn limited(path: &str) -> Option<Limited> {
    Some(match path.rsplit('/').next()? {
        "CheckByCard" | "CheckIn" => Limited::CardChecks,
        "RedeemActivationCode" => Limited::Redemptions,
        "IssueActivationCode" | "IssueVisualCheckPassword" => Limited::Issuance,
        _ => return None,
    })
}

/// A token bucket per client and operation: a minute's worth of calls, refilled evenly.
#[derive(Debug, Default)]
struct Buckets(std::sync::Mutex<HashMap<(String, Limited), (f64, std::time::Instant)>>);

impl Buckets {
    /// Takes a token, or says how long until one is there.
    fn take(&self, client: &str, what: Limited, per_minute: u32) -> Result<(), Duration> {
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let now = std::time::Instant::now();
        let mut buckets = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = buckets
            .entry((client.to_owned(), what))
            .or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// Revocation for connections already open: the handshake refuses a revoked certificate, and
/// each call asks again, at most once a second per certificate, so `shikaku tls revoke` also
/// ends a kiosk's long-lived connection within a second, without a `stat` on every call.
#[derive(Debug)]
pub struct LiveRevocations {
    revocations: Arc<shikaku_pki::Revocations>,
    checked: std::sync::Mutex<HashMap<String, (std::time::Instant, bool)>>,
}

impl LiveRevocations {
    const RECHECK: Duration = Duration::from_secs(1);

    pub fn new(revocations: Arc<shikaku_pki::Revocations>) -> Self {
        Self {
            revocations,
            checked: Default::default(),
        }
    }

    fn is_revoked(&self, serial: &str) -> bool {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, revoked)) = checked.get(serial)
            && at.elapsed() < Self::RECHECK
        {
            return *revoked;
        }
        let revoked = self.revocations.is_revoked(serial);
        checked.insert(serial.to_owned(), (std::time::Instant::now(), revoked));
        revoked
    }
}

/// The table and the configured narrowing, ready for lookups.
#[derive(Debug)]
pub struct Policy {
    methods: HashMap<&'static str, Permission>,
    /// Per client name: the readers it may use.
    readers: HashMap<String, Arc<[String]>>,
    limits: crate::config::RateLimits,
    buckets: Buckets,
    revocations: Option<LiveRevocations>,
}

impl Policy {
    pub fn new(
        clients: &[crate::config::ClientConfig],
        limits: crate::config::RateLimits,
        revocations: Option<LiveRevocations>,
    ) -> Self {
        Self {
            methods: METHODS.iter().copied().collect(),
            readers: clients
                .iter()
                .filter(|c| !c.readers.is_empty())
                .map(|c| (c.name.clone(), c.readers.clone().into()))
                .collect(),
            limits,
            buckets: Buckets::default(),
            revocations,
        }
    }

    /// Refuses a call past the client's rate for its operation (never a `local` caller).
    fn rate(&self, identity: &Identity, path: &str) -> Result<(), Status> {
        let Some(what) = limited(path).filter(|_| identity.role != Role::Local) else {
            return Ok(());
        };
        let per_minute = match what {
            Limited::CardChecks => self.limits.card_checks,
            Limited::Redemptions => self.limits.redemptions,
            Limited::Issuance => self.limits.issuance,
        };
        if per_minute == 0 {
            return Ok(());
        }
        self.buckets
            .take(&identity.client, what, per_minute)
            .map_err(|wait| {
                tracing::info!(client = %identity.client, method = path, "rate limited");
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    ErrorReason::RateLimited.as_str_name(),
                    ERROR_DOMAIN,
                    [("limit".to_owned(), format!("{per_minute}/min"))],
                );
                details.set_retry_info(Some(wait));
                details.set_localized_message(LOCALE, ja(ErrorReason::RateLimited));
                Status::with_error_details(
                    tonic::Code::ResourceExhausted,
                    format!(
                        "client {} may call {path} {per_minute} times a minute",
                        identity.client
                    ),
                    details,
                )
            })
    }

    /// Decides whether the caller on `peer` may call `path`.
    pub fn admit(&self, path: &str, peer: Option<&Peer>) -> Result<Identity, Status> {
        let addr = peer
            .and_then(|p| p.addr)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let client = peer.and_then(|p| p.client.as_ref());
        // Names the caller on the call's span (`observe`): its certificate name and role only.
        let span = tracing::Span::current();
        span.record("client", client.map_or("local", |c| c.name.as_str()));
        span.record(
            "role",
            client.map_or(Role::Local, |c| c.role.into()).as_str(),
        );
        if let (Some(client), Some(live)) = (client, &self.revocations)
            && live.is_revoked(&client.serial)
        {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                ErrorReason::ClientCertificateRevoked.as_str_name(),
                ERROR_DOMAIN,
                [("client".to_owned(), client.name.clone())],
            );
            details.set_localized_message(LOCALE, ja(ErrorReason::ClientCertificateRevoked));
            return Err(Status::with_error_details(
                tonic::Code::Unauthenticated,
                format!("the certificate of client {} was revoked", client.name),
                details,
            ));
        }
        let identity = match client {
            Some(client) => Identity {
                client: client.name.clone(),
                role: client.role.into(),
                readers: self.readers.get(&client.name).cloned(),
                peer: addr,
            },
            None => Identity {
                client: "local".into(),
                role: Role::Local,
                readers: None,
                peer: addr,
            },
        };
        let Some(&permission) = self.methods.get(path) else {
            return Err(refusal(&identity, "unlisted", path));
        };
        if identity.role.allows(permission) {
            self.rate(&identity, path)?;
            Ok(identity)
        } else {
            Err(refusal(&identity, permission.as_str(), path))
        }
    }
}

/// PERMISSION_DENIED with reason ROLE_NOT_ALLOWED, naming the role and the permission.
fn refusal(identity: &Identity, permission: &str, path: &str) -> Status {
    tracing::info!(
        client = %identity.client,
        role = identity.role.as_str(),
        permission,
        method = path,
        "call refused"
    );
    let mut details = ErrorDetails::new();
    details.set_error_info(
        ErrorReason::RoleNotAllowed.as_str_name(),
        ERROR_DOMAIN,
        [
            ("role".to_owned(), identity.role.as_str().to_owned()),
            ("permission".to_owned(), permission.to_owned()),
            ("client".to_owned(), identity.client.clone()),
        ],
    );
    details.set_localized_message(LOCALE, ja(ErrorReason::RoleNotAllowed));
    Status::with_error_details(
        tonic::Code::PermissionDenied,
        format!(
            "role {} may not call {path} (needs {permission})",
            identity.role.as_str()
        ),
        details,
    )
}

/// tonic answers a request it cannot decode with INTERNAL, and one over the size limit with
/// OUT_OF_RANGE. Both are the client's mistake: say so with INVALID_ARGUMENT and
/// RESOURCE_EXHAUSTED, and the rule that was broken. Only error answers carry a status in their
/// headers, so a good answer is passed on untouched.
fn clearer_codec_errors(
    answer: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    if !answer.headers().contains_key("grpc-status") {
        return answer;
    }
    let Some(status) = Status::from_header_map(answer.headers()) else {
        return answer;
    };
    let message = status.message();
    let (code, field, rule) = match status.code() {
        tonic::Code::Internal if message.starts_with("failed to decode Protobuf message") => (
            tonic::Code::InvalidArgument,
            "request",
            format!("must be a valid protobuf message of this RPC's request type ({message})"),
        ),
        tonic::Code::OutOfRange if message.contains("message length too large") => (
            tonic::Code::ResourceExhausted,
            "request",
            format!("must fit the daemon's message size limit ({message})"),
        ),
        _ => return answer,
    };
    let mut details = ErrorDetails::new();
    details.set_bad_request(vec![tonic_types::FieldViolation::new(field, rule.clone())]);
    details.set_error_info(
        ErrorReason::InvalidField.as_str_name(),
        ERROR_DOMAIN,
        std::collections::HashMap::<String, String>::new(),
    );
    details.set_localized_message(LOCALE, ja(ErrorReason::InvalidField));
    Status::with_error_details(code, rule, details).into_http()
}

/// The tower layer that admits or refuses each call.
#[derive(Debug, Clone)]
pub struct AuthLayer(pub Arc<Policy>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            policy: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    policy: Arc<Policy>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let admitted = self
            .policy
            .admit(request.uri().path(), request.extensions().get::<Peer>());
        match admitted {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
                let answer = self.inner.call(request);
                Box::pin(async move { answer.await.map(clearer_codec_errors) })
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_of_calls_and_refills_evenly() {
        let buckets = Buckets::default();
        for _ in 0..3 {
            buckets.take("kiosk-1", Limited::CardChecks, 3).unwrap();
        }
        let wait = buckets.take("kiosk-1", Limited::CardChecks, 3).unwrap_err();
        assert!(
            wait <= Duration::from_secs(20) && wait > Duration::from_secs(15),
            "{wait:?}"
        );
        // Other clients and other operations have buckets of their own.
        buckets.take("kiosk-2", Limited::CardChecks, 3).unwrap();
        buckets.take("kiosk-1", Limited::Issuance, 3).unwrap();
    }

    #[test]
    fn every_role_holds_public_and_only_local_holds_everything() {
        for role in [Role::Kiosk, Role::Reception, Role::Admin, Role::Local] {
            assert!(role.allows(Permission::Public));
        }
        assert!(!Role::Kiosk.allows(Permission::PatientLinks));
        assert!(!Role::Kiosk.allows(Permission::ReferenceNumbers));
        assert!(Role::Reception.allows(Permission::ReferenceNumbers));
        assert!(Role::Admin.allows(Permission::ReferenceNumbers));
        assert!(!Role::Reception.allows(Permission::ActivationCodes));
        assert!(!Role::Admin.allows(Permission::CardCheck));
        assert!(METHODS.iter().all(|(_, p)| Role::Local.allows(*p)));
    }
}
