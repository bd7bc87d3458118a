//! The built-in `chef_node` and `chef_client` participants against a real
//! Chef server: goiardi with authentication on, one per test on its own
//! loopback port and directory, so the tests run in parallel. Every request
//! is signed by the host with the key goiardi wrote for its `admin` client.

mod support;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::sandbox::{CallEnv, CallError, CallRequest, ErrorKind, Limits, Participant, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{HttpReceiver, participant_bytes};

/// A goiardi process that is killed when the test ends.
struct Goiardi {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Goiardi {
    fn start() -> Goiardi {
        match Command::new("goiardi").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("`goiardi --version` failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => panic!(
                "goiardi is not installed ({e}); the Chef tests need a real Chef server. \
                 Install it with `apt-get update && apt-get install -y goiardi` (tests/run does this)"
            ),
        }
        // Another test may take the free port between our probe and
        // goiardi's bind: try a few ports before giving up.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let log = std::fs::File::create(dir.path().join("goiardi.log")).unwrap();
            let child = Command::new("goiardi")
                .args([
                    "-V",
                    "-I",
                    "127.0.0.1",
                    "-H",
                    "127.0.0.1",
                    "-P",
                    &port.to_string(),
                    "--use-auth",
                    "--conf-root",
                ])
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("starting goiardi");
            let mut g = Goiardi { child, port, dir };
            if g.wait_ready() {
                return g;
            }
            last_log = std::fs::read_to_string(g.dir.path().join("goiardi.log")).unwrap_or_default();
        }
        panic!("goiardi did not start on 127.0.0.1; its last log:\n{last_log}");
    }

    /// Ready once it listens and has written the admin key.
    fn wait_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if self.key_path("admin.pem").exists() && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn admin_key(&self) -> String {
        std::fs::read_to_string(self.key_path("admin.pem")).expect("goiardi's admin.pem")
    }
}

impl Drop for Goiardi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig::default()).expect("sandbox")
}

async fn load(sandbox: &Sandbox, name: &str) -> Participant {
    sandbox.load(&participant_bytes(name)).await.unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn env(grants: &[String], key: Option<&str>) -> CallEnv {
    let mut secrets = MemorySecrets::new();
    if let Some(key) = key {
        secrets.insert("chef_client_key", key);
    }
    CallEnv {
        grants: Arc::new(Grants::parse(grants).unwrap()),
        secrets: Arc::new(secrets),
        limits: Limits::default(),
        events: None,
        dry_run: None,
    }
}

/// The grants a Chef participant needs for `server`.
fn grants(server: &str) -> Vec<String> {
    vec![format!("chef={server}"), "secret=chef_client_key".into()]
}

/// Runs a step the way the engine would: connection from the settings.
async fn call(
    sandbox: &Sandbox,
    p: &Participant,
    action: &str,
    params: Value,
    server: &str,
    env: &CallEnv,
) -> Result<Value, CallError> {
    let mut request = CallRequest::new(action, params);
    request.context.settings =
        vec![("CHEF_SERVER_URL".into(), server.into()), ("CHEF_CLIENT_NAME".into(), "admin".into())];
    sandbox.invoke(p, request, env).await.map(|o| Value::Object(o.updates))
}

async fn ok(sandbox: &Sandbox, p: &Participant, action: &str, params: Value, server: &str, env: &CallEnv) -> Value {
    call(sandbox, p, action, params, server, env).await.unwrap_or_else(|e| panic!("{action}: {e}"))
}

async fn fails(
    sandbox: &Sandbox,
    p: &Participant,
    action: &str,
    params: Value,
    server: &str,
    env: &CallEnv,
) -> CallError {
    match call(sandbox, p, action, params, server, env).await {
        Ok(v) => panic!("{action} should have failed, returned {v}"),
        Err(e) => e,
    }
}

/// A 2048-bit RSA key goiardi has never seen, as PKCS#8 PEM.
fn stranger_key() -> String {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    struct Rng;
    impl rsa::rand_core::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            rand::random()
        }
        fn next_u64(&mut self) -> u64 {
            rand::random()
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand::fill(dest);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            rand::fill(dest);
            Ok(())
        }
    }
    impl rsa::rand_core::CryptoRng for Rng {}
    let key = rsa::RsaPrivateKey::new(&mut Rng, 2048).expect("generating an RSA key");
    key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string()
}

#[tokio::test]
async fn node_lifecycle_against_goiardi() {
    let chef = Goiardi::start();
    let (sandbox, url) = (sandbox(), chef.url());
    let node = load(&sandbox, "chef_node").await;
    let env = env(&grants(&url), Some(&chef.admin_key()));

    let created = ok(
        &sandbox,
        &node,
        "create",
        json!({"name": "web1", "run_list": ["recipe[nginx]"], "attributes": {"app": {"port": 80, "tier": "front"}}}),
        &url,
        &env,
    )
    .await;
    assert_eq!(created["node"]["name"], "web1");
    assert_eq!(created["node"]["chef_environment"], "_default");
    ok(
        &sandbox,
        &node,
        "create",
        json!({"name": "db1", "run_list": "role[db]", "normal": {"db": {"size": 10}}}),
        &url,
        &env,
    )
    .await;

    let listed = ok(&sandbox, &node, "list", json!({}), &url, &env).await;
    assert_eq!(listed, json!({"nodes": ["db1", "web1"]}));

    let shown = ok(&sandbox, &node, "show", json!({"name": "web1"}), &url, &env).await;
    assert_eq!(shown["node"]["run_list"], json!(["recipe[nginx]"]));
    assert_eq!(shown["node"]["normal"]["app"]["port"], 80);

    let changed =
        ok(&sandbox, &node, "set_run_list", json!({"name": "web1", "run_list": "role[web], nginx::ssl"}), &url, &env)
            .await;
    assert_eq!(changed["node"]["run_list"], json!(["role[web]", "recipe[nginx::ssl]"]));

    ok(
        &sandbox,
        &node,
        "set_attributes",
        json!({"name": "web1", "attributes": {"app": {"workers": 4, "tier": null}}}),
        &url,
        &env,
    )
    .await;
    let shown = ok(&sandbox, &node, "show", json!({"name": "web1"}), &url, &env).await;
    assert_eq!(shown["node"]["normal"]["app"], json!({"port": 80, "workers": 4}));
    assert_eq!(
        shown["node"]["run_list"],
        json!(["role[web]", "recipe[nginx::ssl]"]),
        "attributes must not touch the run list"
    );

    // goiardi indexes in the background: give the search a moment.
    let started = Instant::now();
    let found = loop {
        let found = ok(&sandbox, &node, "search", json!({"query": "name:web*", "rows": 10}), &url, &env).await;
        if found["search"]["total"] == 1 || started.elapsed() > Duration::from_secs(10) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found["search"]["total"], 1, "{found}");
    assert_eq!(found["search"]["names"], json!(["web1"]));
    assert_eq!(found["search"]["rows"][0]["name"], "web1");

    let deleted = ok(&sandbox, &node, "delete", json!({"name": "web1"}), &url, &env).await;
    assert_eq!(deleted, json!({"deleted_node": "web1"}));
    assert_eq!(ok(&sandbox, &node, "list", json!({}), &url, &env).await, json!({"nodes": ["db1"]}));

    let e = fails(&sandbox, &node, "show", json!({"name": "web1"}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(e.message.contains("not found") && e.message.contains("/nodes/web1"), "{}", e.message);
    let e = fails(&sandbox, &node, "create", json!({"name": "db1"}), &url, &env).await;
    assert!(e.message.contains("already exists"), "{}", e.message);
}

#[tokio::test]
async fn clients_are_listed_shown_and_deleted() {
    let chef = Goiardi::start();
    let (sandbox, url) = (sandbox(), chef.url());
    let client = load(&sandbox, "chef_client").await;
    let env = env(&grants(&url), Some(&chef.admin_key()));

    let listed = ok(&sandbox, &client, "list", json!({}), &url, &env).await;
    let names: Vec<&str> = listed["clients"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    // goiardi's `admin` is a user, not a client; its clients are these two.
    assert_eq!(names, ["chef-validator", "chef-webui"], "{listed}");

    let shown = ok(&sandbox, &client, "show", json!({"name": "chef-validator"}), &url, &env).await;
    assert_eq!(shown["client"]["name"], "chef-validator");
    assert_eq!(shown["client"]["validator"], true, "{shown}");

    let deleted = ok(&sandbox, &client, "delete", json!({"name": "chef-validator"}), &url, &env).await;
    assert_eq!(deleted, json!({"deleted_client": "chef-validator"}));
    let listed = ok(&sandbox, &client, "list", json!({}), &url, &env).await;
    assert_eq!(listed, json!({"clients": ["chef-webui"]}));

    // The server's own refusal comes back with its reason.
    let e = fails(&sandbox, &client, "delete", json!({"name": "chef-webui"}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(
        e.message.contains("refused the request (HTTP 403") && e.message.contains("Cannot delete the last admin"),
        "{}",
        e.message
    );

    let e = fails(&sandbox, &client, "delete", json!({"name": "admin"}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    assert!(e.message.contains("signing this request"), "{}", e.message);
    let e = fails(&sandbox, &client, "show", json!({"name": "nobody"}), &url, &env).await;
    assert!(e.message.contains("not found"), "{}", e.message);
}

#[tokio::test]
async fn a_wrong_key_is_refused_with_the_servers_reason() {
    let chef = Goiardi::start();
    let (sandbox, url) = (sandbox(), chef.url());
    let node = load(&sandbox, "chef_node").await;
    let env = env(&grants(&url), Some(&stranger_key()));
    let e = fails(&sandbox, &node, "list", json!({}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(e.message.contains("refused the request (HTTP 401"), "{}", e.message);
    assert!(e.message.contains("client 'admin'") && e.message.contains("secret 'chef_client_key'"), "{}", e.message);
    assert!(!e.message.contains("PRIVATE KEY"), "{}", e.message);

    // Not a key at all: the host says so without echoing the secret.
    let env = env_with_key("not a pem key at all", &url);
    let e = fails(&sandbox, &node, "list", json!({}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::Fatal, "{e}");
    assert!(
        e.message.contains("does not hold an RSA private key") && !e.message.contains("not a pem key"),
        "{}",
        e.message
    );
}

fn env_with_key(key: &str, url: &str) -> CallEnv {
    env(&grants(url), Some(key))
}

#[tokio::test]
async fn ungranted_server_or_key_is_denied_and_nothing_is_sent() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let node = load(&sandbox, "chef_node").await;
    let url = receiver.url("");
    let key = "-----BEGIN RSA PRIVATE KEY-----\nnever used\n-----END RSA PRIVATE KEY-----";

    let e = fails(&sandbox, &node, "list", json!({}), &url, &env(&["secret=chef_client_key".into()], Some(key))).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(
        e.message.contains(&format!("chef: server {url} is not granted")) && e.message.contains(&format!("chef={url}")),
        "{}",
        e.message
    );

    let other = env(&["chef=http://127.0.0.1:1".into(), "secret=chef_client_key".into()], Some(key));
    let e = fails(&sandbox, &node, "list", json!({}), &url, &other).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");

    let e = fails(&sandbox, &node, "list", json!({}), &url, &env(&[format!("chef={url}")], Some(key))).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
    assert!(e.message.contains("secret 'chef_client_key' is not granted"), "{}", e.message);

    let e = fails(&sandbox, &node, "list", json!({"key": "other_key"}), &url, &env(&grants(&url), Some(key))).await;
    assert!(e.message.contains("secret 'other_key' is not granted"), "{}", e.message);

    assert_eq!(receiver.connections(), 0, "a denied call must not reach the network");
}

#[tokio::test]
async fn malformed_params_are_listed_before_any_request() {
    let receiver = HttpReceiver::start().await;
    let sandbox = sandbox();
    let node = load(&sandbox, "chef_node").await;
    let url = receiver.url("");
    let env = env(&grants(&url), Some("unused"));

    let params = json!({"name": "web 1", "run_list": ["recipe[ok]", 7, "role[bad name]"], "environment": "prod env", "attributes": {}, "normal": {}});
    let e = fails(&sandbox, &node, "create", params, &url, &env).await;
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    for problem in ["node name 'web 1'", "only strings", "'role[bad name]'", "environment 'prod env'", "not both"] {
        assert!(e.message.contains(problem), "missing {problem:?} in: {}", e.message);
    }
    let e = fails(&sandbox, &node, "search", json!({"query": " ", "rows": 0}), &url, &env).await;
    assert!(
        e.message.contains("query must be") && e.message.contains("rows must be between 1 and 1000"),
        "{}",
        e.message
    );
    let e = fails(&sandbox, &node, "show", json!({"name": "../clients/admin"}), &url, &env).await;
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");

    // No server anywhere: both connection settings are named.
    let no_settings = sandbox.invoke(&node, CallRequest::new("list", json!({})), &env).await.unwrap_err();
    assert_eq!(no_settings.kind, ErrorKind::BadInput);
    assert!(
        no_settings.message.contains("CHEF_SERVER_URL") && no_settings.message.contains("CHEF_CLIENT_NAME"),
        "{}",
        no_settings.message
    );

    // A param overrides the setting.
    let e = fails(&sandbox, &node, "list", json!({"server_url": "ftp://x"}), &url, &env).await;
    assert!(e.message.contains("must start with http:// or https://"), "{}", e.message);

    assert_eq!(receiver.connections(), 0, "bad input must not reach the network");
}
