//! The `http` capability: outbound HTTP(S) for participants.

use super::grants::normalize_host;
use super::{Access, CallCaps, CapabilityError, MAX_CALL_RESPONSE_BYTES, MAX_ECHO_CHARS, clip, net};
use base64::Engine as _;
use std::net::{IpAddr, SocketAddr};
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

async fn resolve(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, 0)).await?.collect())
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
const HOST_SET_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection", "upgrade", "te"];

impl CallCaps {
    /// Sends `request` if its host is granted; redirects are not followed.
    ///
    /// # Errors
    /// `denied` when the host, a secret or the address is not allowed;
    /// `bad-input` for a malformed URL, method or header; `retryable` for a
    /// connection failure or timeout; `fatal` for a body over the limits.
    pub async fn http_send(&mut self, request: Request) -> Result<Response, CapabilityError> {
        let url = parse_url(&request.url)?;
        let host = normalize_host(url.host_str().unwrap_or_default());
        let port = url.port_or_known_default().unwrap_or(80);
        let target = format!("{}:{port}", url.host_str().unwrap_or_default());
        let Some(access) = self.grants.http_access(&host, port) else {
            return Err(self.deny("http", &target, &format!("grant it with http={target}")));
        };
        // A dry run resolves nothing: no packet leaves.
        let public_only =
            if self.dry_run().is_some() { false } else { self.address_policy("http", &host, &target, access).await? };
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
            return Ok(self.dry_http(method.as_str(), &request.url));
        }
        let timeout = self.time_left(request.timeout_ms);
        if timeout.is_zero() {
            return Err(CapabilityError::retryable("http: no time left before the call's deadline"));
        }
        let client = if public_only { &self.services.http.public_only } else { &self.services.http.exact };
        let mut builder = client.request(method, final_parsed).headers(headers).timeout(timeout);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|e| self.transport_error("http", &target, &e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| Header {
                name: k.as_str().to_owned(),
                value: self.redact(&String::from_utf8_lossy(v.as_bytes())),
            })
            .collect();
        let body = self.read_response("http", &target, response).await?;
        Ok(Response { status, headers, body })
    }

    /// Reads a response body within the call's bounds, charges it to the
    /// call's response budget and redacts it.
    pub(super) async fn read_response(
        &mut self,
        capability: &str,
        target: &str,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, CapabilityError> {
        let cap = self.response_cap();
        let body = read_body(response, cap).await.map_err(|e| self.transport_error(capability, target, &e))?;
        let body = body.map_err(|()| {
            let why = if cap == self.response_budget {
                format!("the call has received {} MiB of responses, its limit", MAX_CALL_RESPONSE_BYTES >> 20)
            } else {
                format!("the limit is {} KiB per response", cap >> 10)
            };
            CapabilityError::fatal(format!(
                "{capability}: response from {} is too large: {why}",
                clip(target, MAX_ECHO_CHARS)
            ))
        })?;
        self.response_budget -= body.len();
        self.redact_body(capability, body).await
    }

    /// Applies the address policy before anything is sent. Returns whether
    /// the connection must use the public-only client: a host granted by
    /// wildcard, or any host under a server's public-only policy. Such a
    /// host given as an address literal is checked here (no resolver runs
    /// for it); a name is checked here for a clear refusal and again by the
    /// client's resolver on the addresses actually connected.
    pub(super) async fn address_policy(
        &mut self,
        capability: &str,
        host: &str,
        target: &str,
        access: Access,
    ) -> Result<bool, CapabilityError> {
        if access == Access::Exact {
            return Ok(false);
        }
        let hint = "private, loopback and link-local addresses need the exact host in a grant";
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !net::is_public(ip) {
                return Err(self.deny(capability, &format!("{target} (non-public address)"), hint));
            }
            return Ok(true);
        }
        match resolve(host).await {
            Ok(addrs) if addrs.iter().any(|a| net::is_public(a.ip())) => Ok(true),
            Ok(addrs) if !addrs.is_empty() => {
                Err(self.deny(capability, &format!("{target} (resolves to non-public {})", addrs[0].ip()), hint))
            }
            Ok(_) | Err(_) => {
                Err(CapabilityError::retryable(format!("{capability}: cannot resolve {}", clip(host, MAX_ECHO_CHARS))))
            }
        }
    }

    fn credential_part(&mut self, part: &CredentialPart) -> Result<String, CapabilityError> {
        match part {
            CredentialPart::Literal(s) => Ok(s.clone()),
            CredentialPart::Secret(name) => Ok(self.secret("http", name)?.expose().to_owned()),
        }
    }

    /// Transport failures are retryable, except a connection the address
    /// policy refused, which no retry will change.
    pub(super) fn transport_error(&self, capability: &str, target: &str, e: &reqwest::Error) -> CapabilityError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        let detail = self.redact(&detail);
        let detail = clip(&detail, 4 * MAX_ECHO_CHARS);
        let target = self.redact(target);
        let target = clip(&target, MAX_ECHO_CHARS);
        if detail.contains("non-public addresses") {
            CapabilityError::denied(format!("{capability}: {target}: {detail}"))
        } else if e.is_timeout() {
            CapabilityError::retryable(format!("{capability}: {target}: timed out"))
        } else {
            CapabilityError::retryable(format!("{capability}: {target}: {detail}"))
        }
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
