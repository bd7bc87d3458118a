//! Ruote's functional tests for the rest of its vocabulary
//! (`test/functional/eft_*.rb` in jmettraux/ruote: flow_expression,
//! participant, undo, redo, equals, save, restore, add_branches, lose, given
//! and filter), translated as in `ruote.rs`: each case keeps Ruote's
//! definition (in this language) and what Ruote asserts. Ruote's catch-all
//! participants become the tester's `mark` action (it appends `name` to the
//! field `trail`) or `echo`; the Ruby participants that look at what they
//! are given become the tester's `set` action (it returns its params as
//! fields), those with logic subprocesses. A StorageParticipant that holds
//! its workitem while the test looks at the job becomes a `stall`, a `wait`
//! or a tester call that sleeps (a call in flight is one of the job's
//! running steps). Where docs/language.md ("Where Mastermind differs from
//! Ruote") says Mastermind reports as an error what Ruote silently ignores,
//! the case asserts that error. `tests/engine_vocabulary.rs` covers the same
//! expressions in this project's own words. Every case runs on SQLite and
//! on PostgreSQL.

mod support;

use mastermind::engine::{Event, FlowEvent, JobEvent};
use mastermind::model::JobState;
use mastermind::store::{JobRecord, RunningStep};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::engine::{Db, Harness, assert_trace, completed, on_both, trail};
use tokio::sync::broadcast::Receiver;

/// The `name` param of every participant call that ended, in order.
async fn calls(h: &Harness, job: &str) -> Vec<Value> {
    h.engine.store().history(job).await.unwrap().iter().map(|e| e.params["name"].clone()).collect()
}

/// The lines `job`'s `echo`s print, read from `events` (taken before the
/// launch): until there are `n`, or (`n` = `None`) for `window`, for jobs
/// that do not end by themselves.
async fn echoes(events: &mut Receiver<JobEvent>, job: &str, n: Option<usize>, window: Duration) -> Vec<String> {
    use tokio::sync::broadcast::error::RecvError;
    let mut echoes = Vec::new();
    let deadline = tokio::time::Instant::now() + if n.is_some() { Duration::from_secs(30) } else { window };
    while n.is_none_or(|n| echoes.len() < n) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if event.job_id == job => {
                if let Event::Flow(FlowEvent::Echo { text }) = event.event {
                    echoes.push(text);
                }
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) => panic!("the engine's events closed"),
            Err(_) if n.is_none() => break,
            Err(_) => panic!("the echoes come in time: {echoes:?}"),
        }
    }
    echoes
}

/// The job as stored now: it must still be running, without an error.
async fn still_running(h: &Harness, job: &str) -> JobRecord {
    let record = h.engine.store().job(job).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Running, "{:?}", record.error);
    assert!(record.error.is_none(), "{:?}", record.error);
    record
}

/// Waits until the job has `n` participant calls in flight, and returns them.
async fn running_steps(h: &Harness, job: &str, n: usize) -> Vec<RunningStep> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let steps = h.engine.store().running_steps(job).await.unwrap();
        if steps.len() == n {
            return steps;
        }
        assert!(Instant::now() < deadline, "{n} steps in flight, not {}", steps.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Cancels a job that would not end by itself, and checks it ends so with
/// no call left in flight.
async fn cancel(h: &Harness, job: &str) {
    h.engine.cancel("test", job).await.unwrap();
    assert_eq!(h.wait(job).await.state, JobState::Canceled);
    assert!(h.engine.store().running_steps(job).await.unwrap().is_empty());
}

/// The launch of `source` is refused: the diagnostics, as text.
async fn refused(h: &Harness, source: &str) -> String {
    let definition = mastermind::language::parse("test.mm", source).unwrap_or_else(|e| panic!("{e}"));
    let err = h.engine.launch("test", &definition, Default::default(), None).await.unwrap_err();
    err.to_string()
}

/// The job failed at `line` with an error of `kind` whose message holds `text`.
fn failed(job: &JobRecord, kind: &str, line: u32, text: &str) {
    assert_eq!(job.state, JobState::Failed, "{:?}", job.fields);
    let e = job.error.as_ref().unwrap();
    assert_eq!((e.kind.as_str(), e.line), (kind, Some(line)), "{e}");
    assert!(e.message.contains(text), "{e}");
}

/// `v` without its `__result__` keys, at every depth (Ruote's
/// `Ruote.delete_all(fields, '__result__')`).
fn without_result(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter().filter(|(k, _)| *k != "__result__").map(|(k, v)| (k.clone(), without_result(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_result).collect()),
        other => other.clone(),
    }
}

/// The job's echoes, sorted (for concurrent branches).
async fn sorted_trace(h: &Harness, source: &str) -> Vec<String> {
    let (job, mut echoes) = h.trace(source, json!({})).await;
    completed(&job);
    echoes.sort();
    echoes
}

// eft_0_flow_expression: 0 of 2. Both look at Ruote's internals:
// test_root_and_root_id at the expression ids and classes of the process's
// root, test_root_stubborn (a Ruby participant) at its expression's root
// once the process has ended around a forgotten branch.

// eft_3_participant: 7 of 9. Left out: test_participant_exp_name_tree_
// rewriting (the tree Ruote stores for the expression) and
// test_not_dispatched (the expression's `dispatched` flag, unset while a
// Ruby participant's `consume` runs) are Ruote's internals.
// test_participant's counts of Ruote's dispatch and receive messages
// become the one call in the job's history; test_dispatched's
// StorageParticipant is a call in flight, a running step. The Ruby
// participants that keep what they see are the tester's `set` action (it
// returns its params as fields) or its call in the history. Ruote hands a
// participant its argument text (test_participant_and_att_text) and its
// block (test_tree); a call here takes named params only, and the launch
// refuses either rather than lose it (docs/language.md).
on_both!(eft_3_participant, |h| {
    // test_participant
    let job = h.run("participant ref: 'tester', name: 'alpha'", json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["alpha"]));
    assert_eq!(calls(h, &job.id).await, [json!("alpha")]);
    // test_participant_att_text
    let job = h.run("participant 'tester', name: 'bravo'", json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["bravo"]));
    // test_participant_exp_name
    let job = h.run("tester name: 'charly'", json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["charly"]));
    // test_participant_if
    let source = "mark_tester name: 'eecho'
mark_tester name: 'fox', if: 'false == true'
mark_tester name: 'gamma'";
    let job = h.run(source, json!({})).await;
    assert_eq!(trail(&job), json!(["eecho", "gamma"]));
    // test_participant_and_att_text: a call takes named params only, so
    // the argument text Ruote hands its participant as an attribute is
    // refused at launch here rather than lost (docs/language.md); named,
    // it is a param, and `if:` is not.
    let error = refused(h, "set_tester 'commander of the left guard', if: 'true'\necho 'done.'").await;
    assert!(error.contains("tester.set takes named params only"), "{error}");
    let source = "set_tester commander: 'of the left guard', if: 'true'\necho 'done.'";
    let job = assert_trace(h, source, &["done."]).await;
    let history = h.engine.store().history(&job.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].params, json!({"commander": "of the left guard"}));
    // test_tree: Ruote hands a participant step's block to the participant
    // (`__children__`); a participant call here has no block, and one is
    // refused at launch rather than ignored.
    let source = "set_tester do\n  on_error /500/ => 'this_or_${that}'\n  whatever 'list' => '$f:list'\nend";
    let error = refused(h, source).await;
    assert!(error.contains("it takes no block"), "{error}");
    // test_dispatched: toto holds the workitem, its call is in flight.
    let job = h.launch("mark_tester name: 'toto', sleep_ms: 20000", json!({})).await;
    let steps = running_steps(h, &job, 1).await;
    assert_eq!((steps[0].participant.as_str(), steps[0].action.as_str(), steps[0].line), ("tester", "mark", Some(1)));
    cancel(h, &job).await;
});

// eft_8_undo: all 8. The counts of Ruote's entered_tag, cancel and
// left_tag messages and its `__past_tags__` variable are its internals and
// left out. Ruote's StorageParticipant alpha is a `stall` in test_undo_ref
// and test_kill, a tester call that sleeps in test_undo (the call is
// aborted: no call is left in flight, and it never marks the trail). Where
// Ruote silently does nothing, Mastermind reports an error (see
// docs/language.md): `cancel` naming a tag no expression carries
// (test_undo_missing_tag, test_undo_tag_pointing_nowhere,
// test_undo_tag_pointing_to_missing_fei) or naming none (test_undo_no_tag)
// is refused at launch; a computed tag that names a variable holding
// something else than a tag fails at the step's line.
on_both!(eft_8_undo, |h| {
    // test_undo_ref
    let source = "concurrence do\n  stall tag: 'kilroy'\n  undo ref: 'kilroy'\nend\necho 'over.'";
    let job = assert_trace(h, source, &["over."]).await;
    assert!(h.engine.store().running_steps(&job.id).await.unwrap().is_empty());
    // test_undo
    let source = "concurrence do
  mark_tester name: 'alpha', sleep_ms: 20000, tag: 'kilroy'
  cancel 'kilroy'
end
echo 'over'";
    let started = Instant::now();
    let job = assert_trace(h, source, &["over"]).await;
    assert_eq!(trail(&job), json!([]));
    assert!(h.engine.store().running_steps(&job.id).await.unwrap().is_empty());
    assert!(calls(h, &job.id).await.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // test_undo_parent
    let source = "sequence tag: 'richard' do\n  cancel 'richard'\n  echo 'out'\nend\necho '.'";
    assert_trace(h, source, &["."]).await;
    // test_undo_missing_tag: refused at launch.
    let text = refused(h, "cancel 'nada'\necho '.'").await;
    assert!(text.contains("cancel: no expression is tagged 'nada'") && text.contains(":1:1"), "{text}");
    // test_undo_tag_pointing_nowhere: as Ruote writes it, refused at launch;
    // with the tag computed, the variable is read and refused at its line.
    let text = refused(h, "set 'v:nada' => []\ncancel 'nada'\necho '.'").await;
    assert!(text.contains("cancel: no expression is tagged 'nada'") && text.contains(":2:1"), "{text}");
    let job = h.run("set 'v:nada' => []\ncancel '${f:tag}'\necho '.'", json!({"tag": "nada"})).await;
    failed(&job, "bad-input", 2, "variable 'nada' holds");
    // test_undo_tag_pointing_to_missing_fei: the same with a hash that
    // looks like Ruote's expression id.
    let set = "set 'v:nada' => { 'wfid' => '${wfid}', 'expid' => '${expid}', 'engine_id' => '${engine_id}' }";
    let text = refused(h, &format!("{set}\ncancel 'nada'\necho '.'")).await;
    assert!(text.contains("cancel: no expression is tagged 'nada'"), "{text}");
    let job = h.run(&format!("{set}\ncancel '${{f:tag}}'\necho '.'"), json!({"tag": "nada"})).await;
    failed(&job, "bad-input", 2, "variable 'nada' holds");
    // test_undo_no_tag: refused at launch.
    let text = refused(h, "cancel\necho 'x'").await;
    assert!(text.contains("cancel: which expression?") && text.contains(":1:1"), "{text}");
    // test_kill: the killed expression's on_cancel does not run (with
    // `cancel` it does).
    let source = "concurrence do
  stall tag: 'kilroy', on_cancel: 'report'
  VERB 'kilroy'
end
echo 'over.'
define 'report' do
  echo 'xxx'
end";
    assert_trace(h, &source.replace("VERB", "kill"), &["over."]).await;
    let (job, mut echoes) = h.trace(&source.replace("VERB", "cancel"), json!({})).await;
    completed(&job);
    echoes.sort();
    assert_eq!(echoes, ["over.", "xxx"]);
});

// eft_9_redo: all 6. test_redo's StorageParticipant alpha, which the test
// lets proceed twice, is an `echo` and a short `wait`: the sequence is
// applied for the third time, the job has no error (Ruote's counts of
// expressions and entered_tag messages are its internals). In
// test_forget_and_redo the forgotten alpha is a tester call, and a short
// `wait` paces the redo: without it, the endless loop journals thousands
// of forgotten calls a second (Ruote's test stops it after two). The Ruby
// participant of test_redo__blank_workitem (it appends 'x' to the field
// `alpha`, and says `over` from its second call on) is a subprocess that
// remembers it was called in a root variable (variables survive a redo;
// fields do not). The missing and wrong tags are errors here, as for
// eft_8_undo (see docs/language.md).
on_both!(eft_9_redo, |h| {
    // test_redo
    let source = "sequence tag: 'seq' do
  echo 'alpha'
  wait '100ms'
  _redo ref: 'seq'
end";
    let mut events = h.engine.subscribe();
    let job = h.launch(source, json!({})).await;
    assert_eq!(echoes(&mut events, &job, Some(3), Duration::ZERO).await, ["alpha"; 3]);
    still_running(h, &job).await;
    cancel(h, &job).await;
    // test_redo_missing_tag: refused at launch.
    let text = refused(h, "_redo 'nada'\necho '.'").await;
    assert!(text.contains("_redo: no expression is tagged 'nada'") && text.contains(":1:1"), "{text}");
    // test_redo_tag_pointing_nowhere
    let text = refused(h, "set 'v:nada' => []\n_redo 'nada'\necho '.'").await;
    assert!(text.contains("_redo: no expression is tagged 'nada'"), "{text}");
    let job = h.run("set 'v:nada' => []\n_redo '${f:tag}'\necho '.'", json!({"tag": "nada"})).await;
    failed(&job, "bad-input", 2, "variable 'nada' holds");
    // test_redo_tag_pointing_to_missing_fei
    let set = "set 'v:nada' => { 'wfid' => '${wfid}', 'expid' => '${expid}', 'engine_id' => '${engine_id}' }";
    let text = refused(h, &format!("{set}\n_redo 'nada'\necho '.'")).await;
    assert!(text.contains("_redo: no expression is tagged 'nada'"), "{text}");
    let job = h.run(&format!("{set}\n_redo '${{f:tag}}'\necho '.'"), json!({"tag": "nada"})).await;
    failed(&job, "bad-input", 2, "variable 'nada' holds");
    // test_forget_and_redo: the forgotten calls pile up, the job goes on.
    let source = "sequence tag: 'x' do\n  mark_tester name: 'alpha', forget: true\n  wait '100ms'\n  _redo 'x'\nend";
    let job = h.launch(source, json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while calls(h, &job).await.len() < 2 {
        assert!(Instant::now() < deadline, "alpha is called twice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    still_running(h, &job).await;
    cancel(h, &job).await;
    // test_redo__blank_workitem
    let source = "sequence tag: 'x' do
  alpha
  _redo 'x', unless: '${over}'
end
define 'alpha' do
  push 'f:alpha', val: 'x'
  set 'f:over' => '$v:/seen'
  set 'v:/seen' => true
end";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(job.fields["alpha"], json!(["x"]));
});

// eft_17_equals: both tests.
on_both!(eft_17_equals, |h| {
    // test_false
    let source = "sequence do
  equals field_value: 'missing', other_value: 'nada'
  echo '${f:__result__}'
  equals variable_value: 'missing', other_value: 'nada'
  echo '${f:__result__}'
  equals value: 'missing', other_value: 'nada'
  echo '${f:__result__}'
  equals val: 'missing', other_val: 'nada'
  echo '${f:__result__}'
end";
    assert_trace(h, source, &["false"; 4]).await;
    // test_true
    let source = "sequence do
  equals value: 'nada', other_value: 'nada'
  echo '${f:__result__}'
  set 'v:nada' => 'nada'
  equals variable_value: 'nada', other_value: 'nada'
  echo '${f:__result__}'
end";
    assert_trace(h, source, &["true"; 2]).await;
});

// eft_20_save: all 5. The StorageParticipant alpha, which holds the
// workitem while Ruote's test looks at it, is a tester call given what the
// test looks at: the field as its `name` (it marks the trail), or in
// test_save_to_variable the variable as a param of `set` (Ruote reads the
// process's variables; here the call returns it as a field).
on_both!(eft_20_save, |h| {
    // test_save_to_variable
    let job = h.run("save to_variable: 'v'\nset_tester v: '$v:v'", json!({})).await;
    completed(&job);
    assert!(job.fields["v"].is_object(), "{:?}", job.fields);
    // test_save_to_field
    let source = "set field: 'nada', value: 'surf'\nsave to_f: 'f'\nmark_tester name: '${f.nada}'";
    let job = h.run(source, json!({})).await;
    assert_eq!(trail(&job), json!(["surf"]));
    // test_save_to_field_deep
    let source = "set field: 'nada', value: 'surf'
set field: 'h', value: {}
save to_f: 'h.wi_as_before'
mark_tester name: '${h.wi_as_before.nada}'";
    let job = h.run(source, json!({})).await;
    assert_eq!(trail(&job), json!(["surf"]));
    // test_save_to_f (and a deep f)
    let source = "set 'f:x' => 'val0'\nset 'f:h' => {}\nsave to: 'f:h.deep'\nsave to: 'f:a'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    let fields = without_result(&Value::Object(job.fields.clone()));
    assert_eq!(fields["h"], json!({"deep": {"x": "val0", "h": {}}}));
    assert_eq!(fields["a"], json!({"x": "val0", "h": {"deep": {"x": "val0", "h": {}}}}));
    // test_save_to_v
    let job = h.run("set 'f:x' => 'val0'\nsave to: 'v:a'\nset 'f:y' => '$v:a'", json!({})).await;
    completed(&job);
    assert_eq!(job.fields["y"], json!({"x": "val0", "__result__": "val0"}));
});

// eft_21_restore: all 3.
on_both!(eft_21_restore, |h| {
    // test_save_to_variable
    let source = "sequence do
  set field: 'nada', value: 'surf'
  save to_variable: 'v'
  unset field: 'nada'
  echo '-${f:nada}-'
  restore from_variable: 'v'
  echo '-${f:nada}-'
end";
    assert_trace(h, source, &["--", "-surf-"]).await;
    // test_set_fields
    let source = "sequence do\n  set_fields val: { 'a' => 'A', 'b' => 'B' }\n  echo '-${f:a}-'\nend";
    assert_trace(h, source, &["-A-"]).await;
    // test_set_fields_deep
    let source = "sequence do
  set f: 'h', val: {}
  set_fields val: { 'a' => 'A', 'b' => 'B' }, to: 'h.hh'
  echo '-${f:h.hh.b}-'
end";
    assert_trace(h, source, &["-B-"]).await;
});

// eft_24_add_branches: all 4 (the branches print in any order: sorted, as
// Ruote's test sorts them).
on_both!(eft_24_add_branches, |h| {
    // test_add_branches
    let source = "concurrent_iterator on: 'a, b' do
  sequence do
    echo '${v:i}'
    add_branches 'c, d', if: '${v:ii} == 0'
  end
end";
    assert_eq!(sorted_trace(h, source).await, ["a", "b", "c", "d"]);
    // test_add_branches_times
    let source = "concurrent_iterator times: 3 do
  sequence do
    echo '${v:i}'
    add_branches 2, if: '${v:i} == 1'
  end
end";
    assert_eq!(sorted_trace(h, source).await, ["0", "1", "2", "3", "4"]);
    // test_add_branches_times_and_whatever
    let source = "concurrent_iterator times: 3 do
  sequence do
    echo '${v:i}'
    add_branches 'a, b', if: '${v:i} == 1'
  end
end";
    assert_eq!(sorted_trace(h, source).await, ["0", "1", "2", "a", "b"]);
    // test_add_branches_with_tag
    let source = "concurrent_iterator on: 'a, b', to_v: 'x', tag: 'here' do
  sequence do
    echo '<:${v:x}'
    concurrent_iterator on: '0, 1' do
      sequence do
        echo '>:${v:i}'
        add_branch 'c', ref: 'here', if: '${v:x} == a'
      end
    end
  end
end";
    let expected = ["<:a", "<:b", "<:c", "<:c", ">:0", ">:0", ">:0", ">:0", ">:1", ">:1", ">:1", ">:1"];
    assert_eq!(sorted_trace(h, source).await, expected);
});

// eft_32_lose: all 4. Ruote's counts of the process's expressions are its
// internals; the StorageParticipants holding workitems are tester calls
// that sleep, in flight (running steps) until the job is cancelled.
on_both!(eft_32_lose, |h| {
    // test_lose_alone: the job is stuck at the lose, without an error.
    let job = h.launch("lose", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_running(h, &job).await;
    cancel(h, &job).await;
    // test_losing_child: alpha replies to the lose, charly is never reached.
    let mut events = h.engine.subscribe();
    let job = h.launch("lose do\n  echo 'alpha'\nend\necho 'charly'", json!({})).await;
    assert_eq!(echoes(&mut events, &job, None, Duration::from_millis(700)).await, ["alpha"]);
    still_running(h, &job).await;
    cancel(h, &job).await;
    // test_cancelling_lose
    let job = h.launch("lose do\n  mark_tester name: 'alpha', sleep_ms: 20000\nend", json!({})).await;
    running_steps(h, &job, 1).await;
    cancel(h, &job).await;
    // test_multi
    let source = "lose do
  mark_tester name: 'alpha', sleep_ms: 20000
  mark_tester name: 'bravo', sleep_ms: 20000
end";
    let job = h.launch(source, json!({})).await;
    running_steps(h, &job, 2).await;
    still_running(h, &job).await;
    cancel(h, &job).await;
});

// eft_34_given: all 5.
on_both!(eft_34_given, |h| {
    let check = async |source: &str, fields: Value, expected: &[&str]| {
        let (job, echoes) = h.trace(source, fields.clone()).await;
        completed(&job);
        assert_eq!(echoes, expected, "{fields}");
    };
    // test_given_that
    let source = "given do
  that '${state} == ready' do
    echo 'a'
  end
  that '${location} == nichoume' do
    echo 'b'
  end
  echo 'c'
  echo 'd'
end";
    check(source, json!({}), &["c", "d"]).await;
    check(source, json!({"state": "ready"}), &["a"]).await;
    check(source, json!({"location": "nichoume"}), &["b"]).await;
    check(source, json!({"state": "ready", "location": "nichoume"}), &["a"]).await;
    // test_given_x_of
    let source = "given '${status}' do
  of 'ready' do
    echo 'a'
  end
  of 'dead' do
    echo 'b'
  end
  echo 'c'
  echo 'd'
end";
    check(source, json!({}), &["c", "d"]).await;
    check(source, json!({"status": "ready"}), &["a"]).await;
    check(source, json!({"status": "dead"}), &["b"]).await;
    // test_given_x_of_and_that, test_attributes (the same with t:)
    let source = "given '${status}' do
  that '${location} == higashiyama' do
    echo 'a'
  end
  of 'ready' do
    echo 'b'
  end
  of 'dead' do
    echo 'c'
  end
  echo 'd'
end";
    let with_t = "given t: '${status}' do
  that t: '${location} == higashiyama' do
    echo 'a'
  end
  of t: 'ready' do
    echo 'b'
  end
  of 'dead' do
    echo 'c'
  end
  echo 'd'
end";
    for source in [source, with_t] {
        check(source, json!({}), &["d"]).await;
        check(source, json!({"status": "ready"}), &["b"]).await;
        check(source, json!({"status": "dead", "location": "higashiyama"}), &["a"]).await;
    }
    // test_match
    let source = "given '${status}' do
  of '/^a/' do
    echo 'a'
  end
  of /^b/ do
    echo 'b'
  end
  echo 'z'
end";
    check(source, json!({}), &["z"]).await;
    check(source, json!({"status": "alpha"}), &["a"]).await;
    check(source, json!({"status": "bravo"}), &["b"]).await;
});

/// eft_35_filter's `assert_terminates`: the job completes; its fields less
/// `__result__`.
async fn terminates(h: &Harness, source: &str, fields: Value) -> Value {
    let job = h.run(source, fields).await;
    completed(&job);
    let mut fields = job.fields.clone();
    fields.remove("__result__");
    Value::Object(fields)
}

/// eft_35_filter's `assert_does_not_validate`: the job fails at the filter
/// with a validation error listing the deviations.
async fn does_not_validate(h: &Harness, source: &str, fields: Value) -> JobRecord {
    let job = h.run(source, fields).await;
    assert_eq!(job.state, JobState::Failed, "{:?}", job.fields);
    let e = job.error.as_ref().unwrap();
    assert_eq!(e.kind.as_str(), "validation", "{e}");
    assert!(e.message.contains("deviation"), "{e}");
    job
}

// eft_35_filter: all 27. The radial definitions (Ruote's indented syntax)
// are written as blocks; `_or` and `or` are the same here.
on_both!(eft_35_filter, |h| {
    // test_filter_single_rule_validation, test_filter_single_rule__drop_if
    terminates(h, "filter 'x', type: 'string'", json!({"x": "nada"})).await;
    terminates(h, "filter 'x', type: 'string', if: true", json!({"x": "nada"})).await;
    // test_filter_single_rule_validation_failure
    does_not_validate(h, "filter 'x', type: 'string'", json!({"x": 2})).await;
    // test_filter_single_rule_transformation
    assert_eq!(terminates(h, "filter 'x', or: 'crimea'", json!({})).await, json!({"x": "crimea"}));
    // test_filter_single_rule_in
    terminates(h, "filter 'colour', in: %w[ red green blue ]", json!({"colour": "green"})).await;
    // test_filter_multiple_rules_validation, test_filter_multiple_rules_validation_failure
    let rules = "filter in: [
  { field: 'x', type: 'string' },
  { field: 'y', type: 'number' }
]";
    terminates(h, rules, json!({"x": "s", "y": 2})).await;
    does_not_validate(h, rules, json!({"x": "s", "y": "s"})).await;
    // test_filter_multiple_rules_transformation
    let source = "filter in: [
  { field: 'x', or: 'alpha' },
  { field: 'y', or: 'bravo' }
]";
    assert_eq!(terminates(h, source, json!({})).await, json!({"x": "alpha", "y": "bravo"}));
    // test_filter_in_variable, test_in_filter_in_variable
    let rules = "[
  { field: 'a', set: 'A' },
  { field: 'b', or: 'B' }
]";
    let expected = json!({"a": "A", "b": "B"});
    let source = format!("set 'v:toto' => {rules}\nfilter 'v:toto'");
    assert_eq!(terminates(h, &source, json!({})).await, expected);
    let source = format!("set 'v:toto' => {{ in: {rules} }}\nfilter 'v:toto'");
    assert_eq!(terminates(h, &source, json!({})).await, expected);
    // test_filter_in_field, test_in_filter_in_field
    let source = format!("set 'f:toto' => {rules}\nfilter 'f:toto'\nunset 'f:toto'");
    assert_eq!(terminates(h, &source, json!({})).await, expected);
    let source = format!("set 'f:toto' => {{ in: {rules} }}\nfilter 'f:toto'\nunset 'f:toto'");
    assert_eq!(terminates(h, &source, json!({})).await, expected);
    // test_tilde: ~ is the fields as they were before this filter.
    let source = "filter in: [
  { field: 'x', set: 'X' },
  { field: 'x', copy_from: '~.x' }
]";
    assert_eq!(terminates(h, source, json!({"x": 1})).await, json!({"x": 1}));
    // test_double_tilde: ~~ is the fields the enclosing expression started with.
    let source = "filter 'x', set: 'X'\nfilter 'x', copy_from: '~~.x'";
    assert_eq!(terminates(h, source, json!({"x": 1})).await, json!({"x": 1}));
    // test_record
    let x = json!([{"type": "string", "field": "x"}, "x", 1]);
    let y = json!([{"type": "number", "field": "y"}, "y", null]);
    let fields = terminates(h, "filter 'x', type: 'string', record: true", json!({"x": 1})).await;
    assert_eq!(fields, json!({"__validation_errors__": [x], "x": 1}));
    // test_record__complex
    let source = "filter in: [
  { field: 'x', type: 'string', record: true },
  { field: 'y', type: 'number' }
]";
    let fields = terminates(h, source, json!({"x": 1})).await;
    assert_eq!(fields, json!({"__validation_errors__": [x, y], "x": 1}));
    // test_record_in_designated_field
    let fields = terminates(h, "filter 'x', type: 'string', record: 'verrors'", json!({"x": 1})).await;
    assert_eq!(fields, json!({"verrors": [x], "x": 1}));
    // test_record_accumulates
    let source = "filter 'x', type: 'string', record: true\nfilter 'y', type: 'number', record: true";
    let fields = terminates(h, source, json!({"x": 1})).await;
    assert_eq!(fields, json!({"__validation_errors__": [x, y], "x": 1}));
    // test_record_flushes_and_accumulates
    let source = "filter 'x', type: 'string', record: true\nfilter 'y', type: 'number', record: true, flush: true";
    let fields = terminates(h, source, json!({"x": 1})).await;
    assert_eq!(fields, json!({"__validation_errors__": [y], "x": 1}));
    // test_filter_and_block, test_filter_and_block__radial (`f` for
    // `field`), test_filter_and_block__field_name_is_expname,
    // test_filter_and_block__collision_with_if
    for source in [
        "filter do\n  field 'x', type: 'string'\n  field 'y', type: 'number'\nend",
        "filter do\n  f 'x', type: 'string'\n  f 'y', type: 'number'\nend",
        "filter do\n  x type: 'string'\n  y type: 'number'\nend",
        "filter if: true do\n  x type: 'string'\n  y type: 'number'\nend",
    ] {
        terminates(h, source, json!({"x": "s", "y": 2})).await;
        does_not_validate(h, source, json!({"x": "s", "y": "s"})).await;
    }
    // test_filter_block_and_or, test_filter_block_and_or__radial
    for source in [
        "filter do\n  field 'x', type: 'string'\n  _or\n  field 'x', type: 'number'\nend",
        "filter do\n  x type: 'string'\n  or\n  x type: 'number'\nend",
    ] {
        terminates(h, source, json!({"x": "s"})).await;
        terminates(h, source, json!({"x": 5})).await;
        does_not_validate(h, source, json!({"x": true})).await;
    }
    // test_cancel_filter_in_error: the failed job can be cancelled.
    let job = does_not_validate(h, "filter in: [ { field: 'x', type: :number } ]", json!({})).await;
    h.engine.cancel("test", &job.id).await.unwrap();
    assert_eq!(h.wait(&job.id).await.state, JobState::Canceled);
    // test_cancel_filter_out_error
    // (`out:` is no filter for a filter: as in Ruote, a rule without a field.)
    let job = h.run("filter out: [ { field: 'x', type: :number } ]", json!({})).await;
    failed(&job, "bad-input", 1, "a rule needs a 'field'");
    h.engine.cancel("test", &job.id).await.unwrap();
    assert_eq!(h.wait(&job.id).await.state, JobState::Canceled);
});
