//! An engine on a fresh database (SQLite file or PostgreSQL database) with
//! the test participants registered, for the engine's tests.

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::engine::{Engine, EngineConfig, Registry};
use mastermind::sandbox::{EngineConfig as PoolConfig, Sandbox, SandboxConfig};
use mastermind::store::{JobRecord, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("MASTERMIND_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct Harness {
    pub engine: Arc<Engine>,
    pub url: String,
    /// How engines are configured, at start and at each restart.
    config: EngineConfig,
    stop: CancellationToken,
    worker: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

pub async fn registry(sandbox: &Sandbox) -> Registry {
    let mut registry = Registry::new();
    for name in ["tester", "noop", "echo"] {
        let p = sandbox.load(&super::participant_bytes(name)).await.unwrap();
        registry.insert(p, Grants::default(), Vec::new());
    }
    registry
}

impl Harness {
    pub async fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_database) = match db {
            Db::Sqlite => (format!("sqlite:{}", dir.path().join("mm.db").display()), None),
            Db::Postgres => {
                let name = format!("mm_test_{}", uuid::Uuid::now_v7().simple());
                sqlx::any::install_default_drivers();
                let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.expect("PostgreSQL for tests");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
                admin.close().await;
                let base = postgres_admin_url();
                let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
                (url, Some(name))
            }
        };
        let config = EngineConfig { exclusive: url.starts_with("sqlite"), ..EngineConfig::default() };
        let mut h = Harness {
            engine: Self::engine(&url, config.clone()).await,
            url,
            config,
            stop: CancellationToken::new(),
            worker: None,
            _dir: dir,
            pg_database,
        };
        h.start();
        h
    }

    async fn engine(url: &str, config: EngineConfig) -> Arc<Engine> {
        let sandbox = Sandbox::new(SandboxConfig {
            engine: PoolConfig { max_instances: 128, ..PoolConfig::default() },
            ..SandboxConfig::default()
        })
        .unwrap();
        let registry = registry(&sandbox).await;
        let store = Store::open(url).await.unwrap();
        Engine::new(store, Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config)
    }

    fn start(&mut self) {
        let engine = self.engine.clone();
        let stop = self.stop.clone();
        self.worker = Some(tokio::spawn(async move {
            engine.run(stop).await.unwrap();
        }));
    }

    /// Stops this engine and starts a new one on the same database, as a
    /// restarted process would.
    pub async fn restart(&mut self) {
        self.stop.cancel();
        if let Some(w) = self.worker.take() {
            let _ = w.await;
        }
        self.stop = CancellationToken::new();
        self.engine = Self::engine(&self.url, self.config.clone()).await;
        self.start();
    }

    /// Restarts with a changed configuration (kept for later restarts).
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut EngineConfig)) {
        change(&mut self.config);
        self.restart().await;
    }

    pub async fn launch(&self, source: &str, fields: Value) -> String {
        let definition = mastermind::language::parse("test.mm", source).unwrap_or_else(|e| panic!("{e}"));
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.engine.launch("test", &definition, fields, None).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn wait(&self, job: &str) -> JobRecord {
        tokio::time::timeout(Duration::from_secs(30), self.engine.wait_for(job))
            .await
            .expect("job finishes in time")
            .unwrap()
    }

    /// Launches and waits.
    pub async fn run(&self, source: &str, fields: Value) -> JobRecord {
        let job = self.launch(source, fields).await;
        self.wait(&job).await
    }

    /// Launches, waits, and returns the job with the lines its `echo`s
    /// printed, in order (Ruote's tests read their tracer so).
    pub async fn trace(&self, source: &str, fields: Value) -> (JobRecord, Vec<String>) {
        use mastermind::engine::{Event, FlowEvent};
        let mut events = self.engine.subscribe();
        let job = self.run(source, fields).await;
        let mut echoes = Vec::new();
        // Events of the last batch may be published just after the job's
        // end is visible: read until its end event, or briefly for a job
        // that failed.
        let patience = if job.state.is_final() { Duration::from_secs(5) } else { Duration::from_millis(200) };
        let deadline = tokio::time::Instant::now() + patience;
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            if event.job_id != job.id {
                continue;
            }
            match event.event {
                Event::Flow(FlowEvent::Echo { text }) => echoes.push(text),
                Event::Flow(FlowEvent::Finished { .. }) => break,
                _ => {}
            }
        }
        (job, echoes)
    }

    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(w) = self.worker.take() {
            let _ = w.await;
        }
        if let Some(name) = self.pg_database.take() {
            self.engine.store().close().await;
            if let Ok(admin) = sqlx::AnyPool::connect(&postgres_admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&admin)
                    .await;
            }
        }
    }
}

/// The job completed (its error shown if not).
pub fn completed(job: &JobRecord) {
    assert_eq!(job.state, mastermind::model::JobState::Completed, "{:?}", job.error);
}

/// Runs `source` and checks the lines its echoes printed, as Ruote's
/// `assert_trace`; the job must complete.
pub async fn assert_trace(h: &Harness, source: &str, expected: &[&str]) -> JobRecord {
    let (job, echoes) = h.trace(source, Value::Object(Default::default())).await;
    completed(&job);
    assert_eq!(echoes, expected, "{source}");
    job
}

/// The `trail` field the tester participant builds.
pub fn trail(job: &JobRecord) -> Value {
    job.fields.get("trail").cloned().unwrap_or(Value::Array(Vec::new()))
}

/// `on_both!(name, |h| { ... })`: a test module `name` whose body runs as
/// `name::sqlite` and `name::postgres`, each on a fresh [`Harness`]; the
/// calling file imports `Db` and `Harness`.
#[allow(unused_macros)]
macro_rules! on_both {
    ($name:ident, |$h:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn case($h: &mut Harness) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut h = Harness::new(Db::Sqlite).await;
                case(&mut h).await;
                h.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut h = Harness::new(Db::Postgres).await;
                case(&mut h).await;
                h.finish().await;
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;
