//! The Chef Infra Server API through the host. The host signs every request
//! with the client's key, so a participant names the secret holding the key
//! and never sees it; the server URL must be granted (`chef=URL`) and the
//! secret too (`secret=NAME`).
//!
//! ```ignore
//! let server = chef::Server::from_call(&call)?;
//! let nodes = server.get("/nodes")?;
//! ```

use crate::bindings::mastermind::participant::chef as wit;
use crate::error::{Error, Result};
use crate::{Action, Call, Kind};
use serde_json::Value;

/// A request as the host signs and sends it (what a test's stub answers).
pub use wit::Request;

/// The setting that names the Chef server when a step has no `server_url`.
pub const SERVER_URL_SETTING: &str = "CHEF_SERVER_URL";
/// The setting that names the API client when a step has no `client_name`.
pub const CLIENT_NAME_SETTING: &str = "CHEF_CLIENT_NAME";
/// The secret holding the client key when a step has no `key`.
pub const DEFAULT_KEY_SECRET: &str = "chef_client_key";

/// Adds the connection params every Chef action accepts, so they show in
/// the participant's description and are type-checked like the others.
pub fn connection_params(action: Action) -> Action {
    action
        .optional(
            "server_url",
            Kind::String,
            "Chef server URL (with /organizations/NAME if any); default: setting CHEF_SERVER_URL",
        )
        .optional("client_name", Kind::String, "API client that signs the requests; default: setting CHEF_CLIENT_NAME")
        .optional("key", Kind::String, "name of the secret holding the client's private key; default: chef_client_key")
}

/// Why `name` is not a valid Chef object name (nodes, clients, roles:
/// letters, digits, `_`, `-`, `.`, `:`), or `None` if it is. Checking it
/// keeps names from changing the API path they are put into.
pub fn name_problem(what: &str, name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        && name != "."
        && name != "..";
    (!valid).then(|| format!("{what} '{name}' is not a valid Chef name (letters, digits, '_', '-', '.', ':')"))
}

/// Percent-encodes `s` for a query string value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One Chef server as one client: where, as whom, and with which key.
#[derive(Debug, Clone)]
pub struct Server {
    pub url: String,
    pub client_name: String,
    pub key_secret: String,
}

/// A response as the server sent it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Server {
    pub fn new(url: &str, client_name: &str, key_secret: &str) -> Self {
        Server { url: url.trim_end_matches('/').into(), client_name: client_name.into(), key_secret: key_secret.into() }
    }

    /// The connection from the step's params, falling back to the settings
    /// [`SERVER_URL_SETTING`] and [`CLIENT_NAME_SETTING`]; one `bad-input`
    /// error lists everything missing or malformed.
    pub fn from_call(call: &Call) -> Result<Self> {
        let mut problems = Vec::new();
        let url = call.param_or_setting("server_url", SERVER_URL_SETTING).filter(|s| !s.trim().is_empty());
        match &url {
            None => problems.push(format!("no Chef server: give param 'server_url' or set {SERVER_URL_SETTING}")),
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                problems.push(format!("server_url '{u}' must start with http:// or https://"));
            }
            Some(_) => {}
        }
        let client = call.param_or_setting("client_name", CLIENT_NAME_SETTING).filter(|s| !s.trim().is_empty());
        if client.is_none() {
            problems.push(format!("no Chef client: give param 'client_name' or set {CLIENT_NAME_SETTING}"));
        }
        let key = call.optional::<String>("key")?.unwrap_or_else(|| DEFAULT_KEY_SECRET.into());
        if key.trim().is_empty() {
            problems.push("param 'key' must name a secret".into());
        }
        match (url, client) {
            (Some(url), Some(client)) if problems.is_empty() => Ok(Server::new(url.trim(), client.trim(), key.trim())),
            _ => Err(Error::bad_input(problems.join("; "))),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("PUT", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call("DELETE", path, None)
    }

    /// Sends one request and returns the response whatever its status;
    /// fails only when the host refuses or cannot deliver it.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        let request = wit::Request {
            server_url: self.url.clone(),
            client_name: self.client_name.clone(),
            key_secret: self.key_secret.clone(),
            method: method.into(),
            path: path.into(),
            body: body.map(Value::to_string),
        };
        let r = crate::imports::chef_send(&request)?;
        Ok(Response { status: r.status, body: r.body })
    }

    /// Sends, turns an error status into an error an operator can act on,
    /// and parses the JSON body (null when empty).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let response = self.send(method, path, body)?;
        let what = format!("Chef {method} {path}");
        let status = response.status;
        if (200..300).contains(&status) {
            if response.body.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&response.body)
                .map_err(|e| Error::fatal(format!("{what}: the server's answer is not JSON: {e}")));
        }
        let text = response.error_text();
        Err(match status {
            401 => Error::fatal(format!(
                "{what}: the Chef server refused the request (HTTP 401, not authenticated): {text}. \
                 Check that client '{}' exists on {} and that secret '{}' holds its private key",
                self.client_name, self.url, self.key_secret
            )),
            403 => Error::fatal(format!(
                "{what}: the Chef server refused the request (HTTP 403, client '{}' is not allowed to do this): {text}",
                self.client_name
            )),
            404 => Error::fatal(format!("{what}: not found (HTTP 404): {text}")),
            409 => Error::fatal(format!("{what}: already exists (HTTP 409): {text}")),
            408 | 429 | 500.. => Error::retryable(format!("{what}: the Chef server failed (HTTP {status}): {text}")),
            _ => Error::fatal(format!("{what}: the Chef server rejected the request (HTTP {status}): {text}")),
        })
    }
}

impl Response {
    /// The server's explanation: Chef's `{"error": ["..."]}` (or a string)
    /// joined, else the body itself, cut to one readable line.
    pub fn error_text(&self) -> String {
        let from_json = serde_json::from_str::<Value>(&self.body).ok().and_then(|v| match v.get("error")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => Some(other.to_string()),
        });
        let text = from_json.unwrap_or_else(|| self.body.trim().to_owned());
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return "no explanation given".into();
        }
        let mut cut: String = line.chars().take(300).collect();
        if cut.len() < line.len() {
            cut.push('…');
        }
        cut
    }
}
