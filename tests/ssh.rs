//! The `ssh` and `ssh_multi` participants against real OpenSSH servers on
//! 127.0.0.1 (see `support::sshd`), through the sandbox with explicit
//! grants and secrets.

mod support;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::sandbox::{CallEnv, CallError, CallRequest, ErrorKind, Limits, Participant, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::participant_bytes;
use support::sshd::{SshLab, USER, free_port};

async fn load(sandbox: &Sandbox, name: &str) -> Participant {
    sandbox.load(&participant_bytes(name)).await.unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn env(grants: &[&str], key: &str) -> CallEnv {
    let mut secrets = MemorySecrets::new();
    secrets.insert("ssh_key", key);
    let limits = Limits { deadline: Duration::from_secs(60), ..Limits::default() };
    CallEnv {
        grants: Arc::new(Grants::parse(grants).unwrap()),
        secrets: Arc::new(secrets),
        limits,
        events: None,
        dry_run: None,
    }
}

/// Loopback by its exact address (any port) and the key secret.
fn granted(lab: &SshLab) -> CallEnv {
    env(&[&format!("ssh={USER}@127.0.0.1:*"), "secret=ssh_key"], &lab.client_key)
}

async fn call(sandbox: &Sandbox, p: &Participant, params: Value, env: &CallEnv) -> Result<Value, CallError> {
    call_as(sandbox, p, params, env, "acme").await
}

async fn call_as(
    sandbox: &Sandbox,
    p: &Participant,
    params: Value,
    env: &CallEnv,
    tenant: &str,
) -> Result<Value, CallError> {
    let mut request = CallRequest::new("run", params);
    request.context.tenant = tenant.to_owned();
    sandbox.invoke(p, request, env).await.map(|o| Value::Object(o.updates))
}

fn run(port: u16, command: &str) -> Value {
    json!({"host": "127.0.0.1", "port": port, "user": USER, "command": command})
}

fn with(mut params: Value, extra: Value) -> Value {
    params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    params
}

#[tokio::test]
async fn ssh_returns_stdout_stderr_and_exit_status() {
    let lab = SshLab::new();
    let sshd = lab.start("web1");
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;
    let env = granted(&lab);

    let command = "whoami; echo to-stderr >&2; cat";
    let out = call(&sandbox, &ssh, with(run(sshd.port, command), json!({"stdin": "from stdin\n"})), &env)
        .await
        .unwrap_or_else(|e| panic!("{e:?}\nsshd log:\n{}", sshd.log()));
    assert_eq!(out, json!({"stdout": format!("{USER}\nfrom stdin\n"), "stderr": "to-stderr\n", "exit_status": 0}));

    // A non-zero exit fails the step, naming the status and stderr's tail...
    let failing = run(sshd.port, "echo 'disk full' >&2; exit 3");
    let e = call(&sandbox, &ssh, failing.clone(), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal, "{e:?}");
    assert!(e.message.contains("exited with status 3") && e.message.contains("disk full"), "{}", e.message);
    // ...unless allowed.
    let out = call(&sandbox, &ssh, with(failing, json!({"allow_failure": true})), &env).await.unwrap();
    assert_eq!(out["exit_status"], 3);
    assert_eq!(out["stderr"], "disk full\n");

    // The key never comes back, even if the command prints it.
    let leak_line = lab.client_key.lines().nth(1).unwrap().to_owned();
    let out = call(&sandbox, &ssh, run(sshd.port, &format!("echo {leak_line}")), &env).await.unwrap();
    assert_eq!(out["stdout"], "[REDACTED]\n");
}

#[tokio::test]
async fn per_host_failures_are_classified_with_clear_messages() {
    let lab = SshLab::new();
    let sshd = lab.start("web1");
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;

    let down = free_port();
    let e = call(&sandbox, &ssh, run(down, "true"), &granted(&lab)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e:?}");
    assert!(
        e.message.contains(&format!("127.0.0.1:{down}")) && e.message.contains("connection refused"),
        "{}",
        e.message
    );

    let stranger = env(&[&format!("ssh={USER}@127.0.0.1:*"), "secret=ssh_key"], &lab.other_key("stranger"));
    let e = call(&sandbox, &ssh, run(sshd.port, "true"), &stranger).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal, "{e:?}");
    assert!(
        e.message.contains("public key authentication as 'mmssh' failed") && e.message.contains("SHA256:"),
        "{}",
        e.message
    );

    let started = Instant::now();
    let e = call(&sandbox, &ssh, with(run(sshd.port, "sleep 10"), json!({"timeout": "1s"})), &granted(&lab))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e:?}");
    assert!(e.message.contains("timed out after 1.0s while the command ran"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(5));

    let e = call(
        &sandbox,
        &ssh,
        run(sshd.port, "true"),
        &env(&[&format!("ssh={USER}@127.0.0.1:*"), "secret=ssh_key"], "garbage"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal);
    assert!(
        e.message.contains("secret 'ssh_key' is not a usable private key") && !e.message.contains("garbage"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn ssh_multi_runs_everywhere_and_names_the_host_that_is_down() {
    let lab = SshLab::new();
    let servers: Vec<_> = (0..5).map(|i| lab.start(&format!("host{i}"))).collect();
    let down = free_port();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let multi = load(&sandbox, "ssh_multi").await;
    let env = granted(&lab);

    let mut hosts: Vec<Value> = servers.iter().map(|s| json!(format!("{USER}@127.0.0.1:{}", s.port))).collect();
    hosts[1] = json!({"host": "127.0.0.1", "port": servers[1].port, "user": USER});
    hosts.push(json!(format!("127.0.0.1:{down}"))); // the default user
    let params = json!({"hosts": hosts, "user": USER, "command": "sleep 0.3; echo $SSH_CONNECTION | cut -d' ' -f4"});

    let started = Instant::now();
    let e = call(&sandbox, &multi, params.clone(), &env).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e:?}");
    assert!(
        e.message.contains("1 of 6 hosts failed") && e.message.contains(&format!("{down}: connection refused")),
        "{}",
        e.message
    );
    // The 0.3 s commands ran side by side, not one after the other.
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    eprintln!("bench: ssh_multi 6 hosts (5 up, 0.3 s command), concurrency 10 = {} ms", elapsed.as_millis());

    let out = call(&sandbox, &multi, with(params.clone(), json!({"allow_failures": true})), &env).await.unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for (result, server) in results.iter().zip(&servers) {
        assert_eq!(result["port"], server.port);
        assert_eq!(result["stdout"], format!("{}\n", server.port), "{result}");
        assert_eq!(result["exit_status"], 0);
        assert!(result["error"].is_null());
    }
    assert!(results[5]["error"].as_str().unwrap().contains("connection refused"), "{}", results[5]);
    assert!(results[5]["exit_status"].is_null());
    assert_eq!(out["failed_hosts"], json!([format!("{USER}@127.0.0.1:{down}")]));

    // concurrency 1: one host after the other.
    let up: Vec<Value> = hosts[..5].to_vec();
    let started = Instant::now();
    call(&sandbox, &multi, with(params, json!({"hosts": up, "concurrency": 1})), &env).await.unwrap();
    let serial = started.elapsed();
    assert!(serial >= Duration::from_millis(1500), "{serial:?}");
    eprintln!("bench: ssh_multi 5 hosts (0.3 s command), concurrency 1 = {} ms", serial.as_millis());
}

#[tokio::test]
async fn a_changed_host_key_is_refused_after_first_use() {
    let lab = SshLab::new();
    let mut sshd = lab.start("web1");
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;
    let env = granted(&lab);
    let old = sshd.fingerprint();

    call(&sandbox, &ssh, run(sshd.port, "true"), &env).await.unwrap(); // trusted on first use
    sshd.restart_with_new_host_key();
    let new = sshd.fingerprint();
    assert_ne!(old, new);

    let e = call(&sandbox, &ssh, run(sshd.port, "true"), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal, "{e:?}");
    for part in ["HOST KEY MISMATCH", &format!("127.0.0.1:{}", sshd.port), &old, &new] {
        assert!(e.message.contains(part), "missing {part}: {}", e.message);
    }
    // Still refused on the next try: nothing was silently re-trusted.
    assert!(call(&sandbox, &ssh, run(sshd.port, "true"), &env).await.is_err());
    // Another tenant has its own first use.
    call_as(&sandbox, &ssh, run(sshd.port, "true"), &env, "other-tenant").await.unwrap();
    // Pinning the new key (checked out of band) lets the step through.
    call(&sandbox, &ssh, with(run(sshd.port, "true"), json!({"host_key": new})), &env).await.unwrap();
}

#[tokio::test]
async fn a_pinned_fingerprint_must_match() {
    let lab = SshLab::new();
    let sshd = lab.start("web1");
    let impostor = lab.start("impostor");
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;
    let multi = load(&sandbox, "ssh_multi").await;
    let env = granted(&lab);

    let wrong = impostor.fingerprint();
    let e = call(&sandbox, &ssh, with(run(sshd.port, "true"), json!({"host_key": wrong})), &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fatal, "{e:?}");
    assert!(
        e.message.contains(&wrong) && e.message.contains(&sshd.fingerprint()) && e.message.contains("pins"),
        "{}",
        e.message
    );

    let right = sshd.fingerprint();
    call(&sandbox, &ssh, with(run(sshd.port, "true"), json!({"host_key": right})), &env).await.unwrap();

    // ssh_multi: pins by host:port; the wrong one fails only its host.
    let hosts = json!([format!("127.0.0.1:{}", sshd.port), format!("127.0.0.1:{}", impostor.port)]);
    let pins = json!({format!("127.0.0.1:{}", sshd.port): right, format!("127.0.0.1:{}", impostor.port): right});
    let params = json!({"hosts": hosts, "user": USER, "command": "echo ok", "host_keys": pins, "allow_failures": true});
    let out = call(&sandbox, &multi, params, &env).await.unwrap();
    assert_eq!(out["results"][0]["stdout"], "ok\n");
    assert!(out["results"][1]["error"].as_str().unwrap().contains("HOST KEY MISMATCH"), "{out}");
    assert_eq!(out["failed_hosts"], json!([format!("{USER}@127.0.0.1:{}", impostor.port)]));
}

/// A TCP listener that only counts connections: proof that nothing was
/// attempted.
async fn counting_listener() -> (u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let task = tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count, task)
}

#[tokio::test]
async fn ungranted_hosts_and_keys_are_denied_before_connecting() {
    let lab = SshLab::new();
    let (port, connections, task) = counting_listener().await;
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;
    let multi = load(&sandbox, "ssh_multi").await;

    let cases = [
        (env(&["secret=ssh_key"], &lab.client_key), format!("ssh: {USER}@127.0.0.1:{port} is not granted")),
        (
            env(&[&format!("ssh=root@127.0.0.1:{port}"), "secret=ssh_key"], &lab.client_key),
            format!("grant it with ssh={USER}@127.0.0.1:{port}"),
        ),
        (
            env(&[&format!("ssh={USER}@127.0.0.1:{port}")], &lab.client_key),
            "secret 'ssh_key' is not granted".to_owned(),
        ),
        (env(&["ssh=*@*:*", "secret=ssh_key"], &lab.client_key), "non-public address 127.0.0.1".to_owned()),
    ];
    for (env, expected) in &cases {
        let e = call(&sandbox, &ssh, run(port, "true"), env).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Denied, "{e:?}");
        assert!(e.message.contains(expected.as_str()), "expected '{expected}' in: {}", e.message);
    }
    // One ungranted host refuses the whole ssh_multi request.
    let env = env(&[&format!("ssh={USER}@127.0.0.1:{port}"), "secret=ssh_key"], &lab.client_key);
    let params = json!({"hosts": [format!("127.0.0.1:{port}"), "127.0.0.2:22"], "user": USER, "command": "true"});
    let e = call(&sandbox, &multi, params, &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Denied, "{e:?}");
    assert!(e.message.contains("127.0.0.2:22"), "{}", e.message);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "a denied call must not connect");
    task.abort();
}

#[tokio::test]
async fn malformed_params_are_bad_input_listing_every_problem() {
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let ssh = load(&sandbox, "ssh").await;
    let multi = load(&sandbox, "ssh_multi").await;
    let env = CallEnv::default();

    let params =
        json!({"host": "web 1", "user": "", "command": " ", "port": 70000, "timeout": "soon", "host_key": "MD5:ab"});
    let e = call(&sandbox, &ssh, params, &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
    for part in ["host 'web 1'", "user ''", "command is empty", "port 70000", "'soon'", "host_key 'MD5:ab'"] {
        assert!(e.message.contains(part), "missing {part}: {}", e.message);
    }
    let e = call(&sandbox, &ssh, json!({"host": "web1:22", "user": "u"}), &env).await.unwrap_err();
    assert!(e.message.contains("missing required param(s): command"), "{}", e.message);

    let params = json!({
        "hosts": ["web1", "u@web2:99999", {"host": "web3", "colour": "red"}, 7],
        "command": "uptime", "concurrency": -1, "host_keys": {"web1": "nope"},
    });
    let e = call(&sandbox, &multi, params, &env).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
    for part in [
        "hosts[0]: web1 names no user",
        "hosts[1]: 'u@web2:99999': bad port",
        "hosts[2]: unknown key 'colour'",
        "hosts[3]",
        "concurrency -1",
        "host_keys['web1']",
    ] {
        assert!(e.message.contains(part), "missing {part}: {}", e.message);
    }
}
