//! The `http` capability: outbound HTTP(S) for participants.

use super::grants::normalize_host;
use super::scope::resolve;
use super::{Access, CallCaps, CapabilityError, MAX_ECHO_CHARS, Scope, clip, net};
use base64::Engine as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Largest response body handed to a participant (also bounded by the
/// call's memory limit and its response budget).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Two clients: one whose resolver yields only public addresses (hosts
/// granted by wildcard), one that may connect anywhere (hosts granted by
/// their exact name). Neither follows redirects or uses a proxy.
pub struct HttpClients {
    pub(super) public_only: reqwest::Client,
    pub(super) exact: reqwest::Client,
}

impl HttpClients {
    /// Builds both clients.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new() -> anyhow::Result<Self> {
        let build = |allow_private| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("mastermind/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                // Idle connections are descriptors too: a few per host, not
                // kept long, whatever hosts participants visit.
                .pool_max_idle_per_host(4)
                .pool_idle_timeout(Duration::from_secs(30))
                .dns_resolver(Arc::new(PolicyResolver { allow_private }))
                .build()
        };
        Ok(HttpClients { public_only: build(false)?, exact: build(true)? })
    }

    /// The client for a policy: public addresses only, or any address.
    pub fn for_policy(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private { &self.exact } else { &self.public_only }
    }
}

/// Resolves names and drops the addresses the policy forbids, so the check
/// applies to the address actually connected to.
struct PolicyResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolve(&host).await?;
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| allow_private || net::is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to non-public addresses").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A request as the participant asked for it; secrets are named, not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: String,
    /// An absolute http or https URL.
    pub url: String,
    /// Headers to send as given; the host-set ones (`host`, framing) are refused.
    pub headers: Vec<Header>,
    /// Where to splice secrets in, by name.
    pub secrets: Vec<SecretUse>,
    /// The body to send, if any.
    pub body: Option<Vec<u8>>,
    /// Defaults to, and is capped by, what remains of the call's deadline.
    pub timeout_ms: Option<u32>,
}

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its name (`content-type`).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Header `name` set to `prefix` followed by the value of secret `secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHeader {
    /// The header's name.
    pub name: String,
    /// Text before the secret's value (`Bearer `).
    pub prefix: String,
    /// The secret's name; it must be granted.
    pub secret: String,
}

/// A user name or password: written out, or the name of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPart {
    /// Written out in the request.
    Literal(String),
    /// The name of a secret holding it; it must be granted.
    Secret(String),
}

/// Where the host splices a secret into a request, after the grant check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretUse {
    /// A header whose value holds a secret.
    Header(SecretHeader),
    /// HTTP basic authentication, either part from a secret.
    BasicAuth {
        /// The user name.
        user: CredentialPart,
        /// The password.
        password: CredentialPart,
    },
    /// Every `{secret:NAME}` in the URL's path and query, percent-encoded.
    UrlPlaceholder(String),
    /// Every `{secret:SECRET}` in the value of header `header` (as set by
    /// the request's headers), as it is.
    HeaderPlaceholder {
        /// The header's name.
        header: String,
        /// The secret's name; it must be granted.
        secret: String,
    },
}

/// The response, headers and body redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response's headers, redacted.
    pub headers: Vec<Header>,
    /// The body, redacted, at most [`MAX_RESPONSE_BYTES`] (less when the call's
    /// memory or response budget is smaller).
    pub body: Vec<u8>,
}

/// The methods a participant may send: the ordinary ones. CONNECT (a
/// tunnel through whatever is granted), TRACE and invented methods are
/// refused.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers the host sets itself: from the URL (`host`) or from the body
/// (framing). A participant may not set them, with a secret or without.
pub(crate) const HOST_SET_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "upgrade", "te"];

/// A request that passed every check the call's state is needed for
/// (grant, method, headers, secrets), owning what it needs to go out: the
/// address policy, the connection and the reading run on it, here or on a
/// task of its own (`wasi:http`'s).
pub(crate) struct Outbound {
    scope: Scope,
    services: Arc<super::HostServices>,
    access: Access,
    /// The host as granted (normalised) and `host:port` for messages.
    host: String,
    target: String,
    method: reqwest::Method,
    url: url::Url,
    headers: reqwest::header::HeaderMap,
    /// The body to send; a `wasi:http` request's is filled in once the
    /// guest has written it.
    pub(crate) body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
}

/// What [`CallCaps::http_prepare`] made of a request.
pub(crate) enum Prepared {
    /// Answered by the host without sending anything (a dry run).
    Answered(Response),
    /// Checked and ready to send.
    Outbound(Box<Outbound>),
}

impl CallCaps {
    /// Sends `request` if its host is granted; redirects are not followed.
    ///
    /// # Errors
    /// `denied` when the host, a secret or the address is not allowed;
    /// `bad-input` for a malformed URL, method or header; `retryable` for a
    /// connection failure or timeout; `fatal` for a body over the limits.
    pub async fn http_send(&mut self, request: Request) -> Result<Response, CapabilityError> {
        match self.http_prepare(request)? {
            Prepared::Answered(response) => Ok(response),
            Prepared::Outbound(outbound) => outbound.send().await,
        }
    }

    /// Checks `request` against the grants and fills in its secrets; what
    /// needs the network (the address policy, the request) is left to
    /// [`Outbound::send`].
    ///
    /// # Errors
    /// As [`CallCaps::http_send`], for what can be told without the network.
    pub(crate) fn http_prepare(&mut self, request: Request) -> Result<Prepared, CapabilityError> {
        let url = parse_url(&request.url)?;
        let host = normalize_host(url.host_str().unwrap_or_default());
        let port = url.port_or_known_default().unwrap_or(80);
        let target = format!("{}:{port}", url.host_str().unwrap_or_default());
        let Some(access) = self.grants.http_access(&host, port) else {
            return Err(self.deny("http", &target, &format!("grant it with http={target}")));
        };
        let method = request.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(CapabilityError::bad_input(format!(
                "http: method '{}' is not allowed ({})",
                clip(&request.method, 32),
                METHODS.join(", ")
            )));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| CapabilityError::bad_input(format!("http: bad method '{}'", clip(&request.method, 32))))?;

        let mut final_url = request.url.clone();
        let mut headers = reqwest::header::HeaderMap::new();
        for h in &request.headers {
            refuse_host_set_header(&h.name)?;
            insert_header(&mut headers, &h.name, &h.value)?;
        }
        for use_ in &request.secrets {
            match use_ {
                SecretUse::Header(h) => {
                    refuse_host_set_header(&h.name)?;
                    let value = format!("{}{}", h.prefix, self.secret("http", &h.secret)?.expose());
                    insert_header(&mut headers, &h.name, &value)?;
                }
                SecretUse::HeaderPlaceholder { header, secret } => {
                    let placeholder = format!("{{secret:{secret}}}");
                    let current = headers.get(header.as_str()).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    if !current.contains(&placeholder) {
                        return Err(CapabilityError::bad_input(format!(
                            "http: header {} has no {} placeholder",
                            clip(header, 64),
                            clip(&placeholder, MAX_ECHO_CHARS)
                        )));
                    }
                    let value = current.replace(&placeholder, self.secret("http", secret)?.expose());
                    insert_header(&mut headers, header, &value)?;
                }
                SecretUse::BasicAuth { user, password } => {
                    let user = self.credential_part(user)?;
                    let password = self.credential_part(password)?;
                    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                    // The token is an encoding of the secret the host made:
                    // an echoing server must not hand it back readable.
                    self.redactor.add(&token);
                    insert_header(&mut headers, "authorization", &format!("Basic {token}"))?;
                }
                SecretUse::UrlPlaceholder(name) => {
                    let placeholder = format!("{{secret:{name}}}");
                    if !final_url.contains(&placeholder) {
                        return Err(CapabilityError::bad_input(format!(
                            "http: the URL has no {} placeholder",
                            clip(&placeholder, MAX_ECHO_CHARS)
                        )));
                    }
                    let value = self.secret("http", name)?;
                    let encoded = url::form_urlencoded::byte_serialize(value.expose().as_bytes()).collect::<String>();
                    self.redactor.add(&encoded);
                    final_url = final_url.replace(&placeholder, &encoded);
                }
            }
        }
        let final_parsed = parse_url(&final_url)
            .map_err(|_| CapabilityError::bad_input("http: the URL is invalid once secrets are filled in"))?;
        if final_parsed.host_str() != url.host_str() || final_parsed.port_or_known_default() != Some(port) {
            return Err(CapabilityError::bad_input("http: secrets may only fill the URL's path and query"));
        }

        if self.dry_run().is_some() {
            // The URL as the participant wrote it: secret placeholders unfilled.
            return Ok(Prepared::Answered(self.dry_http(method.as_str(), &request.url)));
        }
        Ok(Prepared::Outbound(Box::new(Outbound {
            scope: self.scope(),
            services: self.services.clone(),
            access,
            host,
            target,
            method,
            url: final_parsed,
            headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        })))
    }

    fn credential_part(&mut self, part: &CredentialPart) -> Result<String, CapabilityError> {
        match part {
            CredentialPart::Literal(s) => Ok(s.clone()),
            CredentialPart::Secret(name) => Ok(self.secret("http", name)?.expose().to_owned()),
        }
    }
}

impl Outbound {
    /// Applies the address policy, sends, and reads the response within
    /// the call's bounds, redacted.
    ///
    /// # Errors
    /// As [`CallCaps::http_send`].
    pub(crate) async fn send(self) -> Result<Response, CapabilityError> {
        let Outbound { scope, services, access, host, target, method, url, headers, body, timeout_ms } = self;
        let public_only = scope.address_policy("http", &host, &target, access).await?;
        let timeout = scope.time_left(timeout_ms);
        if timeout.is_zero() {
            return Err(CapabilityError::retryable("http: no time left before the call's deadline"));
        }
        let client = services.http.for_policy(!public_only);
        let mut builder = client.request(method, url).headers(headers).timeout(timeout);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|e| scope.transport_error("http", &target, &e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| Header {
                name: k.as_str().to_owned(),
                value: scope.redact(&String::from_utf8_lossy(v.as_bytes())),
            })
            .collect();
        let body = scope.read_response("http", &target, response).await?;
        Ok(Response { status, headers, body })
    }
}

fn parse_url(raw: &str) -> Result<url::Url, CapabilityError> {
    let url = url::Url::parse(raw).map_err(|e| CapabilityError::bad_input(format!("http: invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CapabilityError::bad_input(format!("http: unsupported scheme '{}' (http or https)", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CapabilityError::bad_input("http: the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CapabilityError::bad_input("http: credentials in the URL are refused; use a secret"));
    }
    Ok(url)
}

fn insert_header(headers: &mut reqwest::header::HeaderMap, name: &str, value: &str) -> Result<(), CapabilityError> {
    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| CapabilityError::bad_input(format!("http: invalid header name '{}'", clip(name, 64))))?;
    let value = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| CapabilityError::bad_input(format!("http: invalid value for header '{name}'")))?;
    headers.insert(name, value);
    Ok(())
}

fn refuse_host_set_header(name: &str) -> Result<(), CapabilityError> {
    if HOST_SET_HEADERS.iter().any(|h| name.trim().eq_ignore_ascii_case(h)) {
        return Err(CapabilityError::bad_input(format!(
            "http: the {} header is set by the host (from the URL or the body)",
            clip(name, 64)
        )));
    }
    Ok(())
}

/// Reads the body, or `Err(())` inside if it exceeds `cap` bytes. A
/// declared length over the cap is refused before reading anything.
pub(super) async fn read_body(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Result<Vec<u8>, ()>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(Err(()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(Err(()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}
