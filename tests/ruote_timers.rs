//! Ruote's functional tests for the expressions that wait on a clock or on
//! another branch — once, cron/every, reserve, stall — translated as in
//! `ruote.rs`: each case keeps Ruote's definition (in this language) and
//! what Ruote asserts. Ruote's storage participants, which hold a workitem
//! until the test lets it go, become the tester with a `wait` beside it.
//! Every case runs on SQLite and on PostgreSQL, on the real clock.

mod support;

use mastermind::engine::{Event, FlowEvent};
use mastermind::model::JobState;
use mastermind::store::JobRecord;
use serde_json::json;
use std::time::Duration;
use support::engine::{Db, Harness, assert_trace, on_both};

/// Launches `source`, cancels the job after `after`, and returns the job
/// and the lines its `echo`s printed (before the cancel, and none after).
async fn cancelled_after(h: &Harness, source: &str, after: Duration) -> (JobRecord, Vec<String>) {
    let mut events = h.engine.subscribe();
    let id = h.launch(source, json!({})).await;
    tokio::time::sleep(after).await;
    h.engine.cancel("test", &id).await.unwrap();
    let job = h.wait(&id).await;
    let mut echoes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        match event.event {
            _ if event.job_id != id => {}
            Event::Flow(FlowEvent::Echo { text }) => echoes.push(text),
            Event::Flow(FlowEvent::Finished { .. }) => break,
            _ => {}
        }
    }
    (job, echoes)
}

// eft_28_once: all 5 — test_once, test_once_blocking, test_cancel,
// test_cancel_once_child_is_active, test_once_cron. Ruote also checks that
// no schedule is left: here a cancelled job keeps no timer either (a timer
// of a job that ended does nothing, and the job's rows are gone).
on_both!(eft_28_once, |h| {
    // test_once
    let source = "echo 'in'
concurrence do
  once '${v:ok}', freq: '1s' do
    echo 'done.'
  end
  sequence do
    wait '1s'
    echo 'over'
    set 'v:ok' => true
  end
end";
    assert_trace(h, source, &["in", "over", "done."]).await;
    // test_once_blocking
    let source = "echo 'in'
concurrence do
  sequence do
    once '${v:ok}', freq: '1s'
    echo 'done.'
  end
  sequence do
    wait '1s'
    echo 'over'
    set 'v:ok' => true
  end
end";
    assert_trace(h, source, &["in", "over", "done."]).await;
    // test_cancel
    let (job, echoes) =
        cancelled_after(h, "once '${v:ok}', freq: '10d'\necho 'done.'", Duration::from_millis(300)).await;
    assert_eq!(job.state, JobState::Canceled);
    assert!(echoes.is_empty(), "{echoes:?}");
    // test_cancel_once_child_is_active: the child waits (Ruote's storage
    // participant) when the job is cancelled.
    let source = "as_soon_as 'true', freq: '10d' do\n  wait '10d'\n  echo 'never'\nend";
    let (job, echoes) = cancelled_after(h, source, Duration::from_millis(300)).await;
    assert_eq!(job.state, JobState::Canceled);
    assert!(echoes.is_empty(), "{echoes:?}");
    // test_once_cron: a cron line with seconds, every second.
    let source = "echo 'in'
concurrence do
  _when '${v:ok}', freq: '* * * * * *' do
    echo 'done.'
  end
  sequence do
    wait '1s'
    echo 'over'
    set 'v:ok' => true
  end
end";
    assert_trace(h, source, &["in", "over", "done."]).await;
});

// eft_29_cron: both — test_cron, test_every. Ruote waits for 7 messages and
// cancels; here the job is cancelled after 2.5 s of ticks every second.
on_both!(eft_29_cron, |h| {
    for source in ["cron '* * * * * *' do\n  echo 'ok'\nend", "every '1s' do\n  echo 'ok'\nend"] {
        let (job, echoes) = cancelled_after(h, source, Duration::from_millis(2500)).await;
        assert_eq!(job.state, JobState::Canceled, "{source}");
        assert!(echoes.len() >= 2 && echoes.iter().all(|e| e == "ok"), "{source}: {echoes:?}");
    }
});

// eft_19_reserve: all 3 — test_reserve, test_cancel_reserve,
// test_reserve_but_no_name. Ruote reads the mutex variable's queue of
// expression ids; here the order in which the branches ran shows it, and
// the variable is gone once both are done.
on_both!(eft_19_reserve, |h| {
    // test_reserve: the first holds the mutex while the second waits.
    let source = "concurrence do
  reserve mutex: 'a' do
    sequence do
      echo 'first in'
      wait '300ms'
      echo 'first out'
    end
  end
  reserve 'a' do
    echo 'second'
  end
end
echo 'mutex: ${v:a}'";
    assert_trace(h, source, &["first in", "first out", "second", "mutex: "]).await;
    // test_cancel_reserve: the holder is cancelled (here by an undo), the
    // second goes in.
    let source = "concurrence do
  reserve mutex: 'a', tag: 'holder' do
    sequence do
      echo 'first in'
      wait '10d'
      echo 'first out'
    end
  end
  reserve 'a' do
    echo 'second'
  end
  sequence do
    wait '300ms'
    undo 'holder'
  end
end";
    assert_trace(h, source, &["first in", "second"]).await;
    // test_reserve_but_no_name
    let source = "concurrence do
  reserve do
    sequence do
      echo 'a in'
      wait '200ms'
      echo 'a out'
    end
  end
  reserve do
    sequence do
      echo 'b in'
      wait '200ms'
      echo 'b out'
    end
  end
end";
    assert_trace(h, source, &["a in", "a out", "b in", "b out"]).await;
});

// eft_39_stall: test_no_operation — the job stays running with the
// `stall` live, and no error.
on_both!(eft_39_stall, |h| {
    let id = h.launch("stall", json!({})).await;
    tokio::time::sleep(Duration::from_millis(750)).await;
    let job = h.engine.store().job(&id).await.unwrap().unwrap();
    assert_eq!((job.state, job.error), (JobState::Running, None));
    h.engine.cancel("test", &id).await.unwrap();
    assert_eq!(h.wait(&id).await.state, JobState::Canceled);
});
