//! The engine does what a definition says: regressions for results that
//! were silently wrong (subprocess bodies cut short, three truthiness rules,
//! retries of errors that can only fail again) and for mistakes the
//! definition check let through. Each job runs on SQLite and PostgreSQL.

mod support;

use mastermind::engine::validate;
use mastermind::language::parse;
use mastermind::model::JobState;
use mastermind::sandbox::{Sandbox, SandboxConfig};
use mastermind::store::JobRecord;
use serde_json::{Value, json};
use support::engine::{Db, Harness, completed, on_both, trail};

/// The `name` param of every participant call, in the order they ended.
async fn calls(h: &Harness, job: &JobRecord) -> Vec<Value> {
    h.engine.store().history(&job.id).await.unwrap().iter().map(|e| e.params["name"].clone()).collect()
}

on_both!(every_spelling_of_a_subprocess_definition_runs_its_whole_body, |h| {
    for keyword in ["define", "process_definition", "workflow_definition"] {
        let source = format!(
            "{keyword} 'sub' do
  mark_tester name: 'a'
  mark_tester name: 'b'
end
sub
mark_tester name: 'c'"
        );
        let job = h.run(&source, json!({})).await;
        completed(&job);
        assert_eq!(trail(&job), json!(["a", "b", "c"]), "{keyword}");
    }
});

on_both!(one_truthiness_rule_for_conditions_and_flags, |h| {
    let branch = |test: &str| format!("_if {test} do\n  mark_tester name: 'then'\n  mark_tester name: 'else'\nend");
    for (test, fields, expected) in [
        ("'${f:list}'", json!({"list": []}), "else"),
        ("'${f:list}'", json!({"list": [1]}), "then"),
        ("[]", json!({}), "else"),
        ("[1]", json!({}), "then"),
        ("{}", json!({}), "else"),
        ("''", json!({}), "else"),
        ("'false'", json!({}), "else"),
        ("0", json!({}), "then"),
    ] {
        let job = h.run(&branch(test), fields.clone()).await;
        completed(&job);
        assert_eq!(trail(&job), json!([expected]), "_if {test} with {fields}");
    }
    for (test, expected) in [("[]", json!(["after"])), ("[1]", json!(["skipped?", "after"]))] {
        let source = format!("mark_tester name: 'skipped?', if: {test}\nmark_tester name: 'after'");
        let job = h.run(&source, json!({})).await;
        assert_eq!(trail(&job), expected, "if: {test}");
    }
});

on_both!(retry_takes_only_errors_that_may_go_away, |h| {
    // A fatal error is not retried: the next handler (pass) takes it at once.
    let job =
        h.run("sequence on_error: 'retry * 3, pass' do\n  fail_tester\nend\nmark_tester name: 'on'", json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["on"]));
    assert_eq!(h.engine.store().history(&job.id).await.unwrap().len(), 2, "the failing step ran once");

    // With nothing after the retry, the fatal error fails the job, untried.
    let job = h.run("fail_tester message: 'no such image', on_error: 'retry * 3'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let e = job.error.unwrap();
    assert_eq!(e.kind.as_str(), "fatal");
    assert!(e.message.contains("no such image"), "{e}");
    assert_eq!(h.engine.store().history(&job.id).await.unwrap().len(), 1);

    // A retryable error is retried.
    let job = h.run("flaky_tester name: 'ok', succeed_on: 3, on_error: 'retry * 3'", json!({})).await;
    completed(&job);
    assert_eq!(calls(h, &job).await, vec![json!("ok"), json!("ok"), json!("ok")]);

    // retry(any) says so explicitly: a fatal error is tried again.
    let job = h.run("fail_tester on_error: 'retry(any) * 2'", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(h.engine.store().history(&job.id).await.unwrap().len(), 3);
});

/// The problems `mastermind check` reports for `source`, rendered.
async fn check(source: &str) -> String {
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let registry = support::engine::registry(&sandbox).await;
    match parse("check.mm", source) {
        Err(errors) => errors.to_string(),
        Ok(definition) => {
            validate(&definition, &registry).iter().map(|d| d.render("check.mm", source)).collect::<Vec<_>>().join("\n")
        }
    }
}

#[tokio::test]
async fn check_reports_an_unclosed_dollar_reference() {
    let out = check("echo_echo message: 'instance ${instance_id'").await;
    assert!(out.contains("unterminated `${`"), "{out}");
    assert!(out.contains("check.mm:1:1"), "{out}");
    let out = check("echo_echo message: 'a ${}'\necho 'b ${x:y}'").await;
    assert!(out.contains("empty reference"), "{out}");
    assert!(out.contains("unknown prefix `x:`"), "{out}");
    // Escaped and well-formed references pass.
    assert_eq!(check("echo_echo message: 'a \\${not a ref ${f:x.y} ${v:${f:k}}'").await, "");
}

#[tokio::test]
async fn check_reports_an_unclosed_bracket_where_it_was_opened() {
    let out = check("echo_echo message: 'x', list: ['a', 'b',\n  'c'\nmark_tester name: 'next'\n").await;
    assert!(out.contains("never closed"), "{out}");
    // Both places: the error, and the bracket's line with a label.
    assert!(out.contains("check.mm:3:"), "{out}");
    assert!(out.contains("1 | echo_echo message: 'x', list: ['a', 'b',"), "{out}");
}

#[tokio::test]
async fn check_reports_unknown_misspelt_and_missing_params() {
    let out = check("echo_echo mesage: 'hello'").await;
    assert!(out.contains("echo.echo has no param `mesage`"), "{out}");
    assert!(out.contains("did you mean `message`?"), "{out}");
    assert!(out.contains("echo.echo needs param(s) message"), "{out}");
    let out = check("echo_echo message: 'hi', colour: 'red'").await;
    assert!(out.contains("has no param `colour`"), "{out}");
    assert!(out.contains("its params: message, times"), "{out}");
    // Attributes every expression understands are not params.
    assert_eq!(check("echo_echo message: 'hi', timeout: '5s', tag: 't', if: 'true'").await, "");
    // An action that takes any params says so in its description.
    assert_eq!(check("merge_echo anything: 1, at_all: [2]").await, "");
    assert_eq!(check("participant 'echo', action: 'echo', message: 'x'").await, "");
    // Text or a block given to a step would be lost: both are refused.
    let out = check("echo_echo 'hello', message: 'x'").await;
    assert!(out.contains("echo.echo takes named params only"), "{out}");
    assert!(out.contains("'hello' would be lost"), "{out}");
    assert!(check("participant 'echo', 'extra', message: 'x'").await.contains("takes named params only"));
    let out = check("echo_echo message: 'x' do\n  noop\nend").await;
    assert!(out.contains("it takes no block"), "{out}");
}

on_both!(a_launch_refuses_params_the_participant_does_not_take, |h| {
    let definition = parse("t.mm", "mark_tester nme: 'x'").unwrap();
    let err = h.engine.launch("test", &definition, Default::default(), None).await.unwrap_err();
    assert!(err.to_string().contains("did you mean `name`?"), "{err}");
});

on_both!(a_failed_call_keeps_the_fields_it_kept_for_its_handler, |h| {
    let source = "sequence on_error: 'cleanup' do
  fail_tester message: 'never came up', keep: { 'instance_id' => 'i-123' }
end
define 'cleanup' do
  mark_tester name: 'destroy ${instance_id} after: ${__error__.message}'
end";
    let job = h.run(source, json!({})).await;
    completed(&job);
    assert_eq!(trail(&job), json!(["destroy i-123 after: tester.fail: never came up"]));
    // Unhandled, the job's fields still say what was created.
    let job = h.run("fail_tester keep: { 'instance_id' => 'i-456' }", json!({})).await;
    assert_eq!(job.state, JobState::Failed);
    let history = h.engine.store().history(&job.id).await.unwrap();
    assert_eq!(history.len(), 1);
});

/// A component built against the contract as it was before `outcome` was
/// added (the test participant, built then) still loads and runs.
#[tokio::test]
async fn components_built_against_the_first_contract_keep_working() {
    use mastermind::sandbox::{CallEnv, CallRequest};
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tester-contract-0.1.0.wasm")).unwrap();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let tester = sandbox.load(&bytes).await.unwrap();
    assert_eq!(tester.description().name, "tester");
    let call = |action: &str, params: Value| CallRequest {
        fields: json!({"trail": ["a"]}),
        ..CallRequest::new(action, params)
    };
    let outcome = sandbox.invoke(&tester, call("mark", json!({"name": "b"})), &CallEnv::default()).await.unwrap();
    assert_eq!(outcome.updates["trail"], json!(["a", "b"]));
    let error = sandbox.invoke(&tester, call("fail", json!({})), &CallEnv::default()).await.unwrap_err();
    assert_eq!((error.kind.as_str(), error.fields), ("fatal", None));
}

/// Ruote's eft_14 test_deep_rewind: the cursor rewinds for ever without
/// waiting; the job must still take a cancel, and promptly. A batch puts
/// off what is past its bound to the next; the cancel, handled at once,
/// must not overtake an apply put off that way (or it misses the
/// expression that apply creates, and the job hangs).
async fn a_loop_that_never_waits_can_still_be_cancelled(db: Db) {
    let h = Harness::new(db).await;
    let job = h.launch("cursor do\n  sequence do\n    echo 'a'\n    rewind\n    echo 'b'\n  end\nend", json!({})).await;
    for round in 0..3 {
        // Cancels land at different points of the loop's batches.
        tokio::time::sleep(std::time::Duration::from_millis(150 + 100 * round)).await;
        if round < 2 {
            h.engine.pause("test", &job).await.unwrap();
            h.engine.resume("test", &job).await.unwrap();
        }
    }
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(10), h.engine.cancel("test", &job))
        .await
        .expect("the cancel gets through")
        .unwrap();
    let job = h.wait(&job).await;
    assert_eq!(job.state, JobState::Canceled);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_never_waits_can_still_be_cancelled_sqlite() {
    a_loop_that_never_waits_can_still_be_cancelled(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_never_waits_can_still_be_cancelled_postgres() {
    a_loop_that_never_waits_can_still_be_cancelled(Db::Postgres).await;
}
