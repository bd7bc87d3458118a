//! The operator console: one page and its script and style, compiled into
//! the binary (`include_str!`), served at `/`.
//!
//! Guarantees:
//! - Nothing is fetched from elsewhere at run time and nothing is built
//!   outside `cargo build`: the files here are what the browser gets. The
//!   script is plain JavaScript (ES2020 modules need no bundler), so there
//!   is no front-end tool chain to install or keep.
//! - The console is a client of the public API, with the signed-in token,
//!   exactly as `curl` is: it sees and does what that token may, no more.
//!   The page itself carries no data and needs no token.
//! - A strict Content-Security-Policy: scripts, styles and connections only
//!   from this server; no inline script, no framing.

use super::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

const INDEX: &str = include_str!("index.html");

/// Everything under `/console/`: name, media type, body.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", JAVASCRIPT, include_str!("app.js")),
    ("ui.js", JAVASCRIPT, include_str!("ui.js")),
    ("jobs.js", JAVASCRIPT, include_str!("jobs.js")),
    ("graph.js", JAVASCRIPT, include_str!("graph.js")),
    ("approvals.js", JAVASCRIPT, include_str!("approvals.js")),
    ("locks.js", JAVASCRIPT, include_str!("locks.js")),
    ("webhooks.js", JAVASCRIPT, include_str!("webhooks.js")),
    ("definitions.js", JAVASCRIPT, include_str!("definitions.js")),
    ("settings.js", JAVASCRIPT, include_str!("settings.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("style.css")),
    ("icon.svg", "image/svg+xml", include_str!("icon.svg")),
];

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

/// The console's routes (outside the OpenAPI document: they are pages).
pub fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new().route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }));
    for &(name, media_type, body) in FILES {
        router = router.route(&format!("/console/{name}"), get(move || async move { asset(media_type, body) }));
    }
    router
}
