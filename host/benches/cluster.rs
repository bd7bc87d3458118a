//! Several processes on one PostgreSQL database: prints `bench: NAME = VALUE
//! UNIT` lines. `mastermind serve` and two `mastermind worker`s share a fresh
//! database; the no-op participant is uploaded through the API, a job is 10
//! `noop_noop` steps, and 30 jobs warm up. Then:
//!
//! - One job of 500 steps alone, three times: the time per step (its
//!   launch-to-completion time over 500; the median of the three).
//! - Run A ("steady"): 1,000 jobs launched with `POST /v1/jobs` (at most 64
//!   requests in flight, none waiting for its job), the database polled every
//!   20 ms until all completed: the wall time from the first launch request
//!   to the last completion, steps/s (10,000 / wall), the launches' duration,
//!   and the gaps between a job's consecutive calls' `history.started_at`,
//!   p50/p99 (stored in whole ms: the decimal printed is always .0). Each
//!   process's share of the calls: the `dispatch` rows leased to it, sampled
//!   every 20 ms.
//! - Run B ("kill"): the same; once half its calls are done, worker 2 is
//!   SIGKILLed and left dead: wall, steps/s, the time from the kill until
//!   nothing is leased to it (its heartbeat must be `--takeover-after` old
//!   first) and until every job completed, and the dispatch rows leased to it
//!   right after the kill (at most these calls are made again).
//!
//! Both report the history rows beyond 10 per job, which must be 0 (a call
//! made again after a kill leaves one row too: the row is written with the
//! result, by the transaction that deletes the dispatch). The program fails
//! if a job fails or they do not all complete in 180 s.
//!
//! `cargo bench --bench cluster`. PostgreSQL from MASTERMIND_TEST_POSTGRES_URL
//! (default `postgres://postgres@127.0.0.1:5432/postgres`; unreachable: the
//! bench is skipped). MASTERMIND_BENCH_TAKEOVER (e.g. `2s`) is passed to every
//! process as `--takeover-after` (default 10 s); MASTERMIND_BENCH_DURABILITY
//! (`normal` or `full`) is added to their database URL as `durability=`
//! (default: the server's own `synchronous_commit`).

mod support;

use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const ADMIN_TOKEN: &str = "mm_bench_admin_token_abcdefghijklmnopqrstuvwxyz012345";
const SECRET_KEY: &str = "c2VjcmV0LWtleS1mb3ItdGhlLWFwaS10ZXN0cy0zMmI=";
const JOBS: usize = 1000;
const STEPS_PER_JOB: usize = 10;
const CALLS: usize = JOBS * STEPS_PER_JOB;
const LAUNCHES_IN_FLIGHT: usize = 64;
const WARM_UP_JOBS: usize = 30;
const SEQUENTIAL_STEPS: usize = 500;
const POLL: Duration = Duration::from_millis(20);
const RUN_LIMIT: Duration = Duration::from_secs(180);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("MASTERMIND_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let connecting = PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5));
    let admin = match connecting.connect(&admin_url).await {
        Ok(pool) => pool,
        Err(error) => {
            println!("bench: cluster skipped ({error})");
            return Ok(());
        }
    };
    let name = format!("mm_bench_cluster_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
    let result = bench(&format!("{base}/{name}")).await;
    // The processes are killed by now (or being killed): FORCE ends whatever
    // connections they still have.
    let dropped =
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
    admin.close().await;
    result?;
    dropped?;
    Ok(())
}

async fn bench(db_url: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = PgPoolOptions::new().max_connections(2).connect(db_url).await?;
    let takeover = std::env::var("MASTERMIND_BENCH_TAKEOVER").ok();
    println!("bench: cluster_takeover_after = {}", takeover.as_deref().unwrap_or("10s (default)"));
    // The processes' URL: the server's own durability, or the one asked for.
    let durability = std::env::var("MASTERMIND_BENCH_DURABILITY").ok();
    println!("bench: cluster_durability = {}", durability.as_deref().unwrap_or("the server's (default)"));
    let processes_url = match &durability {
        Some(d) => format!("{db_url}?durability={d}"),
        None => db_url.to_owned(),
    };
    let mut cluster = Cluster { db_url: processes_url, dir: dir.path().to_owned(), takeover, processes: Vec::new() };
    let result = measure(&mut cluster, &db).await;
    if result.is_err() {
        eprintln!("{}", cluster.log_tails());
    }
    for process in &mut cluster.processes {
        if let Some(mut child) = process.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
    }
    db.close().await;
    result
}

async fn measure(cluster: &mut Cluster, db: &PgPool) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let api = Api { http: reqwest::Client::new(), url: format!("http://127.0.0.1:{port}") };
    cluster.spawn(db, "serve", Some(port), &api).await?;
    cluster.spawn(db, "worker1", None, &api).await?;
    cluster.spawn(db, "worker2", None, &api).await?;
    let workers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workers").fetch_one(db).await?;
    anyhow::ensure!(workers == 3, "{workers} rows in `workers`, expected 3");
    // Each process reads who is alive at its heartbeat (a fifth of the
    // takeover time, 2 s by default): wait for every one to know all three.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let limits = json!({ "max_concurrent_calls": 1024, "launches_per_second": 10000 });
    let tenant = api.post(ADMIN_TOKEN, "/v1/tenants", json!({ "name": "bench", "limits": limits })).await?;
    let path = format!("/v1/tenants/{}/tokens", text(&tenant, "id")?);
    let token = text(&api.post(ADMIN_TOKEN, &path, json!({ "name": "bench", "scopes": ["admin"] })).await?, "token")?;

    let noop = std::fs::read(Path::new(env!("MASTERMIND_PARTICIPANTS_DIR")).join("noop.wasm"))?;
    let wasm = base64::engine::general_purpose::STANDARD.encode(noop);
    support::upload_participant(&api.http, &api.url, &token, json!({ "wasm": wasm })).await?;
    let source = "noop_noop\n".repeat(STEPS_PER_JOB);
    api.post(&token, "/v1/definitions", json!({ "name": "ten", "source": source })).await?;

    // Warm up: every process's tenant runtime, connections, caches.
    let warm_up = futures::future::try_join_all(
        (0..WARM_UP_JOBS).map(|_| api.post(&token, "/v1/jobs?wait=60", json!({ "definition": "ten" }))),
    )
    .await?;
    let unfinished = warm_up.iter().filter(|job| job["state"] != "completed").count();
    anyhow::ensure!(unfinished == 0, "{unfinished} warm-up jobs did not complete");

    // One job alone: the time a step takes when nothing else runs.
    let source = "noop_noop\n".repeat(SEQUENTIAL_STEPS);
    api.post(&token, "/v1/definitions", json!({ "name": "sequential", "source": source })).await?;
    let mut per_step = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let job = api.post(&token, "/v1/jobs?wait=60", json!({ "definition": "sequential" })).await?;
        anyhow::ensure!(job["state"] == "completed", "the sequential job: {job}");
        per_step.push(started.elapsed().as_secs_f64() * 1e3 / SEQUENTIAL_STEPS as f64);
    }
    per_step.sort_by(f64::total_cmp);
    println!("bench: cluster_sequential_{SEQUENTIAL_STEPS}_steps_per_step = {:.3} ms (median of 3 jobs)", per_step[1]);

    let steady = run(cluster, db, &api, &token, false).await?;
    let wall = steady.wall.as_secs_f64();
    println!("bench: cluster_steady_wall = {wall:.2} s");
    println!("bench: cluster_steady_steps_per_second = {:.0} steps/s", CALLS as f64 / wall);
    println!("bench: cluster_steady_launch = {:.2} s", steady.launch.as_secs_f64());
    let gaps = step_gaps(db, &steady.jobs).await?;
    println!("bench: cluster_steady_step_p50 = {:.1} ms", percentile(&gaps, 0.50));
    println!("bench: cluster_steady_step_p99 = {:.1} ms", percentile(&gaps, 0.99));
    cluster.print_shares("cluster_calls_share", &steady.leases);
    let twice = results_beyond_ten(db, &steady.jobs).await?;
    println!("bench: cluster_steady_history_beyond_10 = {twice} calls");
    anyhow::ensure!(twice == 0, "{twice} calls recorded twice without a kill");

    let kill = run(cluster, db, &api, &token, true).await?;
    let killed = kill.kill.ok_or_else(|| anyhow::anyhow!("run B ended before worker 2 was killed"))?;
    let wall = kill.wall.as_secs_f64();
    println!("bench: cluster_kill_wall = {wall:.2} s");
    println!("bench: cluster_kill_steps_per_second = {:.0} steps/s", CALLS as f64 / wall);
    println!("bench: cluster_kill_launch = {:.2} s", kill.launch.as_secs_f64());
    let released = killed.released.unwrap_or_default().as_secs_f64();
    println!("bench: cluster_kill_released = {released:.2} s after the kill");
    println!("bench: cluster_kill_completed = {:.2} s after the kill", killed.completed.as_secs_f64());
    println!("bench: cluster_kill_calls_leased_to_dead = {} calls", killed.leased);
    let twice = results_beyond_ten(db, &kill.jobs).await?;
    println!("bench: cluster_kill_history_beyond_10 = {twice} calls");
    // `run` returns only once every job completed.
    println!("bench: cluster_kill_jobs_completed = {JOBS} of {JOBS} jobs");
    cluster.print_shares("cluster_kill_calls_share", &kill.leases);
    anyhow::ensure!(twice == 0, "{twice} calls recorded twice after the kill");
    Ok(())
}

/// One run's figures.
struct Run {
    jobs: Vec<String>,
    /// From the first launch request to the poll that found every job completed.
    wall: Duration,
    /// From the first launch request to the last launch's answer.
    launch: Duration,
    /// Per lease owner, the dispatch rows leased to it, summed over samples.
    leases: HashMap<String, i64>,
    kill: Option<Killed>,
}

struct Killed {
    at: Instant,
    worker_id: String,
    /// The dispatch rows leased to it right after the kill: at most these
    /// calls are made again.
    leased: i64,
    /// From the kill until nothing was leased to the dead worker.
    released: Option<Duration>,
    /// From the kill until every job completed.
    completed: Duration,
}

/// Launches the jobs and polls the database until they all completed; with
/// `kill`, SIGKILLs worker 2 once half the run's calls are done.
async fn run(cluster: &mut Cluster, db: &PgPool, api: &Api, token: &str, kill: bool) -> anyhow::Result<Run> {
    // Every history row after this one is this run's (the earlier jobs are over).
    let watermark: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM history").fetch_one(db).await?;
    let jobs = Arc::new(Mutex::new(Vec::with_capacity(JOBS)));
    let started = Instant::now();
    let mut launcher = tokio::spawn(launch_all(api.clone(), token.to_owned(), jobs.clone()));
    let mut launch = None;
    let mut leases: HashMap<String, i64> = HashMap::new();
    let mut killed: Option<Killed> = None;
    let mut all_completed = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let sql = "SELECT lease_owner, COUNT(*) FROM messages
                   WHERE kind = 'dispatch' AND lease_owner IS NOT NULL GROUP BY lease_owner";
        for (owner, count) in sqlx::query_as::<_, (String, i64)>(sql).fetch_all(db).await? {
            *leases.entry(owner).or_default() += count;
        }
        if launch.is_none() && launcher.is_finished() {
            launch = Some((&mut launcher).await??);
        }
        let ids = jobs.lock().map_err(|_| anyhow::anyhow!("the launcher panicked"))?.clone();
        let sql = "SELECT COUNT(*) FILTER (WHERE state = 'completed'),
                          COUNT(*) FILTER (WHERE state NOT IN ('completed', 'running', 'pending'))
                   FROM jobs WHERE id = ANY($1)";
        let (completed, ended_otherwise): (i64, i64) = sqlx::query_as(sql).bind(&ids).fetch_one(db).await?;
        anyhow::ensure!(ended_otherwise == 0, "{ended_otherwise} jobs ended and did not complete");
        if launch.is_some() && completed == JOBS as i64 && all_completed.is_none() {
            all_completed = Some(Instant::now());
        }
        let calls = "SELECT COUNT(*) FROM history WHERE id > $1";
        if kill && killed.is_none() && number(db, calls, watermark).await? >= (CALLS / 2) as i64 {
            killed = Some(cluster.kill(db, "worker2").await?);
        }
        if let Some(dead) = killed.as_mut().filter(|k| k.released.is_none()) {
            let held = "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner = $1)
                             + (SELECT COUNT(*) FROM messages WHERE kind = 'dispatch' AND lease_owner = $1)";
            if number(db, held, dead.worker_id.as_str()).await? == 0 {
                dead.released = Some(dead.at.elapsed());
            }
        }
        if let (Some(done), Some(launch)) = (all_completed, launch)
            && killed.as_ref().is_none_or(|k| k.released.is_some())
            && (!kill || killed.is_some())
        {
            let kill = killed.map(|k| Killed { completed: done - k.at, ..k });
            return Ok(Run { jobs: ids, wall: done - started, launch, leases, kill });
        }
        anyhow::ensure!(
            started.elapsed() < RUN_LIMIT,
            "{completed} of {} launched jobs completed within {RUN_LIMIT:?}",
            ids.len()
        );
    }
}

/// `JOBS` launches, `LAUNCHES_IN_FLIGHT` at a time; their ids go to `jobs`.
/// Returns how long they took.
async fn launch_all(api: Api, token: String, jobs: Arc<Mutex<Vec<String>>>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut launches = futures::stream::iter(0..JOBS)
        .map(|_| api.post(&token, "/v1/jobs", json!({ "definition": "ten" })))
        .buffer_unordered(LAUNCHES_IN_FLIGHT);
    while let Some(job) = launches.next().await {
        let id = text(&job?, "id")?;
        jobs.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(id);
    }
    Ok(started.elapsed())
}

/// Each job's gaps between consecutive calls' starts, in ms, sorted.
async fn step_gaps(db: &PgPool, jobs: &[String]) -> anyhow::Result<Vec<i64>> {
    let sql =
        "SELECT gap FROM (SELECT started_at - LAG(started_at) OVER (PARTITION BY job_id ORDER BY started_at) AS gap
                                FROM history WHERE job_id = ANY($1)) gaps
               WHERE gap IS NOT NULL ORDER BY gap";
    Ok(sqlx::query_scalar(sql).bind(jobs).fetch_all(db).await?)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    let index = ((sorted.len().max(1) - 1) as f64 * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default() as f64
}

/// History rows beyond 10 per job: calls whose result was recorded twice.
async fn results_beyond_ten(db: &PgPool, jobs: &[String]) -> anyhow::Result<i64> {
    let sql = "SELECT COALESCE(SUM(GREATEST(calls - 10, 0)), 0)::BIGINT
               FROM (SELECT COUNT(*) AS calls FROM history WHERE job_id = ANY($1) GROUP BY job_id) per_job";
    number(db, sql, jobs).await
}

/// The number a query answers, `$1` bound to `value`.
async fn number<'q, T>(db: &PgPool, sql: &'static str, value: T) -> anyhow::Result<i64>
where
    T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    Ok(sqlx::query_scalar(sql).bind(value).fetch_one(db).await?)
}

/// A string member of an API answer.
fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    value[key].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no `{key}` in {value}"))
}

/// The JSON API, as the benchmark's client.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, token: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        Self::answer(self.http.post(format!("{}{path}", self.url)).bearer_auth(token).json(&body)).await
    }

    async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{status}: {body}");
        Ok(body)
    }
}

/// A `mastermind serve` or `mastermind worker`, and its worker id (the lease
/// owner its rows carry).
struct Process {
    name: String,
    child: Option<Child>,
    worker_id: String,
}

/// The processes sharing the database; each one's stderr goes to
/// `dir/NAME.log`.
struct Cluster {
    db_url: String,
    dir: PathBuf,
    takeover: Option<String>,
    processes: Vec<Process>,
}

impl Cluster {
    /// Starts `serve` (with `listen`: ready once `/readyz` answers) or a
    /// worker, and waits for its row in `workers`.
    async fn spawn(&mut self, db: &PgPool, name: &str, listen: Option<u16>, api: &Api) -> anyhow::Result<()> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mastermind"));
        match listen {
            Some(port) => command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]),
            None => command.arg("worker"),
        };
        command.args(["--db", &self.db_url]);
        if let Some(takeover) = &self.takeover {
            command.args(["--takeover-after", takeover]);
        }
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let mut child = command
            .env("MASTERMIND_SECRET_KEY", SECRET_KEY)
            .env("MASTERMIND_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("MASTERMIND_CACHE_DIR", self.dir.join("cache"))
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let started = Instant::now();
        let mut ready = listen.is_none();
        let worker_id = loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{name} exited ({status})");
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "{name} did not start within 120 s");
            tokio::time::sleep(POLL).await;
            if !ready {
                ready = api.http.get(format!("{}/readyz", api.url)).send().await.is_ok_and(|r| r.status().is_success());
                continue;
            }
            let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM workers").fetch_all(db).await?;
            // The new row: the database is fresh, every other row is a process's of ours.
            if let Some(id) = ids.into_iter().find(|id| self.processes.iter().all(|p| &p.worker_id != id)) {
                break id;
            }
        };
        self.processes.push(Process { name: name.to_owned(), child: Some(child), worker_id });
        Ok(())
    }

    /// SIGKILL, and the dispatch rows still leased to the dead worker.
    async fn kill(&mut self, db: &PgPool, name: &str) -> anyhow::Result<Killed> {
        let process = self.processes.iter_mut().find(|p| p.name == name).ok_or_else(|| anyhow::anyhow!("no {name}"))?;
        let mut child = process.child.take().ok_or_else(|| anyhow::anyhow!("{name} is not running"))?;
        let at = Instant::now();
        child.start_kill()?;
        child.wait().await?;
        // A COMMIT sent just before the kill may still be processed; nothing
        // of the dead worker's is taken over for a second at least.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sql = "SELECT COUNT(*) FROM messages WHERE kind = 'dispatch' AND lease_owner = $1";
        let leased = number(db, sql, process.worker_id.as_str()).await?;
        let worker_id = process.worker_id.clone();
        Ok(Killed { at, worker_id, leased, released: None, completed: Duration::ZERO })
    }

    /// Each process's share of the sampled dispatch leases, in %.
    fn print_shares(&self, prefix: &str, leases: &HashMap<String, i64>) {
        let total = leases.values().sum::<i64>().max(1) as f64;
        for process in &self.processes {
            let leased = leases.get(&process.worker_id).copied().unwrap_or_default() as f64;
            println!("bench: {prefix}_{} = {:.1} %", process.name, 100.0 * leased / total);
        }
    }

    /// The last lines each process wrote to stderr.
    fn log_tails(&self) -> String {
        let tail = |name: &str| {
            let log = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<String> = log.lines().map(|line| format!("{name}: {line}")).collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        self.processes.iter().map(|p| tail(&p.name)).collect::<Vec<_>>().join("\n")
    }
}
