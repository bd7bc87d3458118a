//! `lock 'key' do ... end` (issue #15), as Ruote's `eft_*` tests read: a
//! definition, the jobs launched, the lines their `echo`s print (in the
//! order every job's events were published), and what `Store::locks`
//! lists meanwhile. Each case runs on SQLite and on PostgreSQL.
//!
//! Then contention between real processes: many jobs over a few keys,
//! `mastermind worker`s (three on PostgreSQL, one on SQLite) killed and
//! restarted, jobs cancelled at random. Inside its block each job posts
//! `enter` and then `exit` to this test's loopback receiver: replaying the
//! deliveries in the order they arrived, a key never has more jobs inside
//! than its limit; on the key one job holds at a time, jobs enter in the
//! order the store listed them waiting; every job ends; no lock row is left.

mod support;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::engine::{Engine, EngineConfig, Event, FlowEvent, Registry};
use mastermind::model::JobState;
use mastermind::sandbox::{Sandbox, SandboxConfig};
use mastermind::store::{LockEntry, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::HttpReceiver;
use support::engine::{Db, Harness, on_both};
use tokio::process::{Child, Command};

/// Every job's echoes, in the order they were published.
struct Echoes(Arc<Mutex<Vec<String>>>);

impl Echoes {
    fn follow(h: &Harness) -> Echoes {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut events = h.engine.subscribe();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                if let Event::Flow(FlowEvent::Echo { text }) = e.event {
                    sink.lock().unwrap().push(text);
                }
            }
        });
        Echoes(lines)
    }

    /// Checks the lines printed, waiting briefly for the last batch's
    /// (published just after its job's end is visible).
    async fn are(&self, expected: &[&str]) {
        for _ in 0..100 {
            if self.0.lock().unwrap().len() >= expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*self.0.lock().unwrap(), expected);
    }
}

async fn locks(h: &Harness) -> Vec<LockEntry> {
    h.engine.store().locks("test", None).await.unwrap()
}

/// Waits until the locks listed satisfy `ready`.
async fn until(h: &Harness, what: &str, ready: impl Fn(&[LockEntry]) -> bool) -> Vec<LockEntry> {
    for _ in 0..600 {
        let now = locks(h).await;
        if ready(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}; locks: {:?}", locks(h).await);
}

fn holders(entries: &[LockEntry]) -> Vec<&str> {
    entries.iter().filter(|e| e.held_at.is_some()).map(|e| e.job_id.as_str()).collect()
}

fn waiters(entries: &[LockEntry]) -> Vec<(&str, usize)> {
    entries.iter().filter_map(|e| Some((e.job_id.as_str(), e.position?))).collect()
}

const ONE_AT_A_TIME: &str = "sequence do
  lock 'deploy-${env}' do
    echo 'in ${n}'
    wait '${pause}'
    echo 'out ${n}'
  end
end";

fn job(n: u32, pause: &str) -> Value {
    json!({ "env": "prod", "n": n, "pause": pause })
}

on_both!(a_key_is_held_by_one_job_at_a_time_in_the_order_they_asked, |h| {
    let echoes = Echoes::follow(h);
    let mut jobs = Vec::new();
    for n in 1..=3 {
        // The first holds long enough for the others to queue behind it.
        let pause = if n == 1 { "1500ms" } else { "100ms" };
        jobs.push(h.launch(ONE_AT_A_TIME, job(n, pause)).await);
        // Each asks once the one before is in the queue: the order is known.
        until(h, "the job is listed", |l| l.len() == n as usize).await;
    }
    let now = locks(h).await;
    assert_eq!(holders(&now), [jobs[0].as_str()]);
    assert_eq!(waiters(&now), [(jobs[1].as_str(), 1), (jobs[2].as_str(), 2)]);
    assert!(now.iter().all(|e| e.key == "deploy-prod" && e.limit == 1 && e.line == 2), "{now:?}");
    for j in &jobs {
        support::engine::completed(&h.wait(j).await);
    }
    echoes.are(&["in 1", "out 1", "in 2", "out 2", "in 3", "out 3"]).await;
    assert_eq!(locks(h).await, []);
});

on_both!(a_limit_lets_that_many_in_and_keys_are_separate, |h| {
    let source = "lock 'pool', limit: 2 do
  wait '${pause}'
end";
    let a = h.launch(source, json!({ "pause": "30s" })).await;
    let b = h.launch(source, json!({ "pause": "30s" })).await;
    until(h, "two holders", |l| holders(l).len() == 2).await;
    let c = h.launch(source, json!({ "pause": "10ms" })).await;
    let other = h.launch(&source.replace("pool", "other"), json!({ "pause": "10ms" })).await;
    support::engine::completed(&h.wait(&other).await);
    let now = until(h, "the third waits", |l| l.iter().any(|e| e.job_id == c)).await;
    let pool: Vec<_> = now.into_iter().filter(|e| e.key == "pool").collect();
    assert_eq!(holders(&pool).len(), 2, "{pool:?}");
    assert!(holders(&pool).contains(&a.as_str()) && holders(&pool).contains(&b.as_str()));
    assert_eq!(waiters(&pool), [(c.as_str(), 1)]);
    // One holder leaves: the third gets in beside the other.
    h.engine.cancel("test", &a).await.unwrap();
    support::engine::completed(&h.wait(&c).await);
    assert_eq!(holders(&locks(h).await), [b.as_str()]);
    h.engine.cancel("test", &b).await.unwrap();
    assert_eq!(h.wait(&b).await.state, JobState::Canceled);
    assert_eq!(locks(h).await, []);
});

on_both!(a_waiter_whose_time_is_up_applies_on_timeout, |h| {
    let echoes = Echoes::follow(h);
    let holder = h.launch(ONE_AT_A_TIME, job(1, "3s")).await;
    until(h, "the first holds", |l| holders(l).len() == 1).await;
    let impatient = "define 'gave_up' do
  echo 'gave up'
end
lock 'deploy-prod', timeout: '300ms', on_timeout: 'gave_up' do
  echo 'never'
end
echo 'after'";
    let job = h.launch(impatient, json!({})).await;
    support::engine::completed(&h.wait(&job).await);
    // Its place in the queue went with it; the holder is still in.
    assert_eq!(holders(&locks(h).await), [holder.as_str()]);
    assert_eq!(locks(h).await.len(), 1);
    support::engine::completed(&h.wait(&holder).await);
    echoes.are(&["in 1", "gave up", "after", "out 1"]).await;
});

on_both!(the_timeout_bounds_the_wait_not_the_block, |h| {
    let source = "lock 'k', timeout: '1s' do
  wait '2s'
  echo 'done'
end";
    let echoes = Echoes::follow(h);
    let job = h.launch(source, json!({})).await;
    support::engine::completed(&h.wait(&job).await);
    echoes.are(&["done"]).await;
});

on_both!(cancelling_the_holder_lets_the_next_in, |h| {
    let echoes = Echoes::follow(h);
    let first = h.launch(ONE_AT_A_TIME, job(1, "30s")).await;
    until(h, "the first holds", |l| holders(l).len() == 1).await;
    let second = h.launch(ONE_AT_A_TIME, job(2, "10ms")).await;
    until(h, "the second waits", |l| l.len() == 2).await;
    h.engine.cancel("test", &first).await.unwrap();
    assert_eq!(h.wait(&first).await.state, JobState::Canceled);
    support::engine::completed(&h.wait(&second).await);
    echoes.are(&["in 1", "in 2", "out 2"]).await;
    assert_eq!(locks(h).await, []);
});

on_both!(a_job_failed_inside_the_block_holds_until_it_is_cancelled, |h| {
    let failing = "lock 'deploy-prod' do
  echo 'in 1'
  error 'half deployed'
end";
    let first = h.launch(failing, json!({})).await;
    assert_eq!(h.wait(&first).await.state, JobState::Failed);
    let second = h.launch(ONE_AT_A_TIME, job(2, "10ms")).await;
    until(h, "the second waits", |l| l.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(holders(&locks(h).await), [first.as_str()], "a failed job keeps its hold");
    h.engine.cancel("test", &first).await.unwrap();
    support::engine::completed(&h.wait(&second).await);
    assert_eq!(locks(h).await, []);
});

on_both!(a_whole_definition_can_hold_a_key, |h| {
    let source = "define 'deploy', lock: 'deploy-${env}', lock_limit: 1 do
  echo 'in ${n}'
  wait '150ms'
  echo 'out ${n}'
end";
    let echoes = Echoes::follow(h);
    let a = h.launch(source, job(1, "")).await;
    until(h, "the first holds", |l| holders(l).len() == 1).await;
    let b = h.launch(source, job(2, "")).await;
    for j in [&a, &b] {
        support::engine::completed(&h.wait(j).await);
    }
    echoes.are(&["in 1", "out 1", "in 2", "out 2"]).await;
});

on_both!(a_hold_and_a_queue_survive_a_restart, |h| {
    let first = h.launch(ONE_AT_A_TIME, job(1, "5s")).await;
    until(h, "the first holds", |l| holders(l).len() == 1).await;
    let second = h.launch(ONE_AT_A_TIME, job(2, "10ms")).await;
    until(h, "the second waits", |l| l.len() == 2).await;
    h.restart().await;
    let now = locks(h).await;
    assert_eq!(holders(&now), [first.as_str()]);
    assert_eq!(waiters(&now), [(second.as_str(), 1)]);
    let first = h.wait(&first).await;
    support::engine::completed(&first);
    let second = h.wait(&second).await;
    support::engine::completed(&second);
    assert!(second.finished_at >= first.finished_at);
    assert_eq!(locks(h).await, []);
});

on_both!(a_lock_needs_a_key_and_a_sensible_limit, |h| {
    for (source, message) in [
        ("lock do\n  echo 'x'\nend", "lock: which key?"),
        ("lock '${missing}' do\n  echo 'x'\nend", "lock: which key?"),
        ("lock 'k', limit: 0 do\n  echo 'x'\nend", "limit: a whole number from 1 to 10000, not 0"),
    ] {
        let job = h.run(source, json!({})).await;
        assert_eq!(job.state, JobState::Failed, "{source}");
        let error = job.error.expect("an error");
        assert_eq!(error.kind.as_str(), "bad-input", "{source}");
        assert!(error.message.contains(message), "{source}: {}", error.message);
    }
    assert_eq!(locks(h).await, []);
});

/// The contended keys and their limits.
const KEYS: [(&str, u32); 3] = [("a", 1), ("b", 2), ("c", 3)];
const JOBS: usize = 45;

fn contended(url: &str) -> String {
    format!(
        "lock '${{key}}', limit: '${{limit}}' do
  post_http url: '{url}', body: {{ 'job' => '${{n}}', 'key' => '${{key}}', 'at' => 'enter' }}
  wait '${{pause}}'
  post_http url: '{url}', body: {{ 'job' => '${{n}}', 'key' => '${{key}}', 'at' => 'exit' }}
end"
    )
}

/// `mastermind worker`s on one database, killed and started again.
struct Workers {
    db: String,
    grant: String,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl Workers {
    async fn start(db: &str, receiver: &HttpReceiver, count: usize) -> Workers {
        let mut workers = Workers {
            db: db.to_owned(),
            grant: format!("http:http=127.0.0.1:{}", receiver.port),
            children: (0..count).map(|_| None).collect(),
            _dir: tempfile::tempdir().unwrap(),
        };
        for i in 0..count {
            workers.spawn(i);
        }
        workers
    }

    fn spawn(&mut self, i: usize) {
        let child = Command::new(support::mastermind_bin())
            .args(["worker", "--db", &self.db, "--grant", &self.grant, "--takeover-after", "2s"])
            .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
            .env("XDG_DATA_HOME", self._dir.path())
            .env("MASTERMIND_SECRET_KEY", "c2VjcmV0LWtleS1mb3ItdGhlLWFwaS10ZXN0cy0zMmI=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting mastermind worker");
        self.children[i] = Some(child);
    }

    /// SIGKILL, then a new process in its place.
    async fn kill_and_restart(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
        self.spawn(i);
    }
}

/// Replays the receiver's deliveries in arrival order: the most jobs inside
/// each key at once, and the jobs that entered.
///
/// A job cancelled inside its block never posts `exit`: it counts as
/// leaving when the test asked for its cancel, and what it posts after
/// that is not counted. Its hold really ends later, when the cancel is
/// processed, so this can only count fewer jobs inside than there are,
/// never more.
fn replay(receiver: &HttpReceiver, cancels: &[(Instant, String)]) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let mut timeline: Vec<(Instant, Option<Value>, String)> = Vec::new();
    for (at, request) in receiver.requests_timed() {
        let Some((_, body)) = request.split_once("\r\n\r\n") else { continue };
        // A request cut short by a kill has no whole body.
        let Ok(body) = serde_json::from_str::<Value>(body) else { continue };
        let job = body["job"].as_str().unwrap().to_owned();
        timeline.push((at, Some(body), job));
    }
    timeline.extend(cancels.iter().map(|(at, job)| (*at, None, job.clone())));
    timeline.sort_by_key(|(at, ..)| *at);
    let mut inside: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut most = BTreeMap::new();
    let mut entered = BTreeSet::new();
    let mut gone = BTreeSet::new();
    for (_, body, job) in timeline {
        let Some(body) = body else {
            for jobs in inside.values_mut() {
                jobs.remove(&job);
            }
            gone.insert(job);
            continue;
        };
        if gone.contains(&job) {
            continue;
        }
        let key = body["key"].as_str().unwrap().to_owned();
        let jobs = inside.entry(key.clone()).or_default();
        // A call made again after a kill (same job, same hold) counts once.
        if body["at"] == "enter" {
            jobs.insert(job.clone());
            entered.insert(job);
        } else {
            jobs.remove(&job);
        }
        let most = most.entry(key).or_insert(0);
        *most = (*most).max(jobs.len());
    }
    (most, entered)
}

async fn contend(db: &str, processes: usize, kills: usize) {
    let seed = std::env::var("MASTERMIND_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("seed {seed} (MASTERMIND_TEST_SEED reruns it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let receiver = HttpReceiver::start_answering(Duration::from_millis(20), |_| 200).await;
    let store = Store::open(db).await.unwrap();

    // The jobs are stored by an engine that does not run them: the
    // workers claim them.
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let http = sandbox.load(&support::participant_bytes("http")).await.unwrap();
    let mut registry = Registry::new();
    registry.insert(http, Grants::parse(&[format!("http=127.0.0.1:{}", receiver.port)]).unwrap(), Vec::new());
    let config = EngineConfig { exclusive: false, ..EngineConfig::default() };
    let launcher =
        Engine::new(store.clone(), Arc::new(sandbox), Arc::new(registry), Arc::new(MemorySecrets::new()), config);
    let definition = mastermind::language::parse("contended.mm", &contended(&receiver.url("/"))).unwrap();
    let mut jobs = Vec::new();
    for n in 0..JOBS {
        let (key, limit) = KEYS[n % KEYS.len()];
        let pause = format!("{}ms", rng.random_range(100..300));
        let fields = json!({ "n": n.to_string(), "key": key, "limit": limit, "pause": pause });
        let fields = fields.as_object().cloned().unwrap();
        jobs.push(launcher.launch("test", &definition, fields, None).await.unwrap());
    }

    let mut workers = Workers::start(db, &receiver, processes).await;
    // Who waits behind whom, as the store lists it meanwhile.
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (store, watching) = (store.clone(), watching.clone());
        tokio::spawn(async move {
            let mut behind: BTreeSet<(String, String, String)> = BTreeSet::new();
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(entries) = store.locks("test", None).await {
                    let waiting: Vec<&LockEntry> = entries.iter().filter(|e| e.position.is_some()).collect();
                    for (i, ahead) in waiting.iter().enumerate() {
                        for later in waiting[i + 1..].iter().filter(|l| l.key == ahead.key) {
                            behind.insert((ahead.key.clone(), ahead.job_id.clone(), later.job_id.clone()));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            behind
        })
    };
    let mut cancelled = BTreeSet::new();
    let mut cancels = Vec::new();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..900))).await;
        let mut open = Vec::new();
        for job in &jobs {
            if !store.job(job).await.unwrap().unwrap().state.is_final() {
                open.push(job);
            }
        }
        for _ in 0..2.min(open.len()) {
            let job = open.swap_remove(rng.random_range(0..open.len()));
            let at = Instant::now();
            match launcher.cancel("test", job).await {
                Ok(()) => {
                    cancelled.insert(job.clone());
                    cancels.push((at, jobs.iter().position(|j| j == job).unwrap().to_string()));
                }
                Err(e) => eprintln!("cancel {job}: {e}"),
            }
        }
        workers.kill_and_restart(rng.random_range(0..processes)).await;
    }

    // Every job ends: completed, or canceled if it was cancelled.
    let deadline = Instant::now() + Duration::from_secs(120);
    for job in &jobs {
        let state = loop {
            let record = store.job(job).await.unwrap().unwrap();
            if record.state.is_final() || record.state == JobState::Failed {
                break record.state;
            }
            let locks = store.locks("test", None).await;
            assert!(Instant::now() < deadline, "job {job} is still {:?}; locks: {locks:?}", record.state);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // A cancel may come after the job's last step: it completed first.
        let cancelled_in_time = cancelled.contains(job) && state == JobState::Canceled;
        assert!(state == JobState::Completed || cancelled_in_time, "job {job} ended {state:?}");
    }
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let behind = watcher.await.unwrap();
    let (most, entered) = replay(&receiver, &cancels);
    // First come, first served: on the key one job holds at a time, a job
    // seen waiting ahead of another entered first (unless it was cancelled).
    // (With more holders, a kill may delay a holder's own first step past a
    // later one's, so the order of entries says nothing there.)
    let first_entry = |job: &str| {
        let n = jobs.iter().position(|j| j == job).unwrap().to_string();
        receiver.requests_timed().into_iter().find_map(|(at, r)| {
            let body: Value = serde_json::from_str(r.split_once("\r\n\r\n")?.1).ok()?;
            (body["job"] == n.as_str() && body["at"] == "enter").then_some(at)
        })
    };
    let mut checked = 0;
    for (key, ahead, later) in behind.iter().filter(|(key, ..)| key == KEYS[0].0) {
        if cancelled.contains(ahead) {
            continue;
        }
        if let (Some(a), Some(b)) = (first_entry(ahead), first_entry(later)) {
            assert!(a < b, "key {key}: {later} entered before {ahead}, which waited ahead of it");
            checked += 1;
        }
    }
    assert!(checked > 0, "no queue was seen on key {}", KEYS[0].0);
    for (key, limit) in KEYS {
        let seen = most.get(key).copied().unwrap_or(0);
        assert!(seen <= limit as usize, "key {key}: {seen} jobs inside at once, limit {limit}");
        assert_eq!(seen, limit as usize, "key {key}: the limit was never reached: not contended");
    }
    let completed = JOBS - cancelled.len();
    assert!(entered.len() >= completed, "{} entered, {completed} completed", entered.len());
    assert_eq!(store.locks("test", None).await.unwrap(), [], "no lock is left behind");
    eprintln!(
        "{JOBS} jobs over {} keys, {processes} process(es), {kills} kills, {} cancelled: most inside at once {most:?}, \
         {checked} queue orders kept, {:.1?}",
        KEYS.len(),
        cancelled.len(),
        started.elapsed()
    );
    drop(workers);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contention_on_sqlite_with_a_worker_killed_and_jobs_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    contend(&format!("sqlite:{}", dir.path().join("locks.db").display()), 1, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contention_on_postgres_with_three_processes_killed_and_jobs_cancelled() {
    let database = support::server::Database::postgres().await;
    contend(&database.url, 3, 3).await;
    database.drop().await;
}

/// `GET /v1/locks` and `mastermind locks` on a real server: the holder,
/// the waiter and its place in line; `?job=` narrows to that job's keys;
/// another tenant sees none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_command_line_show_who_holds_and_who_waits() {
    use reqwest::{Method, StatusCode};
    let dir = tempfile::tempdir().unwrap();
    let server = support::server::Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    owner.push("deploy", "lock 'deploy-${env}' do\n  wait '${pause}'\nend").await;
    owner.push("other", "lock 'other' do\n  wait '30s'\nend").await;
    let first = owner.launch("deploy", json!({ "env": "prod", "pause": "30s" })).await;
    let elsewhere = owner.launch("other", json!({})).await;
    let mut listed = Value::Null;
    for _ in 0..400 {
        listed = owner.ok(Method::GET, "/v1/locks", None).await;
        if listed.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let second = owner.launch("deploy", json!({ "env": "prod", "pause": "10ms" })).await;
    for _ in 0..400 {
        listed = owner.ok(Method::GET, &format!("/v1/locks?job={second}"), None).await;
        if listed[0]["waiting"].as_array().is_some_and(|w| !w.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(listed.as_array().unwrap().len(), 1, "only the job's key: {listed}");
    let lock = &listed[0];
    assert_eq!(lock["key"], "deploy-prod");
    assert_eq!(lock["holders"][0]["job_id"], first.as_str());
    assert_eq!(lock["holders"][0]["line"], 1);
    assert!(lock["holders"][0]["held_since"].is_string());
    assert_eq!(lock["waiting"][0]["job_id"], second.as_str());
    assert_eq!(lock["waiting"][0]["position"], 1);
    assert_eq!(lock["waiting"][0]["limit"], 1);

    // Another tenant: nothing, and the job is not found.
    let stranger = server.tenant("globex").await;
    assert_eq!(stranger.ok(Method::GET, "/v1/locks", None).await, json!([]));
    stranger.fails(Method::GET, &format!("/v1/locks?job={first}"), None, StatusCode::NOT_FOUND).await;

    let out = server.cli(&owner, &dir.path().join("config"), &["locks", "--job", &second]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, listed);

    // Cancelling the holder lets the waiter in; it completes and the key is free.
    owner.ok(Method::POST, &format!("/v1/jobs/{first}/cancel"), None).await;
    owner.wait_state(&second, &["completed"]).await;
    let left = owner.ok(Method::GET, "/v1/locks", None).await;
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["holders"][0]["job_id"], elsewhere.as_str());
}
