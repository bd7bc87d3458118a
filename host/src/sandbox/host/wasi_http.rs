//! `wasi:http/outgoing-handler`, for components whose toolchain speaks
//! HTTP through WASI (JavaScript's `fetch`, Python's wasi:http clients):
//! each request is turned into the `http` capability's own and goes through
//! the same checks — grants, address policy on the connected address, no
//! redirects, the call's deadline, bounded and redacted responses, dry-run
//! answers — so linking it grants nothing the contract's `http` does not.
//!
//! wasmtime-wasi-http builds the guest's request and hands it to
//! [`WasiHttpHooks::send_request`]; the checks that need the call's state
//! run there, synchronously, and what needs the network runs on the
//! returned future (a task of its own, which the guest polls).
//!
//! Secrets: the guest cannot name one in a `wasi:http` request, so the host
//! fills `{secret:NAME}` placeholders (granted secrets only) in header
//! values and in the URL's path and query, where `%7Bsecret:NAME%7D` (as
//! `fetch` encodes it) counts too. The guest never sees the value: an echo
//! comes back redacted.

use crate::capabilities::http::{self as cap, HOST_SET_HEADERS, Prepared};
use crate::capabilities::{CallCaps, CapabilityError, CapabilityErrorKind, Ledger};
use crate::sandbox::state::CallState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

type ResponseFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send>;
type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

/// The largest request body a guest may send, as the contract's `http`
/// (whose body is a list in the guest's memory) is bounded by the call's
/// memory.
const MAX_REQUEST_BYTES: usize = 16 << 20;

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.caps }
    }
}

impl WasiHttpHooks for CallCaps {
    /// The client sets `host` from the URL, as for the contract's `http`.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> ResponseFuture {
        let (parts, body) = request.into_parts();
        let ledger = self.ledger.clone();
        let body_cap = MAX_REQUEST_BYTES.min(self.memory_bytes);
        let prepared = self.http_prepare(to_capability_request(&parts, options.as_ref()));
        // An empty body is sent as one (`content-length: 0`) where a method
        // usually has one.
        let bodiless = matches!(parts.method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS);
        Box::new(async move {
            // Read even when the request is refused: a guest runtime writing
            // its body into a request nobody reads fails in its own way
            // (StarlingMonkey aborts), hiding the refusal.
            let body = Limited::new(body, body_cap).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::HttpRequestBodySize(None)
                } else {
                    Error::InternalError(Some(format!("reading the request body: {e}")))
                }
            });
            let response = match prepared.map_err(|e| to_wasi_error(e, &ledger))? {
                Prepared::Answered(response) => response,
                Prepared::Outbound(mut outbound) => {
                    let body = body?.to_bytes();
                    outbound.body = (!body.is_empty() || !bodiless).then(|| body.to_vec());
                    outbound.send().await.map_err(|e| to_wasi_error(e, &ledger))?
                }
            };
            Ok((to_wasi_response(response)?, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// The guest's request as the `http` capability's, placeholders found.
fn to_capability_request(parts: &http::request::Parts, options: Option<&RequestOptions>) -> cap::Request {
    let url = unescape_placeholders(&parts.uri.to_string());
    // Each use once: the capability fills every occurrence of a
    // placeholder at once, and refuses a use whose placeholder is gone.
    let mut secrets: Vec<cap::SecretUse> = Vec::new();
    let mut add = |use_: cap::SecretUse| {
        if !secrets.contains(&use_) {
            secrets.push(use_);
        }
    };
    placeholders(&url).for_each(|name| add(cap::SecretUse::UrlPlaceholder(name)));
    let mut headers = Vec::new();
    for (name, value) in &parts.headers {
        // Framing and `host` follow from the URL and the body; the guest's
        // runtime may set them itself, so they are dropped, not refused.
        if HOST_SET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        for secret in placeholders(&value) {
            add(cap::SecretUse::HeaderPlaceholder { header: name.as_str().to_owned(), secret });
        }
        headers.push(cap::Header { name: name.as_str().to_owned(), value });
    }
    let timeout = options.and_then(|o| [o.connect_timeout, o.first_byte_timeout].into_iter().flatten().max());
    cap::Request {
        method: parts.method.as_str().to_owned(),
        url,
        headers,
        secrets,
        body: None,
        timeout_ms: timeout.map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
    }
}

/// `%7Bsecret:NAME%7D` (as a URL encoder writes `{secret:NAME}`) put back.
fn unescape_placeholders(url: &str) -> String {
    let mut out = url.to_owned();
    for open in ["%7Bsecret:", "%7bsecret:"] {
        while let Some(start) = out.find(open) {
            let rest = &out[start + open.len()..];
            let Some(end) = rest.find("%7D").or_else(|| rest.find("%7d")) else { break };
            let name = &rest[..end];
            if !is_secret_name(name) {
                break;
            }
            out = format!("{}{{secret:{name}}}{}", &out[..start], &rest[end + 3..]);
        }
    }
    out
}

/// The secret names of the `{secret:NAME}` placeholders in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("{secret:").filter_map(move |(at, open)| {
        let rest = &text[at + open.len()..];
        let name = &rest[..rest.find('}')?];
        is_secret_name(name).then(|| name.to_owned())
    })
}

fn is_secret_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The guest sees wasi:http's error codes; a refusal is remembered so that
/// a call that then fails says why (see `call::denied_then_failed`).
fn to_wasi_error(e: CapabilityError, ledger: &Arc<Ledger>) -> Error {
    match e.kind {
        CapabilityErrorKind::Denied => {
            ledger.note_wasi_http_denial(&e.message);
            Error::HttpRequestDenied
        }
        CapabilityErrorKind::Retryable if e.message.ends_with("timed out") => Error::ConnectionTimeout,
        _ => Error::InternalError(Some(e.message)),
    }
}

fn to_wasi_response(response: cap::Response) -> wasmtime_wasi_http::Result<http::Response<WasiBody>> {
    let mut builder = http::Response::builder().status(response.status);
    for header in &response.headers {
        // The body is whole and may have changed length when redacted.
        if HOST_SET_HEADERS.contains(&header.name.as_str()) {
            continue;
        }
        builder = builder.header(header.name.as_str(), header.value.as_str());
    }
    let body = Full::new(Bytes::from(response.body)).map_err(|never| match never {}).boxed_unsync();
    builder.body(body).map_err(|e| Error::InternalError(Some(format!("building the response: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_text_and_encoded_urls() {
        let url = unescape_placeholders("https://api.example/v1?key=%7Bsecret:api_key%7D&x=%7bsecret:other.one%7d");
        assert_eq!(url, "https://api.example/v1?key={secret:api_key}&x={secret:other.one}");
        assert_eq!(placeholders(&url).collect::<Vec<_>>(), ["api_key", "other.one"]);
        assert_eq!(placeholders("Bearer {secret:token}").collect::<Vec<_>>(), ["token"]);
        // Not a name: left as it is, and not looked up.
        assert_eq!(placeholders("{secret:a b} {secret:}").count(), 0);
        assert_eq!(unescape_placeholders("/x/%7Bsecret:a%20b%7D"), "/x/%7Bsecret:a%20b%7D");
    }

    #[test]
    fn a_secret_used_twice_is_one_use() {
        let request = http::Request::get("http://api.example/{secret:a}/{secret:b}?again={secret:a}")
            .header("authorization", "{secret:a} {secret:a}")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let secrets = to_capability_request(&parts, None).secrets;
        let header = |s: &str| cap::SecretUse::HeaderPlaceholder { header: "authorization".into(), secret: s.into() };
        assert_eq!(
            secrets,
            [cap::SecretUse::UrlPlaceholder("a".into()), cap::SecretUse::UrlPlaceholder("b".into()), header("a")]
        );
    }
}
