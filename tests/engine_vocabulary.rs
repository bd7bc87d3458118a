//! The rest of Ruote's vocabulary, translated from Ruote's functional
//! tests (eft_8_undo, eft_9_redo, eft_16_if, eft_17_equals, eft_20_save,
//! eft_21_restore, eft_24_add_branches, eft_32_lose, eft_34_given,
//! eft_35_filter): each run on SQLite and on PostgreSQL, asserting the
//! order of participant calls (the tester's `trail`) and the fields.

mod support;

use mastermind::model::JobState;
use mastermind::store::JobRecord;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::engine::{Db, Harness, completed, on_both, trail};

/// The `name` param of every participant call, in the order they ended.
async fn calls(h: &Harness, job: &JobRecord) -> Vec<Value> {
    h.engine.store().history(&job.id).await.unwrap().iter().map(|e| e.params["name"].clone()).collect()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> =
        v.as_array().unwrap().iter().map(|x| x.as_str().map(str::to_owned).unwrap_or(x.to_string())).collect();
    items.sort();
    items
}

on_both!(equals_and_if_without_a_test, |h| {
    let source = "equals field_value: 'customer', other_value: 'BP'
mark_tester name: '$f:__result__'
_if do
  equals field_value: 'customer', other_val: 'BP'
  mark_tester name: 'then'
  mark_tester name: 'else'
end
set 'v:nada' => 'nada'
equals var_value: 'nada', other_value: 'nada'
mark_tester name: '$f:__result__'
equals value: 1, other_value: '1'
mark_tester name: '$f:__result__'";
    let job = h.run(source, json!({"customer": "BP"})).await;
    completed(&job);
    assert_eq!(trail(&job), json!([true, "then", true, false]));
    let job = h.run(source, json!({"customer": "Shell"})).await;
    assert_eq!(trail(&job), json!([false, "else", true, false]));
    let job = h.run("mark_tester name: 'a'\nunless do\n  equals field_value: 'missing', other_value: 'x'\n  mark_tester name: 'then'\nend", json!({})).await;
    assert_eq!(trail(&job), json!(["a", "then"]));

    let job = h.run("mark_tester name: 'a'\nequals value: 'a'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!((e.kind.as_str(), e.line), ("bad-input", Some(2)));
    assert!(e.message.contains("two values"), "{e}");
});

on_both!(given_that_and_of, |h| {
    let source = "given '${status}' do
  that '${location} == paris' do
    mark_tester name: 'paris'
  end
  of 'ready' do
    mark_tester name: 'ready'
    mark_tester name: 'ready2'
  end
  of '/^dea/' do
    mark_tester name: 'dead'
  end
  mark_tester name: 'else1'
  mark_tester name: 'else2'
end
mark_tester name: 'after'";
    for (fields, expected) in [
        (json!({"status": "ready", "location": "rome"}), json!(["ready", "ready2", "after"])),
        (json!({"status": "dead", "location": "paris"}), json!(["paris", "after"])),
        (json!({"status": "dead", "location": "rome"}), json!(["dead", "after"])),
        (json!({"status": "other", "location": "rome"}), json!(["else1", "else2", "after"])),
    ] {
        let job = h.run(source, fields.clone()).await;
        completed(&job);
        assert_eq!(trail(&job), expected, "{fields}");
        assert!(!job.fields.contains_key("__given__") && !job.fields.contains_key("__result__"), "{:?}", job.fields);
    }
    // given without a subject: only `that`s, then the else part.
    let job = h
        .run(
            "given do\n  that '${n} > 2' do\n    mark_tester name: 'big'\n  end\n  mark_tester name: 'small'\nend",
            json!({"n": 1}),
        )
        .await;
    assert_eq!(trail(&job), json!(["small"]));
    // `that` alone is an `if` whose children form a sequence.
    let job =
        h.run("that '${n} == 1' do\n  mark_tester name: 'a'\n  mark_tester name: 'b'\nend", json!({"n": 1})).await;
    assert_eq!(trail(&job), json!(["a", "b"]));

    let job = h.run("mark_tester name: 'a'\nof 'x' do\n  mark_tester name: 'b'\nend", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("given"), "{e}");
});

on_both!(undo_cancel_and_kill_by_tag, |h| {
    let started = Instant::now();
    let source = "concurrence merge_type: 'mix' do
  mark_tester name: 'slow', sleep_ms: 20000, tag: 'kilroy'
  sequence do
    mark_tester name: 'fast'
    undo 'kilroy'
  end
end
mark_tester name: 'over'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["fast", "over"]));
    assert!(started.elapsed() < Duration::from_secs(10));

    // Undoing an enclosing expression: it replies, the flow goes on after it.
    let job = h.run("sequence tag: 'richard' do\n  cancel ref: 'richard'\n  mark_tester name: 'out'\nend\nmark_tester name: '.'", json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["."]));

    // cancel lets the pending on_error handler run; kill does not.
    let source = "concurrence merge_type: 'mix' do
  sequence tag: 'x', on_error: 'report' do
    error 'boom'
  end
  VERB 'x'
end
mark_tester name: 'over'
define 'report' do
  mark_tester name: 'reported'
end";
    let job = h.run(&source.replace("VERB", "cancel"), json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["reported", "over"]));
    let job = h.run(&source.replace("VERB", "kill"), json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["over"]));

    // A tag known to the definition but ended is nothing to do.
    let job = h.run("mark_tester name: 'a', tag: 't'\nundo 't'\nmark_tester name: 'b'", json!({})).await;
    assert_eq!(trail(&job), json!(["a", "b"]));
    // A computed tag never applied is an error at run time, with the line.
    let job = h.run("mark_tester name: 'a', tag: '${t}'\nundo '${other}'", json!({"t": "x", "other": "y"})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("no expression tagged 'y'"), "{e}");
});

on_both!(redo_restarts_with_the_fields_it_started_with, |h| {
    let source = "sequence tag: 'x' do
  inc 'v:n'
  mark_tester name: '$v:n'
  _redo 'x', if: '${v:n} < 3'
end
mark_tester name: 'end'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    // Each redo starts again without the previous pass's trail.
    assert_eq!(trail(&job), json!([3, "end"]));
    assert_eq!(calls(h, &job).await, vec![json!(1), json!(2), json!(3), json!("end")]);

    // Redo from outside the target: a slow step started again.
    let source = "concurrence merge_type: 'mix' do
  mark_tester name: 'slow', sleep_ms: 600, tag: 'slow'
  sequence do
    wait '100ms'
    redo 'slow'
  end
end";
    let started = Instant::now();
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["slow"]));
    assert!(started.elapsed() >= Duration::from_millis(650), "{:?}", started.elapsed());
    assert_eq!(calls(h, &job).await, vec![json!("slow")]);
});

on_both!(lose_never_replies, |h| {
    let source = "concurrence count: 1 do
  mark_tester name: 'a', sleep_ms: 700
  lose do
    mark_tester name: 'b'
  end
end
mark_tester name: 'c'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["a", "c"]));
    assert_eq!(calls(h, &job).await, vec![json!("b"), json!("a"), json!("c")]);
});

on_both!(save_and_restore, |h| {
    let source = "set 'f:nada' => 'surf'
save to_var: 'v'
save to_field: 'copy'
save to: 'f:h.deep'
unset 'f:nada'
mark_tester name: '${copy.nada}-${h.deep.nada}'
restore from_var: 'v'
mark_tester name: '${nada}'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    // The restore replaced every field with the saved ones (which hold the
    // `__result__` the first `set` left, as in Ruote).
    assert_eq!(
        Value::Object(job.fields.clone()),
        json!({"nada": "surf", "__result__": "surf", "trail": ["surf"], "last": "surf"})
    );

    let source = "set 'f:a' => 1
set 'f:l' => [1]
save to: 'v:s'
set 'f:a' => 2
set 'f:b' => 3
set 'f:l' => [2]
restore from_var: 's', merge_type: 'union'
set_fields val: { 'x' => 'X' }, to: 'h.hh'
restore from_field: 'h.hh', to_field: 'y'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(
        Value::Object(job.fields.clone()),
        json!({"a": 1, "b": 3, "l": [2, 1], "__result__": [2, 1], "h": {"hh": {"x": "X"}}, "y": {"x": "X"}})
    );

    let job = h.run("mark_tester name: 'a'\nrestore from_var: 'never_saved'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("'never_saved' is not set"), "{e}");
    let job = h.run("save", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
});

on_both!(filter_validates_and_transforms, |h| {
    let job = h.run("filter 'x', type: 'string'\nmark_tester name: 'ok'", json!({"x": "s"})).await;
    assert_eq!(trail(&job), json!(["ok"]));
    let job = h.run("mark_tester name: 'a'\nfilter 'x', type: 'string'\nmark_tester name: 'b'", json!({"x": 2})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.clone().unwrap();
    assert_eq!((e.kind.as_str(), e.line), ("validation", Some(2)));
    assert!(e.message.contains("1 deviation") && e.message.contains("'x'"), "{e}");
    // A failed job keeps its launch fields: the calls made tell how far it went.
    assert_eq!(calls(h, &job).await, vec![json!("a")]);

    let source = "filter do
  field 'x', type: 'string'
  y type: 'number', or: 0
  field 'tmp', remove: true
  colour default: 'red'
end
mark_tester name: '${x}-${y}-${colour}'";
    let job = h.run(source, json!({"x": "s", "y": "bad", "tmp": 1})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["s-0-red"]));
    assert!(!job.fields.contains_key("tmp"));

    let source =
        "filter in: [{ field: 'x', type: 'string' }, 'or', { field: 'x', type: 'number' }]\nmark_tester name: '${x}'";
    let job = h.run(source, json!({"x": 5})).await;
    assert_eq!(trail(&job), json!(["5"]));
    let job = h.run(source, json!({"x": true})).await;
    assert_eq!(job.state, JobState::Failed);

    let source = "set 'v:rules' => [{ field: 'a', set: 'A' }, { field: 'b', copy_from: 'a' }]\nfilter 'v:rules'\nfilter 'x', type: 'string', record: true";
    let job = h.run(source, json!({"x": 1})).await;
    completed(&job);
    assert_eq!((job.fields["a"].clone(), job.fields["b"].clone()), (json!("A"), json!("A")));
    assert_eq!(job.fields["__validation_errors__"], json!([[{"field": "x", "type": "string"}, "x", 1]]));

    let job = h.run("filter 'x', type: 'strnig'", json!({"x": 1})).await;
    let e = job.error.unwrap();
    assert_eq!(e.kind.as_str(), "bad-input");
    assert!(e.message.contains("unknown type 'strnig'"), "{e}");
});

on_both!(add_branches_to_a_running_concurrent_iterator, |h| {
    let source = "concurrent_iterator on: 'a, b', merge_type: 'union' do
  sequence do
    mark_tester name: '${v:i}'
    add_branches 'c, d', if: '${v:ii} == 0'
  end
end
mark_tester name: 'end'";
    let job = h.run(source, json!({})).await;
    completed(&job);
    let t = trail(&job);
    assert_eq!(t.as_array().unwrap().last(), Some(&json!("end")));
    assert_eq!(sorted(&t), vec!["a", "b", "c", "d", "end"]);

    let source = "concurrent_iterator times: 2, merge_type: 'union' do
  mark_tester name: '$v:i'
  add_branches 2, if: '${v:i} == 1'
end";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(sorted(&trail(&job)), vec!["0", "1", "2", "3"]);

    // From outside, by tag.
    let source = "concurrence merge_type: 'union' do
  concurrent_iterator on: 'a', tag: 'main', merge_type: 'union' do
    mark_tester name: '${v:i}', sleep_ms: 300
  end
  add_branches 'b', ref: 'main'
end";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(sorted(&trail(&job)), vec!["a", "b"]);

    let job = h.run("mark_tester name: 'a'\nadd_branches 'x'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("not inside a concurrent_iterator"), "{e}");
});

#[tokio::test]
async fn tag_references_are_checked_at_launch() {
    let h = Harness::new(Db::Sqlite).await;
    let source =
        "mark_tester name: 'a', tag: 'first'\nundo 'nope'\nkill\n_redo ref: 'first'\nadd_branches 'x', ref: 'ghost'";
    let definition = mastermind::language::parse("bad.mm", source).unwrap();
    let err = h.engine.launch("test", &definition, Default::default(), None).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("undo: no expression is tagged 'nope'") && text.contains(":2:1"), "{text}");
    assert!(text.contains("kill: which expression?") && text.contains(":3:1"), "{text}");
    assert!(!text.contains(":4:1"), "{text}");
    assert!(text.contains("add_branches: no expression is tagged 'ghost'") && text.contains(":5:1"), "{text}");
    // filter's block holds rules, not steps.
    let definition =
        mastermind::language::parse("ok.mm", "filter do\n  x type: 'string'\n  or\n  y type: 'number'\nend").unwrap();
    let job =
        h.engine.launch("test", &definition, serde_json::from_value(json!({"y": 1})).unwrap(), None).await.unwrap();
    let record = h.wait(&job).await;
    completed(&record);
    h.finish().await;
}
