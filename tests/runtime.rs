//! The job runtime under concurrency: participant calls that are withdrawn
//! are never made (or are aborted), calls are told apart by their dispatch,
//! and job control (pause, resume, cancel, start, retry) races neither
//! with the job's own batches nor with other control calls. Each test runs
//! on SQLite and on PostgreSQL.

mod support;

use mastermind::model::{JobState, Message};
use mastermind::store::{NewEvent, NewMessage};
use serde_json::json;
use std::time::{Duration, Instant};
use support::engine::{Db, Harness, on_both, trail};

/// The calls of `job` whose `name` param is `name`, from its history.
async fn calls_named(h: &Harness, job: &str, name: &str) -> usize {
    let history = h.engine.store().history(job).await.unwrap();
    history.iter().filter(|e| e.params["name"] == json!(name)).count()
}

/// Waits (at most `limit`) until `check` holds.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

// A branch dispatched and withdrawn in the same batch (the other branch
// replied at once, reaching `count`): its call must never start. Before the
// fix it was stored after the withdrawal, started, and held the tenant's one
// call slot for 30 s, so the step after the concurrence waited for it.
on_both!(a_call_withdrawn_in_its_own_batch_is_never_made, |h| {
    h.restart_with(|c| c.max_concurrent_calls = 1).await;
    let source = "concurrence count: 1 do\n  echo 'first'\n  mark_tester name: 'slow', sleep_ms: 30000\nend\nmark_tester name: 'after'";
    let started = Instant::now();
    let job = h.launch(source, json!({})).await;
    let record = tokio::time::timeout(Duration::from_secs(10), h.engine.wait_for(&job))
        .await
        .expect("the job does not wait for a withdrawn call")
        .unwrap();
    assert_eq!(record.state, JobState::Completed, "{:?}", record.error);
    assert_eq!(trail(&record), json!(["after"]));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(h.engine.store().running_steps(&job).await.unwrap().is_empty(), "a finished job lists no running call");
    assert_eq!(calls_named(h, &job, "slow").await, 0);

    // The tenant's one call slot is free: the next job runs at once.
    let next = tokio::time::timeout(Duration::from_secs(10), h.run("mark_tester name: 'next'", json!({})))
        .await
        .expect("the next job is not blocked by a leaked call");
    assert_eq!(trail(&next), json!(["next"]));
    assert!(eventually(Duration::from_secs(2), || async { h.engine.calls_in_flight() == 0 }).await);
});

// A call in flight when its branch is cancelled is aborted at once: with one
// call slot, the step after the concurrence runs without waiting for it.
on_both!(a_cancelled_call_in_flight_is_aborted, |h| {
    h.restart_with(|c| c.max_concurrent_calls = 1).await;
    let source = "concurrence count: 1 do\n  wait '300ms'\n  mark_tester name: 'slow', sleep_ms: 30000\nend\nmark_tester name: 'after'";
    let started = Instant::now();
    let record = tokio::time::timeout(Duration::from_secs(10), h.run(source, json!({})))
        .await
        .expect("the cancelled call is aborted");
    assert_eq!(record.state, JobState::Completed, "{:?}", record.error);
    assert_eq!(trail(&record), json!(["after"]));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(h.engine.store().running_steps(&record.id).await.unwrap().is_empty());
    assert!(eventually(Duration::from_secs(2), || async { h.engine.calls_in_flight() == 0 }).await);
});

// Two jobs' calls with the same expression id (the id's random suffix is 32
// bits: with many jobs of one definition they collide; planted here). Before
// the fix, cancelling job A aborted job B's call, whose dispatch stayed leased
// to this live worker: B's step never ended.
on_both!(cancelling_one_job_never_aborts_another_jobs_call, |h| {
    let a = h.launch("mark_tester name: 'a', sleep_ms: 20000", json!({})).await;
    let b = h.launch("wait '60s'", json!({})).await;
    let store = h.engine.store().clone();
    assert!(eventually(Duration::from_secs(5), || async { !store.running_steps(&a).await.unwrap().is_empty() }).await);
    let fei = store.running_steps(&a).await.unwrap().remove(0).fei;
    // Job B gets a call with the same expression id, made after A's.
    let dispatch: Message = serde_json::from_value(json!({
        "type": "dispatch", "fei": fei, "participant": "tester", "action": "mark",
        "params": {"name": "b", "sleep_ms": 1500}, "workitem": {"fields": {}}, "attempt": 1,
        "idempotency_key": "planted", "line": 1
    }))
    .unwrap();
    let now = mastermind::store::now_ms();
    store.enqueue(&b, "test", &NewMessage { message: dispatch, due_at: now }).await.unwrap();
    // Claimed by the worker loop (it polls at least twice a second).
    tokio::time::sleep(Duration::from_millis(900)).await;
    h.engine.cancel("test", &a).await.unwrap();
    let record = h.wait(&a).await;
    assert_eq!(record.state, JobState::Canceled);
    let ended = eventually(Duration::from_secs(8), || async { calls_named(h, &b, "b").await == 1 }).await;
    assert!(ended, "job B's call ran to its end: {:?}", store.running_steps(&b).await.unwrap());
});

/// Stores a pending job of `source` (see `Engine::start`).
async fn create_pending(h: &Harness, source: &str) -> String {
    let definition = mastermind::language::parse("test.mm", source).unwrap();
    let job = mastermind::engine::NewJob {
        id: None,
        tenant: "test".into(),
        definition: &definition,
        fields: Default::default(),
        name: None,
        definition_ref: None,
        start: false,
        dry_run: None,
    };
    h.engine.create(job).await.unwrap()
}

// Pauses racing the batches that complete their jobs. Before the fix a pause
// that read `running` just before the job completed wrote `paused` over
// `completed` (clearing finished_at); the resume that followed left the job
// `running` with nothing to run, forever.
on_both!(pause_racing_completion_never_reopens_a_job, |h| {
    let source = "mark_tester name: 'a'\nmark_tester name: 'b'\nmark_tester name: 'c'";
    let engine = &h.engine;
    // Each job paused and resumed over and over while it runs.
    let churn = (0..20).map(|_| async move {
        let definition = mastermind::language::parse("test.mm", source).unwrap();
        let job = engine.launch("test", &definition, Default::default(), None).await.unwrap();
        let started = Instant::now();
        let mut paused = 0;
        while started.elapsed() < Duration::from_secs(4) {
            if engine.pause("test", &job).await.is_ok() {
                paused += 1;
                engine.resume("test", &job).await.unwrap();
            } else if engine.store().job(&job).await.unwrap().unwrap().state.is_final() {
                break;
            }
        }
        (job, paused)
    });
    let jobs = futures::future::join_all(churn).await;
    for (job, paused) in &jobs {
        let record = tokio::time::timeout(Duration::from_secs(10), h.engine.wait_for(job))
            .await
            .unwrap_or_else(|_| panic!("job {job} ends (paused {paused} times)"))
            .unwrap();
        assert_eq!(record.state, JobState::Completed, "{:?}", record.error);
        assert!(record.finished_at.is_some());
        assert_eq!(trail(&record), json!(["a", "b", "c"]));
    }
    // A finished job is neither paused nor resumed, and stays as it ended.
    let job = &jobs[0].0;
    let done = h.engine.store().job(job).await.unwrap().unwrap();
    assert!(h.engine.pause("test", job).await.is_err());
    assert!(h.engine.resume("test", job).await.is_err());
    let after = h.engine.store().job(job).await.unwrap().unwrap();
    assert_eq!((after.state, after.finished_at), (done.state, done.finished_at));
});

// A pending job started and cancelled at once. Before the fix a cancel that
// read `pending` while the start committed wrote `canceled` over a running
// job: its first call was left running, listed by a canceled job.
on_both!(cancel_of_a_pending_job_racing_its_start, |h| {
    let source = "mark_tester name: 'x', sleep_ms: 3000\nmark_tester name: 'y'";
    let mut jobs = Vec::new();
    for _ in 0..30 {
        jobs.push(create_pending(h, source).await);
    }
    let engine = &h.engine;
    let races = jobs.iter().map(|job| async move {
        let (started, cancelled) = tokio::join!(engine.start("test", job, None), engine.cancel("test", job));
        (started.is_ok(), cancelled.is_ok())
    });
    let outcomes = futures::future::join_all(races).await;
    for (job, (started, cancelled)) in jobs.iter().zip(outcomes) {
        assert!(cancelled, "a pending or running job can be cancelled");
        let record =
            tokio::time::timeout(Duration::from_secs(10), h.engine.wait_for(job)).await.expect("the job ends").unwrap();
        assert_eq!(record.state, JobState::Canceled, "started: {started}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let running = h.engine.store().running_steps(job).await.unwrap();
        assert!(running.is_empty(), "a canceled job lists no call (started: {started}): {running:?}");
    }
    assert!(eventually(Duration::from_secs(2), || async { h.engine.calls_in_flight() == 0 }).await);
    assert_eq!(calls_named(h, &jobs[0], "y").await, 0);
});

// Job control answers not-found for another tenant's job, a conflict naming
// the state for a control the state does not allow, and the database refuses
// a state outside the lifecycle.
on_both!(job_control_is_the_tenants_and_follows_the_lifecycle, |h| {
    use mastermind::engine::EngineError;
    let job = h.launch("wait '30s'", json!({})).await;
    let store = h.engine.store().clone();
    assert!(matches!(h.engine.pause("other", &job).await, Err(EngineError::NotFound(_))));
    assert!(matches!(h.engine.cancel("other", &job).await, Err(EngineError::NotFound(_))));
    assert!(matches!(h.engine.pause("test", "no-such-job").await, Err(EngineError::NotFound(_))));
    assert_eq!(store.job(&job).await.unwrap().unwrap().state, JobState::Running);
    let resumed = h.engine.resume("test", &job).await;
    assert!(matches!(resumed, Err(EngineError::State { state: "running", action: "resume", .. })), "{resumed:?}");
    let retried = h.engine.retry("test", &job, None).await;
    assert!(matches!(retried, Err(EngineError::State { state: "running", action: "retry", .. })), "{retried:?}");
    h.engine.pause("test", &job).await.unwrap();
    h.engine.cancel("test", &job).await.unwrap();
    assert_eq!(h.wait(&job).await.state, JobState::Canceled);
    let again = h.engine.cancel("test", &job).await;
    assert!(matches!(again, Err(EngineError::State { state: "canceled", action: "cancel", .. })), "{again:?}");
    let pending = create_pending(h, "mark_tester name: 'p'").await;
    h.engine.cancel("test", &pending).await.unwrap();
    let record = h.wait(&pending).await;
    assert_eq!(record.state, JobState::Canceled);
    assert!(record.finished_at.is_some());
    let started = h.engine.start("test", &pending, None).await;
    assert!(matches!(started, Err(EngineError::State { state: "canceled", action: "launch", .. })), "{started:?}");

    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&h.url).await.unwrap();
    let bogus = sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE jobs SET state = 'bogus' WHERE id = '{job}'")));
    let refused = bogus.execute(&raw).await.expect_err("the CHECK constraint refuses an unknown state");
    assert!(refused.to_string().to_lowercase().contains("check"), "{refused}");
    raw.close().await;
});

/// The `http` participant, called as the engine calls it: with the step's
/// idempotency key in the call's context.
async fn http_call(receiver: &support::HttpReceiver, params: serde_json::Value, settings: &[(&str, &str)]) {
    use mastermind::capabilities::{Grants, MemorySecrets};
    use mastermind::sandbox::{CallEnv, CallRequest, Sandbox, SandboxConfig};
    use std::sync::Arc;
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let http = sandbox.load(&support::participant_bytes("http")).await.unwrap();
    let env = CallEnv {
        grants: Arc::new(Grants::parse(&[&format!("http=127.0.0.1:{}", receiver.port)]).unwrap()),
        secrets: Arc::new(MemorySecrets::new()),
        ..CallEnv::default()
    };
    let mut request = CallRequest::new("post", params);
    request.context.idempotency_key = "mm-0123456789abcdef0123456789abcdef".into();
    request.context.settings = settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    sandbox.invoke(&http, request, &env).await.unwrap_or_else(|e| panic!("{e}"));
}

// A call made again (after a crash, or a retry) carries the same key, so
// the receiving server can tell a replay from a new request. Before the fix
// the key never left the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_carry_the_steps_idempotency_key() {
    let receiver = support::HttpReceiver::start().await;
    let url = receiver.url("/deploys");
    // Twice, as a replay would.
    for _ in 0..2 {
        http_call(&receiver, json!({"url": url, "body": {"n": 1}}), &[]).await;
    }
    // Renamed by the operator, renamed by the step, or left out.
    http_call(&receiver, json!({"url": url}), &[("HTTP_IDEMPOTENCY_HEADER", "X-Request-Id")]).await;
    http_call(&receiver, json!({"url": url, "idempotency_header": "X-Dedup"}), &[]).await;
    http_call(&receiver, json!({"url": url, "idempotency_key": false}), &[]).await;
    // A header of that name given by the step wins.
    http_call(&receiver, json!({"url": url, "headers": {"Idempotency-Key": "mine"}}), &[]).await;
    let seen: Vec<String> = receiver.requests().iter().map(|r| r.to_ascii_lowercase()).collect();
    let key = "mm-0123456789abcdef0123456789abcdef";
    assert_eq!(seen.len(), 6);
    for replay in &seen[..2] {
        assert!(replay.contains(&format!("idempotency-key: {key}\r\n")), "{replay}");
    }
    assert!(
        seen[2].contains(&format!("x-request-id: {key}\r\n")) && !seen[2].contains("idempotency-key"),
        "{}",
        seen[2]
    );
    assert!(seen[3].contains(&format!("x-dedup: {key}\r\n")), "{}", seen[3]);
    assert!(!seen[4].contains(key), "{}", seen[4]);
    assert!(seen[5].contains("idempotency-key: mine\r\n") && !seen[5].contains(key), "{}", seen[5]);
}

/// The definitions the randomized test runs: what each may end as, and
/// the trail a completed one has.
const MIX: &[(&str, &[&str])] = &[
    // Concurrence reaching its count: the slow branch is cancelled.
    (
        "concurrence count: 1 do\n  mark_tester name: 'fast', sleep_ms: 20\n  mark_tester name: 'slow', sleep_ms: 5000\nend\nmark_tester name: 'after'",
        &["fast", "after"],
    ),
    // The same reached within one batch: the slow call is never made.
    (
        "concurrence count: 1 do\n  echo 'first'\n  mark_tester name: 'never', sleep_ms: 5000\nend\nmark_tester name: 'after'",
        &["after"],
    ),
    // A timer between two steps.
    ("mark_tester name: 'a', sleep_ms: 30\nwait '100ms'\nmark_tester name: 'b'", &["a", "b"]),
    // A timeout cancels the call and moves on.
    ("mark_tester name: 'slow', sleep_ms: 5000, timeout: '150ms'\nmark_tester name: 'next'", &["next"]),
    // Retries of a flaky step.
    ("flaky_tester name: 'x', succeed_on: 2, on_error: 'retry * 3'\nmark_tester name: 'y'", &["x", "y"]),
    // Fails on a missing field until retried with it.
    ("mark_tester name: 'a'\nmark_tester name: '${who}'\nmark_tester name: 'c'", &["a", "b", "c"]),
    // Cancels itself.
    ("mark_tester name: 'a'\ncancel_process\nmark_tester name: 'b'", &[]),
];

// Many jobs of the definitions above, launched (or created pending and
// started) while several tasks pause, resume, cancel and retry random jobs
// at random. At the end every job is over as its operations allow, no call
// runs for a finished job, no call slot is held, and no step that succeeded
// ran twice.
on_both!(randomized_job_control_under_concurrency, |h| {
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;
    let seed: u64 =
        std::env::var("MASTERMIND_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("seed {seed} (MASTERMIND_TEST_SEED reruns it)");
    const JOBS: usize = 400;
    const TASKS: usize = 6;
    let engine = h.engine.clone();
    let definitions: Arc<Vec<mastermind::language::Definition>> =
        Arc::new(MIX.iter().map(|(s, _)| mastermind::language::parse("mix.mm", s).unwrap()).collect());
    let jobs: Arc<std::sync::Mutex<Vec<(String, usize)>>> = Default::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (engine, definitions, jobs) = (engine.clone(), definitions.clone(), jobs.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(t as u64));
            let mut ops = 0usize;
            for i in 0..JOBS / TASKS {
                let kind = rng.random_range(0..MIX.len());
                let pending = rng.random_bool(0.2);
                let job = mastermind::engine::NewJob {
                    id: None,
                    tenant: "test".into(),
                    definition: &definitions[kind],
                    fields: Default::default(),
                    name: Some(format!("mix-{kind}")),
                    definition_ref: None,
                    start: !pending,
                    dry_run: None,
                };
                let id = engine.create(job).await.unwrap();
                jobs.lock().unwrap().push((id.clone(), kind));
                if pending {
                    // Started, cancelled, or both at once. Another task's
                    // random operation may have cancelled it already: a
                    // conflict is a normal answer then.
                    let settled = |r: Result<(), mastermind::engine::EngineError>| {
                        matches!(r, Ok(()) | Err(mastermind::engine::EngineError::State { .. }))
                    };
                    match rng.random_range(0..3) {
                        0 => assert!(settled(engine.start("test", &id, None).await)),
                        1 => {
                            let (s, c) = tokio::join!(engine.start("test", &id, None), engine.cancel("test", &id));
                            assert!(s.is_ok() || c.is_ok() || (settled(s) && settled(c)));
                        }
                        _ => assert!(settled(engine.cancel("test", &id).await)),
                    }
                }
                // A few operations on random jobs so far.
                for _ in 0..rng.random_range(0..4) {
                    let target = {
                        let all = jobs.lock().unwrap();
                        all[rng.random_range(0..all.len())].0.clone()
                    };
                    let outcome = match rng.random_range(0..10) {
                        0..=2 => engine.pause("test", &target).await,
                        3..=5 => engine.resume("test", &target).await,
                        6 => engine.cancel("test", &target).await,
                        _ => {
                            let fields = serde_json::Map::from_iter([("who".to_owned(), json!("b"))]);
                            engine.retry("test", &target, Some(fields)).await
                        }
                    };
                    // A conflict is a normal answer; nothing else is.
                    match outcome {
                        Ok(()) | Err(mastermind::engine::EngineError::State { .. }) => ops += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                if i % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
                }
            }
            ops
        }));
    }
    let mut ops = 0;
    for task in tasks {
        ops += task.await.unwrap();
    }
    let jobs = jobs.lock().unwrap().clone();
    // Settle: resume what is paused, retry what failed for want of `who`.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut open = 0;
        for (id, kind) in &jobs {
            let job = engine.store().job(id).await.unwrap().unwrap();
            match job.state {
                JobState::Paused => {
                    let _ = engine.resume("test", id).await;
                    open += 1;
                }
                JobState::Failed if *kind == 5 => {
                    let fields = serde_json::Map::from_iter([("who".to_owned(), json!("b"))]);
                    let _ = engine.retry("test", id, Some(fields)).await;
                    open += 1;
                }
                JobState::Running | JobState::Pending => open += 1,
                _ => {}
            }
        }
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} jobs still open after 60 s (seed {seed})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ends = std::collections::BTreeMap::<&str, usize>::new();
    for (id, kind) in &jobs {
        let job = engine.store().job(id).await.unwrap().unwrap();
        *ends.entry(job.state.as_str()).or_default() += 1;
        assert!(job.finished_at.is_some() || job.state == JobState::Failed, "{id}: {:?}", job.state);
        let running = engine.store().running_steps(id).await.unwrap();
        assert!(running.is_empty(), "job {id} ({:?}) lists calls: {running:?} (seed {seed})", job.state);
        let history = engine.store().history(id).await.unwrap();
        let mut ok: Vec<&str> = history.iter().filter(|e| e.ok).map(|e| e.fei.as_str()).collect();
        let all = ok.len();
        ok.sort();
        ok.dedup();
        assert_eq!(ok.len(), all, "job {id}: a step that succeeded ran again (seed {seed})");
        // Its events: numbered without gaps, the end once and last.
        let events = engine.store().events_after(id, 0, 100_000).await.unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1, "job {id}: a gap in its events (seed {seed})");
        }
        let ends: Vec<&mastermind::store::StoredEvent> = events.iter().filter(|e| e.kind == "finished").collect();
        if job.state.is_final() {
            assert_eq!(ends.len(), 1, "job {id} ended once (seed {seed})");
            assert_eq!(events.last().map(|e| &e.data), Some(&json!({"state": job.state.as_str()})), "job {id}");
        }
        match job.state {
            JobState::Completed => {
                let expected: Vec<serde_json::Value> = MIX[*kind].1.iter().map(|s| json!(s)).collect();
                assert_eq!(trail(&job), json!(expected), "job {id} of kind {kind} (seed {seed})");
            }
            JobState::Canceled => {}
            JobState::Failed => assert!(*kind == 5, "job {id} of kind {kind} failed: {:?}", job.error),
            other => panic!("job {id} ended {other:?}"),
        }
    }
    assert!(
        eventually(Duration::from_secs(3), || async { engine.calls_in_flight() == 0 }).await,
        "{} calls still in flight (seed {seed})",
        engine.calls_in_flight()
    );
    eprintln!("{} jobs, {ops} operations, ends {ends:?}, in {:?}", jobs.len(), started.elapsed());
});

/// The job's stored events, checked gap-free from 1: (name, data) pairs.
async fn stored_events(h: &Harness, job: &str) -> Vec<(String, serde_json::Value)> {
    let events = h.engine.store().events_after(job, 0, 100_000).await.unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "job {job}: events numbered without gaps");
    }
    events.into_iter().map(|e| (e.kind, e.data)).collect()
}

// A 50-step job's events: stored with the batches that produced them,
// numbered without gaps, each step started then finished once, in order,
// the end last; published live in the same order. Before, events were only
// broadcast (a watcher saw steps twice or out of order, or missed some).
on_both!(a_jobs_events_are_stored_in_order_without_gaps, |h| {
    let mut live = h.engine.subscribe();
    let source = "iterator times: 50 do\n  mark_tester name: '$v:i'\n  echo 'done ${v:i}'\nend";
    let record = h.run(source, json!({})).await;
    assert_eq!(record.state, JobState::Completed, "{:?}", record.error);
    let events = stored_events(h, &record.id).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = Vec::new();
    for _ in 0..50 {
        expected.extend(["step_started", "step_finished", "echo"]);
    }
    expected.push("finished");
    assert_eq!(names, expected);
    for (i, step) in events.chunks(3).take(50).enumerate() {
        assert_eq!(step[0].1["fei"], step[1].1["fei"], "step {i} started and finished");
        assert_eq!(step[2].1["text"], json!(format!("done {i}")));
    }
    assert_eq!(events.last().unwrap().1, json!({"state": "completed"}));
    let mut seen = Vec::new();
    while let Ok(e) = live.try_recv() {
        if e.job_id == record.id {
            seen.push(e.seq);
        }
    }
    assert_eq!(seen, (1..=events.len() as i64).collect::<Vec<_>>(), "published once each, in order");

    // A pending job cancelled: its end is stored too.
    let pending = create_pending(h, "mark_tester name: 'p'").await;
    h.engine.cancel("test", &pending).await.unwrap();
    assert_eq!(stored_events(h, &pending).await, vec![("finished".to_owned(), json!({"state": "canceled"}))]);
});

// Retention: only the last `events_per_job` events of a job are kept.
on_both!(a_jobs_events_are_bounded_by_the_retention, |h| {
    h.restart_with(|c| c.events_per_job = 10).await;
    let record = h.run("iterator times: 20 do\n  echo '${v:i}'\nend", json!({})).await;
    let events = h.engine.store().events_after(&record.id, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (12..=21).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap().kind, "finished");
});

// Retention within one append: a job given more events at once than it
// keeps (in one statement, and across two) keeps only its newest, and a
// later append numbers on after the largest.
on_both!(an_append_larger_than_the_retention_keeps_the_newest, |h| {
    let store = h.engine.store();
    let rows = |n: usize| -> Vec<NewEvent> {
        (0..n).map(|i| NewEvent { kind: "echo", body: json!({ "text": i }).to_string() }).collect()
    };
    let seqs = |job: &'static str| async move {
        let events = store.events_after(job, 0, 1000).await.unwrap();
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    };
    let mut tx = store.begin_work().await.unwrap();
    tx.append_events("keep-a", "test", rows(12), 5);
    tx.append_events("keep-b", "test", rows(40), 3);
    assert_eq!(tx.commit().await.unwrap().events, vec![1, 1]);
    assert_eq!(seqs("keep-a").await, (8..=12).collect::<Vec<_>>());
    assert_eq!(seqs("keep-b").await, (38..=40).collect::<Vec<_>>());

    let mut tx = store.begin_work().await.unwrap();
    tx.append_events("keep-a", "test", rows(3), 5);
    assert_eq!(tx.commit().await.unwrap().events, vec![13]);
    assert_eq!(seqs("keep-a").await, (11..=15).collect::<Vec<_>>());
});

// One worker transaction stores many jobs' events together (on PostgreSQL
// in one statement per 32 rows for all of them): each job's numbers follow
// its own, without gaps, in the order they were appended — a job appended
// twice, and jobs whose rows span several statements, included.
on_both!(a_transactions_events_are_numbered_per_job, |h| {
    let store = h.engine.store();
    let rows = |job: &str, n: usize| -> Vec<NewEvent> {
        (0..n).map(|i| NewEvent { kind: "echo", body: json!({ "text": format!("{job} {i}") }).to_string() }).collect()
    };
    let mut tx = store.begin_work().await.unwrap();
    assert_eq!(tx.append_events("ev-a", "test", rows("a", 3), 1000), 0);
    assert_eq!(tx.append_events("ev-b", "test", rows("b", 40), 1000), 1);
    tx.append_events("ev-c", "test", Vec::new(), 1000);
    tx.append_events("ev-a", "test", rows("a2", 30), 1000);
    assert_eq!(tx.commit().await.unwrap().events, vec![1, 1, 0, 4]);

    let mut tx = store.begin_work().await.unwrap();
    tx.append_events("ev-b", "test", rows("b2", 2), 1000);
    assert_eq!(tx.commit().await.unwrap().events, vec![41]);

    let texts = |events: Vec<(String, serde_json::Value)>| -> Vec<String> {
        events.into_iter().map(|(_, data)| data["text"].as_str().unwrap().to_owned()).collect()
    };
    let a = texts(stored_events(h, "ev-a").await);
    let expected_a: Vec<String> = (0..3).map(|i| format!("a {i}")).chain((0..30).map(|i| format!("a2 {i}"))).collect();
    assert_eq!(a, expected_a);
    let b = texts(stored_events(h, "ev-b").await);
    let expected_b: Vec<String> = (0..40).map(|i| format!("b {i}")).chain((0..2).map(|i| format!("b2 {i}"))).collect();
    assert_eq!(b, expected_b);
    assert!(stored_events(h, "ev-c").await.is_empty());
});
