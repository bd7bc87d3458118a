//! Ruote's functional tests for the looping and waiting expressions
//! (`test/functional/eft_*.rb` in jmettraux/ruote: cursor and loop),
//! translated as in `ruote.rs`: each case keeps Ruote's definition (in this
//! language), and what Ruote asserts. Ruote's catch-all participants become
//! the tester's `mark` action (it appends `name` to the field `trail`) or
//! `echo`; the Ruby participants that set `__command__` become `set_tester
//! __command__: [...]` (or `set 'f:__command__' => [...]`), those with logic
//! subprocesses. Every case runs on SQLite and on PostgreSQL.

mod support;

use mastermind::engine::{Event, FlowEvent};
use mastermind::model::JobState;
use serde_json::json;
use std::time::Duration;
use support::engine::{Db, Harness, assert_trace, completed, on_both};

/// The first `n` lines the job's `echo`s print, read from `events` (taken
/// before the launch); for jobs that print too many for `Harness::trace`.
async fn first_echoes(
    events: &mut tokio::sync::broadcast::Receiver<mastermind::engine::JobEvent>,
    job: &str,
    n: usize,
) -> Vec<String> {
    use tokio::sync::broadcast::error::RecvError;
    let mut echoes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while echoes.len() < n {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("the echoes come in time") {
            Ok(event) if event.job_id == job => {
                if let Event::Flow(FlowEvent::Echo { text }) = event.event {
                    echoes.push(text);
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => panic!("the engine's events closed"),
        }
    }
    echoes
}

// eft_14_cursor: all 24 — test_jump_to_variable_tag and test_deep_rewind
// in the block after the next one. Ruby participants become subprocesses with
// `inc`/`_if`/`set`, or `set_tester __command__:`; Ruote's storage
// participant (test_reset, test_reset_if: a person proceeds, the test looks
// at the fields alpha gets each time) becomes an `echo` of the field, with a
// counter in a variable (a reset keeps variables) ending the loop after the
// second round. test_workitem_command_and_jump_string and _to_string set
// `__command__` with Ruby's `workitem.command = 'jump delta'`, which stores
// the array `['jump', 'delta']`: the three tests share one definition.
on_both!(eft_14_cursor, |h| {
    // test_empty_cursor, test_cursor
    assert_trace(h, "cursor do\nend", &[]).await;
    assert_trace(h, "cursor do\n  echo 'a'\n  echo 'b'\nend", &["a", "b"]).await;
    // test_skip
    assert_trace(h, "cursor do\n  echo 'a'\n  skip 1\n  echo 'b'\n  echo 'c'\nend", &["a", "c"]).await;
    // test_break, test_stop, test_over
    for command in ["_break", "stop", "over"] {
        assert_trace(h, &format!("cursor do\n  echo 'a'\n  {command}\n  echo 'b'\nend"), &["a"]).await;
    }
    // test_jump_to_tag
    let source = "cursor do\n  echo 'a'\n  jump to: 'ctag'\n  echo 'b'\n  echo 'c', tag: 'ctag'\nend";
    assert_trace(h, source, &["a", "c"]).await;
    // test_rewind_if: Ruby's alpha (here a sequence, the cursor's only
    // child, as alpha was) counts, and asks for a rewind below 5.
    let source = "sequence do
  set f: 'counter', val: 0
  set f: 'rewind', val: false
  cursor rewind_if: '${f:rewind}' do
    sequence do
      echo 'a'
      inc 'f:counter'
      _if '${f:counter} < 5' do
        set 'f:rewind' => true
        set 'f:rewind' => false
      end
    end
  end
end";
    assert_trace(h, source, &["a"; 5]).await;
    // test_jump_to: the participants are subprocesses, the jump names one.
    let source = "cursor do
  author
  reviewer
  jump to: 'author', if: '${not_ok}'
  publisher
end
define 'author' do
  echo 'a'
  inc 'f:count'
end
define 'reviewer' do
  echo 'r'
  _if '${f:count} < 3' do
    set 'f:not_ok' => true
    set 'f:not_ok' => false
  end
end
define 'publisher' do
  echo 'p'
end";
    assert_trace(h, source, &["a", "r", "a", "r", "a", "r", "p"]).await;
    // test_jump_to_participant_name, test_jump_to_participant_ref_name
    let subs = "\ndefine 'a' do\n  echo 'a'\nend\ndefine 'b' do\n  echo 'b'\nend\ndefine 'c' do\n  echo 'c'\nend";
    let source =
        format!("cursor do\n  participant 'a'\n  jump to: 'c'\n  participant 'b'\n  participant 'c'\nend{subs}");
    assert_trace(h, &source, &["a", "c"]).await;
    let source = format!(
        "cursor do\n  participant ref: 'a'\n  jump to: 'c'\n  participant ref: 'b'\n  participant ref: 'c'\nend{subs}"
    );
    assert_trace(h, &source, &["a", "c"]).await;
    // test_external_break: a `repeat` that never waits is stopped from
    // the other branch.
    let source = "concurrence do
  repeat tag: 'cu' do
    echo 'a'
  end
  sequence do
    wait '1.1'
    stop ref: 'cu'
    mark_tester name: 'alpha'
  end
end";
    let mut events = h.engine.subscribe();
    let job = h.launch(source, json!({})).await;
    assert_eq!(first_echoes(&mut events, &job, 3).await, ["a", "a", "a"]);
    let job = h.wait(&job).await;
    completed(&job);
    // alpha was reached (the repeat's reply came first, so its fields won
    // the merge: the trail is in the history, not in the job's fields).
    let called: Vec<_> =
        h.engine.store().history(&job.id).await.unwrap().into_iter().map(|e| e.params["name"].clone()).collect();
    assert_eq!(called, [json!("alpha")]);
    // test_nested_break
    let source = "cursor tag: 'cu' do
  echo 'a'
  cursor do
    echo 'b'
    _break ref: 'cu'
    echo 'c'
  end
  echo 'd'
end";
    assert_trace(h, source, &["a", "b"]).await;
    // test_break_if, test_over_unless
    assert_trace(h, "cursor break_if: 'true' do\n  echo 'c'\nend\necho 'done.'", &["done."]).await;
    assert_trace(h, "cursor over_unless: 'false' do\n  echo 'c'\nend\necho 'done.'", &["done."]).await;
    // test_cursor_and_workitem: bravo asks to skip one, alpha to break.
    let source = "cursor do
  echo 'in'
  set_tester __command__: ['skip', 1]
  echo 'mid'
  set_tester __command__: ['break', nil]
  echo 'out'
end
echo 'done.'";
    assert_trace(h, source, &["in", "done."]).await;
    // test_workitem_command_and_jump_array, test_workitem_command_and_jump_string,
    // test_workitem_command_and_jump_to_string: charly asks for a jump to
    // delta (a do-nothing subprocess here).
    let source = "cursor do
  echo 'top'
  set_tester __command__: ['jump', 'delta']
  echo 'middle'
  delta
  echo 'bottom'
end
define 'delta' do
  noop
end";
    assert_trace(h, source, &["top", "bottom"]).await;
    // test_reset: alpha (the echo) never sees the field set after it.
    let source = "cursor do
  echo 'toto:${f:toto}'
  set 'f:toto' => 'oops'
  inc 'v:round'
  reset if: '${v:round} < 2'
end";
    assert_trace(h, source, &["toto:", "toto:"]).await;
    // test_reset_if
    let source = "cursor reset_if: '${f:reset} == true && ${v:round} < 2' do
  echo 'toto:${f:toto}'
  set 'f:toto' => 'oops'
  inc 'v:round'
  set 'f:reset' => true
end";
    assert_trace(h, source, &["toto:", "toto:"]).await;
    // test_cursor_with_lonely_rewind: the cursor rewinds for ever, and the
    // job is still there (last: it keeps the worker busy until the end).
    let job = h.launch("cursor do\n  rewind\nend", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let record = h.engine.store().job(&job).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Running, "{:?}", record.error);
});

// eft_15_loop: both tests. Ruote's DSL writes `_loop` (Ruby's `loop` is
// taken); here it is `loop`. alpha and bravo count in the field `count`
// and ask for a break once it passes 5.
on_both!(eft_15_loop, |h| {
    // test_loop
    let source = "loop do
  alpha
  bravo
end
define 'alpha' do
  echo 'a'
  inc 'f:count'
end
define 'bravo' do
  echo 'b'
  inc 'f:count'
  set 'f:__command__' => ['break', nil], if: '${f:count} > 5'
end";
    assert_trace(h, source, &["a", "b", "a", "b", "a", "b"]).await;
    // test_repeat
    let source = "repeat do
  alpha
end
define 'alpha' do
  echo 'a'
  inc 'f:count'
  set 'f:__command__' => ['break', nil], if: '${f:count} > 5'
end";
    assert_trace(h, source, &["a"; 6]).await;
});

// eft_14_cursor, continued: a jump to a computed tag, and a cursor that
// rewinds for ever without waiting.
on_both!(eft_14_cursor_more, |h| {
    // test_jump_to_variable_tag: the jump's target and the tag are both
    // `${v:v0}`, which is 'ctag'.
    let source = "cursor do
  echo 'a'
  set var: 'v0', val: 'ctag'
  jump to: '${v:v0}'
  echo 'b'
  echo 'c', tag: '${v:v0}'
end";
    assert_trace(h, source, &["a", "c"]).await;
    // test_deep_rewind: a rewind from inside a sequence starts the cursor
    // over, for ever ("a", "a", ...; "b" never). Ruote's test stops there;
    // here the job must then take a cancel, promptly.
    let source = "cursor do\n  sequence do\n    echo 'a'\n    rewind\n    echo 'b'\n  end\nend";
    let mut events = h.engine.subscribe();
    let job = h.launch(source, json!({})).await;
    assert_eq!(first_echoes(&mut events, &job, 2).await, ["a", "a"]);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), h.engine.cancel("test", &job))
        .await
        .expect("the cancel gets through")
        .unwrap();
    assert_eq!(h.wait(&job).await.state, JobState::Canceled);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
});
