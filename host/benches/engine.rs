//! Engine benchmark: prints `bench: NAME = VALUE UNIT` lines.
//!
//! - a sequential 1,000-step job of no-op Wasm steps on SQLite (with the
//!   default durability, then `durability=full`): per-step
//!   overhead (p50 and p99 of the time from one step's start to the next's),
//!   every step journaled;
//! - 1,000 concurrent jobs × 10 no-op steps: steps per second, on SQLite and
//!   (when MASTERMIND_TEST_POSTGRES_URL or the local server answers)
//!   PostgreSQL, as the server syncs commits and with `durability=normal`
//!   (the sequential job too);
//! - "40 light tasks": 40 sequential steps each computing fib(10) in Wasm,
//!   total wall time; and the same flow in Prefect 3 when
//!   MASTERMIND_PREFECT_PYTHON names a Python that has it
//!   (`pip install 'prefect>=3,<4' fastapi==0.154.0`).
//!
//! Run with `cargo bench --bench engine`. For a profile,
//! `MASTERMIND_BENCH_ONLY` runs only the parts it lists (comma-separated:
//! `sqlite`, `full` for SQLite with `durability=full`, `postgres`,
//! `postgres_normal` for PostgreSQL with `durability=normal`) and
//! `MASTERMIND_BENCH_STEPS=N` makes the sequential job N steps long.

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::engine::{Engine, EngineConfig, Event, Registry};
use mastermind::model::JobState;
use mastermind::sandbox::{EngineConfig as PoolConfig, Sandbox, SandboxConfig};
use mastermind::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Bench {
    engine: Arc<Engine>,
    stop: CancellationToken,
}

async fn bench_engine(url: &str) -> anyhow::Result<Bench> {
    let sandbox = Sandbox::new(SandboxConfig {
        engine: PoolConfig { max_instances: 512, ..PoolConfig::default() },
        ..SandboxConfig::default()
    })?;
    let dir = std::path::PathBuf::from(env!("MASTERMIND_PARTICIPANTS_DIR"));
    let noop = sandbox.load(&std::fs::read(dir.join("noop.wasm"))?).await?;
    let mut registry = Registry::new();
    registry.insert(noop, Grants::default(), Vec::new());
    let store = Store::open(url).await?;
    let config =
        EngineConfig { exclusive: url.starts_with("sqlite"), max_concurrent_calls: 256, ..EngineConfig::default() };
    let engine = Engine::new(store, Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config);
    let stop = CancellationToken::new();
    let worker = engine.clone();
    let token = stop.clone();
    tokio::spawn(async move { worker.run(token).await });
    Ok(Bench { engine, stop })
}

fn steps(n: usize, step: &str) -> mastermind::language::Definition {
    let text: String = (0..n).map(|_| format!("{step}\n")).collect();
    mastermind::language::parse("bench.mm", &text).expect("bench definition")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The parts `MASTERMIND_BENCH_ONLY` may list.
const PARTS: [&str; 4] = ["sqlite", "full", "postgres", "postgres_normal"];

/// Whether this run includes `part` (`MASTERMIND_BENCH_ONLY`, all when unset).
fn runs(part: &str) -> bool {
    std::env::var("MASTERMIND_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p == part))
}

async fn sequential(b: &Bench, label: &str) -> anyhow::Result<()> {
    let n: usize = std::env::var("MASTERMIND_BENCH_STEPS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut events = b.engine.subscribe();
    let job = b.engine.launch("bench", &steps(n, "noop_noop"), Default::default(), None).await?;
    let collect = tokio::spawn(async move {
        let mut starts = Vec::with_capacity(n);
        while let Ok(e) = events.recv().await {
            match e.event {
                Event::StepStarted { .. } => starts.push(Instant::now()),
                Event::Flow(mastermind::engine::FlowEvent::Finished { .. }) => break,
                _ => {}
            }
        }
        starts
    });
    let started = Instant::now();
    let record = b.engine.wait_for(&job).await?;
    let total = started.elapsed();
    anyhow::ensure!(record.state == JobState::Completed, "sequential job ended {:?}", record.state);
    let starts = collect.await?;
    let mut gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    println!("bench: {label}_sequential_{n}_steps_total = {:.1} ms", total.as_secs_f64() * 1e3);
    println!("bench: {label}_per_step_overhead_p50 = {:.3} ms", percentile(&gaps, 0.5).as_secs_f64() * 1e3);
    println!("bench: {label}_per_step_overhead_p99 = {:.3} ms", percentile(&gaps, 0.99).as_secs_f64() * 1e3);
    Ok(())
}

async fn concurrent(b: &Bench, label: &str, jobs: usize) -> anyhow::Result<()> {
    let definition = steps(10, "noop_noop");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        ids.push(b.engine.launch("bench", &definition, Default::default(), None).await?);
    }
    for id in &ids {
        let record = b.engine.wait_for(id).await?;
        anyhow::ensure!(record.state == JobState::Completed, "job ended {:?}", record.state);
    }
    let elapsed = started.elapsed();
    println!("bench: {label}_{jobs}_jobs_x_10_steps_wall = {:.2} s", elapsed.as_secs_f64());
    println!("bench: {label}_steps_per_second = {:.0} steps/s", (jobs * 10) as f64 / elapsed.as_secs_f64());
    Ok(())
}

async fn light_tasks(b: &Bench, label: &str) -> anyhow::Result<()> {
    let definition = steps(40, "fib_noop n: 10");
    // One warm-up run, then the measured one.
    let job = b.engine.launch("bench", &definition, Default::default(), None).await?;
    b.engine.wait_for(&job).await?;
    let started = Instant::now();
    let job = b.engine.launch("bench", &definition, Default::default(), None).await?;
    let record = b.engine.wait_for(&job).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(record.fields["fib"] == 55, "fib(10) is 55");
    println!("bench: {label}_40_light_tasks_wall = {:.1} ms", elapsed.as_secs_f64() * 1e3);
    if label == "sqlite" {
        prefect(elapsed);
    }
    Ok(())
}

/// The same flow in Prefect 3 (benches/prefect_40_tasks.py), when
/// MASTERMIND_PREFECT_PYTHON names a Python with `prefect` installed.
fn prefect(ours: Duration) {
    let Ok(python) = std::env::var("MASTERMIND_PREFECT_PYTHON") else {
        println!("bench: prefect_40_light_tasks_wall = skipped (set MASTERMIND_PREFECT_PYTHON)");
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/prefect_40_tasks.py");
    // Prefect's local server can take longer than its default 20 s to start
    // on a busy 2-core machine; this network has no telemetry endpoint.
    let out = std::process::Command::new(python)
        .arg(script)
        .env("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        .env("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        .stderr(std::process::Stdio::null())
        .output();
    let ms = out
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().last().and_then(|l| l.trim().parse::<f64>().ok()));
    match ms {
        Some(ms) => {
            println!("bench: prefect_40_light_tasks_wall = {ms:.1} ms");
            println!("bench: prefect_over_mastermind_40_light_tasks = {:.1} x", ms / (ours.as_secs_f64() * 1e3));
        }
        None => println!("bench: prefect_40_light_tasks_wall = failed"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(only) = std::env::var("MASTERMIND_BENCH_ONLY") {
        let unknown: Vec<&str> = only.split(',').filter(|p| !PARTS.contains(p)).collect();
        anyhow::ensure!(unknown.is_empty(), "MASTERMIND_BENCH_ONLY: no part {unknown:?} (parts: {PARTS:?})");
    }
    let dir = tempfile::tempdir()?;
    if runs("sqlite") {
        let sqlite = bench_engine(&format!("sqlite:{}", dir.path().join("bench.db").display())).await?;
        sequential(&sqlite, "sqlite").await?;
        light_tasks(&sqlite, "sqlite").await?;
        concurrent(&sqlite, "sqlite", 1000).await?;
        sqlite.stop.cancel();
    }
    if runs("full") {
        // The same with every commit fsynced (power-loss safe).
        let url = format!("sqlite:{}?durability=full", dir.path().join("bench-full.db").display());
        let full = bench_engine(&url).await?;
        sequential(&full, "sqlite_full_durability").await?;
        concurrent(&full, "sqlite_full_durability", 1000).await?;
        full.stop.cancel();
    }
    // PostgreSQL as the server syncs commits (`synchronous_commit = on`, its
    // default), then with `durability=normal` (off on the store's
    // connections).
    for (part, query, label) in
        [("postgres", "", "postgres"), ("postgres_normal", "?durability=normal", "postgres_normal")]
    {
        if runs(part) {
            postgres(query, label).await?;
        }
    }
    Ok(())
}

/// The sequential and concurrent runs on a fresh PostgreSQL database, its
/// URL ending with `query`; skipped when the server does not answer.
async fn postgres(query: &str, label: &str) -> anyhow::Result<()> {
    let admin = std::env::var("MASTERMIND_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let pool = match sqlx::AnyPool::connect(&admin).await {
        Ok(pool) => pool,
        Err(e) => {
            println!("bench: {label} skipped ({e})");
            return Ok(());
        }
    };
    let name = format!("mm_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await?;
    let url = format!("{}/{name}{query}", admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin));
    let pg = bench_engine(&url).await?;
    println!("bench: {label}_durability = {:?}", pg.engine.store().durability().await?);
    sequential(&pg, label).await?;
    concurrent(&pg, label, 1000).await?;
    pg.stop.cancel();
    pg.engine.store().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&pool).await?;
    Ok(())
}
