//! Participants per language: prints `bench: NAME = VALUE UNIT` lines.
//!
//! For each component: its size, the first load (validate, compile with
//! Cranelift, link, describe; an empty compiled-code cache), a load from
//! the cache in a fresh sandbox (p50 of 10), and a warm trivial call
//! (`greet name: 'Ada'`, each in a fresh instance as every call is: p50 and
//! p99 of 200 after 20 unmeasured), and the memory a sleeping call holds:
//! 100 calls at once that each sleep 3 s (through the contract's timer, an
//! action taking `sleep_ms`), the process's resident set while they all
//! sleep less before they started, divided by 100.
//!
//! The components are the greeters `tests/polyglot.rs` builds (under the
//! target directory's `tmp/polyglot`; run that test first) and the Rust
//! built-in `echo` for comparison, or the `.wasm` files given in
//! `MASTERMIND_BENCH_COMPONENTS` (colon-separated; each must offer an action
//! taking `name`, or be `echo`).
//!
//! Run with `cargo bench --bench polyglot --profile dev` (the dependencies,
//! wasmtime and Cranelift among them, are optimized in that profile).

use mastermind::sandbox::{CallEnv, CallRequest, Participant, Sandbox, SandboxConfig};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The newest built component whose file name starts with `prefix`.
fn newest(prefix: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("polyglot");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn components() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("MASTERMIND_BENCH_COMPONENTS") {
        return list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    }
    let mut out: Vec<PathBuf> = ["py_greeter-", "js_greeter-"].into_iter().filter_map(newest).collect();
    if out.is_empty() {
        eprintln!("no greeters under target/tmp/polyglot: run `cargo test --test polyglot` first (through tests/run)");
    }
    let built = PathBuf::from(env!("MASTERMIND_PARTICIPANTS_DIR"));
    out.push(built.join("echo.wasm"));
    // A Rust participant that sleeps, for the sleeping calls' figure.
    out.push(built.join("tester.wasm"));
    out
}

fn call(participant: &Participant) -> CallRequest {
    let d = participant.description();
    match d.actions.iter().find(|a| a.params.iter().any(|p| p.name == "name")) {
        Some(action) => CallRequest::new(&action.name, json!({"name": "Ada"})),
        None => CallRequest::new("echo", json!({"message": "Ada"})),
    }
}

/// The process's resident set, from /proc (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// 100 calls at once, each sleeping 3 s inside the host: the resident set
/// they add, per call (the largest of several readings while they sleep).
async fn rss_per_sleeping_call(sandbox: &Arc<Sandbox>, participant: &Participant) -> anyhow::Result<Option<f64>> {
    const CALLS: usize = 100;
    let d = participant.description();
    let Some(action) = d.actions.iter().find(|a| a.params.iter().any(|p| p.name == "sleep_ms")) else {
        return Ok(None);
    };
    let needs_name = action.params.iter().any(|p| p.name == "name");
    let params = if needs_name { json!({"name": "Ada", "sleep_ms": 3000}) } else { json!({"sleep_ms": 3000}) };
    let before = rss_bytes().unwrap_or(0);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let (sandbox, participant) = (sandbox.clone(), participant.clone());
        let request = CallRequest::new(&action.name, params.clone());
        calls.spawn(async move { sandbox.invoke(&participant, request, &CallEnv::default()).await });
    }
    let mut peak = before;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_bytes().unwrap_or(0));
    }
    while let Some(done) = calls.join_next().await {
        done??;
    }
    Ok(Some(peak.saturating_sub(before) as f64 / CALLS as f64))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = CallEnv::default();
    for path in components() {
        let bytes = std::fs::read(&path)?;
        let cache = tempfile::tempdir()?;
        let config = || SandboxConfig { cache_dir: Some(cache.path().to_owned()), ..SandboxConfig::default() };

        let cold = Sandbox::new(config())?;
        let started = Instant::now();
        let participant = cold.load(&bytes).await?;
        let first = started.elapsed();
        let name = participant.description().name.clone();
        println!("bench: {name}_size = {:.1} MiB", bytes.len() as f64 / (1 << 20) as f64);
        println!("bench: {name}_first_load = {:.0} ms", ms(first));
        drop(cold);

        let mut loads = Vec::new();
        for _ in 0..10 {
            let warm = Sandbox::new(config())?;
            let started = Instant::now();
            warm.load(&bytes).await?;
            loads.push(started.elapsed());
        }
        loads.sort();
        println!("bench: {name}_cached_load_p50 = {:.1} ms", ms(percentile(&loads, 0.5)));

        let sandbox = Arc::new(Sandbox::new(config())?);
        let participant = sandbox.load(&bytes).await?;
        for _ in 0..20 {
            sandbox.invoke(&participant, call(&participant), &env).await?;
        }
        let mut samples = Vec::with_capacity(200);
        for _ in 0..200 {
            let request = call(&participant);
            let started = Instant::now();
            sandbox.invoke(&participant, request, &env).await?;
            samples.push(started.elapsed());
        }
        samples.sort();
        println!("bench: {name}_warm_invoke_p50 = {:.3} ms", ms(percentile(&samples, 0.50)));
        println!("bench: {name}_warm_invoke_p99 = {:.3} ms", ms(percentile(&samples, 0.99)));
        if let Some(per_call) = rss_per_sleeping_call(&sandbox, &participant).await? {
            println!("bench: {name}_rss_per_sleeping_call = {:.2} MiB", per_call / (1 << 20) as f64);
        }
    }
    Ok(())
}
