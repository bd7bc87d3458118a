//! The participant sandbox against real components built from
//! `tests/participants/` and `plugins/`: every limit and every denial, each
//! followed by a well-behaved call that must still succeed.

mod support;

/// Issue 12's hostile probes (address policy, bounds), beside the limits here.
#[path = "sandbox/hostile.rs"]
mod hostile;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::sandbox::{
    CallEnv, CallError, CallRequest, EngineConfig, ErrorKind, Limit, Limits, LoadError, Participant, Sandbox,
    SandboxConfig,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{HttpReceiver, participant_bytes};

fn sandbox() -> Sandbox {
    let engine = EngineConfig { max_instances: 64, ..EngineConfig::default() };
    Sandbox::new(SandboxConfig { engine, ..SandboxConfig::default() }).expect("sandbox")
}

async fn load(sandbox: &Sandbox, name: &str) -> Participant {
    sandbox.load(&participant_bytes(name)).await.unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn env_with(grants: &[&str], secrets: &[(&str, &str)], limits: Limits) -> CallEnv {
    let mut store = MemorySecrets::new();
    for (k, v) in secrets {
        store.insert(*k, *v);
    }
    CallEnv {
        grants: Arc::new(Grants::parse(grants).unwrap()),
        secrets: Arc::new(store),
        limits,
        events: None,
        dry_run: None,
    }
}

async fn call(
    sandbox: &Sandbox,
    p: &Participant,
    action: &str,
    params: Value,
    env: &CallEnv,
) -> Result<Value, CallError> {
    sandbox.invoke(p, CallRequest::new(action, params), env).await.map(|o| Value::Object(o.updates))
}

async fn expect_error(sandbox: &Sandbox, p: &Participant, action: &str, params: Value, env: &CallEnv) -> CallError {
    match call(sandbox, p, action, params, env).await {
        Ok(v) => panic!("{action} should have failed, returned {v}"),
        Err(e) => e,
    }
}

/// The sandbox still serves a normal call after whatever came before.
async fn still_healthy(sandbox: &Sandbox) {
    let echo = load(sandbox, "echo").await;
    let out = call(sandbox, &echo, "echo", json!({"message": "still here"}), &CallEnv::default()).await.unwrap();
    assert_eq!(out, json!({"echo": "still here"}));
}

#[tokio::test]
async fn echo_describes_itself_and_runs() {
    let sandbox = sandbox();
    let echo = load(&sandbox, "echo").await;
    let d = echo.description();
    assert_eq!(d.name, "echo");
    assert_eq!(d.default_action.as_deref(), Some("echo"));
    let action = d.action("echo").unwrap();
    assert!(action.params.iter().any(|p| p.name == "message" && p.required && p.kind == "string"));
    let out = call(&sandbox, &echo, "echo", json!({"message": "ab", "times": 3}), &CallEnv::default()).await.unwrap();
    assert_eq!(out, json!({"echo": "ababab"}));
}

#[tokio::test]
async fn missing_and_mistyped_params_are_bad_input_listing_each() {
    let sandbox = sandbox();
    let echo = load(&sandbox, "echo").await;
    let e = expect_error(&sandbox, &echo, "echo", json!({"times": "x"}), &CallEnv::default()).await;
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.contains("missing required param(s): message"), "{}", e.message);
    assert!(e.message.contains("'times' must be an integer"), "{}", e.message);
    let e = expect_error(&sandbox, &echo, "shout", json!({}), &CallEnv::default()).await;
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.contains("no action 'shout'") && e.message.contains("echo, merge"), "{}", e.message);
}

#[tokio::test]
async fn endless_loop_hits_the_deadline() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&[], &[], Limits { deadline: Duration::from_millis(300), ..Limits::default() });
    let started = Instant::now();
    let e = expect_error(&sandbox, &hostile, "spin", json!({}), &env).await;
    assert_eq!((e.kind, e.limit), (ErrorKind::Limit, Some(Limit::Deadline)), "{e}");
    assert!(e.message.contains("deadline exceeded") && e.message.contains("300ms"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn sleeping_past_the_deadline_is_cut_short() {
    let sandbox = sandbox();
    let noop = load(&sandbox, "noop").await;
    let env = env_with(&[], &[], Limits { deadline: Duration::from_millis(200), ..Limits::default() });
    let started = Instant::now();
    let e = expect_error(&sandbox, &noop, "sleep", json!({"ms": 60_000}), &env).await;
    assert_eq!(e.limit, Some(Limit::Deadline), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_limit() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&[], &[], Limits { memory_bytes: 32 << 20, ..Limits::default() });
    let e = expect_error(&sandbox, &hostile, "allocate", json!({}), &env).await;
    assert_eq!((e.kind, e.limit), (ErrorKind::Limit, Some(Limit::Memory)), "{e}");
    assert!(e.message.contains("memory limit exceeded") && e.message.contains("32 MiB"), "{}", e.message);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn deep_recursion_hits_the_stack_limit() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let e = expect_error(&sandbox, &hostile, "recurse", json!({}), &CallEnv::default()).await;
    assert_eq!((e.kind, e.limit), (ErrorKind::Limit, Some(Limit::Stack)), "{e}");
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn huge_output_hits_the_output_limit() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&[], &[], Limits { output_bytes: 1 << 20, ..Limits::default() });
    let e = expect_error(&sandbox, &hostile, "huge_output", json!({"mib": 2}), &env).await;
    assert_eq!((e.kind, e.limit), (ErrorKind::Limit, Some(Limit::Output)), "{e}");
    assert!(e.message.contains("1024 KiB"), "{}", e.message);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn log_flood_hits_the_log_limit() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let e = expect_error(&sandbox, &hostile, "log_flood", json!({}), &CallEnv::default()).await;
    assert_eq!((e.kind, e.limit), (ErrorKind::Limit, Some(Limit::Log)), "{e}");
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn a_panic_is_a_crash_with_the_panic_message() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let e = expect_error(&sandbox, &hostile, "panic", json!({}), &CallEnv::default()).await;
    assert_eq!(e.kind, ErrorKind::Crashed, "{e}");
    assert!(e.message.contains("panicked on purpose"), "{}", e.message);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn http_to_an_ungranted_host_is_denied_and_sends_nothing() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&["http=example.com"], &[], Limits::default());
    let url = receiver.url("/probe");
    let e = expect_error(&sandbox, &hostile, "http_get", json!({"url": url}), &env).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.contains("http") && e.message.contains(&format!("127.0.0.1:{}", receiver.port)), "{}", e.message);
    assert_eq!(receiver.requests().len(), 0);
    // A server's policy for uploads: exact grants reach public addresses
    // only, so a granted name that resolves to loopback is refused too.
    let mut grants = Grants::parse(&[format!("http=localhost:{}", receiver.port)]).unwrap();
    grants.public_only = true;
    let env = CallEnv { grants: Arc::new(grants), ..env_with(&[], &[], Limits::default()) };
    let e = expect_error(
        &sandbox,
        &hostile,
        "http_get",
        json!({"url": format!("http://localhost:{}/x", receiver.port)}),
        &env,
    )
    .await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.contains("non-public"), "{}", e.message);
    assert_eq!(receiver.requests().len(), 0);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn http_to_an_exactly_granted_local_host_works() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&[&format!("http=127.0.0.1:{}", receiver.port)], &[], Limits::default());
    let out = call(&sandbox, &hostile, "http_get", json!({"url": receiver.url("/hello")}), &env).await.unwrap();
    assert_eq!(out["status"], 200);
    assert!(out["body"].as_str().unwrap().starts_with("GET /hello HTTP/1.1"), "{out}");
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn private_and_link_local_addresses_need_an_exact_grant() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    // A wildcard grant covers public hosts only, however the address is spelled.
    let env = env_with(&["http=*:*"], &[], Limits::default());
    for url in [
        receiver.url("/x"),
        format!("http://localhost:{}/x", receiver.port),
        format!("http://[::ffff:127.0.0.1]:{}/x", receiver.port),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let e = expect_error(&sandbox, &hostile, "http_get", json!({"url": url}), &env).await;
        assert_eq!(e.kind, ErrorKind::Denied, "{url}: {e}");
        assert!(e.message.contains("non-public"), "{url}: {}", e.message);
    }
    assert_eq!(receiver.requests().len(), 0);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn an_ungranted_secret_is_denied_and_nothing_is_sent() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let env = env_with(&[&grant], &[("api_token", "s3cr3t-value-123")], Limits::default());
    let params = json!({"url": receiver.url("/"), "secret": "api_token"});
    let e = expect_error(&sandbox, &hostile, "http_with_secret", params, &env).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.contains("secret 'api_token'"), "{}", e.message);
    assert_eq!(receiver.requests().len(), 0);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn a_granted_secret_is_used_but_never_read_back() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let env = env_with(&[&grant, "secret=api_token"], &[("api_token", "s3cr3t-value-123")], Limits::default());
    let params = json!({"url": receiver.url("/echo"), "secret": "api_token"});
    let out = call(&sandbox, &hostile, "http_with_secret", params, &env).await.unwrap();
    // The server got the real token...
    let seen = receiver.requests();
    assert!(seen[0].contains("authorization: Bearer s3cr3t-value-123"), "{}", seen[0]);
    // ...but its echo reaches the participant redacted.
    let body = out["body"].as_str().unwrap();
    assert!(body.contains("authorization: Bearer [REDACTED]"), "{body}");
    assert!(!out.to_string().contains("s3cr3t-value-123"));
}

#[tokio::test]
async fn wasi_gives_no_files_no_environment_no_sockets() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let env = CallEnv::default();
    let e = expect_error(&sandbox, &hostile, "read_file", json!({"path": "/etc/passwd"}), &env).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(!e.message.contains("root:"), "{}", e.message);

    assert!(std::env::vars().count() > 0, "the host has an environment to leak");
    let out = call(&sandbox, &hostile, "environment", json!({}), &env).await.unwrap();
    assert_eq!(out["vars"], json!([]), "{out}");
    assert_eq!(out["args"], json!([]), "{out}");

    let addr = format!("127.0.0.1:{}", receiver.port);
    let e = expect_error(&sandbox, &hostile, "tcp_connect", json!({"addr": addr}), &env).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert_eq!(receiver.connections(), 0);
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn malformed_and_foreign_wasm_is_refused_with_a_reason() {
    let sandbox = sandbox();
    type Case = (&'static str, Vec<u8>, fn(&LoadError) -> bool);
    let cases: Vec<Case> = vec![
        ("garbage", b"definitely not wasm".to_vec(), |e| matches!(e, LoadError::NotWasm(_))),
        ("empty", Vec::new(), |e| matches!(e, LoadError::NotWasm(_))),
        ("core module", wat::parse_str("(module (func (export \"run\")))").unwrap(), |e| {
            matches!(e, LoadError::CoreModule)
        }),
        ("truncated component", participant_bytes("echo")[..1000].to_vec(), |e| matches!(e, LoadError::Invalid(_))),
        (
            "unknown import",
            wat::parse_str(r#"(component (import "evil:net/raw-socket" (instance)))"#).unwrap(),
            |e| matches!(e, LoadError::UnknownImport { import, .. } if import.contains("evil:net/raw-socket")),
        ),
        (
            "another world",
            wat::parse_str("(component)").unwrap(),
            |e| matches!(e, LoadError::WrongWorld(m) if m.contains("describe") || m.contains("invoke")),
        ),
    ];
    for (what, bytes, check) in cases {
        match sandbox.load(&bytes).await {
            Ok(_) => panic!("{what} was accepted"),
            Err(e) => {
                assert!(check(&e), "{what}: unexpected error {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    let small = Sandbox::new(SandboxConfig { max_component_bytes: 1024, ..SandboxConfig::default() }).unwrap();
    let e = small.load(&participant_bytes("echo")).await.err().unwrap();
    assert!(matches!(e, LoadError::TooLarge { .. }), "{e:?}");
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn compiled_code_is_cached_and_a_tampered_entry_is_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig { cache_dir: Some(dir.path().to_owned()), ..SandboxConfig::default() };
    let bytes = participant_bytes("echo");
    let first = Sandbox::new(config()).unwrap();
    first.load(&bytes).await.unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "one cache entry");
    let entry = &entries[0];
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&mastermind::sandbox::digest(&bytes)), "{name}");

    // A second host loads from the cache.
    let second = Sandbox::new(config()).unwrap();
    let p = second.load(&bytes).await.unwrap();
    assert_eq!(p.description().name, "echo");

    // Flip a byte in the compiled code: the entry must be rejected and
    // replaced by a fresh compilation, and the participant still works.
    let mut tampered = std::fs::read(entry).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    std::fs::write(entry, &tampered).unwrap();
    let third = Sandbox::new(config()).unwrap();
    let p = third.load(&bytes).await.unwrap();
    let out = call(&third, &p, "echo", json!({"message": "ok"}), &CallEnv::default()).await.unwrap();
    assert_eq!(out, json!({"echo": "ok"}));
    assert_ne!(std::fs::read(entry).unwrap(), tampered, "the tampered entry was replaced");
}

#[tokio::test]
async fn sleeping_calls_run_concurrently_without_holding_threads() {
    let sandbox = sandbox();
    let noop = load(&sandbox, "noop").await;
    let env = CallEnv::default();
    let started = Instant::now();
    let calls = (0..40).map(|_| call(&sandbox, &noop, "sleep", json!({"ms": 300}), &env));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    // 40 × 300 ms sequentially would be 12 s.
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}
