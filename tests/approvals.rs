//! Approval gates over the real API: a job waits, durably, on an
//! `approval` until a token allowed to decide approves (the form's fields
//! merge into the workitem) or rejects it (a `rejected` error the
//! definition can handle); a timeout applies as to any expression.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use support::server::{Api, Server};

/// A token of the same tenant, named `name`, with `scopes`.
async fn token(owner: &Api, name: &str, scopes: &[&str]) -> Api {
    let made = owner.ok(Method::POST, "/v1/tokens", Some(json!({ "name": name, "scopes": scopes }))).await;
    owner.with_token(made["token"].as_str().unwrap())
}

/// Waits until the tenant lists an approval of `job`, and answers it.
async fn pending(api: &Api, job: &str) -> Value {
    for _ in 0..400 {
        let list = api.ok(Method::GET, "/v1/approvals", None).await;
        if let Some(a) = list.as_array().unwrap().iter().find(|a| a["job_id"] == job) {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job} never listed an approval");
}

fn decide(approval: &Value, verb: &str) -> String {
    format!("/v1/approvals/{}/{}/{verb}", approval["job_id"].as_str().unwrap(), approval["id"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_with_a_form_is_approved_by_a_named_approver() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    let alice = token(&owner, "alice", &["approve"]).await;
    let bob = token(&owner, "bob", &["approve"]).await;
    let reader = token(&owner, "alice-reads", &["read"]).await;
    owner
        .push(
            "deploy",
            "sequence do
  approval 'Deploy ${version} to prod?', approvers: ['alice'], form: { reason: 'string', ticket: 'integer' }
  echo_echo message: 'deploying ${version}: ${reason}'
end",
        )
        .await;
    let job = owner.launch("deploy", json!({ "version": "1.2" })).await;
    let approval = pending(&alice, &job).await;
    assert_eq!(approval["prompt"], "Deploy 1.2 to prod?");
    assert_eq!(approval["approvers"], json!(["alice"]));
    assert_eq!(approval["form"], json!({ "reason": "string", "ticket": "integer" }));
    assert_eq!(approval["definition"], "deploy@1");
    assert_eq!(approval["line"], 2);

    let form = json!({ "fields": { "reason": "hotfix", "ticket": 42 }, "comment": "looks good" });
    // Not named, or not allowed to approve: refused.
    bob.fails(Method::POST, &decide(&approval, "approve"), Some(form.clone()), StatusCode::FORBIDDEN).await;
    reader.fails(Method::POST, &decide(&approval, "approve"), Some(form.clone()), StatusCode::FORBIDDEN).await;
    // The form is checked: a missing field, a wrong type, an unknown field.
    for bad in [
        json!({ "fields": { "reason": "hotfix" } }),
        json!({ "fields": { "reason": "hotfix", "ticket": "42" } }),
        json!({ "fields": { "reason": "hotfix", "ticket": 42, "extra": 1 } }),
    ] {
        alice.fails(Method::POST, &decide(&approval, "approve"), Some(bad), StatusCode::BAD_REQUEST).await;
    }
    // Another tenant sees nothing of it.
    let other = server.tenant("other").await;
    assert_eq!(other.ok(Method::GET, "/v1/approvals", None).await, json!([]));
    other.fails(Method::POST, &decide(&approval, "approve"), Some(form.clone()), StatusCode::NOT_FOUND).await;

    let decided = alice.ok(Method::POST, &decide(&approval, "approve"), Some(form.clone())).await;
    assert_eq!(decided["decision"], "approved");
    assert_eq!(decided["by"], "alice");
    let done = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["fields"]["reason"], "hotfix");
    assert_eq!(done["fields"]["ticket"], 42);
    assert_eq!(done["fields"]["echo"], "deploying 1.2: hotfix");
    assert_eq!(done["fields"]["approval"]["by"], "alice");
    assert_eq!(done["fields"]["approval"]["comment"], "looks good");
    // Decided once: gone from the list, and a second decision finds nothing.
    assert_eq!(alice.ok(Method::GET, "/v1/approvals", None).await, json!([]));
    alice.fails(Method::POST, &decide(&approval, "approve"), Some(form), StatusCode::NOT_FOUND).await;
    let audit = owner.ok(Method::GET, "/v1/audit", None).await;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["action"] == "approve" && e["object_kind"] == "approval"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_an_error_the_definition_handles_and_a_timeout_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    owner
        .push(
            "guarded",
            "sequence on_error: 'rolled_back' do
  approval 'Go?'
  set 'f:went' => true
end
define 'rolled_back' do
  set 'f:why' => '${__error__.kind}: ${__error__.message}'
end",
        )
        .await;
    let job = owner.launch("guarded", json!({})).await;
    let approval = pending(&owner, &job).await;
    assert_eq!(approval["approvers"], json!([]));
    // A rejection takes no fields.
    owner
        .fails(
            Method::POST,
            &decide(&approval, "reject"),
            Some(json!({ "fields": { "a": 1 } })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    owner.ok(Method::POST, &decide(&approval, "reject"), Some(json!({ "comment": "not today" }))).await;
    let done = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["fields"]["why"], "rejected: rejected by owner: not today");
    assert!(done["fields"].get("went").is_none());

    // Unhandled, a rejection fails the job with its kind.
    owner.push("bare", "approval 'Go?'").await;
    let job = owner.launch("bare", json!({})).await;
    let approval = pending(&owner, &job).await;
    owner.ok(Method::POST, &decide(&approval, "reject"), Some(json!({}))).await;
    let failed = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"]["kind"], "rejected");

    // A timeout ends the wait as for any expression, and the approval is gone.
    owner.push("hurried", "approval 'Go?', timeout: '1s'\nset 'f:after' => true").await;
    let job = owner.launch("hurried", json!({})).await;
    let approval = pending(&owner, &job).await;
    let done = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["fields"]["after"], true);
    owner.fails(Method::POST, &decide(&approval, "approve"), Some(json!({})), StatusCode::NOT_FOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_a_paused_job_waits_for_the_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    owner.push("gate", "approval 'Go?'\nset 'f:went' => true").await;
    let job = owner.launch("gate", json!({})).await;
    let approval = pending(&owner, &job).await;
    owner.ok(Method::POST, &format!("/v1/jobs/{job}/pause"), None).await;
    // Still listed while paused; the decision is kept, durably, across a restart.
    pending(&owner, &job).await;
    owner.ok(Method::POST, &decide(&approval, "approve"), Some(json!({}))).await;
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(owner.ok(Method::GET, &format!("/v1/jobs/{job}"), None).await["state"], "paused");
    owner.ok(Method::POST, &format!("/v1/jobs/{job}/resume"), None).await;
    let done = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["fields"]["went"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_lists_and_decides_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    owner.push("gate", "approval 'Ship ${v}?', form: { ticket: 'integer' }\nset 'f:went' => true").await;
    let job = owner.launch("gate", json!({ "v": "2.0" })).await;
    let approval = pending(&owner, &job).await;
    let cli = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(support::mastermind_bin());
        cmd.args(args)
            .env("MASTERMIND_URL", &server.url)
            .env("MASTERMIND_TOKEN", &owner.token)
            .env("XDG_CONFIG_HOME", dir.path().join("config"));
        cmd
    };
    // In a pipe: the API's JSON.
    let out = cli(&["approvals", "list"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["prompt"], "Ship 2.0?");
    let id = approval["id"].as_str().unwrap();
    // A wrong type is refused with the server's reason.
    let out = cli(&["approvals", "approve", &job, id, "-f", "ticket=abc"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ticket"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["approvals", "approve", &job, id, "-f", "ticket:=7", "-m", "go"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = owner.wait_state(&job, &["completed", "failed"]).await;
    assert_eq!(done["fields"]["ticket"], 7);
    assert_eq!(done["fields"]["approval"]["comment"], "go");
}

/// `groups:` lets any approver token of those groups decide; a token in no
/// such group (even an approver) is refused with who may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_naming_a_group_is_decided_by_a_token_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    let in_group = |name: &str, groups: Value| json!({ "name": name, "scopes": ["approve"], "groups": groups });
    let carol = owner.ok(Method::POST, "/v1/tokens", Some(in_group("carol", json!(["ops", "dba"])))).await;
    assert_eq!(carol["groups"], json!(["ops", "dba"]));
    let carol = owner.with_token(carol["token"].as_str().unwrap());
    let dave = owner.ok(Method::POST, "/v1/tokens", Some(in_group("dave", json!(["dev"])))).await;
    let dave = owner.with_token(dave["token"].as_str().unwrap());
    owner.fails(Method::POST, "/v1/tokens", Some(in_group("eve", json!(["no spaces"]))), StatusCode::BAD_REQUEST).await;
    owner.push("gated", "approval 'Migrate?', groups: 'ops'\nset 'f:went' => true").await;
    let job = owner.launch("gated", json!({})).await;
    let approval = pending(&owner, &job).await;
    assert_eq!(approval["groups"], json!(["ops"]));
    let refused = dave.fails(Method::POST, &decide(&approval, "approve"), Some(json!({})), StatusCode::FORBIDDEN).await;
    assert!(refused["message"].as_str().unwrap().contains("group ops"), "{refused}");
    carol.ok(Method::POST, &decide(&approval, "approve"), Some(json!({ "comment": "window open" }))).await;
    let done = owner.wait_state(&job, &["completed"]).await;
    assert_eq!(done["fields"]["approval"]["by"], "carol");
}
