//! HTTP API load benchmark: prints `bench: NAME = VALUE UNIT` lines.
//!
//! Starts `mastermind serve` (the release binary, embedded SQLite, default
//! settings) as a second process, uploads the no-op participant, and then
//! launches a 3-step no-op job per request at a fixed rate (open loop: a
//! request starts every 1/rate seconds whether or not earlier ones are
//! done), each request waiting for its job to complete
//! (`POST /v1/jobs?wait=30`). Reports the achieved rate and the latency
//! percentiles of launch-to-completion.
//!
//! `cargo bench --bench api` (MASTERMIND_BENCH_RATE=500 and
//! MASTERMIND_BENCH_SECONDS=10 by default).

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ADMIN: &str = "mm_bench_admin_token_abcdefghijklmnopqrstuvwxyz012345";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate: f64 = std::env::var("MASTERMIND_BENCH_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(500.0);
    let seconds: f64 = std::env::var("MASTERMIND_BENCH_SECONDS").ok().and_then(|r| r.parse().ok()).unwrap_or(10.0);
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_mastermind"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--db", &format!("sqlite:{}", dir.path().join("bench.db").display())])
        .env("MASTERMIND_ADMIN_TOKEN", ADMIN)
        .env("MASTERMIND_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(4096).build()?;
    let mut ready = false;
    for _ in 0..600 {
        if http.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(ready, "the server did not start");

    let post = |token: &str, path: &str, body: Value| {
        let request = http.post(format!("{url}{path}")).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            anyhow::ensure!(status.is_success(), "{status}: {body}");
            anyhow::Ok(body)
        }
    };
    let tenant = post(
        ADMIN,
        "/v1/tenants",
        json!({ "name": "bench", "limits": { "max_concurrent_calls": 256, "launches_per_second": 10000 } }),
    )
    .await?;
    let path = format!("/v1/tenants/{}/tokens", tenant["id"].as_str().unwrap_or_default());
    let token = post(ADMIN, &path, json!({ "name": "bench", "scopes": ["admin"] })).await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let noop = std::fs::read(std::path::Path::new(env!("MASTERMIND_PARTICIPANTS_DIR")).join("noop.wasm"))?;
    let wasm = base64::engine::general_purpose::STANDARD.encode(noop);
    support::upload_participant(&http, &url, &token, json!({ "wasm": wasm })).await?;
    post(&token, "/v1/definitions", json!({ "name": "three", "source": "noop_noop\nnoop_noop\nnoop_noop\n" })).await?;
    // Warm up: compile caches, connections, the SQLite file.
    for _ in 0..50 {
        post(&token, "/v1/jobs?wait=30", json!({ "definition": "three" })).await?;
    }

    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let request = post(&token, "/v1/jobs?wait=30", json!({ "definition": "three" }));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let job = request.await?;
            anyhow::ensure!(job["state"] == "completed", "job not completed: {}", job["state"]);
            anyhow::Ok(t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        match task.await? {
            Ok(d) => latencies.push(d),
            Err(e) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("request failed: {e:#}");
                }
            }
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or_default();
    println!("bench: api_offered_rate = {rate:.0} req/s");
    println!("bench: api_completed_rate = {:.1} req/s", latencies.len() as f64 / elapsed.as_secs_f64());
    println!("bench: api_failed_requests = {failures} requests");
    println!("bench: api_latency_p50 = {:.2} ms", pct(0.50).as_secs_f64() * 1000.0);
    println!("bench: api_latency_p99 = {:.2} ms", pct(0.99).as_secs_f64() * 1000.0);
    println!("bench: api_latency_max = {:.2} ms", pct(1.0).as_secs_f64() * 1000.0);
    server.start_kill()?;
    Ok(())
}
