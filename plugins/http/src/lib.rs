//! `http`: `get_http`, `post_http`, `put_http`, `delete_http` — a request
//! to a granted host, with headers and a JSON (or text) body; the status,
//! headers and body come back in the `http` field (and `http_status`,
//! `http_body` for short). A secret can authenticate the request
//! (`bearer: 'secret_name'`) without the participant ever seeing it.
//!
//! Every request carries the step's idempotency key, the same on each
//! attempt at the step (a retry, or the call made again after a crash), in
//! an `Idempotency-Key` header, so the receiving server can recognise a
//! replay. The header is named by the step's `idempotency_header`, else the
//! operator's `HTTP_IDEMPOTENCY_HEADER` setting, else `Idempotency-Key`;
//! `idempotency_key: false` leaves it out, and a header of that name given
//! in `headers` wins.

use mastermind_sdk::http::Request;
use mastermind_sdk::prelude::*;

struct Http;

fn request(name: &str, doc: &str) -> Action {
    Action::new(name, doc)
        .required("url", Kind::String, "absolute http(s) URL")
        .optional("headers", Kind::Object, "request headers")
        .optional("body", Kind::Any, "JSON body (a string is sent as text)")
        .optional("bearer", Kind::String, "secret to send as `Authorization: Bearer ...`")
        .optional("timeout", Kind::Integer, "seconds")
        .optional("fail_on_error", Kind::Boolean, "fail the step on a 4xx/5xx status (default true)")
        .optional("idempotency_key", Kind::Boolean, "send the step's idempotency key (default true)")
        .optional("idempotency_header", Kind::String, "the header it is sent in (default Idempotency-Key)")
}

/// The header the step's idempotency key is sent in, if any.
fn idempotency_header(call: &Call) -> Result<Option<String>> {
    if !call.optional::<bool>("idempotency_key")?.unwrap_or(true) || call.context.idempotency_key.is_empty() {
        return Ok(None);
    }
    let name = match call.optional::<String>("idempotency_header")? {
        Some(name) => name,
        None => call.context.setting(IDEMPOTENCY_SETTING).unwrap_or(DEFAULT_IDEMPOTENCY_HEADER).to_owned(),
    };
    Ok((!name.trim().is_empty()).then_some(name))
}

/// The header most servers that deduplicate requests read (IETF draft
/// "The Idempotency-Key HTTP Header Field").
const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The operator's setting that renames it for every step.
const IDEMPOTENCY_SETTING: &str = "HTTP_IDEMPOTENCY_HEADER";

impl Participant for Http {
    fn describe() -> Description {
        Description::new("http", "HTTP requests to granted hosts")
            .action(request("get", "GET a URL"))
            .action(request("post", "POST to a URL"))
            .action(request("put", "PUT to a URL"))
            .action(request("delete", "DELETE a URL"))
    }

    fn invoke(call: Call) -> Result<Fields> {
        let url: String = call.param("url")?;
        let mut req = Request::new(&call.action, &url);
        let headers = call.optional::<Fields>("headers")?.unwrap_or_default();
        if let Some(name) = idempotency_header(&call)?
            && !headers.keys().any(|k| k.eq_ignore_ascii_case(&name))
        {
            req = req.header(&name, &call.context.idempotency_key);
        }
        for (name, value) in headers {
            let value = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
            req = req.header(&name, &value);
        }
        req = match call.params.get("body") {
            None | Some(Value::Null) => req,
            Some(Value::String(text)) => req.body(text.clone().into_bytes()),
            Some(json) => req.json(json),
        };
        if let Some(secret) = call.optional::<String>("bearer")? {
            req = req.bearer_secret(&secret);
        }
        if let Some(seconds) = call.optional::<u64>("timeout")? {
            req = req.timeout(std::time::Duration::from_secs(seconds));
        }
        let mut response = req.send()?;
        if call.optional::<bool>("fail_on_error")?.unwrap_or(true) {
            response = response.error_for_status(&format!("{} {url}", call.action.to_uppercase()))?;
        }
        let headers: Fields = response.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let body = response.json_or_text();
        Ok(fields! {
            "http" => json!({ "status": response.status, "headers": headers, "body": body.clone() }),
            "http_status" => response.status,
            "http_body" => body,
        })
    }
}

mastermind_sdk::export!(Http);
