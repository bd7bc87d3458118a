//! Scale-out: three `mastermind worker` processes share one PostgreSQL
//! database; one is killed (SIGKILL) mid-run. Every job completes, every
//! step completes exactly once, and a step is delivered again only if it
//! was in flight in the killed worker. And three engines sharing a
//! database split a tenant's call limit: it holds across them, and the
//! calls of jobs launched by one are spread over all three.

mod support;

use mastermind::capabilities::MemorySecrets;
use mastermind::engine::{Engine, EngineConfig};
use mastermind::model::JobState;
use mastermind::sandbox::{Sandbox, SandboxConfig};
use mastermind::store::Store;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::HttpReceiver;
use support::engine::postgres_admin_url;

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

/// A tenant limited to 4 calls at once, its jobs launched by one of three
/// engines sharing a PostgreSQL database: at no moment do more than 4 of
/// its calls run in all (each engine runs its share: 2, 1 and 1), and all
/// three engines make calls, not only the one that launched the jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_holds_across_processes_and_calls_spread() {
    const LIMIT: usize = 4;
    const JOBS: usize = 16;
    const STEPS: usize = 3;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.expect("PostgreSQL for tests");
    let name = format!("mm_share_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", postgres_admin_url().rsplit_once('/').unwrap().0);

    // The engine's limit is its tenant's too (a single-tenant engine).
    let config = EngineConfig { exclusive: false, max_concurrent_calls: LIMIT, ..EngineConfig::default() };
    let mut engines = Vec::new();
    let stop = tokio_util::sync::CancellationToken::new();
    for _ in 0..3 {
        let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
        let registry = support::engine::registry(&sandbox).await;
        let store = Store::open(&url).await.unwrap();
        let engine =
            Engine::new(store, Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config.clone());
        let (run, stop) = (engine.clone(), stop.clone());
        tokio::spawn(async move { run.run(stop).await.unwrap() });
        engines.push(engine);
    }
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    // Every engine sees the three before the jobs come.
    let started = Instant::now();
    loop {
        let row = sqlx::query("SELECT COUNT(*) FROM workers").fetch_one(&raw).await.unwrap();
        if sqlx::Row::try_get::<i64, _>(&row, 0).unwrap() == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the engines did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(EngineConfig::default().takeover_after / 5 + Duration::from_millis(500)).await;

    let text = "tester name: 'step', sleep_ms: 150\n".repeat(STEPS);
    let definition = mastermind::language::parse("share.mm", &text).unwrap();
    let mut jobs = Vec::new();
    for _ in 0..JOBS {
        jobs.push(engines[0].launch("test", &definition, Default::default(), None).await.unwrap());
    }
    // Who holds the calls' leases, sampled until every job is done.
    let mut holders: HashMap<String, usize> = HashMap::new();
    let store = engines[0].store().clone();
    let started = Instant::now();
    loop {
        let rows = sqlx::query("SELECT lease_owner FROM messages WHERE kind = 'dispatch' AND lease_owner IS NOT NULL")
            .fetch_all(&raw)
            .await
            .unwrap();
        for row in rows {
            *holders.entry(sqlx::Row::try_get::<String, _>(&row, 0).unwrap()).or_default() += 1;
        }
        let mut done = 0;
        for job in &jobs {
            let record = store.job(job).await.unwrap().unwrap();
            assert!(!matches!(record.state, JobState::Failed | JobState::Canceled), "{job}: {:?}", record.error);
            done += usize::from(record.state == JobState::Completed);
        }
        if done == JOBS {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{done} of {JOBS} jobs completed in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();

    // The calls' spans as the history has them (taken once a slot was
    // held, ended before it was let go): never more than LIMIT at once.
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

    raw.close().await;
    for engine in &engines {
        engine.store().close().await;
    }
    let _ =
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
}
