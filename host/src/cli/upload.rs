//! `mastermind participants upload`: sends a component, then waits while
//! the server compiles it (off the request: its upload says `compiling`,
//! then `ready` or why it failed).

use super::client::{Client, server_error};
use anyhow::{Context as _, bail};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::IsTerminal;

/// Polls an accepted upload until it is compiled: its view once `ready`,
/// its error once `failed`. Compiling a Python component takes the server
/// tens of seconds, and longer when other uploads are queued before it.
pub(super) async fn wait_compiled(client: &Client, mut upload: Value) -> anyhow::Result<Value> {
    let Some(id) = upload["upload"].as_str().map(str::to_owned) else { return Ok(upload) };
    let mut said = false;
    while upload["state"] == "compiling" {
        if !said && std::io::stderr().is_terminal() {
            eprintln!("compiling on the server…");
            said = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        upload = client.send(Method::GET, &format!("/v1/participants/uploads/{id}"), None).await?;
    }
    if upload["state"] == "failed" {
        bail!("{}", upload["error"].as_str().unwrap_or("the upload failed"));
    }
    Ok(upload)
}

/// Uploads a component, refusing one over the size limit before sending
/// it; a refusal the user can fix says how.
pub(super) async fn upload(
    client: &Client,
    file: &std::path::Path,
    grants: Vec<String>,
    name: Option<String>,
) -> anyhow::Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let limit = crate::api::MAX_COMPONENT_BYTES;
    if bytes.len() > limit {
        bail!("{}", too_large(file, bytes.len(), limit));
    }
    let mut body = json!({ "wasm": base64::engine::general_purpose::STANDARD.encode(&bytes), "grants": grants });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    client.send(Method::POST, "/v1/participants", Some(body)).await.map_err(|e| {
        let Some(refused) = server_error(&e) else { return e };
        if refused.code == "too_large" || refused.status == StatusCode::PAYLOAD_TOO_LARGE {
            // This server's limit, when it says (`over the N-byte limit`).
            let limit = regex::Regex::new(r"over the (\d+)-byte limit")
                .ok()
                .and_then(|r| r.captures(&refused.message))
                .and_then(|c| c[1].parse().ok());
            return anyhow::anyhow!(
                "{} ({})",
                match limit {
                    Some(limit) => too_large(file, bytes.len(), limit),
                    None => format!("{} is {}: the server says {}", file.display(), size(bytes.len()), refused.message),
                },
                refused.status
            );
        }
        if refused.code == "bad_request" && refused.message.contains(crate::api::PRIVATE_GRANTS_REFUSED) {
            return anyhow::anyhow!(
                "{refused}\nThe server was started without --allow-private-grants: grant a public host, or have it \
                 started with `mastermind serve --allow-private-grants`, which lets uploads reach loopback and \
                 private addresses"
            );
        }
        e
    })
}

fn too_large(file: &std::path::Path, len: usize, limit: usize) -> String {
    format!(
        "{} is {}, over the server's limit of {} for a component: build it in release mode with \
         `strip = true` in its profile to make it smaller",
        file.display(),
        size(len),
        size(limit)
    )
}

/// `17825792 bytes (17.0 MiB)`.
fn size(bytes: usize) -> String {
    format!("{bytes} bytes ({:.1} MiB)", bytes as f64 / (1 << 20) as f64)
}
