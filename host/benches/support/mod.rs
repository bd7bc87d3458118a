//! What several benchmarks share.

use serde_json::Value;
use std::time::{Duration, Instant};

/// Uploads a participant (`body` as `POST /v1/participants` takes it) and
/// waits until it is compiled: uploads answer `202 compiling`, and a
/// definition naming a participant still compiling is refused.
pub async fn upload_participant(http: &reqwest::Client, url: &str, token: &str, body: Value) -> anyhow::Result<()> {
    let response = http.post(format!("{url}/v1/participants")).bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "uploading a participant: {status}: {answer}");
    let Some(upload) = answer["upload"].as_str() else { anyhow::bail!("no upload id in {answer}") };
    let started = Instant::now();
    loop {
        let path = format!("{url}/v1/participants/uploads/{upload}");
        let state: Value = http.get(path).bearer_auth(token).send().await?.json().await?;
        match state["state"].as_str() {
            Some("ready") => return Ok(()),
            Some("compiling") if started.elapsed() < Duration::from_secs(120) => {}
            _ => anyhow::bail!("the upload did not compile: {state}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
