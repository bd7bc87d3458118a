//! More of Ruote's functional tests (`test/functional/eft_*.rb` in
//! jmettraux/ruote: forget, wait, command and ref), translated as in
//! `ruote.rs`: each case keeps Ruote's definition (in this language) and
//! what Ruote asserts. Ruote's catch-all participants become the tester's
//! `mark` action (it appends `name` to the field `trail`) or `echo`. Ruote's
//! `ref` expression is `participant 'name'` (or `participant ref: 'name'`)
//! here: it calls the participant or the subprocess of that name. Waits are
//! shortened to a second or less. Every case runs on SQLite and on
//! PostgreSQL; the cases written as Ruote writes them (a `wait` given a
//! time, the `ref` expression) are functions at the end, which run on both
//! stores too.

mod support;

use mastermind::engine::{Event, FlowEvent, JobEvent};
use mastermind::model::JobState;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};
use support::engine::{Db, Harness, assert_trace, completed, on_both, trail};
use tokio::sync::broadcast::Receiver;

/// The lines `job`'s `echo`s print, read from `events` (taken before the
/// launch): the first `n`, or with `n` = `None` all of them until the job's
/// end event.
async fn echoes(events: &mut Receiver<JobEvent>, job: &str, n: Option<usize>) -> Vec<String> {
    use tokio::sync::broadcast::error::RecvError;
    let mut echoes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while n.is_none_or(|n| echoes.len() < n) {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("the events come in time") {
            Ok(event) if event.job_id == job => match event.event {
                Event::Flow(FlowEvent::Echo { text }) => echoes.push(text),
                Event::Flow(FlowEvent::Finished { .. }) => break,
                _ => {}
            },
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => panic!("the engine's events closed"),
        }
    }
    echoes
}

/// eft_11_wait's test_cancel_wait up to the cancel: the job is canceled
/// while it waits, and prints nothing more.
async fn cancel_wait(h: &Harness) {
    let mut events = h.engine.subscribe();
    let job = h.launch("echo 'a'\nwait for: '3d'\necho 'b'", json!({})).await;
    assert_eq!(echoes(&mut events, &job, Some(1)).await, ["a"]);
    h.engine.cancel("test", &job).await.unwrap();
    assert_eq!(h.wait(&job).await.state, JobState::Canceled);
    assert!(echoes(&mut events, &job, None).await.is_empty());
}

/// `after` from now as RFC 3339 text in UTC (what `wait until:` reads).
fn time_in(after: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + after).to_string()
}

// eft_7_forget: both tests. test_basic's count of Ruote's `ceased` and
// `terminated` messages is its internals and is left out. The forgotten
// participants trace with `echo`: a forgotten branch's fields never come
// back, and it ends with the job (see docs/language.md).
on_both!(eft_7_forget, |h| {
    // test_basic
    let source = "sequence do
  forget do
    echo 'alpha'
  end
  echo 'alpha'
end";
    assert_trace(h, source, &["alpha", "alpha"]).await;
    // test_multi: the forgotten children run at once, the flow goes on.
    let source = "forget do
  echo 'alpha'
  echo 'bravo'
end
echo 'charly'";
    let (job, mut echoes) = h.trace(source, json!({})).await;
    completed(&job);
    echoes.sort();
    assert_eq!(echoes, ["alpha", "bravo", "charly"]);
});

// eft_11_wait: all 5 tests, with waits of a second (Ruote's are 2s and 3d).
// test_wait_until_now and test_wait_until_tz_string are here with `until:`
// and as Ruote writes them at the end, with test_cancel_wait's check that
// no timer is left. Ruote's alpha records when it is called; here the
// whole job is timed.
on_both!(eft_11_wait, |h| {
    // test_wait_for
    let source = "mark_tester name: 'alpha'
wait for: '1s'
mark_tester name: 'alpha'
echo 'done.'";
    let started = Instant::now();
    let job = assert_trace(h, source, &["done."]).await;
    assert_eq!(trail(&job), json!(["alpha", "alpha"]));
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    // test_cancel_wait: cancelled while waiting (that its timer is gone
    // too: see the functions at the end).
    cancel_wait(h).await;
    // test_wait_until
    let source = format!(
        "mark_tester name: 'alpha'
wait until: '{}'
mark_tester name: 'alpha'
echo 'done.'",
        time_in(Duration::from_secs(1))
    );
    let started = Instant::now();
    let job = assert_trace(h, &source, &["done."]).await;
    assert_eq!(trail(&job), json!(["alpha", "alpha"]));
    assert!(started.elapsed() > Duration::from_millis(500), "{:?}", started.elapsed());
    // test_wait_until_now
    let source = format!("echo 'a'\nwait until: '{}'\necho 'b'", time_in(Duration::ZERO));
    assert_trace(h, &source, &["a", "b"]).await;
    // test_wait_until_tz_string: a time in the past, with its zone.
    let job = h.run("wait until: '2013-02-08T17:36:10Z'", json!({})).await;
    completed(&job);
});

// eft_25_command: test_ref_to_missing_tag, its only test.
on_both!(eft_25_command, |h| {
    // test_ref_to_missing_tag: a command for a tag no expression carries
    // is nothing to do.
    assert_trace(h, "sequence do\n  _break ref: 'nemo'\n  echo 'done.'\nend", &["done."]).await;
});

// eft_30_ref: 6 of 7. test_ref_pointing_to_filter is left out: it points
// an engine variable at an expression (`filter`), and there are neither
// engine variables nor names aliasing expressions here. The bare `ref`
// expression is tested as Ruote writes it at the end. In test_participant Ruote's alpha traces its expression id;
// the tester marks those ids instead. A step naming no participant is
// refused at launch here, and participants and engine variables cannot
// be added to a running engine, so the two missing-ref tests compute the
// name from a field and replay the failed step with it corrected.
on_both!(eft_30_ref, |h| {
    // test_participant
    let source = "participant ref: 'tester', name: '0_0'
participant 'tester', name: '0_1'
echo 'done.'";
    let job = assert_trace(h, source, &["done."]).await;
    assert_eq!(trail(&job), json!(["0_0", "0_1"]));
    // test_subprocess
    let source = "define 'alpha' do
  echo 'alpha'
end
sequence do
  participant ref: 'alpha'
  participant 'alpha'
  echo 'done.'
end";
    assert_trace(h, source, &["alpha", "alpha", "done."]).await;
    // test_missing_participant_ref: fails, then replays at the error.
    let job = h.run("participant '${f:who}', name: 'alpha'", json!({"who": "alpha"})).await;
    assert_eq!(job.state, JobState::Failed);
    assert!(job.error.as_ref().unwrap().message.contains("unknown participant 'alpha'"), "{:?}", job.error);
    let mut fields = job.fields.clone();
    fields.insert("who".into(), json!("tester"));
    h.engine.retry("test", &job.id, Some(fields)).await.unwrap();
    let job = h.wait(&job.id).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["alpha"]));
    // test_missing_subprocess_ref: the same with a subprocess.
    let source = "define 'sub0' do
  mark_tester name: 'alpha'
end
participant '${f:which}'";
    let job = h.run(source, json!({"which": "alpha"})).await;
    assert_eq!(job.state, JobState::Failed);
    let mut fields = job.fields.clone();
    fields.insert("which".into(), json!("sub0"));
    h.engine.retry("test", &job.id, Some(fields)).await.unwrap();
    let job = h.wait(&job.id).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["alpha"]));
    // test_ref_and_subprocess_timeout: the timeout of the step calling a
    // subprocess applies to the subprocess (Ruote looks at its schedule;
    // here it fires, and the call inside is cancelled).
    let source = "define 'sub0' do
  mark_tester name: 'alpha', sleep_ms: 10000
end
participant 'sub0', timeout: '500ms'";
    let started = Instant::now();
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert!(job.fields.contains_key("__timed_out__"), "{:?}", job.fields);
    assert_eq!(trail(&job), json!([]));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // test_missing_ref_and_undo
    let job = h.run("participant 'nemo', on_error: 'undo'", json!({})).await;
    completed(&job);
});

// Ruote's own forms of three tests above: each runs on SQLite, then on
// PostgreSQL.

/// eft_11_wait's test_cancel_wait, its last check: the cancelled wait's
/// timer is gone from the store (Ruote: no schedule is left).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eft_11_wait_cancel_wait_unschedules() {
    for db in [Db::Sqlite, Db::Postgres] {
        let h = Harness::new(db).await;
        cancel_wait(&h).await;
        assert_eq!(h.engine.store().next_due().await.unwrap(), None, "{db:?}: the wait's timer is gone");
        h.finish().await;
    }
}

/// eft_11_wait's test_wait_until_now: `wait` reads a time as its argument
/// too (Ruote's `wait Time.now`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eft_11_wait_until_now_as_argument() {
    for db in [Db::Sqlite, Db::Postgres] {
        let h = Harness::new(db).await;
        let source = format!("echo 'a'\nwait '{}'\necho 'b'", time_in(Duration::ZERO));
        assert_trace(&h, &source, &["a", "b"]).await;
        h.finish().await;
    }
}

/// eft_11_wait's test_wait_until_tz_string: a time long past (1913) is
/// over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eft_11_wait_until_tz_string() {
    for db in [Db::Sqlite, Db::Postgres] {
        let h = Harness::new(db).await;
        let job = h.run("wait until: '1913-02-08T17:36:10Z'", json!({})).await;
        assert_eq!(job.state, JobState::Completed, "{db:?}: {:?}", job.error);
        h.finish().await;
    }
}

/// eft_30_ref's test_subprocess as Ruote writes it: `ref` names a
/// participant or a subprocess, as `participant` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eft_30_ref_expression() {
    for db in [Db::Sqlite, Db::Postgres] {
        let h = Harness::new(db).await;
        let source = "define 'alpha' do
  echo 'alpha'
end
sequence do
  ref ref: 'alpha'
  ref 'alpha'
  echo 'done.'
end";
        assert_trace(&h, source, &["alpha", "alpha", "done."]).await;
        h.finish().await;
    }
}
