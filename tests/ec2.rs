//! The EC2, Campfire and HTTP participants against real servers: moto's
//! EC2 server and an HTTP receiver on loopback; and the seed's own example
//! run unchanged through the `mastermind` binary.

mod support;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::sandbox::{CallEnv, CallRequest, ErrorKind, Participant, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use support::moto::Moto;
use support::{HttpReceiver, participant_bytes};

async fn setup(moto: &Moto) -> (Sandbox, Participant, CallEnv) {
    let config = SandboxConfig {
        host: mastermind::capabilities::HostConfig { aws_endpoint_url: Some(moto.url.clone()), ..Default::default() },
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).unwrap();
    let ec2 = sandbox.load(&participant_bytes("ec2_server")).await.unwrap();
    let mut secrets = MemorySecrets::new();
    secrets.insert("aws", "testing-key-id:testing-secret-key");
    let env = CallEnv {
        grants: Arc::new(Grants::parse(&["ec2=us-west-2", "secret=aws"]).unwrap()),
        secrets: Arc::new(secrets),
        ..CallEnv::default()
    };
    (sandbox, ec2, env)
}

async fn call(sandbox: &Sandbox, p: &Participant, env: &CallEnv, action: &str, params: Value, key: &str) -> Value {
    let mut request = CallRequest::new(action, params);
    request.context.idempotency_key = key.to_owned();
    match sandbox.invoke(p, request, env).await {
        Ok(o) => Value::Object(o.updates),
        Err(e) => panic!("{action}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_server_lifecycle_against_moto() {
    let moto = Moto::start().await;
    let (sandbox, ec2, env) = setup(&moto).await;
    let created = call(
        &sandbox,
        &ec2,
        &env,
        "create",
        json!({"image_id": "ami-fe5bd4ce", "flavor_id": "t1.micro", "key_name": "storm", "region": "us-west-2",
               "availability_zone": "us-west-2a", "groups": ["default"], "tags": {"Name": "web"}}),
        "key-lifecycle",
    )
    .await;
    let id = created["instance_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("i-"), "{created}");
    assert_eq!(created["state"], "running");
    assert_eq!(created["server"]["tags"], json!({"Name": "web"}));
    assert_eq!(created["server"]["availability_zone"], "us-west-2a");
    let target = json!({"instance_id": id, "region": "us-west-2"});
    for (action, state) in [
        ("describe", "running"),
        ("stop", "stopped"),
        ("start", "running"),
        ("reboot", "running"),
        ("restart", "running"),
        ("destroy", "terminated"),
    ] {
        let out = call(&sandbox, &ec2, &env, action, target.clone(), "k").await;
        assert_eq!(out["state"], state, "{action}: {out}");
        assert_eq!(out["instance_id"], id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_launches_one_instance() {
    let moto = Moto::start().await;
    let (sandbox, ec2, env) = setup(&moto).await;
    let params = json!({"image_id": "ami-fe5bd4ce", "instance_type": "t2.micro", "region": "us-west-2"});
    let first = call(&sandbox, &ec2, &env, "create", params.clone(), "mm-same-step").await;
    let second = call(&sandbox, &ec2, &env, "create", params.clone(), "mm-same-step").await;
    assert_eq!(first["instance_id"], second["instance_id"], "same idempotency key, same instance");
    let third = call(&sandbox, &ec2, &env, "create", params, "mm-another-step").await;
    assert_ne!(first["instance_id"], third["instance_id"]);
    // Ask EC2 directly: exactly two instances exist, one per step.
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new("us-west-2"))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("k", "s", None, None, "test"))
        .endpoint_url(&moto.url)
        .build();
    let out = aws_sdk_ec2::Client::from_conf(config).describe_instances().send().await.unwrap();
    let count: usize = out.reservations().iter().map(|r| r.instances().len()).sum();
    assert_eq!(count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_denials_and_bad_input() {
    let moto = Moto::start().await;
    let (sandbox, ec2, env) = setup(&moto).await;
    let e = sandbox
        .invoke(&ec2, CallRequest::new("describe", json!({"instance_id": "i-1", "region": "eu-west-1"})), &env)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.contains("region 'eu-west-1'"), "{e}");
    let params = json!({"instance_id": "i-1", "region": "us-west-2", "credentials": "other"});
    let e = sandbox.invoke(&ec2, CallRequest::new("describe", params), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    let e = sandbox.invoke(&ec2, CallRequest::new("create", json!({"region": "us-west-2"})), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.contains("image_id"), "{e}");
    let e = sandbox
        .invoke(
            &ec2,
            CallRequest::new("describe", json!({"instance_id": "i-doesnotexist", "region": "us-west-2"})),
            &env,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(e.message.contains("InvalidInstanceID"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campfire_classic_and_bot_apis() {
    let receiver = HttpReceiver::start().await;
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let campfire = sandbox.load(&participant_bytes("campfire")).await.unwrap();
    let mut secrets = MemorySecrets::new();
    secrets.insert("campfire_token", "tok-123456");
    secrets.insert("bot_key", "2-AbCdEf");
    let env = CallEnv {
        grants: Arc::new(
            Grants::parse(&[&format!("http=127.0.0.1:{}", receiver.port), "secret=campfire_token", "secret=bot_key"])
                .unwrap(),
        ),
        secrets: Arc::new(secrets),
        ..CallEnv::default()
    };
    let params = json!({"message": "i-1 created!", "room": "42", "url": receiver.url("")});
    sandbox.invoke(&campfire, CallRequest::new("notify", params), &env).await.unwrap();
    let params =
        json!({"message": "hello bot", "room": "7", "url": receiver.url(""), "api": "bot", "token": "bot_key"});
    sandbox.invoke(&campfire, CallRequest::new("notify", params), &env).await.unwrap();
    let seen = receiver.requests();
    assert!(seen[0].starts_with("POST /room/42/speak.json"), "{}", seen[0]);
    // Basic base64("tok-123456:X")
    assert!(seen[0].contains("authorization: Basic dG9rLTEyMzQ1NjpY"), "{}", seen[0]);
    let body: Value = serde_json::from_str(seen[0].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body, json!({"message": {"type": "TextMessage", "body": "i-1 created!"}}));
    assert!(seen[1].starts_with("POST /rooms/7/2-AbCdEf/messages"), "{}", seen[1]);
    assert!(seen[1].ends_with("hello bot"), "{}", seen[1]);
    let e = sandbox.invoke(&campfire, CallRequest::new("notify", json!({"message": "x"})), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_participant_sends_json_and_reads_the_response() {
    let receiver = HttpReceiver::start().await;
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let http = sandbox.load(&participant_bytes("http")).await.unwrap();
    let env = CallEnv {
        grants: Arc::new(Grants::parse(&[&format!("http=127.0.0.1:{}", receiver.port)]).unwrap()),
        ..CallEnv::default()
    };
    let params = json!({"url": receiver.url("/hook"), "body": {"a": 1}, "headers": {"X-Trace": "t1"}});
    let out = Value::Object(sandbox.invoke(&http, CallRequest::new("post", params), &env).await.unwrap().updates);
    assert_eq!(out["http_status"], 200);
    let seen = &receiver.requests()[0];
    assert!(seen.starts_with("POST /hook") && seen.contains("x-trace: t1") && seen.ends_with(r#"{"a":1}"#), "{seen}");
    let e = sandbox
        .invoke(&http, CallRequest::new("get", json!({"url": "http://169.254.169.254/latest/"})), &env)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied);
}

/// The seed's definition and fields, unchanged, through `mastermind run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_runs_unchanged() {
    let moto = Moto::start().await;
    let receiver = HttpReceiver::start().await;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(support::mastermind_bin())
        .arg("run")
        .arg(examples.join("create_and_destroy_ec2_server.mm"))
        .arg("--fields")
        .arg(examples.join("create_and_destroy_ec2_server.fields.json"))
        .arg("--db")
        .arg(format!("sqlite:{}", dir.path().join("mm.db").display()))
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("CAMPFIRE_URL", receiver.url(""))
        .env("CAMPFIRE_ROOM", "1")
        .env("CAMPFIRE_TOKEN", "campfire-token-value")
        .env("MASTERMIND_CACHE_DIR", dir.path().join("cache"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mastermind run failed:\n{stderr}");
    let fields: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = fields["instance_id"].as_str().unwrap();
    assert!(id.starts_with("i-"));
    assert_eq!(fields["state"], "terminated");
    let seen = receiver.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains(&format!(r#""body":"{id} created!""#)), "{}", seen[0]);
    assert!(seen[1].contains(&format!(r#""body":"{id} destroyed!""#)), "{}", seen[1]);
    assert!(
        !stderr.contains("campfire-token-value") && !output.stdout.windows(20).any(|w| w == b"campfire-token-value")
    );
}
