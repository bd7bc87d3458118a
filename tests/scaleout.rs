//! Scale-out: three `mastermind worker` processes share one PostgreSQL
//! database; one is killed (SIGKILL) mid-run. Every job completes, every
//! step completes exactly once, and a step is delivered again only if it
//! was in flight in the killed worker. And three engines sharing a
//! database split a tenant's call limit: it holds across them, and the
//! calls of jobs launched by one are spread over all three.

mod support;

use mastermind::capabilities::MemorySecrets;
use mastermind::engine::{Engine, EngineConfig, Event};
use mastermind::model::JobState;
use mastermind::sandbox::{Sandbox, SandboxConfig};
use mastermind::store::Store;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::HttpReceiver;
use support::engine::postgres_admin_url;
use tokio::sync::broadcast::error::RecvError;

const JOBS: usize = 12;
const STEPS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_a_database_and_survive_a_killed_one() {
    let receiver = HttpReceiver::start().await;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.expect("PostgreSQL for tests");
    let name = format!("mm_scale_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", postgres_admin_url().rsplit_once('/').unwrap().0);

    // Jobs are launched by a process that runs no worker.
    let store = Store::open(&url).await.unwrap();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let registry =
        mastermind::cli::builtin_registry(&sandbox, &[format!("http:http=127.0.0.1:{}", receiver.port)]).await.unwrap();
    let config = EngineConfig { exclusive: false, ..EngineConfig::default() };
    let launcher =
        Engine::new(store.clone(), Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config);
    let mut text = String::new();
    for i in 0..STEPS {
        text.push_str(&format!(
            "post_http url: '{}', body: {{ 'job' => '${{job}}', 'step' => {i} }}\nwait '100ms'\n",
            receiver.url("/step")
        ));
    }
    let definition = mastermind::language::parse("scale.mm", &text).unwrap();
    let mut jobs = Vec::new();
    for j in 0..JOBS {
        let fields = serde_json::json!({ "job": j }).as_object().cloned().unwrap();
        jobs.push(launcher.launch("test", &definition, fields, None).await.unwrap());
    }

    let dir = tempfile::tempdir().unwrap();
    let worker = || {
        tokio::process::Command::new(support::mastermind_bin())
            .args(["worker", "--db", &url, "--grant", &format!("http:http=127.0.0.1:{}", receiver.port)])
            .env("MASTERMIND_CACHE_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let mut workers = vec![worker(), worker(), worker()];
    // Kill one once the work is well under way.
    let started = Instant::now();
    while receiver.requests().len() < JOBS * STEPS / 4 {
        assert!(started.elapsed() < Duration::from_secs(90), "the workers did not start working");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers[0].kill().await.unwrap();

    let started = Instant::now();
    for job in &jobs {
        loop {
            let record = store.job(job).await.unwrap().unwrap();
            if record.state == JobState::Completed {
                break;
            }
            assert!(!matches!(record.state, JobState::Failed | JobState::Canceled), "{job}: {:?}", record.error);
            assert!(started.elapsed() < Duration::from_secs(90), "jobs did not complete after a worker was killed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let history = store.history(job).await.unwrap();
        let mut ok: HashMap<String, usize> = HashMap::new();
        for e in history.iter().filter(|e| e.ok) {
            *ok.entry(e.fei.clone()).or_default() += 1;
        }
        assert_eq!(ok.len(), STEPS, "{job}: every step completed");
        assert!(ok.values().all(|n| *n == 1), "{job}: a step completed twice");
    }
    // Each job runs one step at a time, so the killed worker held at most
    // one call per job: nothing else may have been delivered twice.
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for request in receiver.requests() {
        let body = request.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        *deliveries.entry(body).or_default() += 1;
    }
    assert_eq!(deliveries.len(), JOBS * STEPS, "every step was delivered");
    let repeated: usize = deliveries.values().map(|n| n - 1).sum();
    assert!(repeated <= JOBS, "{repeated} repeated deliveries");

    for w in &mut workers {
        let _ = w.kill().await;
    }
    launcher.store().close().await;
    store.close().await;
    let _ =
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
}

/// Three engines in this process sharing a fresh PostgreSQL database, each
/// with its own store, sandbox and registry.
struct SharedEngines {
    engines: Vec<Arc<Engine>>,
    /// A connection of the test's own, to look at the rows.
    raw: sqlx::AnyPool,
    admin: sqlx::AnyPool,
    name: String,
    stop: tokio_util::sync::CancellationToken,
}

impl SharedEngines {
    /// Starts the engines and waits until each counts the three of them.
    async fn start(config: EngineConfig) -> Self {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.expect("PostgreSQL for tests");
        let name = format!("mm_share_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        let url = format!("{}/{name}", postgres_admin_url().rsplit_once('/').unwrap().0);
        let mut engines = Vec::new();
        let stop = tokio_util::sync::CancellationToken::new();
        for _ in 0..3 {
            let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
            let registry = support::engine::registry(&sandbox).await;
            let store = Store::open(&url).await.unwrap();
            let engine = Engine::new(
                store,
                Arc::new(sandbox),
                Arc::new(registry),
                Arc::new(MemorySecrets::new()),
                config.clone(),
            );
            let (run, stop) = (engine.clone(), stop.clone());
            tokio::spawn(async move { run.run(stop).await.unwrap() });
            engines.push(engine);
        }
        let raw = sqlx::AnyPool::connect(&url).await.unwrap();
        let started = Instant::now();
        loop {
            let row = sqlx::query("SELECT COUNT(*) FROM workers").fetch_one(&raw).await.unwrap();
            if sqlx::Row::try_get::<i64, _>(&row, 0).unwrap() == 3 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the engines did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Once every engine has read the others' heartbeats.
        tokio::time::sleep(config.takeover_after / 5 + Duration::from_millis(500)).await;
        SharedEngines { engines, raw, admin, name, stop }
    }

    /// Launches `jobs` jobs of `text` through the first engine, all at once
    /// (as an API's clients would).
    async fn launch(&self, text: &str, jobs: usize) -> Vec<String> {
        let definition = Arc::new(mastermind::language::parse("share.mm", text).unwrap());
        let mut launches = tokio::task::JoinSet::new();
        for _ in 0..jobs {
            let (engine, definition) = (self.engines[0].clone(), definition.clone());
            launches.spawn(async move { engine.launch("test", &definition, Default::default(), None).await.unwrap() });
        }
        launches.join_all().await
    }

    /// Waits until every job completed; returns how many leased calls each
    /// engine (by worker id) was seen to hold, sampled all along.
    async fn sample_until_done(&self, jobs: &[String], limit: Duration) -> HashMap<String, usize> {
        let mut holders: HashMap<String, usize> = HashMap::new();
        let started = Instant::now();
        loop {
            let rows =
                sqlx::query("SELECT lease_owner FROM messages WHERE kind = 'dispatch' AND lease_owner IS NOT NULL")
                    .fetch_all(&self.raw)
                    .await
                    .unwrap();
            for row in rows {
                *holders.entry(sqlx::Row::try_get::<String, _>(&row, 0).unwrap()).or_default() += 1;
            }
            let row = sqlx::query(
                "SELECT COUNT(*) FILTER (WHERE state = 'completed'),
                        COUNT(*) FILTER (WHERE state IN ('failed', 'canceled'))
                 FROM jobs",
            )
            .fetch_one(&self.raw)
            .await
            .unwrap();
            let done = sqlx::Row::try_get::<i64, _>(&row, 0).unwrap() as usize;
            let failed = sqlx::Row::try_get::<i64, _>(&row, 1).unwrap();
            assert_eq!(failed, 0, "jobs failed or were canceled");
            if done == jobs.len() {
                return holders;
            }
            assert!(started.elapsed() < limit, "{done} of {} jobs completed in {limit:?}", jobs.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the engines and drops the database.
    async fn finish(self) {
        self.stop.cancel();
        self.raw.close().await;
        for engine in &self.engines {
            engine.store().close().await;
        }
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&self.admin).await;
    }
}

/// A tenant limited to 4 calls at once, its jobs launched by one of three
/// engines sharing a PostgreSQL database: at no moment do more than 4 of
/// its calls run in all (each engine runs its share: 2, 1 and 1), and all
/// three engines make calls, not only the one that launched the jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_holds_across_processes_and_calls_spread() {
    const LIMIT: usize = 4;
    const JOBS: usize = 16;
    const STEPS: usize = 3;
    // The engine's limit is its tenant's too (a single-tenant engine).
    let config = EngineConfig { exclusive: false, max_concurrent_calls: LIMIT, ..EngineConfig::default() };
    let cluster = SharedEngines::start(config).await;
    let jobs = cluster.launch(&"tester name: 'step', sleep_ms: 150\n".repeat(STEPS), JOBS).await;
    let holders = cluster.sample_until_done(&jobs, Duration::from_secs(60)).await;

    // The calls' spans as the history has them (taken once a slot was
    // held, ended before it was let go): never more than LIMIT at once.
    let store = cluster.engines[0].store();
    let mut edges = Vec::new();
    for job in &jobs {
        let history = store.history(job).await.unwrap();
        assert_eq!(history.iter().filter(|e| e.ok).count(), STEPS, "{job}");
        for e in history {
            edges.push((e.started_at, 1));
            edges.push((e.ended_at, -1));
        }
    }
    // Ends first at a tie: a span is [start, end).
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, change) in edges {
        running += change;
        most = most.max(running);
    }
    eprintln!("at most {most} calls at once; leases sampled per process: {holders:?}");
    assert!(most <= LIMIT as i32, "{most} calls ran at once, over the tenant's limit of {LIMIT}");
    assert!(most >= 2, "the calls ran one at a time ({most})");
    assert_eq!(holders.len(), 3, "every engine made calls, not only the launcher's: {holders:?}");
    cluster.finish().await;
}

/// A call that ends at once frees its slot at once, but its result waits
/// for the committers: the call keeps its place in its tenant's share
/// until its result is taken up (`dispatcher.rs`), so a process whose
/// committers lag leaves the tenant's next calls to the others. A thousand
/// short jobs launched at once through one of three engines sharing a
/// database run on all three, each a fair part (counted by the steps each
/// engine stored: a call's result is stored by the engine that made it,
/// which publishes its `step_finished`). Before, the launcher stored every
/// step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_calls_of_jobs_launched_by_one_spread_over_all() {
    const LIMIT: usize = 1024;
    const JOBS: usize = 1000;
    const STEPS: usize = 3;
    // The engine's limit is its tenant's too, the largest a server allows:
    // each engine's share, 341 or 342 calls, is more than one engine's
    // committers can keep busy with calls that end at once.
    let config = EngineConfig { exclusive: false, max_concurrent_calls: LIMIT, ..EngineConfig::default() };
    let cluster = SharedEngines::start(config).await;
    // Each engine's `step_finished` events, counted as they are published.
    let counted: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    for (engine, count) in cluster.engines.iter().zip(&counted) {
        let (mut events, count) = (engine.subscribe(), count.clone());
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) if matches!(e.event, Event::StepFinished { .. }) => count.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => 0,
                    Err(RecvError::Closed) => return,
                    // Never expected: the count would be short (asserted).
                    Err(RecvError::Lagged(_)) => return,
                };
            }
        });
    }
    let jobs = cluster.launch(&"tester name: 'step'\n".repeat(STEPS), JOBS).await;
    cluster.sample_until_done(&jobs, Duration::from_secs(120)).await;
    // Published just after the commits that completed the jobs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.finish().await;
    let steps: Vec<usize> = counted.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    eprintln!("steps stored per engine (the first launched the jobs): {steps:?}");
    assert_eq!(steps.iter().sum::<usize>(), JOBS * STEPS, "every step stored once");
    for (i, n) in steps.iter().enumerate() {
        assert!(*n * 100 >= JOBS * STEPS * 10, "engine {i} stored {n} of {} steps: {steps:?}", JOBS * STEPS);
    }
}
