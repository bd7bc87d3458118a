//! Outbound HTTP through the host. The host checks the URL against the
//! participant's grants, splices in secrets and refuses private addresses
//! that were not granted.

use crate::bindings::mastermind::participant::http::{self as wit, CredentialPart, Header, SecretHeader, SecretUse};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// An HTTP request, built then [sent](Request::send).
#[derive(Debug, Clone)]
pub struct Request(wit::Request);

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Request(wit::Request {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: Vec::new(),
            secrets: Vec::new(),
            body: None,
            timeout_ms: None,
        })
    }
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0.headers.push(Header { name: name.into(), value: value.into() });
        self
    }

    /// `Authorization: Bearer <value of secret>`.
    pub fn bearer_secret(self, secret: &str) -> Self {
        self.secret_header("Authorization", "Bearer ", secret)
    }

    /// Header `name` set to `prefix` + the value of `secret`.
    pub fn secret_header(mut self, name: &str, prefix: &str, secret: &str) -> Self {
        self.0.secrets.push(SecretUse::Header(SecretHeader {
            name: name.into(),
            prefix: prefix.into(),
            secret: secret.into(),
        }));
        self
    }

    /// HTTP Basic with the secret as user name and a literal password.
    pub fn basic_auth_secret_user(mut self, secret: &str, password: &str) -> Self {
        self.0.secrets.push(SecretUse::BasicAuth((
            CredentialPart::Secret(secret.into()),
            CredentialPart::Literal(password.into()),
        )));
        self
    }

    /// HTTP Basic with a literal user name and the secret as password.
    pub fn basic_auth_secret_password(mut self, user: &str, secret: &str) -> Self {
        self.0
            .secrets
            .push(SecretUse::BasicAuth((CredentialPart::Literal(user.into()), CredentialPart::Secret(secret.into()))));
        self
    }

    /// Lets the host replace `{secret:NAME}` in the URL with secret NAME.
    pub fn url_secret(mut self, name: &str) -> Self {
        self.0.secrets.push(SecretUse::UrlPlaceholder(name.into()));
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json").body(body.to_string().into_bytes())
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.0.body = Some(body);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        self
    }

    /// The method, in upper case (what a test's stub answers on).
    pub fn method(&self) -> &str {
        &self.0.method
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// A header set with [`Request::header`] (not the secret ones, whose
    /// values only the host knows).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.0.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.0.body.as_deref()
    }

    /// The names of the secrets the host is asked to splice in.
    pub fn secret_names(&self) -> Vec<&str> {
        self.0
            .secrets
            .iter()
            .flat_map(|s| match s {
                SecretUse::Header(h) => vec![h.secret.as_str()],
                SecretUse::BasicAuth((user, password)) => [user, password]
                    .into_iter()
                    .filter_map(|p| match p {
                        CredentialPart::Secret(name) => Some(name.as_str()),
                        CredentialPart::Literal(_) => None,
                    })
                    .collect(),
                SecretUse::UrlPlaceholder(name) => vec![name.as_str()],
            })
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn from_wit(request: wit::Request) -> Self {
        Request(request)
    }

    pub fn send(self) -> Result<Response> {
        let r = crate::imports::http_send(&self.0)?;
        Ok(Response {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        })
    }
}

/// A response: status, headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status` and a `body` (what a test's stub returns).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response { status, headers: Vec::new(), body: body.into() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::fatal(format!("response body is not the expected JSON: {e}")))
    }

    /// The body as JSON if it parses, as a string otherwise.
    pub fn json_or_text(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(self.text()))
    }

    /// Turns an error status into an error: 408, 429 and 5xx are retryable,
    /// other 4xx fatal.
    pub fn error_for_status(self, what: &str) -> Result<Self> {
        let status = self.status;
        if status < 400 {
            return Ok(self);
        }
        let mut body = self.text();
        body.truncate(300);
        let message = format!("{what}: HTTP {status}: {}", body.trim());
        if status == 408 || status == 429 || status >= 500 {
            Err(Error::retryable(message))
        } else {
            Err(Error::fatal(message))
        }
    }
}
