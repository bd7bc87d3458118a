//! Issue 12: one tenant's participant must neither reach inside (the
//! address policy holds for every capability that connects) nor hurt the
//! server (every resource a call can make the host spend is bounded). Every
//! peer is a real server on 127.0.0.1; the private addresses named below are
//! refused by policy before any packet is sent.

use super::{call, env_with, expect_error, load, sandbox, still_healthy};
use mastermind::capabilities::{Grants, HostConfig, MAX_CONNECTIONS_PER_CALL, MAX_TARGETS_PER_CALL};
use mastermind::sandbox::{CacheBounds, CallEnv, ErrorKind, Limits, Sandbox, SandboxConfig};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{HttpReceiver, participant_bytes};

/// Grants as a server holds its tenants' uploads: public addresses only.
fn public_only(specs: &[String], secrets: &[(&str, &str)]) -> CallEnv {
    let mut grants = Grants::parse(specs).unwrap();
    grants.public_only = true;
    CallEnv { grants: Arc::new(grants), ..env_with(&[], secrets, Limits::default()) }
}

/// A private key made by `ssh-keygen` (`-m PEM` for RSA: PKCS#1, as Chef
/// writes its client keys).
fn keygen(dir: &Path, kind: &str) -> String {
    let path = dir.join(kind);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-m", "PEM", "-N", "", "-f"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running ssh-keygen: {e}; install Debian's openssh-client"));
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn chef_is_under_the_same_address_policy_as_http() {
    let receiver = HttpReceiver::start().await;
    let port = receiver.port;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "rsa");
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;

    // Under a server's policy no spelling of a loopback, private or
    // link-local Chef server is reached, granted exactly or not.
    for server in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://0x7f000001:{port}"),
        format!("http://2130706433:{port}"),
        format!("http://127.1:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        "http://169.254.169.254".to_owned(),
        "http://10.0.0.1".to_owned(),
        "http://[fd00::1]".to_owned(),
    ] {
        let env = public_only(&[format!("chef={server}"), "secret=chef_key".into()], &[("chef_key", &key)]);
        let params = json!({"server_url": server, "path": "/nodes", "key": "chef_key"});
        let e = expect_error(&sandbox, &hostile, "chef_get", params, &env).await;
        assert_eq!(e.kind, ErrorKind::Denied, "{server}: {e}");
        assert!(e.message.contains("non-public"), "{server}: {}", e.message);
    }
    assert_eq!(receiver.connections(), 0, "a refused Chef request reached the network");

    // Where private hosts may be granted (the CLI), the exact grant works.
    let server = format!("http://127.0.0.1:{port}");
    let env = env_with(&[&format!("chef={server}"), "secret=chef_key"], &[("chef_key", &key)], Limits::default());
    let out =
        call(&sandbox, &hostile, "chef_get", json!({"server_url": server, "path": "/nodes", "key": "chef_key"}), &env)
            .await
            .unwrap();
    assert_eq!(out["status"], 200, "{out}");
    assert!(receiver.requests()[0].contains("x-ops-userid: hostile"), "{:?}", receiver.requests());
    still_healthy(&sandbox).await;
}

#[tokio::test]
async fn http_grants_spelled_as_legacy_addresses_are_loopback_too() {
    let receiver = HttpReceiver::start().await;
    let port = receiver.port;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    for spelling in ["0x7f000001", "2130706433", "127.1", "0177.0.0.1"] {
        let env = public_only(&[format!("http={spelling}:{port}")], &[]);
        let url = format!("http://{spelling}:{port}/x");
        let e = expect_error(&sandbox, &hostile, "http_get", json!({"url": url}), &env).await;
        assert_eq!(e.kind, ErrorKind::Denied, "{spelling}: {e}");
        assert!(e.message.contains("non-public"), "{spelling}: {}", e.message);
    }
    assert_eq!(receiver.connections(), 0);
}

/// Answers every request with `size` bytes of `a`.
async fn blob_server(size: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Arc::new(vec![b'a'; size]);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 16 << 10];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// A 64 KiB secret against an 8 MiB response was a naive scan of 8 Mi
/// positions × 64 KiB, on the async worker, past the deadline. Redaction is
/// now one linear pass, off the async workers: the call ends quickly and
/// the runtime's other tasks (the API's requests) keep their turn.
#[tokio::test]
async fn redacting_a_large_response_neither_blocks_the_runtime_nor_outlives_the_deadline() {
    let port = blob_server(8 << 20).await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    // Every position of the body matches all of the secret but its last byte.
    let secret = format!("{}b", "a".repeat((64 << 10) - 1));
    let limits = Limits {
        deadline: Duration::from_secs(5),
        memory_bytes: 256 << 20,
        output_bytes: 16 << 20,
        ..Limits::default()
    };
    let env = env_with(&[&format!("http=127.0.0.1:{port}"), "secret=big"], &[("big", &secret)], limits);

    let gap = Arc::new(Mutex::new(Duration::ZERO));
    let ticker = {
        let gap = gap.clone();
        tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let now = Instant::now();
                let mut worst = gap.lock().unwrap();
                *worst = (*worst).max(now - last);
                last = now;
            }
        })
    };
    let started = Instant::now();
    let params = json!({"url": format!("http://127.0.0.1:{port}/"), "header_secret": ["x-token", "", "big"]});
    let out = call(&sandbox, &hostile, "http", params, &env).await.unwrap();
    let took = started.elapsed();
    ticker.abort();
    assert_eq!(out["body"].as_str().unwrap().len(), 8 << 20);
    let worst = *gap.lock().unwrap();
    eprintln!("8 MiB response, 64 KiB secret: call {took:?}, longest runtime stall {worst:?}");
    assert!(took < Duration::from_secs(4), "the call took {took:?}");
    assert!(worst < Duration::from_millis(500), "the runtime was blocked for {worst:?}");
}

#[tokio::test]
async fn a_response_larger_than_the_calls_memory_is_refused_before_it_is_read() {
    let port = blob_server(12 << 20).await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let limits = Limits { memory_bytes: 8 << 20, ..Limits::default() };
    let env = env_with(&[&format!("http=127.0.0.1:{port}")], &[], limits);
    let url = format!("http://127.0.0.1:{port}/");
    let e = expect_error(&sandbox, &hostile, "http_get", json!({"url": url}), &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(e.message.contains("too large") && e.message.contains("8192 KiB per response"), "{}", e.message);
    still_healthy(&sandbox).await;
}

/// The host encodes secrets itself (HTTP Basic is base64, a URL placeholder
/// is percent-encoded, field updates are JSON): an echoing server or the
/// output must not give any of those spellings back.
#[tokio::test]
async fn secrets_are_redacted_in_every_encoding_the_host_applies() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let secret = r#"s3cr3t/"value"+\1"#;
    let env = env_with(&[&grant, "secret=tok"], &[("tok", secret)], Limits::default());

    let basic = json!({"url": receiver.url("/basic"), "basic_secret": ["deploy", "tok"]});
    let out = call(&sandbox, &hostile, "http", basic, &env).await.unwrap();
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("deploy:{secret}"));
    assert!(receiver.requests()[0].contains(&token), "the server got the real credentials");
    let body = out["body"].as_str().unwrap();
    assert!(body.contains("authorization: Basic [REDACTED]") && !body.contains(&token), "{body}");

    let in_url = json!({"url": receiver.url("/q?k={secret:tok}"), "url_secret": "tok"});
    let out = call(&sandbox, &hostile, "http", in_url, &env).await.unwrap();
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert!(receiver.requests()[1].contains(&encoded), "{}", receiver.requests()[1]);
    let body = out["body"].as_str().unwrap();
    assert!(body.starts_with("GET /q?k=[REDACTED] HTTP/1.1"), "{body}");

    // A value with `"` and `\` is escaped in the field updates' JSON.
    let echo = json!({"url": receiver.url("/"), "header_secret": ["x-token", "", "tok"], "echo": secret});
    let out = call(&sandbox, &hostile, "http", echo, &env).await.unwrap();
    assert_eq!(out["echo"], "[REDACTED]", "{out}");
    assert!(!out.to_string().contains("s3cr3t"), "{out}");
}

#[tokio::test]
async fn only_ordinary_methods_and_no_host_header_from_a_secret() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let env = env_with(&[&grant, "secret=tok"], &[("tok", "internal.example")], Limits::default());
    for method in ["CONNECT", "TRACE", "PROPFIND", "BREW"] {
        let e =
            expect_error(&sandbox, &hostile, "http", json!({"url": receiver.url("/"), "method": method}), &env).await;
        assert_eq!(e.kind, ErrorKind::BadInput, "{method}: {e}");
        assert!(e.message.contains("is not allowed"), "{}", e.message);
    }
    for header in ["Host", "host ", "Content-Length", "Transfer-Encoding"] {
        let params = json!({"url": receiver.url("/"), "header_secret": [header, "", "tok"]});
        let e = expect_error(&sandbox, &hostile, "http", params, &env).await;
        assert_eq!(e.kind, ErrorKind::BadInput, "{header}: {e}");
    }
    assert_eq!(receiver.requests().len(), 0);
    let ok = json!({"url": receiver.url("/"), "method": "patch"});
    assert_eq!(call(&sandbox, &hostile, "http", ok, &env).await.unwrap()["status"], 200);
}

/// A region is part of the endpoint's host name and keyed a client cache
/// that never shrank: anything but a region's shape is refused before any
/// client is made or anything is sent.
#[tokio::test]
async fn ec2_regions_must_look_like_regions() {
    let receiver = HttpReceiver::start().await;
    let host = HostConfig { aws_endpoint_url: Some(receiver.url("")), ..HostConfig::default() };
    let sandbox = Sandbox::new(SandboxConfig { host, ..SandboxConfig::default() }).unwrap();
    let hostile = load(&sandbox, "hostile").await;
    let env = env_with(&["ec2=*", "secret=aws"], &[("aws", "AKID:SECRET")], Limits::default());
    for region in ["evil.example.com#", "us-west-2/../x", "x".repeat(5000).as_str(), "US-WEST-2", "region-0000001"] {
        let params = json!({"region": region, "credentials": "aws"});
        let e = expect_error(&sandbox, &hostile, "ec2_describe", params, &env).await;
        assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
        assert!(e.message.contains("is not an AWS region") && e.message.len() < 200, "{}", e.message);
    }
    assert_eq!(receiver.connections(), 0);
}

/// Accepts connections and holds them open without a word, noting when
/// each was accepted.
struct Silent {
    port: u16,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

async fn silent_server() -> Silent {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let times = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            times.lock().unwrap().push(Instant::now());
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    Silent { port, accepted }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_targets_and_connections_per_call_are_bounded() {
    let server = silent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "ed25519");
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let grant = format!("ssh=*@127.0.0.1:{}", server.port);
    let env = env_with(&[&grant, "secret=key"], &[("key", &key)], Limits::default());

    let too_many = MAX_TARGETS_PER_CALL + 1;
    let params = json!({"host": "127.0.0.1", "port": server.port, "count": too_many, "key": "key"});
    let e = expect_error(&sandbox, &hostile, "ssh_fanout", params, &env).await;
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    assert!(e.message.contains(&format!("at most {MAX_TARGETS_PER_CALL}")), "{}", e.message);
    assert_eq!(server.accepted.lock().unwrap().len(), 0, "a refused request connected");

    // `concurrency: 0` asks for every target at once; the call holds at
    // most MAX_CONNECTIONS_PER_CALL.
    let count = 3 * MAX_CONNECTIONS_PER_CALL;
    let params = json!({"host": "127.0.0.1", "port": server.port, "count": count, "key": "key", "timeout_ms": 300});
    let out = call(&sandbox, &hostile, "ssh_fanout", params, &env).await.unwrap();
    assert_eq!((out["targets"].as_u64(), out["failed"].as_u64()), (Some(count as u64), Some(count as u64)), "{out}");
    let accepted = server.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), count);
    // Every target waits 300 ms for a greeting that never comes, so the
    // first wave is whatever connected in its first 150 ms: unbounded, that
    // was all of them.
    let first_wave = accepted.iter().filter(|t| t.duration_since(accepted[0]) < Duration::from_millis(150)).count();
    assert_eq!(first_wave, MAX_CONNECTIONS_PER_CALL, "connections open at once");
}

/// An error is stored and shown like output, so it is bounded like output;
/// a value a participant passes in is echoed only in part.
#[tokio::test]
async fn errors_are_bounded_like_output() {
    let sandbox = sandbox();
    let hostile = load(&sandbox, "hostile").await;
    let limits = Limits { output_bytes: 64 << 10, ..Limits::default() };
    let env = env_with(&["http=example.com"], &[], limits);
    let e = expect_error(&sandbox, &hostile, "fail_with", json!({"kib": 8192}), &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(e.message.len() <= 64 << 10, "a {} byte error", e.message.len());
    assert!(e.message.ends_with("more bytes]"), "{}", &e.message[e.message.len() - 40..]);

    let url = format!("http://{}.example.org/", "a".repeat(1 << 20));
    let e = expect_error(&sandbox, &hostile, "http_get", json!({"url": url}), &env).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.len() < 2048, "a {} byte error", e.message.len());
    still_healthy(&sandbox).await;
}

fn cache_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect()
}

#[tokio::test]
async fn a_refused_component_leaves_no_compiled_code() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox =
        Sandbox::new(SandboxConfig { cache_dir: Some(dir.path().to_owned()), ..SandboxConfig::default() }).unwrap();
    for refused in [
        wat::parse_str(r#"(component (import "evil:net/raw-socket" (instance)))"#).unwrap(),
        wat::parse_str("(component)").unwrap(),
    ] {
        assert!(sandbox.load(&refused).await.is_err());
    }
    // Refused by the caller after it loaded (an upload under a built-in's
    // name, say): not cached either.
    let refused = sandbox.load_checked(&participant_bytes("noop"), |_| Err("taken")).await.unwrap();
    assert_eq!(refused.err(), Some("taken"));
    assert_eq!(cache_entries(dir.path()), Vec::<String>::new());
    sandbox.load(&participant_bytes("echo")).await.unwrap();
    assert_eq!(cache_entries(dir.path()).len(), 1);
}

#[tokio::test]
async fn the_compiled_code_cache_keeps_to_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let bounds = CacheBounds { max_bytes: 1, ..CacheBounds::default() };
    let config =
        SandboxConfig { cache_dir: Some(dir.path().to_owned()), cache_bounds: bounds, ..SandboxConfig::default() };
    let sandbox = Sandbox::new(config).unwrap();
    for name in ["echo", "noop", "hostile"] {
        sandbox.load(&participant_bytes(name)).await.unwrap();
        let entries = cache_entries(dir.path());
        // The newest entry stays even over the bound; the others go.
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert!(entries[0].starts_with(&mastermind::sandbox::digest(&participant_bytes(name))), "{entries:?}");
    }
}

/// CPU time (user + system) of this process's threads named `name`, from
/// /proc at the kernel's usual 100 ticks per second. Tests run in parallel
/// in one process, so only the test's own runtime threads are counted.
fn cpu_time_of(name: &str) -> Duration {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    Duration::from_millis(ticks * 10)
}

/// Calls spinning at once used every core, whatever the other tenants
/// needed. Under a share, a tenant's guest code together gets that many
/// cores' worth of time, and its calls wait (without a thread) beyond it.
#[test]
fn a_tenants_guest_code_keeps_to_its_cpu_share() {
    const THREADS: &str = "cpu-share-test";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREADS)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = SandboxConfig { cpu_cores_per_tenant: Some(0.25), ..SandboxConfig::default() };
        let sandbox = Arc::new(Sandbox::new(config).unwrap());
        let hostile = load(&sandbox, "hostile").await;
        let echo = load(&sandbox, "echo").await;
        let env = env_with(&[], &[], Limits { deadline: Duration::from_secs(2), ..Limits::default() });
        let before = cpu_time_of(THREADS);
        // Tasks, so they run on the runtime's (named) worker threads.
        let calls = (0..4).map(|_| {
            let (sandbox, hostile, env) = (sandbox.clone(), hostile.clone(), env.clone());
            tokio::spawn(async move {
                let mut request = mastermind::sandbox::CallRequest::new("spin", json!({}));
                request.context.tenant = "greedy".into();
                sandbox.invoke(&hostile, request, &env).await
            })
        });
        for result in futures::future::join_all(calls).await {
            let e = result.unwrap().expect_err("spinning ends at the deadline");
            assert_eq!(e.limit, Some(mastermind::sandbox::Limit::Deadline), "{e}");
        }
        let used = cpu_time_of(THREADS) - before;
        eprintln!("4 calls spinning for 2 s under a quarter-core share used {used:?} of CPU");
        // Unbounded, that is 2 s on each of the 2 workers; at a quarter of
        // a core, 0.5 s and a burst.
        assert!(used < Duration::from_millis(1200), "{used:?} of CPU");
        // Another tenant is not held back by the first one's share.
        let mut request = mastermind::sandbox::CallRequest::new("echo", json!({"message": "hi"}));
        request.context.tenant = "other".into();
        sandbox.invoke(&echo, request, &CallEnv::default()).await.unwrap();
    });
}
