//! `http`: the contract's request and response, field for field.

use super::types::wit_result;
use crate::capabilities::{CallCaps, http as cap};
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::http as wit;

impl wit::Host for CallCaps {
    async fn send(&mut self, request: wit::Request) -> wasmtime::Result<Result<wit::Response, WitError>> {
        Ok(wit_result(self.http_send(request.into()).await))
    }
}

impl From<wit::Request> for cap::Request {
    fn from(r: wit::Request) -> Self {
        cap::Request {
            method: r.method,
            url: r.url,
            headers: r.headers.into_iter().map(Into::into).collect(),
            secrets: r.secrets.into_iter().map(Into::into).collect(),
            body: r.body,
            timeout_ms: r.timeout_ms,
        }
    }
}

impl From<wit::Header> for cap::Header {
    fn from(h: wit::Header) -> Self {
        cap::Header { name: h.name, value: h.value }
    }
}

impl From<cap::Header> for wit::Header {
    fn from(h: cap::Header) -> Self {
        wit::Header { name: h.name, value: h.value }
    }
}

impl From<wit::SecretUse> for cap::SecretUse {
    fn from(use_: wit::SecretUse) -> Self {
        match use_ {
            wit::SecretUse::Header(h) => {
                cap::SecretUse::Header(cap::SecretHeader { name: h.name, prefix: h.prefix, secret: h.secret })
            }
            wit::SecretUse::BasicAuth((user, password)) => {
                cap::SecretUse::BasicAuth { user: user.into(), password: password.into() }
            }
            wit::SecretUse::UrlPlaceholder(name) => cap::SecretUse::UrlPlaceholder(name),
        }
    }
}

impl From<wit::CredentialPart> for cap::CredentialPart {
    fn from(part: wit::CredentialPart) -> Self {
        match part {
            wit::CredentialPart::Literal(s) => cap::CredentialPart::Literal(s),
            wit::CredentialPart::Secret(name) => cap::CredentialPart::Secret(name),
        }
    }
}

impl From<cap::Response> for wit::Response {
    fn from(r: cap::Response) -> Self {
        wit::Response { status: r.status, headers: r.headers.into_iter().map(Into::into).collect(), body: r.body }
    }
}
