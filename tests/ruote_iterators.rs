//! Ruote's functional tests for the iterators (`test/functional/
//! eft_13_iterator.rb` and `eft_18_concurrent_iterator.rb` in
//! jmettraux/ruote), translated as in `ruote.rs`: each case keeps Ruote's
//! definition (in this language), its fields, and what Ruote asserts.
//! Ruote's catch-all participant, called as `participant '${v:v}'`, becomes
//! one subprocess per name that echoes it (so the trace is the names called,
//! in order); the Ruby participants that set `__command__` do so with
//! `set 'f:__command__' => [...]` in the subprocess of the name they
//! watched, and those that set other fields become `set_tester`. The
//! concurrent iterator's traces are compared sorted, as Ruote does. Every
//! case runs on SQLite and on PostgreSQL.

mod support;

use mastermind::engine::{Event, FlowEvent};
use mastermind::model::JobState;
use serde_json::json;
use std::time::Duration;
use support::engine::{Db, Harness, assert_trace, completed, on_both};

/// Ruote's catch-all participant for `names`: a subprocess per name that
/// echoes it; `who`'s then runs `then` too (what the Ruby participant did
/// when called with that name).
fn participants(names: &[&str], who: &str, then: &str) -> String {
    let mut defs = String::new();
    for name in names {
        defs.push_str(&format!("\ndefine '{name}' do\n  echo '{name}'\n"));
        if *name == who {
            defs.push_str(&format!("  {then}\n"));
        }
        defs.push_str("end");
    }
    defs
}

/// The catch-all participant for alice, bob and charly.
fn people() -> String {
    participants(&["alice", "bob", "charly"], "", "")
}

/// Ruote's PDEF0, with the participants `then` describes.
fn pdef0(who: &str, then: &str) -> String {
    let source = "sequence do
  iterator on_val: 'alice, bob, charly', to_var: 'v' do
    participant '${v:v}'
  end
  echo 'done.'
end";
    source.to_owned() + &participants(&["alice", "bob", "charly"], who, then)
}

/// Runs `source` and checks the lines its echoes printed, in any order.
async fn assert_sorted_trace(h: &Harness, source: &str, fields: serde_json::Value, expected: &[&str]) {
    let (job, mut echoes) = h.trace(source, fields).await;
    completed(&job);
    echoes.sort();
    assert_eq!(echoes, expected, "{source}");
}

// eft_13_iterator: all 19 tests. test_implicit_i_variable reads the
// variables Ruote finds in the ended process with an `echo` after the
// iterator.
on_both!(eft_13_iterator, |h| {
    // test_empty_iterator
    let source = "sequence do
  iterator on_val: 'alice, bob, charly', to_var: 'v' do
  end
  echo 'done.'
end";
    assert_trace(h, source, &["done."]).await;
    // test_on_val, test_on__list
    for on in ["on_val", "on"] {
        let source =
            format!("iterator {on}: 'alice, bob, charly', to_var: 'v' do\n  participant '${{v:v}}'\nend{}", people());
        assert_trace(h, &source, &["alice", "bob", "charly"]).await;
    }
    // test_on_f
    let source = "set f: 'people', val: %w[ alice bob charly ]
iterator on_f: 'people', to_var: 'v' do
  participant '${v:v}'
end";
    assert_trace(h, &(source.to_owned() + &people()), &["alice", "bob", "charly"]).await;
    // test_on_nested_f
    let source = "set 'f:data' => {}
set 'f:data.people' => %w[ alice bob charly ]
iterator on_f: 'data.people', to_var: 'v' do
  participant '${v:v}'
end";
    assert_trace(h, &(source.to_owned() + &people()), &["alice", "bob", "charly"]).await;
    // test_to_f
    let source = "iterator on_val: 'alice, bob, charly', to_field: 'f' do
  participant '${f:f}'
end";
    assert_trace(h, &(source.to_owned() + &people()), &["alice", "bob", "charly"]).await;
    // test_to
    let source = "iterator on_val: 'a, b', to: 'x' do
  echo '${f:x}'
end
iterator on_val: 'c, d', to: 'f:y' do
  echo '${f:y}'
end
iterator on_val: 'e, f', to: 'v:z' do
  echo '${v:z}'
end";
    assert_trace(h, source, &["a", "b", "c", "d", "e", "f"]).await;
    // test_break: bob breaks.
    let source = pdef0("bob", "set 'f:__command__' => ['break', nil]");
    assert_trace(h, &source, &["alice", "bob", "done."]).await;
    // test_rewind: bob rewinds, once (a field stands for Ruote's stash).
    let source =
        pdef0("bob", "set 'f:__command__' => ['rewind', nil], unless: '${f:rewound}'\n  set 'f:rewound' => true");
    assert_trace(h, &source, &["alice", "bob", "alice", "bob", "charly", "done."]).await;
    // test_skip: alice skips one.
    let source = pdef0("alice", "set 'f:__command__' => ['skip', 1]");
    assert_trace(h, &source, &["alice", "charly", "done."]).await;
    // test_jump: alice jumps to the last.
    let source = pdef0("alice", "set 'f:__command__' => ['jump', -1]");
    assert_trace(h, &source, &["alice", "charly", "done."]).await;
    // test_skip_command
    let source = "iterator on_val: 'alice, bob, charly', to_var: 'v' do
  sequence do
    participant '${v:v}'
    skip 1, if: '${v:v} == alice'
  end
end";
    assert_trace(h, &(source.to_owned() + &people()), &["alice", "charly"]).await;
    // test_break_if
    let source = "iterator on_val: 'a, b, c', to_var: 'v', break_if: '${v:v} == b' do
  participant '${v:v}'
end";
    let abc = participants(&["a", "b", "c"], "", "");
    assert_trace(h, &(source.to_owned() + &abc), &["a", "b"]).await;
    // test_break_unless
    let source = "set var: 'v', val: 'a'
iterator on_val: 'a, b, c', to_var: 'v', break_unless: '${v:v} == a' do
  participant '${v:v}'
end";
    assert_trace(h, &(source.to_owned() + &abc), &["a", "b"]).await;
    // test_iterator_with_hash_as_input: each item is a [key, value] pair.
    let source = "iterator on_val: { 'a' => 'A', 'b' => 'B' }, to_f: 'f' do
  p1
end
define 'p1' do
  echo '${f:f.0}:${f:f.1}'
end";
    assert_trace(h, source, &["a:A", "b:B"]).await;
    // test_implicit_i_variable: the catch-all participant echoes the name
    // it is called with; `i` and `ii` are left in the process's variables.
    let source = "iterator on_val: 'alice, bob, charly' do
  echo '${v:i}:${v:ii}'
end
echo '${v:i}/${v:ii}'";
    assert_trace(h, source, &["alice:0", "bob:1", "charly:2", "charly/2"]).await;
    // test_nested_break
    let source = "iterator on: 'a, b, c', tag: 'it' do
  sequence do
    echo '0_${v:i}'
    cursor do
      echo '1_${v:i}'
      _break ref: 'it'
      echo '11_${v:i}'
    end
    echo '2_${v:i}'
  end
end";
    assert_trace(h, source, &["0_a", "1_a"]).await;
    // test_external_break
    let source = "concurrence do
  iterator on: (1..1000).to_a, tag: 'it' do
    echo '${v:i}'
  end
  sequence do
    sequence do
      _break ref: 'it'
    end
  end
end";
    assert_trace(h, source, &["1", "2"]).await;
    // test_implicit_sequence
    let source = "iterator on_val: 'alice, bob, charly', to_var: 'v' do
  echo '0:${v:v}'
  echo '1:${v:v}'
end";
    assert_trace(h, source, &["0:alice", "1:alice", "0:bob", "1:bob", "0:charly", "1:charly"]).await;
});

// eft_18_concurrent_iterator: 22 of 23 — test_add_branch_command,
// test_count_zero, the `stack_attributes` of test_merge_type_stack and the
// `citerator` spelling of test_empty_list in the block after this one.
// test_iterator_with_branches_finishing_before_others is left out: it
// holds the workitems in Ruote's StorageParticipant and proceeds them one
// by one from the test. The count of distinct sub-ids Ruote checks in
// test_iterator and its kin is its internals, and is left out of those
// cases.
on_both!(eft_18_concurrent_iterator, |h| {
    // test_empty_iterator
    let source = "sequence do
  concurrent_iterator on_val: 'alice, bob, charly', to_var: 'v' do
  end
  echo 'done.'
end";
    assert_trace(h, source, &["done."]).await;
    // test_empty_iterator_2: nada, Ruote's NullParticipant, never replies.
    let source = "sequence do
  concurrent_iterator on_val: 'alice, bob, charly', to_var: 'v' do
    nada if: 'false'
  end
  echo 'done.'
end
define 'nada' do
  lose
end";
    assert_trace(h, source, &["done."]).await;
    // test_empty_list
    let source = "sequence do
  concurrent_iterator on_val: '', to_var: 'v' do
    echo 'x'
  end
  echo 'done.'
end";
    assert_trace(h, source, &["done."]).await;
    // test_iterator
    let source = "concurrent_iterator on_val: 'alice, bob, charly', to_var: 'v' do
  participant '${v:v}'
end";
    assert_sorted_trace(h, &(source.to_owned() + &people()), json!({}), &["alice", "bob", "charly"]).await;
    // test_iterator_cbeer
    let source = "concurrent_iterator on_field: 'assets', to_var: 'v' do
  participant '${v:v}'
end";
    let abc = participants(&["a", "b", "c"], "", "");
    assert_sorted_trace(h, &(source.to_owned() + &abc), json!({"assets": ["a", "b", "c"]}), &["a", "b", "c"]).await;
    // test_iterator_to_f
    let source = "concurrent_iterator on_val: 'alice, bob, charly', to_field: 'f' do
  participant '${f:f}'
end";
    assert_sorted_trace(h, &(source.to_owned() + &people()), json!({}), &["alice", "bob", "charly"]).await;
    // test_iterator_with_array_param
    let source = "sequence do
  concurrent_iterator on_val: %w[ a b c ], to_field: 'f' do
    participant '${f:f}'
  end
  echo 'done.'
end";
    assert_sorted_trace(h, &(source.to_owned() + &abc), json!({}), &["a", "b", "c", "done."]).await;
    // test_passing_non_array_as_thing_to_iterate
    let source = "sequence do
  concurrent_iterator on_val: { 'a' => 'A' }, to_f: 'f' do
    p1
  end
  echo 'out'
end
define 'p1' do
  echo 'p1:${f:f.0}:${f:f.1}'
end";
    assert_trace(h, source, &["p1:a:A", "out"]).await;
    // test_without_to
    assert_trace(h, "concurrent_iterator on_value: (1..2).to_a do\n  echo 'a'\nend", &["a", "a"]).await;
    // test_branches_att
    assert_trace(h, "concurrent_iterator branches: '2' do\n  echo 'a'\nend", &["a", "a"]).await;
    // test_implicit_i_variable: the catch-all participant echoes the name
    // it is called with.
    let source = "concurrent_iterator on_val: 'alice, bob, charly' do\n  echo '${v:i}:${v:ii}'\nend";
    assert_sorted_trace(h, source, json!({}), &["alice:0", "bob:1", "charly:2"]).await;
    // test_on_only
    assert_sorted_trace(h, "concurrent_iterator on: 'a, b, c' do\n  echo '${v:i}'\nend", json!({}), &["a", "b", "c"])
        .await;
    // test_merge_type_isolate: bravo saw the fields the job ends with.
    let source = "concurrent_iterator on: 'a, b, c', to_f: 'f', mt: 'isolate' do\n  echo '.'\nend";
    let job = assert_trace(h, source, &[".", ".", "."]).await;
    let mut fs: Vec<_> = ["0", "1", "2"].iter().map(|k| job.fields[*k]["f"].clone()).collect();
    fs.sort_by_key(|f| f.to_string());
    assert_eq!(fs, [json!("a"), json!("b"), json!("c")]);
    // test_merge_type_stack (its `stack_attributes`: in the next block)
    let source = "concurrent_iterator on: 'a, b', to_f: 'f', merge_type: 'stack' do\n  echo '.'\nend";
    let job = assert_trace(h, source, &[".", "."]).await;
    let mut stack = job.fields["stack"].as_array().cloned().unwrap_or_default();
    stack.sort_by_key(|f| f.to_string());
    assert_eq!(stack, [json!({"f": "a"}), json!({"f": "b"})]);
    // test_cancel: alpha (an echo here) is reached in all 14 branches,
    // bravo (a NullParticipant, here `lose`) never replies; the job is
    // then cancelled from outside.
    let mut events = h.engine.subscribe();
    let job = h
        .launch("concurrent_iterator times: 14 do\n  sequence do\n    echo 'alpha'\n    lose\n  end\nend", json!({}))
        .await;
    let mut alphas = 0;
    while alphas < 14 {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv()).await.expect("14 alphas").unwrap();
        if event.job_id == job && matches!(event.event, Event::Flow(FlowEvent::Echo { .. })) {
            alphas += 1;
        }
    }
    h.engine.cancel("test", &job).await.unwrap();
    assert_eq!(h.wait(&job).await.state, JobState::Canceled);
    // test_union_merge_type, test_union_concat_type
    for (merge_type, a) in [("union", json!(["x"])), ("concat", json!(["x", "x", "x"]))] {
        let source = format!(
            "concurrent_iterator on_value: (1..3).to_a, merge_type: '{merge_type}' do\n  set_tester a: ['x']\nend"
        );
        let job = h.run(&source, json!({})).await;
        completed(&job);
        assert_eq!(job.fields["a"], a, "{merge_type}");
    }
    // test_ignore_merge_type
    let source = "set 'f:a' => 'a'
concurrent_iterator on_value: (1..3).to_a, merge_type: 'ignore' do
  set_tester a: 'B'
end
echo '${f:a}'";
    assert_trace(h, source, &["a"]).await;
    // test_implicit_sequence
    let source = "concurrent_iterator on: %w[ a b c ] do\n  echo '0:${v:i}'\n  echo '1:${v:i}'\nend";
    assert_sorted_trace(h, source, json!({}), &["0:a", "0:b", "0:c", "1:a", "1:b", "1:c"]).await;
    // test_negative_count: all but two, the first two to reply.
    let source = "concurrent_iterator on: %w[ a b c d ], c: -2, mt: 'mix' do\n  set '${v:i}' => 'x'\nend";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(job.fields.get("a"), Some(&json!("x")));
    assert_eq!(job.fields.get("b"), Some(&json!("x")));
    assert_eq!(job.fields.get("c"), None);
    assert_eq!(job.fields.get("d"), None);
});

// eft_18_concurrent_iterator, continued: the cases that need what a
// branch's workitem asks for (`__add_branches__`), `count: 0`, the
// `stack_attributes` Ruote keeps, and the short name `citerator`.
on_both!(eft_18_concurrent_iterator_more, |h| {
    // test_add_branch_command: a reply carrying `__add_branches__` adds
    // those items as branches.
    let source = "sequence do
  concurrent_iterator on_value: (1..2).to_a, to_field: 'f' do
    alpha
  end
  echo '.'
end
define 'alpha' do
  echo '${f:f}'
  set 'f:__add_branches__' => %w[ a b ], if: '${f:f} == 2'
end";
    assert_sorted_trace(h, source, json!({}), &[".", "1", "2", "a", "b"]).await;
    // test_count_zero: replies at once.
    let source = "concurrent_iterator on: %w[ a b c ], count: 0 do
  wait '2s'
  echo '0:${v:i}'
end
echo 'over.'";
    assert_trace(h, source, &["over."]).await;
    // test_merge_type_stack, its second half
    let source = "concurrent_iterator on: 'a, b', to_f: 'f', merge_type: 'stack' do\n  echo '.'\nend";
    let job = assert_trace(h, source, &[".", "."]).await;
    assert_eq!(job.fields.get("stack_attributes"), Some(&json!({"on": "a, b", "to_f": "f", "merge_type": "stack"})));
    // test_empty_list, spelt `citerator`
    let source = "sequence do
  citerator on_val: '', to_var: 'v' do
    echo 'x'
  end
  echo 'done.'
end";
    assert_trace(h, source, &["done."]).await;
});
