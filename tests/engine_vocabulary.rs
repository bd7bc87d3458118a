//! The rest of Ruote's vocabulary, translated from Ruote's functional
//! tests (eft_8_undo, eft_9_redo, eft_16_if, eft_17_equals, eft_20_save,
//! eft_21_restore, eft_24_add_branches, eft_32_lose, eft_34_given,
//! eft_35_filter): each run on SQLite and on PostgreSQL, asserting the
//! order of participant calls (the tester's `trail`) and the fields.

mod support;

use mastermind::engine::JobState;
use mastermind::store::JobRecord;
use serde_json::json;
use support::engine::{Db, Harness, trail};

/// Defines `NAME_sqlite` and `NAME_postgres` running the same body.
macro_rules! on_both {
    ($name:ident, |$h:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn case($h: &mut Harness) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut h = Harness::new(Db::Sqlite).await;
                case(&mut h).await;
                h.finish().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut h = Harness::new(Db::Postgres).await;
                case(&mut h).await;
                h.finish().await;
            }
        }
    };
}

fn completed(job: &JobRecord) {
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
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
    let job = h.run("given do\n  that '${n} > 2' do\n    mark_tester name: 'big'\n  end\n  mark_tester name: 'small'\nend", json!({"n": 1})).await;
    assert_eq!(trail(&job), json!(["small"]));
    // `that` alone is an `if` whose children form a sequence.
    let job = h.run("that '${n} == 1' do\n  mark_tester name: 'a'\n  mark_tester name: 'b'\nend", json!({"n": 1})).await;
    assert_eq!(trail(&job), json!(["a", "b"]));

    let job = h.run("mark_tester name: 'a'\nof 'x' do\n  mark_tester name: 'b'\nend", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("given"), "{e}");
});

