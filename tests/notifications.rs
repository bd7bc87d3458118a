//! Webhook notifications over the real API (issue #15): a tenant names
//! webhooks; a job's end and a pending approval are posted (Slack-compatible
//! `text`, details beside it) to those that want the event — every job's,
//! or the jobs whose definition names them with `notify:`. Deliveries are
//! retried, listed, and never hold a job back; another tenant's webhooks
//! hear nothing; a URL is never shown whole.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::HttpReceiver;
use support::server::{Api, Server};

/// The JSON bodies posted to `path`, in arrival order.
fn posted(receiver: &HttpReceiver, path: &str) -> Vec<Value> {
    receiver
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("POST {path} ")))
        .filter_map(|r| serde_json::from_str(r.split_once("\r\n\r\n")?.1).ok())
        .collect()
}

/// Waits until `path` got `n` posts; answers them.
async fn wait_posts(receiver: &HttpReceiver, path: &str, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let got = posted(receiver, path);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path} got {:?}, wanted {n} posts", posted(receiver, path));
}

async fn pending_approval(api: &Api, job: &str) -> Value {
    for _ in 0..400 {
        let list = api.ok(Method::GET, "/v1/approvals", None).await;
        if let Some(a) = list.as_array().unwrap().iter().find(|a| a["job_id"] == job) {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no approval for {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_ends_and_pending_approvals_reach_the_webhooks_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let receiver = HttpReceiver::start().await;
    let owner = server.tenant("acme").await;
    // `ops` hears of the jobs naming it; `all` of every job's end, its URL kept in a secret.
    let ops = json!({ "url": receiver.url("/ops"), "events": ["job.completed", "job.failed", "approval.pending"] });
    owner.ok(Method::PUT, "/v1/webhooks/ops", Some(ops)).await;
    owner.ok(Method::PUT, "/v1/secrets/all_hook", Some(json!({ "value": receiver.url("/all") }))).await;
    let all = json!({ "url_secret": "all_hook", "every_job": true, "events": ["job.completed", "job.canceled"] });
    owner.ok(Method::PUT, "/v1/webhooks/all", Some(all)).await;
    // Another tenant's webhook for every job hears nothing of acme's.
    let stranger = server.tenant("globex").await;
    let theirs = json!({ "url": receiver.url("/globex"), "every_job": true });
    stranger.ok(Method::PUT, "/v1/webhooks/theirs", Some(theirs)).await;

    owner
        .push("deploy", "define 'deploy', notify: 'ops' do\n  approval 'Ship ${version}?'\n  echo 'shipping'\nend")
        .await;
    owner.push("plain", "echo 'nothing to see'").await;
    let deploy = owner.launch("deploy", json!({ "version": "1.2" })).await;
    let asked = wait_posts(&receiver, "/ops", 1).await;
    assert_eq!(asked[0]["event"], "approval.pending");
    assert_eq!(asked[0]["job"]["id"], deploy.as_str());
    assert_eq!(asked[0]["approval"]["prompt"], "Ship 1.2?");
    assert!(asked[0]["text"].as_str().unwrap().contains("Ship 1.2?"), "{}", asked[0]);
    assert!(asked[0]["delivery"].is_i64());

    let approval = pending_approval(&owner, &deploy).await;
    let path = format!("/v1/approvals/{deploy}/{}/approve", approval["id"].as_str().unwrap());
    owner.ok(Method::POST, &path, Some(json!({ "comment": "go" }))).await;
    owner.wait_state(&deploy, &["completed"]).await;
    let plain = owner.launch("plain", json!({})).await;
    owner.wait_state(&plain, &["completed"]).await;

    let ops = wait_posts(&receiver, "/ops", 2).await;
    assert_eq!(ops[1]["event"], "job.completed");
    assert_eq!(ops[1]["job"]["id"], deploy.as_str());
    assert_eq!(ops[1]["text"], format!("deploy {deploy} completed."));
    let all = wait_posts(&receiver, "/all", 2).await;
    let mut ended: Vec<&str> = all.iter().map(|p| p["job"]["id"].as_str().unwrap()).collect();
    ended.sort();
    let mut expected = [deploy.as_str(), plain.as_str()];
    expected.sort();
    assert_eq!(ended, expected, "every job's end, and only job ends");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(posted(&receiver, "/ops").len(), 2, "the plain job does not name ops");
    assert_eq!(posted(&receiver, "/globex"), Vec::<Value>::new());

    // A failure reaches ops (its definition names it), a cancel reaches all.
    owner.push("breaks", "define 'breaks', notify: ['ops'] do\n  error 'boom'\nend").await;
    let breaks = owner.launch("breaks", json!({})).await;
    owner.wait_state(&breaks, &["failed"]).await;
    let failed = wait_posts(&receiver, "/ops", 3).await;
    assert_eq!(failed[2]["event"], "job.failed");
    assert_eq!(failed[2]["error"]["message"], "boom");
    assert_eq!(failed[2]["text"], format!("breaks {breaks} failed: error: boom"));
    owner.push("long", "wait '1h'").await;
    let long = owner.launch("long", json!({})).await;
    owner.wait_state(&long, &["running"]).await;
    owner.ok(Method::POST, &format!("/v1/jobs/{long}/cancel"), None).await;
    let canceled = wait_posts(&receiver, "/all", 3).await;
    assert_eq!(canceled[2]["event"], "job.canceled");
    assert_eq!(canceled[2]["job"]["id"], long.as_str());

    // Listed without their paths; the secret's URL not at all.
    let listed = owner.ok(Method::GET, "/v1/webhooks", None).await;
    let text = listed.to_string();
    assert!(!text.contains("/ops") && !text.contains("/all"), "{text}");
    assert_eq!(listed[1]["name"], "ops");
    assert_eq!(listed[1]["url"], format!("http://127.0.0.1:{}/…", receiver.port));
    assert_eq!(listed[0]["url_secret"], "all_hook");
    let deliveries = owner.ok(Method::GET, "/v1/webhooks/ops/deliveries", None).await;
    let statuses: Vec<&str> = deliveries.as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["delivered", "delivered", "delivered"]);
    assert_eq!(deliveries[0]["event"], "job.failed");

    // The command line lists them too.
    let out = server.cli(&owner, &dir.path().join("config"), &["webhooks", "deliveries", "ops"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, deliveries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_slow_receiver_is_retried_and_never_holds_a_job_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    // Down twice, then up.
    let flaky = HttpReceiver::start_answering(Duration::ZERO, move |_| {
        if counted.fetch_add(1, Ordering::SeqCst) < 2 { 503 } else { 200 }
    })
    .await;
    let slow = HttpReceiver::start_answering(Duration::from_secs(30), |_| 200).await;
    let owner = server.tenant("acme").await;
    owner.ok(Method::PUT, "/v1/webhooks/flaky", Some(json!({ "url": flaky.url("/"), "every_job": true }))).await;
    owner.ok(Method::PUT, "/v1/webhooks/slow", Some(json!({ "url": slow.url("/"), "every_job": true }))).await;
    owner.push("quick", "echo 'done'").await;

    let started = Instant::now();
    let job = owner.launch("quick", json!({})).await;
    owner.wait_state(&job, &["completed"]).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the job waited for a receiver: {:?}", started.elapsed());

    // 503, 503 (after 1 s), then 200 (after 2 s more).
    let mut last = Value::Null;
    for _ in 0..200 {
        last = owner.ok(Method::GET, "/v1/webhooks/flaky/deliveries", None).await;
        if last[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last[0]["status"], "delivered", "{last}");
    assert_eq!(last[0]["attempts"], 3);
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(posted(&flaky, "/").len(), 3);
    // The slow one got the post and is still being waited for; the job is long done.
    assert_eq!(posted(&slow, "/").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_must_say_where_and_what() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let owner = server.tenant("acme").await;
    let bad = [
        json!({}),
        json!({ "url": "http://127.0.0.1:9/", "url_secret": "x" }),
        json!({ "url": "ftp://example.com/" }),
        json!({ "url": "not a url" }),
        json!({ "url": "https://example.com/", "events": ["job.exploded"] }),
        json!({ "url": "https://example.com/", "events": [] }),
    ];
    for body in bad {
        let error = owner.fails(Method::PUT, "/v1/webhooks/x", Some(body.clone()), StatusCode::BAD_REQUEST).await;
        assert!(!error["message"].as_str().unwrap().is_empty(), "{body}");
    }
    let made = owner.ok(Method::POST, "/v1/tokens", Some(json!({ "name": "reader", "scopes": ["read"] }))).await;
    let reader = owner.with_token(made["token"].as_str().unwrap());
    reader
        .fails(Method::PUT, "/v1/webhooks/x", Some(json!({ "url": "https://example.com/" })), StatusCode::FORBIDDEN)
        .await;
    owner.fails(Method::DELETE, "/v1/webhooks/none", None, StatusCode::NOT_FOUND).await;
    owner.fails(Method::GET, "/v1/webhooks/none/deliveries", None, StatusCode::NOT_FOUND).await;
    let set = owner.ok(Method::PUT, "/v1/webhooks/x", Some(json!({ "url": "https://example.com/hook" }))).await;
    assert_eq!(set["events"], json!(["job.completed", "job.failed", "job.canceled", "approval.pending"]));
    assert_eq!(set["every_job"], false);
    let deleted = owner.call(Method::DELETE, "/v1/webhooks/x", None).await;
    assert_eq!(deleted.0, StatusCode::NO_CONTENT);
}
