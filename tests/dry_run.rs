//! `mastermind run --dry-run` (issue #15): the job runs in full — grants
//! checked, dollar notation resolved, handlers taken — while every
//! capability call is answered by the host, from the user's stubs or a
//! synthetic answer, and nothing leaves: real peers are listening on
//! loopback, granted, and none of them gets a connection. The plan lists
//! each step and the calls it would have made, without secret values.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use support::HttpReceiver;
use tokio::net::TcpListener;

const BEARER: &str = "tok-3c9f1e2a77d04b";

async fn dry_run(dir: &Path, definition: &str, extra: &[&str], aws: Option<&HttpReceiver>) -> Output {
    let file = dir.join("flow.mm");
    std::fs::write(&file, definition).unwrap();
    tokio::process::Command::new(support::mastermind_bin())
        .arg("run")
        .arg(&file)
        .arg("--dry-run")
        .args(extra)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        // Where a real run's EC2 calls would go.
        .env("AWS_ENDPOINT_URL", aws.map(|a| a.url("")).unwrap_or_default())
        .output()
        .await
        .unwrap()
}

/// An RSA key in PEM (Chef's) and an ed25519 key (SSH's), made by ssh-keygen.
fn keys(dir: &Path) -> (String, String) {
    let make = |name: &str, args: &[&str]| {
        let path = dir.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-f"])
            .arg(&path)
            .args(args)
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        path.display().to_string()
    };
    (make("chef.pem", &["-t", "rsa", "-b", "2048", "-m", "PEM"]), make("ssh_key", &["-t", "ed25519"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_answered_by_the_host_and_nothing_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let web = HttpReceiver::start().await;
    let aws = HttpReceiver::start().await;
    let chef = HttpReceiver::start().await;
    let ssh = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ssh_port = ssh.local_addr().unwrap().port();
    let (chef_key, ssh_key) = keys(dir.path());
    let stubs = dir.path().join("stubs.json");
    let stubbed = serde_json::json!({
        "http": [
            { "method": "GET", "url": format!("{}/builds/*", web.url("")), "body": { "artifact": "app-1.4.tgz" } },
            { "method": "POST", "url": format!("{}/flaky", web.url("")), "status": 503 }
        ],
        "ssh": [{ "command": "systemctl is-active *", "stdout": "active\n" }],
        "ec2": { "state": "running" }
    });
    std::fs::write(&stubs, stubbed.to_string()).unwrap();
    let definition = format!(
        "define 'fallback' do
  echo 'the hook is down'
end
sequence do
  get_http url: '{web}/builds/${{version}}', bearer: 'ci_token'
  echo 'artifact ${{http_body.artifact}}'
  post_http url: '{web}/flaky', on_error: 'fallback'
  create_ec2_server image_id: 'ami-0abc', instance_type: 't3.micro', region: 'us-east-1'
  run_ssh host: '127.0.0.1', port: {ssh_port}, user: 'deploy', command: 'systemctl is-active app'
  show_chef_node name: 'web1', server_url: '{chef}', client_name: 'mastermind'
  destroy_ec2_server instance_id: '${{instance_id}}', region: 'us-east-1'
end",
        web = web.url(""),
        chef = chef.url(""),
    );
    let web_grant = format!("http:http=127.0.0.1:{}", web.port);
    let ssh_grant = format!("ssh:ssh=deploy@127.0.0.1:{ssh_port}");
    let chef_grant = format!("chef_node:chef={}", chef.url(""));
    let out = dry_run(
        dir.path(),
        &definition,
        &[
            "--stubs",
            stubs.to_str().unwrap(),
            "-f",
            "version=1.4",
            "--grant",
            &web_grant,
            "--grant",
            "http:secret=ci_token",
            "--secret",
            &format!("ci_token={BEARER}"),
            "--grant",
            "ec2_server:ec2=us-east-1",
            "--secret",
            "aws=AKIAEXAMPLE:wJalrXUtnFEMI",
            "--grant",
            &ssh_grant,
            "--secret",
            &format!("ssh_key=@{ssh_key}"),
            "--grant",
            &chef_grant,
            "--secret",
            &format!("chef_client_key=@{chef_key}"),
        ],
        Some(&aws),
    )
    .await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let fields: Value = serde_json::from_str(&stdout).unwrap();
    // Stubbed and synthetic answers flowed into the fields.
    assert_eq!(fields["http_body"]["artifact"], "app-1.4.tgz", "{fields}");
    assert_eq!(fields["state"], "terminated", "{fields}");
    assert!(fields["instance_id"].as_str().unwrap().starts_with("i-dryrun-"), "{fields}");
    assert_eq!(fields["stdout"], "active\n");
    assert!(stderr.contains("artifact app-1.4.tgz"), "{stderr}");
    // The stubbed 503 failed the step; its handler was taken.
    assert!(stderr.contains("the hook is down"), "{stderr}");
    // The plan: every step and every call.
    let plan = stderr.split("plan (dry run: nothing was sent):").nth(1).expect("a plan");
    for expected in [
        format!("http GET {}/builds/1.4", web.url("")),
        format!("http POST {}/flaky", web.url("")),
        "ec2 run-instances us-east-1".to_owned(),
        format!("ssh deploy@127.0.0.1:{ssh_port}: systemctl is-active app"),
        format!("chef GET {}/nodes/web1", chef.url("")),
        "ec2 terminate-instances us-east-1 i-dryrun-".to_owned(),
        "ec2_server.create".to_owned(),
    ] {
        assert!(plan.contains(&expected), "the plan lacks {expected}:\n{plan}");
    }
    assert!(!stdout.contains(BEARER) && !stderr.contains(BEARER), "a secret value was shown");
    // Nothing left this machine, nor even reached the peers on loopback.
    assert_eq!(web.connections(), 0);
    assert_eq!(aws.connections(), 0);
    assert_eq!(chef.connections(), 0);
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(100), ssh.accept()).await;
    assert!(accepted.is_err(), "the SSH peer got a connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_still_checks_grants() {
    let dir = tempfile::tempdir().unwrap();
    let web = HttpReceiver::start().await;
    let out = dry_run(dir.path(), &format!("get_http url: '{}/x'", web.url("")), &[], None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("denied") && stderr.contains("is not granted"), "{stderr}");
    assert!(!stderr.contains("--resume"), "a dry run's job is not kept: {stderr}");
    assert_eq!(web.connections(), 0);
}

/// `"dry_run": true` on `POST /v1/jobs`: the job is marked a dry run in the
/// API, its calls are answered from its stubs, its plan lists them, and the
/// granted receiver gets nothing — while a real job of the same definition
/// reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_through_the_api_is_marked_and_sends_nothing() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let receiver = HttpReceiver::start().await;
    let grant = format!("http:http=127.0.0.1:{}", receiver.port);
    let db = format!("sqlite:{}", dir.path().join("mm.db").display());
    let server = support::server::Server::start_with(dir.path(), &db, &["--grant", &grant]).await;
    let owner = server.tenant("acme").await;
    let url = receiver.url("/ping");
    owner.push("ping", &format!("get_http url: '{url}'\necho 'status ${{http_status}}'")).await;

    let stubs = json!({ "http": [{ "url": url, "status": 204 }] });
    let body = json!({ "definition": "ping", "dry_run": true, "stubs": stubs });
    let made = owner.ok(Method::POST, "/v1/jobs", Some(body)).await;
    assert_eq!(made["dry_run"], true);
    let id = made["id"].as_str().unwrap().to_owned();
    let done = owner.wait_state(&id, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["dry_run"], true);
    assert_eq!(done["fields"]["http_status"], 204);
    let plan = owner.ok(Method::GET, &format!("/v1/jobs/{id}/plan"), None).await;
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["steps"][0]["participant"], "http");
    assert_eq!(plan["steps"][0]["calls"], json!([{ "capability": "http", "call": { "method": "GET", "url": url } }]));
    let listed = owner.ok(Method::GET, "/v1/jobs", None).await;
    assert_eq!(listed["jobs"][0]["dry_run"], true);
    assert_eq!(receiver.connections(), 0, "a dry run sent something");

    // Stubs without a dry run, or that do not read, are refused.
    let stray = json!({ "definition": "ping", "stubs": stubs });
    owner.fails(Method::POST, "/v1/jobs", Some(stray), StatusCode::BAD_REQUEST).await;
    let bad = json!({ "definition": "ping", "dry_run": true, "stubs": { "smtp": [] } });
    owner.fails(Method::POST, "/v1/jobs", Some(bad), StatusCode::BAD_REQUEST).await;

    // The same definition for real reaches the receiver.
    let real = owner.launch("ping", json!({})).await;
    let done = owner.wait_state(&real, &["completed", "failed"]).await;
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["fields"]["http_status"], 200, "{done}");
    assert_eq!(receiver.requests().len(), 1);
    let plan = owner.ok(Method::GET, &format!("/v1/jobs/{real}/plan"), None).await;
    assert_eq!(plan["dry_run"], false);
    assert_eq!(plan["steps"][0]["calls"], json!([]));
}
