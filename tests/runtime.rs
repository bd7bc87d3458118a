//! The job runtime under concurrency: participant calls that are withdrawn
//! are never made (or are aborted), calls are told apart by their dispatch,
//! and job control (pause, resume, cancel, start, retry) races neither
//! with the job's own batches nor with other control calls. Each test runs
//! on SQLite and on PostgreSQL.

mod support;

use mastermind::engine::{JobState, Message};
use mastermind::store::NewMessage;
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
    store.enqueue(&b, "test", &NewMessage { message: dispatch, due_at: now }, None).await.unwrap();
    // Claimed by the worker loop (it polls at least twice a second).
    tokio::time::sleep(Duration::from_millis(900)).await;
    h.engine.cancel(&a).await.unwrap();
    let record = h.wait(&a).await;
    assert_eq!(record.state, JobState::Canceled);
    let ended = eventually(Duration::from_secs(8), || async { calls_named(h, &b, "b").await == 1 }).await;
    assert!(ended, "job B's call ran to its end: {:?}", store.running_steps(&b).await.unwrap());
});
