//! The command-line client against a real `mastermind serve`: tenants and
//! tokens, `login`, output for people on a terminal (a pseudo-terminal made
//! by util-linux's `script`) and JSON for scripts, and the errors that say
//! how to fix them. tests/api.rs drives the other client commands.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use support::server::{ADMIN_TOKEN, PUBLIC_ONLY, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a test runs the client: which server, which token, and a config
/// directory of its own (so no stored login of the machine's user, and none
/// of another test, is read).
#[derive(Clone)]
struct Cli {
    url: Option<String>,
    token: Option<String>,
    config: PathBuf,
    no_color: bool,
}

/// What a run of the client did.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Asserts it succeeded; returns it.
    fn ok(self) -> Ran {
        assert!(self.ok, "failed: {self:?}");
        self
    }

    /// Asserts it failed with the error printed once; returns stderr.
    fn failed(self) -> String {
        assert!(!self.ok, "succeeded: {self:?}");
        let errors = self.stderr.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(errors, 1, "the error printed once: {}", self.stderr);
        self.stderr
    }
}

impl Cli {
    fn new(server: &Server, token: &str, dir: &Path) -> Cli {
        Cli {
            url: Some(server.url.clone()),
            token: Some(token.to_owned()),
            config: dir.join("config"),
            no_color: false,
        }
    }

    fn with_token(&self, token: &str) -> Cli {
        Cli { token: Some(token.to_owned()), ..self.clone() }
    }

    fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.env_remove("MASTERMIND_URL")
            .env_remove("MASTERMIND_TOKEN")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .env("XDG_CONFIG_HOME", &self.config)
            // `participant list` compiles the built-ins: the servers' cache.
            .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
            .kill_on_drop(true);
        if let Some(url) = &self.url {
            cmd.env("MASTERMIND_URL", url);
        }
        if let Some(token) = &self.token {
            cmd.env("MASTERMIND_TOKEN", token);
        }
        if self.no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd
    }

    /// Runs `mastermind ARGS` with stdout and stderr piped, as a script would.
    async fn run(&self, args: &[&str]) -> Ran {
        let out = self.command(&support::mastermind_bin()).args(args).stdin(Stdio::null()).output().await.unwrap();
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `mastermind ARGS` on a terminal: stdin, stdout and stderr are a
    /// pseudo-terminal, whose output (both streams, `\r\n` made `\n`) is
    /// `stdout` here.
    async fn on_terminal(&self, args: &[&str]) -> Ran {
        let out = self.terminal(args).stdin(Stdio::null()).output().await.unwrap();
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn terminal(&self, args: &[&str]) -> tokio::process::Command {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let line = std::iter::once(support::mastermind_bin().as_str())
            .chain(args.iter().copied())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = self.command("script");
        // -q: no banner, -e: its exit status, -E always: the terminal echoes
        // what is typed (unless the command turns that off), -c: the
        // command; no log file.
        cmd.args(["-q", "-e", "-E", "always", "-c", &line, "/dev/null"]).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_tokens_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let admin = Cli::new(&server, ADMIN_TOKEN, dir.path());

    // A tenant with limits of its own; a script reads the JSON.
    let tenant = admin.run(&["tenants", "create", "acme", "--memory", "128MiB", "--deadline", "30s"]).await.ok().json();
    assert_eq!(tenant["name"], "acme");
    assert_eq!(tenant["limits"]["memory_bytes"], 128 << 20);
    assert_eq!(tenant["limits"]["deadline_ms"], 30_000);
    assert_eq!(tenant["limits"]["max_concurrent_calls"], 16, "the others keep their defaults: {tenant}");
    let id = tenant["id"].as_str().unwrap().to_owned();
    let refused = admin.run(&["tenants", "create", "big", "--memory", "2GiB"]).await.failed();
    assert!(refused.contains("memory_bytes must be between"), "{refused}");
    let list = admin.run(&["tenants", "list"]).await.ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    // On a terminal: a table, and what to do next.
    let created = admin.on_terminal(&["tenants", "create", "globex"]).await.ok().stdout;
    assert!(
        created.contains("created tenant") && created.contains("mastermind tokens create --tenant globex"),
        "{created}"
    );
    let table = admin.on_terminal(&["tenants", "list"]).await.ok().stdout;
    assert!(table.contains("NAME") && table.contains("acme") && table.contains("globex"), "{table}");
    assert!(table.contains(&id), "{table}");

    // The admin makes the tenant's first token, naming the tenant by name
    // or id; the token is shown this once.
    let owner = admin.run(&["tokens", "create", "--tenant", "acme", "--scope", "admin", "--name", "owner"]).await;
    let owner = owner.ok().json();
    assert_eq!(owner["tenant"], id.as_str());
    assert_eq!(owner["scopes"], json!(["admin"]));
    let owner_token = owner["token"].as_str().unwrap().to_owned();
    let plain = Cli { no_color: true, ..admin.clone() };
    let shown = plain.on_terminal(&["tokens", "create", "--tenant", &id, "--scope", "run"]).await.ok().stdout;
    assert!(shown.contains("created token cli") && shown.contains("shown this once"), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("mm_")), "the token on a line of its own: {shown}");
    let unknown = admin.run(&["tokens", "create", "--tenant", "initech", "--scope", "read"]).await.failed();
    assert!(unknown.contains("no tenant 'initech'"), "{unknown}");
    // The API has no way for the admin token to list a tenant's tokens:
    // it says which token does.
    let listed = admin.run(&["tokens", "list"]).await.failed();
    assert!(listed.contains("admin-scoped token of that tenant"), "{listed}");
    let without = admin.run(&["tokens", "create", "--scope", "read"]).await.failed();
    assert!(without.contains("--tenant"), "{without}");

    // The tenant's own admin-scoped token makes, lists and revokes its tokens.
    let tenant_cli = admin.with_token(&owner_token);
    let ci = tenant_cli.run(&["tokens", "create", "--scope", "read", "--name", "ci"]).await.ok().json();
    let ci_token = ci["token"].as_str().unwrap().to_owned();
    let tokens = tenant_cli.run(&["tokens", "list"]).await.ok().json();
    let names: Vec<&str> = tokens.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"owner") && names.contains(&"ci") && names.contains(&"cli"), "{tokens}");
    assert!(tokens.as_array().unwrap().iter().all(|t| t.get("token").is_none()), "never shown again: {tokens}");
    let table = tenant_cli.on_terminal(&["tokens", "list"]).await.ok().stdout;
    assert!(table.contains("SCOPES") && table.contains("ci") && table.contains("read"), "{table}");
    assert!(!table.contains(&ci_token), "{table}");
    assert!(tenant_cli.with_token(&ci_token).run(&["jobs", "list"]).await.ok);
    let revoked = tenant_cli.on_terminal(&["tokens", "revoke", ci["id"].as_str().unwrap()]).await.ok().stdout;
    assert!(revoked.contains("revoked token"), "{revoked}");
    let refused = tenant_cli.with_token(&ci_token).run(&["jobs", "list"]).await.failed();
    assert!(refused.contains("refused MASTERMIND_TOKEN"), "{refused}");
    // A tenant's token does not manage tenants; the error says whose does.
    let tenants = tenant_cli.run(&["tenants", "list"]).await.failed();
    assert!(tenants.contains("the server's admin token"), "{tenants}");
    // A scope is required, and only the API's three are taken.
    let no_scope = tenant_cli.run(&["tokens", "create"]).await;
    assert!(!no_scope.ok && no_scope.stderr.contains("--scope"), "{no_scope:?}");
    let bad_scope = tenant_cli.run(&["tokens", "create", "--scope", "root"]).await;
    assert!(!bad_scope.ok && bad_scope.stderr.contains("read"), "{bad_scope:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_the_server_and_token_for_the_next_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let api = server.tenant("acme").await;
    let cli = Cli { url: None, token: None, ..Cli::new(&server, "", dir.path()) };
    let stored = dir.path().join("config/mastermind/client.json");
    let login = |token: &str| {
        let mut cmd = cli.command(&support::mastermind_bin());
        cmd.args(["login", &server.url]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let token = format!("{token}\n");
        async move {
            child.stdin.take().unwrap().write_all(token.as_bytes()).await.unwrap();
            let out = child.wait_with_output().await.unwrap();
            Ran {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
    };

    // A token the server refuses is not stored.
    let refused = login("mm_not_a_token_of_this_server").await.failed();
    assert!(refused.contains("nothing stored") && refused.contains("refused"), "{refused}");
    assert!(!stored.exists());
    // Nor a URL without a scheme.
    let bare = server.url.trim_start_matches("http://");
    let no_scheme = cli.run(&["login", bare, "--token", &api.token]).await.failed();
    assert!(no_scheme.contains(&format!("set it to http://{bare}")), "{no_scheme}");

    // The token from stdin, checked, stored for its owner only.
    let done = login(&api.token).await.ok();
    assert!(done.stderr.contains("an admin-scoped tenant token") && done.stderr.contains("client.json"), "{done:?}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(file, json!({ "url": server.url, "token": api.token }));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(stored.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    }

    // The next commands use it, with neither variable set.
    let file = dir.path().join("hello.mm");
    std::fs::write(&file, "echo 'hello'\n").unwrap();
    let pushed = cli.run(&["definitions", "push", path(&file)]).await.ok().json();
    assert_eq!(pushed["name"], "hello");
    let list = cli.run(&["definitions", "list"]).await.ok().json();
    assert_eq!(list[0]["name"], "hello");
    // The variables win: another token is sent instead...
    let revoked = api.ok(Method::POST, "/v1/tokens", Some(json!({ "name": "gone", "scopes": ["read"] }))).await;
    api.ok(Method::DELETE, &format!("/v1/tokens/{}", revoked["id"].as_str().unwrap()), None).await;
    let refused = cli.with_token(revoked["token"].as_str().unwrap()).run(&["definitions", "list"]).await.failed();
    assert!(refused.contains("refused MASTERMIND_TOKEN"), "{refused}");
    // ...and the stored token goes only to the server it was stored for.
    let elsewhere = support::HttpReceiver::start().await;
    let other = Cli { url: Some(format!("http://127.0.0.1:{}", elsewhere.port)), ..cli.clone() };
    other.run(&["definitions", "list"]).await;
    let requests = elsewhere.requests().join("\n").to_ascii_lowercase();
    assert!(requests.contains("get /v1/definitions") && !requests.contains("authorization"), "{requests}");
    assert!(!requests.contains(&api.token.to_ascii_lowercase()), "{requests}");

    // A stored token the server no longer accepts: log in again.
    let short_lived = server
        .admin()
        .ok(
            Method::POST,
            &format!("/v1/tenants/{}/tokens", api.tenant_id),
            Some(json!({ "name": "short-lived", "scopes": ["run"] })),
        )
        .await;
    let token = short_lived["token"].as_str().unwrap();
    let done = cli.run(&["login", &server.url, "--token", token]).await.ok();
    assert!(done.stderr.contains("with a tenant token"), "{done:?}");
    api.ok(Method::DELETE, &format!("/v1/tokens/{}", short_lived["id"].as_str().unwrap()), None).await;
    let stale = cli.run(&["jobs", "list"]).await.failed();
    assert!(stale.contains("`mastermind login") && stale.contains("client.json"), "{stale}");

    // On a terminal the token is asked for, and not shown as it is typed.
    let mut child = cli.terminal(&["login", &server.url]).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("token for") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.read(&mut buffer))
            .await
            .expect("the prompt")
            .unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    // Give the prompt a moment to turn the echo off.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.stdin.take().unwrap().write_all(format!("{}\n", api.token).as_bytes()).await.unwrap();
    stdout.read_to_end(&mut seen).await.unwrap();
    assert!(child.wait().await.unwrap().success(), "{}", String::from_utf8_lossy(&seen));
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("logged in to"), "{seen}");
    assert!(!seen.contains(&api.token), "the token was echoed: {seen}");
    assert!(cli.run(&["definitions", "list"]).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_tables_on_a_terminal_and_json_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let api = server.tenant("acme").await;
    let cli = Cli::new(&server, &api.token, dir.path());
    let wasm = dir.path().join("tester.wasm");
    std::fs::write(&wasm, support::participant_bytes("tester")).unwrap();
    let plain = Cli { no_color: true, ..cli.clone() };
    let uploaded = plain.on_terminal(&["participants", "upload", path(&wasm)]).await.ok().stdout;
    // The upload answers `compiling`; on a terminal the client says it waits.
    assert_eq!(uploaded, "compiling on the server…\ntester@1\n");

    // A push answers name@version on a terminal, not the parse tree.
    let file = dir.path().join("greet.mm");
    std::fs::write(&file, "mark_tester name: 'x'\n").unwrap();
    let pushed = cli.on_terminal(&["definitions", "push", path(&file)]).await.ok().stdout;
    assert!(pushed.contains("greet@1") && !pushed.contains("tree") && !pushed.contains('{'), "{pushed}");
    assert_eq!(plain.on_terminal(&["definitions", "push", path(&file)]).await.ok().stdout, "greet@2\n");
    // --json keeps the full body; so does a pipe.
    let full = cli.on_terminal(&["definitions", "push", path(&file), "--json"]).await.ok().stdout;
    let full: Value = serde_json::from_str(&full).unwrap_or_else(|e| panic!("{e}: {full}"));
    assert_eq!((full["version"].as_i64(), full["tree"].is_object()), (Some(3), true), "{full}");
    let piped = cli.run(&["definitions", "push", path(&file)]).await.ok().json();
    assert_eq!(piped["version"], 4);
    let job = api.launch("greet", json!({})).await;
    api.wait_state(&job, &["completed"]).await;

    for (args, headers, row) in [
        (
            &["jobs", "list"][..],
            &["ID", "STATE", "DEFINITION", "DURATION"][..],
            vec![job.as_str(), "completed", "greet@4"],
        ),
        (&["definitions", "list"], &["NAME", "VERSION", "UPDATED"], vec!["greet", "4"]),
        (
            &["participants", "list"],
            &["NAME", "KIND", "VERSION", "ACTIONS", "GRANTS"],
            vec!["tester", "uploaded", "mark"],
        ),
        (&["participant", "list"], &["NAME", "VERSION", "ACTIONS", "DOC"], vec!["echo"]),
    ] {
        // A script gets JSON.
        let json = cli.run(args).await.ok().json();
        assert!(json.is_array() || json["jobs"].is_array(), "{args:?}: {json}");
        // A person gets a table: the headers, then aligned rows.
        let table = plain.on_terminal(args).await.ok().stdout;
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        for h in headers {
            assert!(header.contains(h), "{args:?}: {table}");
        }
        let line = lines.find(|l| l.contains(row[0])).unwrap_or_else(|| panic!("{args:?}: no {}: {table}", row[0]));
        for cell in &row {
            assert!(line.contains(cell), "{args:?}: {cell} in {table}");
        }
        let second = headers[1];
        let column = header.find(second).unwrap();
        assert!(line[column..].starts_with(row.get(1).copied().unwrap_or("")), "{args:?}: aligned: {table}");
        assert!(!table.contains('\x1b'), "NO_COLOR: {table:?}");
        // Colour on a terminal when NO_COLOR is unset; --json is JSON there too.
        assert!(cli.on_terminal(args).await.ok().stdout.contains("\x1b[1m"), "{args:?}");
        let json = cli.on_terminal(&[args, &["--json"]].concat()).await.ok().stdout;
        assert!(serde_json::from_str::<Value>(&json).is_ok(), "{args:?}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &format!("sqlite:{}", dir.path().join("mastermind.db").display()),
        &[PUBLIC_ONLY],
    )
    .await;
    let api = server.tenant("acme").await;
    let cli = Cli::new(&server, &api.token, dir.path());
    let wasm = dir.path().join("tester.wasm");
    std::fs::write(&wasm, support::participant_bytes("tester")).unwrap();

    // A loopback grant, on a server started without --allow-private-grants.
    let refused = cli.run(&["participants", "upload", path(&wasm), "--grant", "http=127.0.0.1:8080"]).await.failed();
    assert!(refused.contains("127.0.0.1") && refused.contains("mastermind serve --allow-private-grants"), "{refused}");
    // A component over the limit: its size and the limit, and nothing sent.
    let limit = 32 << 20;
    let big = dir.path().join("big.wasm");
    std::fs::write(&big, vec![0u8; limit + 1]).unwrap();
    let refused = cli.run(&["participants", "upload", path(&big)]).await.failed();
    assert!(refused.contains(&format!("is {} bytes", limit + 1)), "{refused}");
    // The client's own check, before sending (the server's would answer
    // that the request body is too large).
    assert!(refused.contains(&format!("over the server's limit of {limit} bytes (32.0 MiB)")), "{refused}");
    // Neither left anything behind.
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    assert!(list.as_array().unwrap().iter().all(|p| p["kind"] == "builtin"), "{list}");
    // Without the grant it passes.
    assert!(cli.run(&["participants", "upload", path(&wasm)]).await.ok);
    // Refused once compiled (it calls itself otherwise): the client waited
    // for the compile, and says why it failed.
    let refused = cli.run(&["participants", "upload", path(&wasm), "--name", "other"]).await.failed();
    assert!(refused.contains("describes itself as 'tester', not 'other'"), "{refused}");
    // --no-wait returns while it compiles; the upload's id says where it is.
    let accepted = cli.run(&["participants", "upload", path(&wasm), "--no-wait"]).await.ok().stdout;
    let accepted: Value = serde_json::from_str(&accepted).unwrap_or_else(|e| panic!("{e}: {accepted}"));
    assert_eq!(accepted["state"], "compiling", "{accepted}");
    assert_eq!(api.wait_upload(&accepted).await["version"], 2);
}
