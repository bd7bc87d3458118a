//! Kills (issue #11, "Proof"): real `mastermind` processes running many jobs
//! are killed with SIGKILL at random moments and restarted, and nothing is
//! lost or done twice that should not be.
//!
//! - SQLite: one `mastermind worker` on one database file, killed and
//!   restarted on the same file several times.
//! - PostgreSQL: `mastermind serve` and two `mastermind worker`s on one
//!   database; each round one of them, at random, is killed and restarted.
//!
//! Every step of every job posts `{job, step}` to this test's loopback
//! receiver with the `http` participant, so each delivery is counted. The
//! definitions use a concurrence, timers, and retries (the receiver answers
//! the first delivery of a "flaky" step 503, a retryable error). The
//! receiver answers a while after it counted a request, so kills find calls
//! delivered and not finished; if no kill of a test interrupted a call, it
//! kills again (up to twice as many times).
//!
//! On SQLite the restarted process takes up everything at once (it owns the
//! file). On PostgreSQL a restarted process is a new worker: the dead one's
//! jobs and calls are taken over once its heartbeat is stale (10 s, or
//! `--takeover-after`: the last test), by whichever process claims them
//! first.
//!
//! At the end every job completed; every step has exactly one successful
//! history entry and one successful `step_finished` event; each job's events
//! are numbered without gaps and end with `finished`; every step was
//! delivered (a flaky one at least twice), each time with the same
//! idempotency key; and the deliveries beyond those are at most the calls in
//! flight in the killed processes.
//!
//! The bound: a call is made again only if its `dispatch` row was still
//! stored, leased to the killed process, when it died — the row is deleted
//! in the transaction that stores the call's result, so a call whose result
//! was committed is never made again, and a row leased to a live process is
//! not taken over. So the repeated deliveries are at most the sum, over the
//! kills, of the dispatch rows leased to the killed process at the moment of
//! the kill (read from the database right after it). That is at most
//! kills × the calls one process can have in flight: min(256 call slots, the
//! concurrent branches of all jobs = 10 × 3 + 10 × 2 + 10 × 1 = 60).
//!
//! Printed (`--nocapture`): the seed; each kill: its victim, how soon the
//! victim was back at work, the calls it had in flight, and how long until
//! the jobs only it could move (those that had started and had a step left)
//! got their next delivery, and until its calls were made again; and the
//! totals: jobs completed, kills, repeated deliveries, run time.
//! MASTERMIND_TEST_SEED=N reruns a seed (kill moments and the jobs' timers;
//! the processes' own timing still varies).

mod support;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::engine::{Engine, EngineConfig, Registry};
use mastermind::model::JobState;
use mastermind::sandbox::{Sandbox, SandboxConfig};
use mastermind::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::HttpReceiver;
use support::engine::postgres_admin_url;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const JOBS: usize = 30;
const SQLITE_KILLS: usize = 5;
const POSTGRES_KILLS: usize = 4;
/// The calls one process can have in flight: every job's concurrent
/// branches (see [`definitions`]), below the engine's 256 call slots.
const MAX_IN_FLIGHT: usize = (JOBS / 3) * 3 + (JOBS / 3) * 2 + (JOBS / 3);
/// How long the receiver takes to answer (after it counted the delivery),
/// so that a kill finds calls delivered but not finished: SQLite's one
/// process is busier than each of PostgreSQL's three.
const SQLITE_REPLY_DELAY: Duration = Duration::from_millis(250);
const POSTGRES_REPLY_DELAY: Duration = Duration::from_millis(600);

/// The two tests kill processes on a 2-core machine: one at a time, so
/// each measures its own resumption rather than the other's load.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Each definition's steps: the name it posts and whether it is flaky.
const STEPS: [&[(&str, bool)]; 3] = [
    &[("f1", false), ("f2", false), ("f3", false), ("f4", false), ("f5", false)],
    &[("r1", true), ("r2", false), ("r3", true), ("r4", false)],
    &[("s1", false), ("s2", false), ("s3", false), ("s4", false)],
];

fn flaky(step: &str) -> bool {
    STEPS.iter().flat_map(|s| s.iter()).any(|(name, f)| *name == step && *f)
}

/// The definitions (job `j` runs number `j % 3`). `start` staggers the jobs
/// over the kill rounds; `pause` is each job's timer.
fn definitions(url: &str) -> Vec<String> {
    let post = |step: &str| {
        if flaky(step) {
            format!(
                "post_http url: '{url}', body: {{ 'job' => '${{job}}', 'step' => '{step}', 'flaky' => true }}, on_error: '150ms: retry * 3'"
            )
        } else {
            format!("post_http url: '{url}', body: {{ 'job' => '${{job}}', 'step' => '{step}' }}")
        }
    };
    let lines = |lines: &[String]| lines.join("\n");
    vec![
        // Fan-out: three branches at once, one behind a timer.
        lines(&[
            "wait '${start}'".into(),
            post("f1"),
            "concurrence do".into(),
            format!("  {}", post("f2")),
            "  sequence do".into(),
            "    wait '${pause}'".into(),
            format!("    {}", post("f3")),
            "  end".into(),
            format!("  {}", post("f4")),
            "end".into(),
            "wait '${pause}'".into(),
            post("f5"),
        ]),
        // Retries: flaky steps, one of them in a concurrence.
        lines(&[
            "wait '${start}'".into(),
            post("r1"),
            "wait '${pause}'".into(),
            "concurrence do".into(),
            format!("  {}", post("r2")),
            format!("  {}", post("r3")),
            "end".into(),
            post("r4"),
        ]),
        // A sequence of steps and timers.
        lines(&[
            "wait '${start}'".into(),
            post("s1"),
            "wait '${pause}'".into(),
            post("s2"),
            "wait '${pause}'".into(),
            post("s3"),
            "wait '${pause}'".into(),
            post("s4"),
        ]),
    ]
}

/// One request the receiver got: its `{job, step}` body and idempotency key.
struct Delivery {
    at: Instant,
    job: String,
    step: String,
    key: String,
}

/// `None` for a request cut short by a kill (its body is not JSON).
fn parse(at: Instant, request: &str) -> Option<Delivery> {
    let (head, body) = request.split_once("\r\n\r\n")?;
    let body: Value = serde_json::from_str(body).ok()?;
    let key = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("idempotency-key:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    Some(Delivery { at, job: body["job"].as_str()?.to_owned(), step: body["step"].as_str()?.to_owned(), key })
}

/// A receiver that answers 503 to the first complete delivery of each flaky
/// step (and to anything it cannot read), 200 otherwise; each `delay` after
/// the request.
async fn receiver(delay: Duration) -> HttpReceiver {
    let failed: Mutex<HashSet<(String, String)>> = Mutex::new(HashSet::new());
    HttpReceiver::start_answering(delay, move |request| match parse(Instant::now(), request) {
        Some(d) if flaky(&d.step) && failed.lock().unwrap().insert((d.job.clone(), d.step.clone())) => 503,
        Some(_) => 200,
        None => 503,
    })
    .await
}

fn seed() -> u64 {
    let seed = std::env::var("MASTERMIND_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("seed {seed} (MASTERMIND_TEST_SEED reruns it)");
    seed
}

/// Where every test's `mastermind` keeps compiled components (shared with
/// tests/support/server.rs: entries are authenticated, written atomically).
fn compiled_cache() -> PathBuf {
    std::env::temp_dir().join("mastermind-test-compiled")
}

/// Stores the jobs, started by no process: whichever runs claims them.
/// Job `j` runs definition `j % 3`, its first step after `start` (up to
/// `stagger_ms`), its timers of `pause` (in `pause_ms`).
async fn launch(
    store: &Store,
    receiver: &HttpReceiver,
    rng: &mut StdRng,
    stagger_ms: u64,
    pause_ms: std::ops::Range<u64>,
) -> Vec<(String, usize)> {
    let sandbox =
        Sandbox::new(SandboxConfig { cache_dir: Some(compiled_cache()), ..SandboxConfig::default() }).unwrap();
    let http = sandbox.load(&support::participant_bytes("http")).await.unwrap();
    let mut registry = Registry::new();
    registry.insert(http, Grants::parse(&[format!("http=127.0.0.1:{}", receiver.port)]).unwrap(), Vec::new());
    let config = EngineConfig { exclusive: false, ..EngineConfig::default() };
    let launcher =
        Engine::new(store.clone(), Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config);
    let definitions: Vec<_> = definitions(&receiver.url("/step"))
        .iter()
        .map(|text| mastermind::language::parse("kills.mm", text).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut jobs = Vec::new();
    for j in 0..JOBS {
        let kind = j % STEPS.len();
        let fields = json!({
            "job": j.to_string(),
            "start": format!("{}ms", rng.random_range(0..stagger_ms)),
            "pause": format!("{}ms", rng.random_range(pause_ms.clone())),
        });
        let fields = fields.as_object().cloned().unwrap();
        jobs.push((launcher.launch("test", &definitions[kind], fields, None).await.unwrap(), kind));
    }
    jobs
}

/// A `mastermind serve` or `mastermind worker`, and its worker id (the
/// lease owner its rows carry).
struct Process {
    name: String,
    serve: bool,
    child: Option<Child>,
    worker_id: String,
}

impl Process {
    fn new(name: &str, serve: bool) -> Process {
        Process { name: name.to_owned(), serve, child: None, worker_id: String::new() }
    }
}

/// What a kill left: when, whom, the calls its process had in flight (the
/// dispatch rows leased to it: job, step) and the jobs only it could move.
struct Kill {
    at: Instant,
    victim: String,
    in_flight: Vec<(String, String)>,
    held: HashSet<String>,
    /// From the kill until the restarted process worked.
    restarted: Duration,
}

/// The processes' shared settings, a raw connection to their database (for
/// worker ids and leases), and their output.
struct Cluster {
    db: String,
    sqlite: bool,
    grant: String,
    data_dir: PathBuf,
    raw: sqlx::AnyPool,
    output: Arc<Mutex<Vec<String>>>,
    /// More arguments for every process.
    extra: Vec<String>,
}

impl Cluster {
    async fn new(db: &str, receiver: &HttpReceiver, dir: &Path) -> Cluster {
        sqlx::any::install_default_drivers();
        let raw = sqlx::any::AnyPoolOptions::new().max_connections(2).connect(db).await.unwrap();
        Cluster {
            db: db.to_owned(),
            sqlite: db.starts_with("sqlite"),
            grant: format!("http:http=127.0.0.1:{}", receiver.port),
            data_dir: dir.join("data"),
            raw,
            output: Arc::new(Mutex::new(Vec::new())),
            extra: Vec::new(),
        }
    }

    async fn worker_ids(&self) -> HashSet<String> {
        let rows = sqlx::query("SELECT id FROM workers").fetch_all(&self.raw).await.unwrap();
        rows.iter().map(|r| r.try_get::<String, _>(0).unwrap()).collect()
    }

    /// Starts the process and waits until it works (its worker heartbeats).
    async fn spawn(&self, process: &mut Process) {
        let before = self.worker_ids().await;
        let mut cmd = Command::new(support::mastermind_bin());
        if process.serve {
            cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", support::free_port())]);
        } else {
            cmd.arg("worker");
        }
        cmd.args(["--db", &self.db, "--grant", &self.grant])
            .args(&self.extra)
            .env("MASTERMIND_CACHE_DIR", compiled_cache())
            .env("XDG_DATA_HOME", &self.data_dir)
            .env("MASTERMIND_SECRET_KEY", "c2VjcmV0LWtleS1mb3ItdGhlLWFwaS10ZXN0cy0zMmI=")
            .env("MASTERMIND_ADMIN_TOKEN", support::server::ADMIN_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("starting mastermind");
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (output, name) = (self.output.clone(), process.name.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(format!("{name}: {line}"));
                }
            });
        }
        let started = Instant::now();
        process.worker_id = loop {
            if let Some(id) = self.worker_ids().await.difference(&before).next() {
                break id.clone();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited ({status}):\n{}", process.name, self.tail());
            }
            assert!(started.elapsed() < Duration::from_secs(90), "{} did not start:\n{}", process.name, self.tail());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        process.child = Some(child);
    }

    /// SIGKILL; then reads what the process left in the database.
    async fn kill(&self, process: &mut Process) -> Kill {
        let mut child = process.child.take().expect("a running process");
        let at = Instant::now();
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        if !self.sqlite {
            // A COMMIT the process sent just before it died may still be
            // processed by PostgreSQL; nothing of the dead process's is
            // taken over for seconds yet.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let dead = process.worker_id.as_str();
        // Every call journaled and not finished, and who holds it.
        let rows = sqlx::query("SELECT job_id, body, lease_owner FROM messages WHERE kind = 'dispatch'")
            .fetch_all(&self.raw)
            .await
            .unwrap();
        let mut in_flight = Vec::new();
        let mut elsewhere = HashSet::new();
        for row in &rows {
            let job: String = row.try_get(0).unwrap();
            let body: Value = serde_json::from_str(&row.try_get::<String, _>(1).unwrap()).unwrap();
            let owner: Option<String> = row.try_get(2).unwrap();
            if owner.as_deref() == Some(dead) {
                let step = body["params"]["body"]["step"].as_str().unwrap_or_default().to_owned();
                in_flight.push((job, step));
            } else {
                elsewhere.insert(job);
            }
        }
        // The jobs that wait for the dead process: on SQLite every running
        // job (nothing runs until it is back); on PostgreSQL those whose
        // lease or every pending call it held (the others' calls move on).
        let held = if self.sqlite {
            let rows = sqlx::query("SELECT id FROM jobs WHERE state = 'running'").fetch_all(&self.raw).await.unwrap();
            rows.iter().map(|r| r.try_get::<String, _>(0).unwrap()).collect()
        } else {
            let sql = format!("SELECT id FROM jobs WHERE state = 'running' AND lease_owner = '{dead}'");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.raw).await.unwrap();
            let leased = rows.iter().map(|r| r.try_get::<String, _>(0).unwrap());
            leased.chain(in_flight.iter().map(|(job, _)| job.clone())).filter(|job| !elsewhere.contains(job)).collect()
        };
        Kill { at, victim: process.name.clone(), in_flight, held, restarted: Duration::ZERO }
    }

    fn tail(&self) -> String {
        let output = self.output.lock().unwrap();
        output[output.len().saturating_sub(60)..].join("\n")
    }
}

/// `rounds` kills, and more (up to twice as many) until one of them
/// interrupted calls: a test whose kills all fell between calls would
/// prove little.
fn more_kills(kills: &[Kill], rounds: usize) -> bool {
    let interrupted = kills.iter().any(|k| !k.in_flight.is_empty());
    kills.len() < rounds || (!interrupted && kills.len() < 2 * rounds)
}

/// Waits for every job to complete (none may fail); returns how long.
async fn wait_completed(store: &Store, jobs: &[(String, usize)], cluster: &Cluster, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut open = Vec::new();
        for (job, _) in jobs {
            let record = store.job(job).await.unwrap().unwrap();
            match record.state {
                JobState::Completed => {}
                JobState::Running | JobState::Pending => open.push(job.clone()),
                other => panic!("job {job} ended {other:?}: {:?}\n{}", record.error, cluster.tail()),
            }
        }
        if open.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{} jobs did not complete in {limit:?}: {open:?}\n{}",
            open.len(),
            cluster.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The invariants, and the figures printed.
async fn check(label: &str, store: &Store, jobs: &[(String, usize)], receiver: &HttpReceiver, kills: &[Kill]) {
    let index: HashMap<String, (&str, usize)> =
        jobs.iter().enumerate().map(|(j, (id, kind))| (j.to_string(), (id.as_str(), *kind))).collect();

    for (job, kind) in jobs {
        let record = store.job(job).await.unwrap().unwrap();
        assert_eq!(record.state, JobState::Completed, "{label}: job {job}: {:?}", record.error);
        let running = store.running_steps(job).await.unwrap();
        assert!(running.is_empty(), "{label}: job {job} completed, yet lists calls: {running:?}");
        let expected: BTreeMap<&str, usize> = STEPS[*kind].iter().map(|(s, _)| (*s, 1)).collect();

        // Every step completed exactly once.
        let history = store.history(job).await.unwrap();
        let mut ok_feis: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok_steps: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in history.iter().filter(|e| e.ok) {
            *ok_feis.entry(entry.fei.clone()).or_default() += 1;
            let step = entry.params["body"]["step"].as_str().unwrap_or("?");
            let step = STEPS[*kind].iter().map(|(s, _)| *s).find(|s| *s == step).unwrap_or("?");
            *ok_steps.entry(step).or_default() += 1;
        }
        assert_eq!(ok_steps, expected, "{label}: job {job}: each step completed once: {history:#?}");
        assert!(ok_feis.values().all(|n| *n == 1), "{label}: job {job}: a step completed twice: {ok_feis:?}");

        // Its events: numbered from 1 without gaps, one successful end per
        // completed step, and the job's end once, last.
        let events = store.events_after(job, 0, 100_000).await.unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1, "{label}: job {job}: a gap in its events");
        }
        assert_eq!(events.iter().filter(|e| e.kind == "finished").count(), 1, "{label}: job {job} ended once");
        let last = events.last().unwrap();
        assert_eq!((last.kind.as_str(), &last.data), ("finished", &json!({"state": "completed"})), "{label}: {job}");
        let mut finished: BTreeMap<String, usize> = BTreeMap::new();
        for e in events.iter().filter(|e| e.kind == "step_finished" && e.data["error"].is_null()) {
            *finished.entry(e.data["fei"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
        assert_eq!(finished, ok_feis, "{label}: job {job}: one successful step_finished per completed step");
    }

    // Deliveries: each step at least once (a flaky one twice: a 503, then a
    // success), every attempt at a step with the same key; the rest is
    // what the kills interrupted.
    let requests = receiver.requests_timed();
    let deliveries: Vec<Delivery> = requests.iter().filter_map(|(at, r)| parse(*at, r)).collect();
    let torn = requests.len() - deliveries.len();
    let mut per_step: BTreeMap<(usize, &str), (usize, HashSet<&str>)> = BTreeMap::new();
    for d in &deliveries {
        let Some((_, kind)) = index.get(&d.job) else { panic!("{label}: a delivery for no job: {}", d.job) };
        assert!(STEPS[*kind].iter().any(|(s, _)| *s == d.step), "{label}: job {}: unknown step {}", d.job, d.step);
        let entry = per_step.entry((d.job.parse().unwrap(), d.step.as_str())).or_default();
        entry.0 += 1;
        entry.1.insert(d.key.as_str());
    }
    let mut repeated = 0;
    for (j, (_, kind)) in jobs.iter().enumerate() {
        for (step, is_flaky) in STEPS[*kind] {
            let expected = if *is_flaky { 2 } else { 1 };
            let (n, keys) = per_step.get(&(j, *step)).cloned().unwrap_or_default();
            assert!(n >= expected, "{label}: job {j} step {step}: delivered {n} time(s), expected {expected}");
            assert_eq!(keys.len(), 1, "{label}: job {j} step {step}: one idempotency key for every attempt: {keys:?}");
            assert!(keys.iter().all(|k| k.starts_with("mm-")), "{label}: job {j} step {step}: {keys:?}");
            repeated += n - expected;
        }
    }
    let in_flight: usize = kills.iter().map(|k| k.in_flight.len()).sum();
    assert!(
        repeated <= in_flight,
        "{label}: {repeated} repeated deliveries, but only {in_flight} calls were in flight in killed processes"
    );
    assert!(in_flight <= kills.len() * MAX_IN_FLIGHT);
    assert!(in_flight > 0, "{label}: no kill interrupted a call");

    // How long each kill held the jobs only the dead process could move:
    // from the kill to each such job's next delivery (of those that had
    // started and had a step left), the largest; and the calls it had in
    // flight, to when each was made again.
    let first_after = |job: &str, step: Option<&str>, at: Instant| {
        deliveries
            .iter()
            .filter(|d| d.job == job && step.is_none_or(|s| d.step == s) && d.at > at)
            .map(|d| d.at - at)
            .min()
    };
    let mut resumes = Vec::new();
    for (k, kill) in kills.iter().enumerate() {
        let number = |id: &str| index.iter().find(|(_, (i, _))| *i == id).map(|(j, _)| j.clone()).unwrap_or_default();
        let mut next = Vec::new();
        for job in &kill.held {
            let j = number(job);
            let started = deliveries.iter().any(|d| d.job == j && d.at < kill.at);
            if let (true, Some(after)) = (started, first_after(&j, None, kill.at)) {
                next.push(after);
            }
        }
        let remade: Vec<Duration> =
            kill.in_flight.iter().filter_map(|(job, step)| first_after(&number(job), Some(step), kill.at)).collect();
        let max = next.iter().max().copied();
        eprintln!(
            "{label}: kill {} of {} (back in {:.2?}): {} calls in flight; {} jobs held, their next step delivered after {} (max); \
             calls made again after {} (max of {})",
            k + 1,
            kill.victim,
            kill.restarted,
            kill.in_flight.len(),
            next.len(),
            max.map(|d| format!("{d:.2?}")).unwrap_or("-".into()),
            remade.iter().max().map(|d| format!("{d:.2?}")).unwrap_or("-".into()),
            remade.len(),
        );
        resumes.extend(max);
    }
    eprintln!(
        "{label}: {} jobs completed, {} kills, {} deliveries ({} steps), {repeated} repeated (bound: {in_flight} \
         calls in flight at the kills, at most {} × {MAX_IN_FLIGHT}), {torn} cut short; resumed within {} (max over kills)",
        jobs.len(),
        kills.len(),
        deliveries.len(),
        per_step.len(),
        kills.len(),
        resumes.iter().max().map(|d| format!("{d:.2?}")).unwrap_or("-".into()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_at_random_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed());
    let receiver = receiver(SQLITE_REPLY_DELAY).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("kills.db").display());
    let store = Store::open(&db).await.unwrap();
    let jobs = launch(&store, &receiver, &mut rng, 4000, 50..300).await;
    let cluster = Cluster::new(&db, &receiver, dir.path()).await;

    let mut worker = Process::new("worker", false);
    cluster.spawn(&mut worker).await;
    let mut kills = Vec::new();
    while more_kills(&kills, SQLITE_KILLS) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1200))).await;
        let mut kill = cluster.kill(&mut worker).await;
        cluster.spawn(&mut worker).await;
        kill.restarted = kill.at.elapsed();
        kills.push(kill);
    }
    let waited = wait_completed(&store, &jobs, &cluster, Duration::from_secs(60)).await;
    cluster.kill(&mut worker).await;
    check("sqlite", &store, &jobs, &receiver, &kills).await;
    eprintln!("sqlite: done {waited:.1?} after the last kill, {:.1?} in all", started.elapsed());
    cluster.raw.close().await;
    store.close().await;
}

/// `url` with a password: its own, or (the test server trusts loopback)
/// one no output may contain, returned to check that.
fn with_password(url: &str) -> (String, Option<String>) {
    let mut parsed = url::Url::parse(url).unwrap();
    if parsed.password().is_some() {
        return (url.to_owned(), None);
    }
    let password = "pw-never-printed-7f3a";
    parsed.set_password(Some(password)).unwrap();
    (parsed.to_string(), Some(password.to_owned()))
}

/// A fresh PostgreSQL database, dropped at the end even if the test fails.
struct Database {
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Database {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&postgres_admin_url()).await.expect("PostgreSQL for tests");
        let name = format!("mm_kills_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        admin.close().await;
        let url = format!("{}/{name}", postgres_admin_url().rsplit_once('/').unwrap().0);
        Database { name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Dropped inside the test's runtime: drop it from a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(admin) = sqlx::AnyPool::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_killed_at_random_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed());
    let receiver = receiver(POSTGRES_REPLY_DELAY).await;
    let database = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&database.url).await.unwrap();
    let jobs = launch(&store, &receiver, &mut rng, 8000, 100..400).await;
    let mut cluster = Cluster::new(&database.url, &receiver, dir.path()).await;
    // The processes commit with `durability=normal` (synchronous_commit
    // off: a killed process must still lose nothing), through a URL with a
    // password, which they must not print.
    let (processes_url, password) = with_password(&database.url);
    cluster.db = format!("{processes_url}?durability=normal");

    let mut processes = [Process::new("serve", true), Process::new("worker-1", false), Process::new("worker-2", false)];
    for process in &mut processes {
        cluster.spawn(process).await;
    }
    let mut kills = Vec::new();
    while more_kills(&kills, POSTGRES_KILLS) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(700..2000))).await;
        let victim = &mut processes[rng.random_range(0..3)];
        let mut kill = cluster.kill(victim).await;
        cluster.spawn(victim).await;
        kill.restarted = kill.at.elapsed();
        kills.push(kill);
    }
    let waited = wait_completed(&store, &jobs, &cluster, Duration::from_secs(75)).await;
    for process in &mut processes {
        cluster.kill(process).await;
    }
    check("postgres", &store, &jobs, &receiver, &kills).await;
    {
        let output = cluster.output.lock().unwrap();
        let starts = output.iter().filter(|l| l.contains("durability normal") && l.contains(":***@")).count();
        assert!(starts >= processes.len(), "each start names its durability, no password:\n{}", output.join("\n"));
        if let Some(password) = password {
            assert!(!output.iter().any(|l| l.contains(&password)), "a process printed the password");
        }
    }
    eprintln!("postgres: done {waited:.1?} after the last kill, {:.1?} in all", started.elapsed());
    cluster.raw.close().await;
    store.close().await;
}

/// `--takeover-after`: a dead process's jobs and calls move to the others
/// once its heartbeat is that old (here 2 s), not after the default 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_process_work_moves_after_the_takeover_time() {
    let _serial = SERIAL.lock().await;
    let mut rng = StdRng::seed_from_u64(seed());
    let receiver = receiver(POSTGRES_REPLY_DELAY).await;
    let database = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&database.url).await.unwrap();
    let jobs = launch(&store, &receiver, &mut rng, 2000, 100..400).await;
    let mut cluster = Cluster::new(&database.url, &receiver, dir.path()).await;
    cluster.extra = vec!["--takeover-after".into(), "2s".into()];
    let mut processes = [Process::new("worker-1", false), Process::new("worker-2", false)];
    for process in &mut processes {
        cluster.spawn(process).await;
    }
    // Killed while it holds work, and left dead.
    let kill = loop {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let kill = cluster.kill(&mut processes[0]).await;
        if !kill.held.is_empty() {
            break kill;
        }
        cluster.spawn(&mut processes[0]).await;
    };
    let dead = processes[0].worker_id.clone();
    let held = format!(
        "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner = '{dead}')
              + (SELECT COUNT(*) FROM messages WHERE kind = 'dispatch' AND lease_owner = '{dead}')"
    );
    let moved = loop {
        let row = sqlx::query(sqlx::AssertSqlSafe(held.clone())).fetch_one(&cluster.raw).await.unwrap();
        if row.try_get::<i64, _>(0).unwrap() == 0 {
            break kill.at.elapsed();
        }
        assert!(kill.at.elapsed() < Duration::from_secs(8), "still held 8 s after the kill:\n{}", cluster.tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("takeover: the dead process's {} jobs moved {moved:.1?} after the kill", kill.held.len());
    // Its heartbeat was at most 0.4 s old when it died (one fifth of 2 s).
    assert!(moved >= Duration::from_millis(1400), "taken over while its heartbeat was fresh: {moved:?}");
    let waited = wait_completed(&store, &jobs, &cluster, Duration::from_secs(60)).await;
    eprintln!("takeover: every job completed {waited:.1?} after");
    cluster.kill(&mut processes[1]).await;
    cluster.raw.close().await;
    store.close().await;
}
