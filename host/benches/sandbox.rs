//! Sandbox benchmark: prints `bench: NAME = VALUE UNIT` lines.
//!
//! - warm invoke of the no-op participant (fresh instance + call + drop), p50 and p99;
//! - compile time and cached load time of the largest participant built from this repository;
//! - resident memory with 1,000 concurrent calls each sleeping in the host.
//!
//! Run with `cargo bench --bench sandbox`.

use mastermind::capabilities::Grants;
use mastermind::sandbox::{CallEnv, CallRequest, EngineConfig, Sandbox, SandboxConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn participants_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("MASTERMIND_PARTICIPANTS_DIR"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sleepers = 1000u32;
    let engine = EngineConfig { max_instances: sleepers + 24, ..EngineConfig::default() };
    let sandbox = Arc::new(Sandbox::new(SandboxConfig { engine: engine.clone(), ..SandboxConfig::default() })?);
    let noop = sandbox.load(&std::fs::read(participants_dir().join("noop.wasm"))?).await?;
    let env = CallEnv { grants: Arc::new(Grants::default()), ..CallEnv::default() };

    // Warm invoke.
    for _ in 0..500 {
        sandbox.invoke(&noop, CallRequest::new("noop", json!({})), &env).await?;
    }
    let mut samples = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let request = CallRequest::new("noop", json!({}));
        let started = Instant::now();
        sandbox.invoke(&noop, request, &env).await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    println!("bench: warm_invoke_noop_p50 = {:.1} us", percentile(&samples, 0.50).as_secs_f64() * 1e6);
    println!("bench: warm_invoke_noop_p99 = {:.1} us", percentile(&samples, 0.99).as_secs_f64() * 1e6);

    // Compile and cached load of the largest participant.
    let (largest, bytes) = std::fs::read_dir(participants_dir())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .max_by_key(|(_, b)| b.len())
        .expect("built participants");
    let name = largest.file_stem().unwrap().to_string_lossy();
    let cache = tempfile::tempdir()?;
    let cached = || SandboxConfig { cache_dir: Some(cache.path().to_owned()), ..SandboxConfig::default() };
    let cold = Sandbox::new(cached())?;
    let started = Instant::now();
    cold.load(&bytes).await?;
    let compile = started.elapsed();
    println!("bench: compile_{name} ({} KiB) = {:.1} ms", bytes.len() / 1024, compile.as_secs_f64() * 1e3);
    let warm = Sandbox::new(cached())?;
    warm.load(&bytes).await?; // first read pages the cache file in
    let mut loads = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        warm.load(&bytes).await?;
        loads.push(started.elapsed());
    }
    loads.sort();
    println!("bench: cached_load_{name}_p50 = {:.2} ms", percentile(&loads, 0.5).as_secs_f64() * 1e3);
    drop((cold, warm));

    // Memory with 1,000 concurrent calls sleeping in the host.
    let before = rss_mib();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..sleepers {
        let (sandbox, noop, env) = (sandbox.clone(), noop.clone(), env.clone());
        tasks.spawn(async move { sandbox.invoke(&noop, CallRequest::new("sleep", json!({"ms": 3000})), &env).await });
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let during = rss_mib();
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        if !matches!(r, Ok(Ok(_))) {
            failed += 1;
        }
    }
    println!("bench: rss_{sleepers}_sleeping_calls = {during:.1} MiB");
    println!("bench: rss_{sleepers}_sleeping_calls_delta = {:.1} MiB", during - before);
    println!("bench: sleeping_calls_failed = {failed} calls");
    Ok(())
}
