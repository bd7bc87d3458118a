//! The engine: one test per expression and attribute, each run on SQLite
//! and on PostgreSQL, asserting the order of participant calls (the
//! tester participant's `trail`), field merges, errors, timeouts, retries.

mod support;

use mastermind::model::JobState;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::engine::{Db, Harness, on_both, trail};

on_both!(sequence_runs_steps_in_order_and_passes_fields, |h| {
    let job = h
        .run(
            "mark_tester name: 'a'\nmark_tester name: '${last}-b'\nparticipant 'tester', action: 'mark', name: '$f:trail'",
            json!({}),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["a", "a-b", ["a", "a-b"]]));
});

on_both!(seed_style_attributes_and_typed_fields, |h| {
    let source = "set_tester image_id: '${image_id}',\n  groups: '$f:groups', \n  tags: '$f:tags'\n";
    let job = h.run(source, json!({"image_id": "ami-1", "groups": ["default"], "tags": {"Name": ""}})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(job.fields["image_id"], "ami-1");
    assert_eq!(job.fields["groups"], json!(["default"]));
    assert_eq!(job.fields["tags"], json!({"Name": ""}));
});

on_both!(concurrence_runs_branches_at_once_and_merges, |h| {
    let source = "concurrence merge_type: 'mix' do\n  set_tester a: 1, sleep_ms: 10\n  set_tester b: 2\nend\n";
    let job = h.run(source, json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!((job.fields["a"].clone(), job.fields["b"].clone()), (json!(1), json!(2)));

    // Three 600 ms branches take about 600 ms, not 1.8 s.
    let started = Instant::now();
    let source = "concurrence merge_type: 'union' do\n  mark_tester name: 1, sleep_ms: 600\n  mark_tester name: 2, sleep_ms: 600\n  mark_tester name: 3, sleep_ms: 600\nend";
    let job = h.run(source, json!({})).await;
    let mut got: Vec<i64> = trail(&job).as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
});

on_both!(concurrence_count_cancels_the_rest, |h| {
    let source = "concurrence count: 1 do\n  mark_tester name: 'fast'\n  mark_tester name: 'slow', sleep_ms: 20000\nend\nmark_tester name: 'after'";
    let started = Instant::now();
    let job = h.run(source, json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["fast", "after"]));
    assert!(started.elapsed() < Duration::from_secs(5));
});

on_both!(cursor_commands, |h| {
    let job = h.run("cursor do\n  mark_tester name: 'a'\n  jump to: 'c'\n  mark_tester name: 'b'\n  mark_tester name: 'c', tag: 'c'\nend", json!({})).await;
    assert_eq!(trail(&job), json!(["a", "c"]));
    let job = h
        .run(
            "cursor do\n  mark_tester name: 'a'\n  _break\n  mark_tester name: 'b'\nend\nmark_tester name: 'z'",
            json!({}),
        )
        .await;
    assert_eq!(trail(&job), json!(["a", "z"]));
    let job = h
        .run(
            "cursor do\n  mark_tester name: 'a'\n  rewind unless: '${trail.1} is set'\n  mark_tester name: 'b'\nend",
            json!({}),
        )
        .await;
    assert_eq!(trail(&job), json!(["a", "a", "b"]));
    let job = h.run("cursor break_if: '${trail.2} is set' do\n  mark_tester name: 'x'\n  rewind\nend", json!({})).await;
    assert_eq!(trail(&job), json!(["x", "x", "x"]));
});

on_both!(iterators, |h| {
    let job = h.run("iterator on: 'x, y', to_var: 'h' do\n  mark_tester name: '${v:h}-${v:ii}'\nend", json!({})).await;
    assert_eq!(trail(&job), json!(["x-0", "y-1"]));
    let job = h
        .run(
            "iterator on_field: 'hosts', to_field: 'host' do\n  mark_tester name: '${host}'\nend",
            json!({"hosts": ["a", "b", "c"]}),
        )
        .await;
    assert_eq!(trail(&job), json!(["a", "b", "c"]));
    let job =
        h.run("iterator times: 5 do\n  mark_tester name: '$v:i'\n  _break if: '${v:i} == 2'\nend", json!({})).await;
    assert_eq!(trail(&job), json!([0, 1, 2]));

    let started = Instant::now();
    let source = "concurrent_iterator on: [1, 2, 3], to_var: 'n', merge_type: 'union' do\n  mark_tester name: '$v:n', sleep_ms: 600\nend";
    let job = h.run(source, json!({})).await;
    let mut got: Vec<i64> = trail(&job).as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
});

on_both!(if_unless_and_conditional_attributes, |h| {
    let source = "_if '${env} == prod' do\n  mark_tester name: 'then'\n  mark_tester name: 'else'\nend\nmark_tester name: 'only-prod', if: '${env} == prod'\nmark_tester name: 'not-prod', unless: '${env} == prod'";
    let job = h.run(source, json!({"env": "prod"})).await;
    assert_eq!(trail(&job), json!(["then", "only-prod"]));
    let job = h.run(source, json!({"env": "dev"})).await;
    assert_eq!(trail(&job), json!(["else", "not-prod"]));
    let job = h.run("unless '${flag} is set' do\n  mark_tester name: 'unset'\nend", json!({})).await;
    assert_eq!(trail(&job), json!(["unset"]));
});

on_both!(wait_is_a_durable_timer, |h| {
    let started = Instant::now();
    let job = h.run("wait '1s'\nmark_tester name: 'woke'", json!({})).await;
    assert_eq!(trail(&job), json!(["woke"]));
    assert!(started.elapsed() >= Duration::from_millis(950));
});

on_both!(set_fields_and_variables, |h| {
    let source = "set 'f:x' => 1\nset 'v:who' => 'zed'\nset field: 'y', value: '$f:x'\nmark_tester name: '${v:who}'\nunset 'f:x'";
    let job = h.run(source, json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["zed"]));
    assert_eq!(job.fields.get("x"), None);
    assert_eq!(job.fields["y"], json!(1));
});

on_both!(inc_and_dec, |h| {
    let source = "inc 'f:n'\ninc 'f:n', val: 5\ndec 'f:n'\ninc 'v:c'\ninc 'v:c'\nset 'f:c' => '$v:c'\ninc field: 'hosts', val: 'web2'\ndec 'f:hosts', val: 'web1'";
    let job = h.run(source, json!({"hosts": ["web1"]})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(
        (job.fields["n"].clone(), job.fields["c"].clone(), job.fields["hosts"].clone()),
        (json!(5), json!(2), json!(["web2"]))
    );
    // A loop that counts to three.
    let job =
        h.run("cursor do\n  inc 'f:i'\n  mark_tester name: '$f:i'\n  rewind if: '${i} < 3'\nend", json!({})).await;
    assert_eq!(trail(&job), json!([1, 2, 3]));
});

on_both!(subprocesses, |h| {
    let source = "subprocess 'greet', who: 'w'\ngreet who: 'q'\ndefine 'greet' do\n  mark_tester name: '${v:who}'\nend";
    let job = h.run(source, json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["w", "q"]));
});

on_both!(error_echo_and_cancel_process, |h| {
    let job = h.run("mark_tester name: 'a'\nerror 'stop here: ${last}'\nmark_tester name: 'b'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap();
    assert_eq!((error.message.as_str(), error.line), ("stop here: a", Some(2)));
    let job = h.run("echo 'hello ${who}'\nmark_tester name: 'after'", json!({"who": "you"})).await;
    assert_eq!(job.state, JobState::Completed);
    let job = h.run("mark_tester name: 'a'\ncancel_process\nmark_tester name: 'b'", json!({})).await;
    assert_eq!(job.state, JobState::Canceled);
});

on_both!(on_error_retry_pass_and_handlers, |h| {
    let job = h.run("flaky_tester name: 'ok', succeed_on: 3, on_error: 'retry * 3'", json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["ok"]));
    let attempts: Vec<u32> = h.engine.store().history(&job.id).await.unwrap().iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);

    let job = h
        .run(
            "flaky_tester name: 'x', succeed_on: 9, on_error: '0s: retry * 2, pass'\nmark_tester name: 'next'",
            json!({}),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["next"]));
    let attempts: Vec<(u32, bool)> =
        h.engine.store().history(&job.id).await.unwrap().iter().map(|e| (e.attempt, e.ok)).collect();
    assert_eq!(attempts, vec![(1, false), (2, false), (3, false), (1, true)]);

    let source = "sequence on_error: 'recover' do\n  mark_tester name: 'a'\n  fail_tester message: 'boom'\nend\ndefine 'recover' do\n  mark_tester name: 'recovered: ${__error__.message}'\nend";
    let job = h.run(source, json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    let t = trail(&job);
    assert_eq!(t[0], "a");
    assert!(t[1].as_str().unwrap().starts_with("recovered: tester.fail: boom"), "{t}");

    let job = h.run("flaky_tester name: 'x', succeed_on: 9, on_error: 'retry * 2'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
});

on_both!(timeout_cancels_and_moves_on, |h| {
    let started = Instant::now();
    let job =
        h.run("mark_tester name: 'slow', sleep_ms: 20000, timeout: '500ms'\nmark_tester name: 'next'", json!({})).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["next"]));
    assert!(job.fields.contains_key("__timed_out__"));
    assert!(started.elapsed() < Duration::from_secs(5));
    let job =
        h.run("mark_tester name: 'slow', sleep_ms: 20000, timeout: '300ms', on_timeout: 'error'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
});

on_both!(missing_fields_fail_naming_field_and_line, |h| {
    let job = h.run("mark_tester name: 'a'\nmark_tester name: '${nope.deeper}'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert!(e.message.contains("nope"), "{e}");
    assert_eq!(e.line, Some(2));
});

on_both!(retry_a_failed_job_with_edited_fields, |h| {
    let job = h.run("mark_tester name: 'a'\nmark_tester name: '${who}'\nmark_tester name: 'c'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let mut fields = job.fields.clone();
    fields.insert("who".into(), json!("b"));
    fields.insert("trail".into(), json!(["a"]));
    h.engine.retry("test", &job.id, Some(fields)).await.unwrap();
    let job = h.wait(&job.id).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(trail(&job), json!(["a", "b", "c"]));
    // The first step ran once.
    let names: Vec<Value> =
        h.engine.store().history(&job.id).await.unwrap().iter().map(|e| e.params["name"].clone()).collect();
    assert_eq!(names, vec![json!("a"), json!("b"), json!("c")]);
});

on_both!(cancel_pause_and_resume, |h| {
    let job = h.launch("mark_tester name: 'long', sleep_ms: 30000\nmark_tester name: 'never'", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    h.engine.cancel("test", &job).await.unwrap();
    let record = h.wait(&job).await;
    assert_eq!(record.state, JobState::Canceled);
    assert!(started.elapsed() < Duration::from_secs(3));

    let job = h.launch("wait '300ms'\nmark_tester name: 'after'", json!({})).await;
    h.engine.pause("test", &job).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let record = h.engine.store().job(&job).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Paused);
    assert!(h.engine.store().history(&job).await.unwrap().is_empty(), "nothing ran while paused");
    h.engine.resume("test", &job).await.unwrap();
    let record = h.wait(&job).await;
    assert_eq!(trail(&record), json!(["after"]));
});

on_both!(timers_and_jobs_survive_a_restart, |h| {
    let job = h.launch("mark_tester name: 'a'\nwait '1500ms'\nmark_tester name: 'b'", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.restart().await;
    let record = h.wait(&job).await;
    assert_eq!(record.state, JobState::Completed, "{:?}", record.error);
    assert_eq!(trail(&record), json!(["a", "b"]));
});

#[tokio::test]
async fn unknown_steps_are_refused_at_launch_with_what_is_known() {
    let h = Harness::new(Db::Sqlite).await;
    let definition = mastermind::language::parse(
        "bad.mm",
        "mark_tester name: 'a'\ndeploy_rocket to: 'mars'\nparticipant 'tester', action: 'fly'",
    )
    .unwrap();
    let err = h.engine.launch("test", &definition, Default::default(), None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("unknown participant or subprocess 'deploy_rocket'")
            && text.contains("tester (mark, flaky, fail, set)"),
        "{text}"
    );
    assert!(text.contains("no action 'fly'"), "{text}");
    assert!(text.contains(":2:1") && text.contains(":3:1"), "{text}");
    h.finish().await;
}
