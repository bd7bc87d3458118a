//! A real `mastermind serve` process on a free loopback port, with its own
//! database and keys, and a small HTTP client for the API tests.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_TOKEN: &str = "mm_test_admin_token_0123456789abcdefghijklmnop";

pub struct Server {
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub db: String,
    child: Option<Child>,
    /// Every line the server wrote to stdout and stderr.
    pub output: Arc<Mutex<Vec<String>>>,
    extra_args: Vec<String>,
    /// Start without MASTERMIND_ADMIN_TOKEN: the server makes its own.
    pub generated_admin: bool,
    /// Started without `--allow-private-grants` (a server's default).
    pub public_only: bool,
    /// MASTERMIND_ADMIN_TOKEN at each start ([`ADMIN_TOKEN`] unless set).
    pub admin_token: String,
    /// Compiled code cached under `dir` rather than shared with the other
    /// tests' servers: what it compiles, it compiles for real.
    pub own_compiled_cache: bool,
}

/// Pass to [`Server::start_with`] for a server with its default address
/// policy: uploads reach public addresses only (the other tests' servers
/// allow private grants, to reach their loopback peers).
pub const PUBLIC_ONLY: &str = "--public-only-for-tests";

/// Pass to [`Server::start_with`] for a server with a compiled-code cache
/// of its own, empty at first (to measure a compile).
#[allow(dead_code)]
pub const OWN_COMPILED_CACHE: &str = "--own-compiled-cache-for-tests";

/// Fills the cache of a server started in `dir` with [`OWN_COMPILED_CACHE`]
/// from the other tests' servers' cache, but for the entries of the
/// component whose digest is `except`: the built-ins load at once, and
/// that component is compiled for real.
#[allow(dead_code)]
pub fn seed_compiled_cache(dir: &Path, except: &str) {
    let own = dir.join("compiled");
    std::fs::create_dir_all(&own).unwrap();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir().join("mastermind-test-compiled")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name == "cache.key" || name.ends_with(".cwasm")) && !name.starts_with(except) {
            // Another server may be replacing it: a missing entry is compiled again.
            let _ = std::fs::copy(entry.path(), own.join(&name));
        }
    }
}

impl Server {
    /// Starts a server with a fresh SQLite database in `dir`.
    pub async fn start(dir: &Path) -> Server {
        let db = format!("sqlite:{}", dir.join("mastermind.db").display());
        Self::start_with(dir, &db, &[]).await
    }

    pub async fn start_with(dir: &Path, db: &str, extra_args: &[&str]) -> Server {
        let port = super::free_port();
        let mut server = Server {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_owned(),
            db: db.to_owned(),
            child: None,
            output: Arc::new(Mutex::new(Vec::new())),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            generated_admin: extra_args.contains(&"--generated-admin-token-for-tests"),
            public_only: extra_args.contains(&PUBLIC_ONLY),
            admin_token: ADMIN_TOKEN.to_owned(),
            own_compiled_cache: extra_args.contains(&OWN_COMPILED_CACHE),
        };
        server
            .extra_args
            .retain(|a| a != "--generated-admin-token-for-tests" && a != PUBLIC_ONLY && a != OWN_COMPILED_CACHE);
        server.spawn().await;
        server
    }

    /// Starts the server process (again, after [`Server::kill`]) on the
    /// same port and database, and waits until it is ready.
    pub async fn spawn(&mut self) {
        let mut cmd = Command::new(super::mastermind_bin());
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--db", &self.db])
            .args((!self.public_only).then_some("--allow-private-grants"))
            .args(&self.extra_args)
            .env("MASTERMIND_ADMIN_TOKEN", if self.generated_admin { "" } else { &self.admin_token })
            .env("MASTERMIND_SECRET_KEY", "c2VjcmV0LWtleS1mb3ItdGhlLWFwaS10ZXN0cy0zMmI=")
            // One compiled-code cache for every test's server (entries are
            // authenticated and written atomically): each would otherwise
            // compile every built-in at start.
            .env(
                "MASTERMIND_CACHE_DIR",
                if self.own_compiled_cache {
                    self.dir.join("compiled")
                } else {
                    std::env::temp_dir().join("mastermind-test-compiled")
                },
            )
            .env("MASTERMIND_LOG_LEVEL", "info")
            .env_remove("AWS_ACCESS_KEY_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("starting mastermind serve");
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = self.output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..1200 {
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready: {:#?}", self.output.lock().unwrap());
    }

    /// The server's peak resident memory so far (VmHWM), in KiB; 0 where
    /// /proc does not say.
    #[allow(dead_code)]
    pub fn peak_rss_kib(&self) -> u64 {
        let Some(pid) = self.child.as_ref().and_then(|c| c.id()) else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }

    /// Starts the server again on the same port and database.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    /// Runs `mastermind ARGS` as a client of this server with `api`'s
    /// token, its configuration under `config` (nothing of the user's read).
    #[allow(dead_code)]
    pub async fn cli(&self, api: &Api, config: &Path, args: &[&str]) -> std::process::Output {
        Command::new(super::mastermind_bin())
            .args(args)
            .env("MASTERMIND_URL", &self.url)
            .env("MASTERMIND_TOKEN", &api.token)
            .env("XDG_CONFIG_HOME", config)
            .output()
            .await
            .unwrap()
    }

    pub fn admin(&self) -> Api {
        Api::new(&self.url, ADMIN_TOKEN)
    }

    /// A new tenant and a client holding an admin-scoped token of it.
    pub async fn tenant(&self, name: &str) -> Api {
        let admin = self.admin();
        let tenant = admin.ok(Method::POST, "/v1/tenants", Some(json!({ "name": name }))).await;
        let id = tenant["id"].as_str().unwrap();
        let token = admin
            .ok(
                Method::POST,
                &format!("/v1/tenants/{id}/tokens"),
                Some(json!({ "name": "owner", "scopes": ["admin"] })),
            )
            .await;
        let mut api = Api::new(&self.url, token["token"].as_str().unwrap());
        api.tenant_id = id.to_owned();
        api
    }

    pub fn logs(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

/// A client holding one token.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub token: String,
    pub tenant_id: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Api {
        Api { url: url.to_owned(), token: token.to_owned(), tenant_id: String::new(), http: reqwest::Client::new() }
    }

    /// The same server with another token.
    pub fn with_token(&self, token: &str) -> Api {
        Api { token: token.to_owned(), ..self.clone() }
    }

    /// A POST of `length` bytes of body, sent while the answer is read: a
    /// server refusing a body too large answers once it has read past its
    /// limit and closes the connection, and a client still writing the rest
    /// (as reqwest does) may see the connection closed instead of the
    /// answer. The status and the whole answer.
    #[allow(dead_code)]
    pub async fn post_oversized(&self, path: &str, length: usize) -> (StatusCode, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = reqwest::Url::parse(&self.url).unwrap();
        let stream = tokio::net::TcpStream::connect(url.authority()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
             content-length: {length}\r\n\r\n",
            url.authority(),
            self.token
        );
        let sending = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 1 << 20];
            let mut left = length;
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n]).await?;
                left -= n;
            }
            Ok::<_, std::io::Error>(())
        });
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer)).await;
        sending.abort();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let code = answer.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
        (StatusCode::from_u16(code.unwrap_or_else(|| panic!("no status in {answer:?}"))).unwrap(), answer)
    }

    /// Any request: the status and the body (JSON, or a JSON string).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// A request that must succeed.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    /// A request that must fail with `status` and the API's error shape;
    /// returns the error object.
    pub async fn fails(&self, method: Method, path: &str, body: Option<Value>, status: StatusCode) -> Value {
        let (got, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        let error = &value["error"];
        assert!(
            error["code"].is_string() && error["message"].is_string(),
            "{method} {path}: not the error shape: {value}"
        );
        error.clone()
    }

    pub async fn push(&self, name: &str, source: &str) -> Value {
        self.ok(Method::POST, "/v1/definitions", Some(json!({ "name": name, "source": source }))).await
    }

    pub async fn launch(&self, definition: &str, fields: Value) -> String {
        let job = self.ok(Method::POST, "/v1/jobs", Some(json!({ "definition": definition, "fields": fields }))).await;
        job["id"].as_str().unwrap().to_owned()
    }

    /// Uploads a component and, when the server accepts it (202), waits
    /// for its compile: the status is the upload's, the body the upload
    /// as it ended (`state` `ready`, or `failed` with its `error`).
    pub async fn upload(&self, wasm: &[u8], grants: &[&str]) -> (StatusCode, Value) {
        let (status, body) = self.upload_raw(wasm, grants, None).await;
        if status != StatusCode::ACCEPTED {
            return (status, body);
        }
        (status, self.wait_upload(&body).await)
    }

    /// Uploads a component (under `name`, when given) without waiting.
    pub async fn upload_raw(&self, wasm: &[u8], grants: &[&str], name: Option<&str>) -> (StatusCode, Value) {
        use base64::Engine as _;
        let mut body = json!({ "wasm": base64::engine::general_purpose::STANDARD.encode(wasm), "grants": grants });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.call(Method::POST, "/v1/participants", Some(body)).await
    }

    /// Polls an accepted upload until it is no longer `compiling`.
    pub async fn wait_upload(&self, accepted: &Value) -> Value {
        let id = accepted["upload"].as_str().unwrap_or_else(|| panic!("no upload id: {accepted}"));
        for _ in 0..2400 {
            let upload = self.ok(Method::GET, &format!("/v1/participants/uploads/{id}"), None).await;
            if upload["state"] != "compiling" {
                return upload;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("upload {id} still compiling after 2 minutes");
    }

    /// Polls a job until its state is one of `states`.
    pub async fn wait_state(&self, id: &str, states: &[&str]) -> Value {
        for _ in 0..1200 {
            let job = self.ok(Method::GET, &format!("/v1/jobs/{id}"), None).await;
            if states.contains(&job["state"].as_str().unwrap()) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never reached {states:?}");
    }

    /// Reads a job's event stream to its end: (event name, data) pairs.
    pub async fn events(&self, id: &str) -> Vec<(String, Value)> {
        read_events(self.open_events(id).await).await
    }

    /// Opens a job's event stream: once this returns, the server is
    /// subscribed, and every later event of the job is in the stream.
    pub async fn open_events(&self, id: &str) -> reqwest::Response {
        let response =
            self.http.get(format!("{}/v1/jobs/{id}/events", self.url)).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response
    }
}

/// Reads an event stream to its end: the first `state` event's data, then
/// the numbered events' ids and (name, data) pairs.
pub async fn read_numbered(response: reqwest::Response) -> (Value, Vec<i64>, Vec<(String, Value)>) {
    assert_eq!(response.status(), StatusCode::OK);
    let text = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the event stream did not end")
        .unwrap();
    let (mut first, mut ids, mut events) = (Value::Null, Vec::new(), Vec::new());
    for block in text.split("\n\n") {
        let (mut name, mut id, mut data) = (None, None, String::new());
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event:") {
                name = Some(n.trim().to_owned());
            } else if let Some(i) = line.strip_prefix("id:") {
                id = i.trim().parse::<i64>().ok();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        let (Some(name), data) = (name, serde_json::from_str(&data).unwrap_or(Value::Null)) else { continue };
        match id {
            Some(id) => {
                ids.push(id);
                events.push((name, data));
            }
            None if first.is_null() => first = data,
            None => {}
        }
    }
    (first, ids, events)
}

/// Reads an event stream to its end: (event name, data) pairs.
pub async fn read_events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the event stream did not end")
        .unwrap();
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

/// A fresh PostgreSQL database on the tests' server, dropped by
/// [`Database::drop`].
pub struct Database {
    pub url: String,
    name: String,
}

impl Database {
    pub async fn postgres() -> Database {
        sqlx::any::install_default_drivers();
        let admin_url = super::engine::postgres_admin_url();
        let admin = sqlx::AnyPool::connect(&admin_url).await.expect("PostgreSQL for tests");
        let name = format!("mm_api_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        admin.close().await;
        Database { url: format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0), name }
    }

    /// Drops it, ending the connections of any server still on it.
    pub async fn drop(self) {
        let admin = sqlx::AnyPool::connect(&super::engine::postgres_admin_url()).await.expect("PostgreSQL for tests");
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
        admin.close().await;
    }
}
