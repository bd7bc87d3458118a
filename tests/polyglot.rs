//! Issue 14: participants written in Python (componentize-py) and
//! JavaScript (componentize-js) run on the host like Rust ones: the CLI
//! describes and invokes them, their runaway loops and memory growth end
//! with the limit's error, a job mixes them with a built-in, and the
//! server accepts their uploads.
//!
//! The participants are built by `support::polyglot`; the greeters and the
//! capabilities' callers are written on the SDKs (`plugins/sdk-python`,
//! `plugins/sdk-js`), the hostile ones on the raw bindings. wasi:http is
//! tests/wasi_http.rs's.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::polyglot::{Lang, build, json_out, mastermind, mastermind_with, text};
use support::server::Server;

fn describes_and_invokes(lang: Lang) {
    let wasm = build(lang, "greeter");
    let wasm = wasm.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let description = json_out(&mastermind(dir.path(), &["participant", "describe", wasm]));
    assert_eq!(description["name"], lang.participant("greeter"), "{description}");
    assert_eq!(description["default_action"], "greet");
    let greet = &description["actions"][0];
    assert_eq!(greet["name"], "greet", "{description}");
    assert_eq!(
        greet["params"][0],
        json!({"name": "name", "kind": "string", "required": true, "doc": "who to greet (not blank)"})
    );
    assert_eq!(greet["params"][1]["kind"], "integer");

    let out = mastermind(dir.path(), &["participant", "invoke", wasm, "greet", "-p", "name=Ada", "-p", "times:=2"]);
    let fields = json_out(&out);
    let by = match lang {
        Lang::Python => "python",
        Lang::Js => "javascript",
    };
    assert_eq!(fields, json!({"greeting": "Hello, Ada! Hello, Ada!", "greeted_by": by}));
    // The log import reached the host, with the call's context.
    assert!(text(&out.stderr).contains("info: greeting Ada for job cli"), "{}", text(&out.stderr));

    // The SDK checks the params against the description, the participant
    // what the description cannot say; either is a bad-input error.
    for (param, message) in [
        ("name= ", "name must not be blank"),
        ("name:=7", "greet: param 'name' must be a string, got an integer"),
        ("times:=9", "times must be 1 to 5, not 9"),
        ("times=two", "greet: param 'times' must be an integer, got a string"),
    ] {
        let args = ["participant", "invoke", wasm, "greet", "-p", "name=Ada", "-p", param];
        let out = mastermind(dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{param}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(&format!("error: bad-input: {message}")), "{}", text(&out.stderr));
    }
}

#[test]
fn a_python_participant_describes_and_invokes() {
    describes_and_invokes(Lang::Python);
}

#[test]
fn a_javascript_participant_describes_and_invokes() {
    describes_and_invokes(Lang::Js);
}

fn hostile_calls_are_stopped(lang: Lang) {
    let wasm = build(lang, "hostile");
    let wasm = wasm.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Compiled (and cached) first, so that the loop's time is the call's.
    json_out(&mastermind(dir.path(), &["participant", "describe", wasm]));

    let started = Instant::now();
    let out = mastermind(dir.path(), &["participant", "invoke", wasm, "spin", "--deadline", "2s"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: limit (deadline): deadline exceeded"), "{stderr}");
    assert!(stderr.contains("its 2.0s limit"), "{stderr}");
    assert!(took < Duration::from_secs(20), "the loop ran for {took:?} under a 2 s deadline");

    for (mib, asked) in [(64, "65 MiB"), (32, "33 MiB")] {
        let memory = mib.to_string();
        let out = mastermind(dir.path(), &["participant", "invoke", wasm, "grow", "--memory-mib", &memory]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("error: limit (memory): memory limit exceeded"), "{stderr}");
        assert!(stderr.contains(&format!("asked for {asked} in all, the limit is {mib} MiB per call")), "{stderr}");
    }
}

#[test]
fn a_python_participant_is_stopped_at_its_limits() {
    hostile_calls_are_stopped(Lang::Python);
}

#[test]
fn a_javascript_participant_is_stopped_at_its_limits() {
    hostile_calls_are_stopped(Lang::Js);
}

/// Python's greeting goes through the built-in Rust `echo` into the
/// JavaScript one's: the last fields hold all three outputs.
const MIXED: &str = "sequence do
  greet_py_greeter name: '${who}'
  echo_echo message: '${greeting} (${greeted_by})'
  greet_js_greeter name: '${echo}'
end
";

fn assert_mixed(fields: &Value) {
    assert_eq!(fields["echo"], "Hello, Ada! (python)", "{fields}");
    assert_eq!(fields["greeting"], "Hello, Hello, Ada! (python)!", "{fields}");
    assert_eq!(fields["greeted_by"], "javascript", "{fields}");
}

#[test]
fn one_job_runs_python_javascript_and_rust_participants() {
    let (py, js) = (build(Lang::Python, "greeter"), build(Lang::Js, "greeter"));
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("flow.mm");
    std::fs::write(&flow, MIXED).unwrap();
    let args = [
        "run",
        flow.to_str().unwrap(),
        "--field",
        "who=Ada",
        "--participant",
        py.to_str().unwrap(),
        "--participant",
        js.to_str().unwrap(),
    ];
    assert_mixed(&json_out(&mastermind(dir.path(), &args)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_accepts_uploads_of_both_and_runs_a_job_with_them() {
    let (py, js) =
        tokio::task::spawn_blocking(|| (build(Lang::Python, "greeter"), build(Lang::Js, "greeter"))).await.unwrap();
    let (py, js) = (std::fs::read(&py).unwrap(), std::fs::read(&js).unwrap());
    let dir = tempfile::tempdir().unwrap();
    // The built-ins' code compiled by the other tests' servers, but not the
    // Python component's: its compile is measured.
    support::server::seed_compiled_cache(dir.path(), &mastermind::sandbox::digest(&py));
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let server = Server::start_with(dir.path(), &db, &[support::server::OWN_COMPILED_CACHE]).await;
    let api = server.tenant("acme").await;
    let (status, body) = api.upload(&js, &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    assert_eq!(body["name"], "js_greeter", "{body}");

    // The Python upload answers before it is compiled (Cranelift takes
    // tens of seconds for it): `compiling`, then `ready`.
    let rss_before = server.peak_rss_kib();
    let started = Instant::now();
    let (status, accepted) = api.upload_raw(&py, &[], Some("py_greeter")).await;
    let answered = started.elapsed();
    assert_eq!((status, accepted["state"].as_str()), (StatusCode::ACCEPTED, Some("compiling")), "{accepted}");
    // A definition naming it meanwhile is told it is still compiling
    // (accepted only if the compile ended first: then the upload says so).
    let push = json!({ "name": "mixed", "source": MIXED });
    let (status, pushed) = api.call(Method::POST, "/v1/definitions", Some(push)).await;
    let upload = format!("/v1/participants/uploads/{}", accepted["upload"].as_str().unwrap());
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        assert!(pushed.to_string().contains("participant 'py_greeter' is still compiling"), "{pushed}");
    } else {
        assert_eq!(status, StatusCode::CREATED, "{pushed}");
        assert_eq!(api.ok(Method::GET, &upload, None).await["state"], "ready");
    }
    let ready = api.wait_upload(&accepted).await;
    let compiled = started.elapsed();
    assert_eq!(ready["state"], "ready", "{ready}");
    eprintln!(
        "a Python upload ({:.1} MiB): answered in {answered:?}, ready after {compiled:?}; \
         server peak RSS {} MiB before, {} MiB after",
        py.len() as f64 / 1048576.0,
        rss_before / 1024,
        server.peak_rss_kib() / 1024
    );
    // The request did not wait for the compile (a fraction of it, however loaded the machine).
    assert!(answered * 4 < compiled, "answered after {answered:?}, compiled after {compiled:?}");
    api.push("mixed", MIXED).await;
    let id = api.launch("mixed", json!({"who": "Ada"})).await;
    let job = api.wait_state(&id, &["completed", "failed"]).await;
    assert_eq!(job["state"], "completed", "{job}\n{}", server.logs());
    assert_mixed(&job["fields"]);
    // Both are listed with the action they described.
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    for name in ["py_greeter", "js_greeter"] {
        let entry = list.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{list}"));
        assert_eq!(entry["description"]["actions"][0]["name"], "greet", "{entry}");
    }
}

#[tokio::test]
async fn a_component_over_the_core_instance_maximum_is_refused_at_load_naming_it() {
    use mastermind::sandbox::{EngineConfig, LoadError, Sandbox, SandboxConfig};
    let py = tokio::task::spawn_blocking(|| build(Lang::Python, "greeter")).await.unwrap();
    let bytes = std::fs::read(py).unwrap();
    let config = |max| SandboxConfig {
        engine: EngineConfig { max_instances: 4, max_core_instances_per_component: max, ..EngineConfig::default() },
        ..SandboxConfig::default()
    };
    // Refused before compiling: at once, not after seconds of Cranelift.
    let sandbox = Sandbox::new(config(8)).unwrap();
    let started = Instant::now();
    let Err(e) = sandbox.load(&bytes).await else { panic!("loaded over a maximum of 8") };
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let LoadError::TooManyCoreInstances { count, max: 8 } = e else { panic!("{e}") };
    assert!(count > 8, "{count}");
    assert!(e.to_string().contains("over the limit of 8 per component"), "{e}");
    assert!(e.to_string().contains("max_core_instances_per_component"), "{e}");
    // The default maximum admits it (the other tests run it).
    assert!(count <= EngineConfig::default().max_core_instances_per_component, "{count}");
    eprintln!("a componentize-py component creates {count} core instances");

    let js = tokio::task::spawn_blocking(|| build(Lang::Js, "greeter")).await.unwrap();
    let Err(LoadError::TooManyCoreInstances { count, .. }) =
        Sandbox::new(config(1)).unwrap().load(&std::fs::read(js).unwrap()).await
    else {
        panic!("a JavaScript component loaded under a maximum of 1")
    };
    assert!(count <= EngineConfig::default().max_core_instances_per_component, "{count}");
    eprintln!("a componentize-js component creates {count} core instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refuses_an_upload_over_its_core_instance_maximum() {
    let py = tokio::task::spawn_blocking(|| build(Lang::Python, "greeter")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let server = Server::start_with(dir.path(), &db, &["--max-core-instances-per-component", "12"]).await;
    let api = server.tenant("acme").await;
    let (status, body) = api.upload(&std::fs::read(py).unwrap(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("creates 14 core instances when instantiated, over the limit of 12 per component"),
        "{message}"
    );
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    assert!(list.as_array().unwrap().iter().all(|p| p["kind"] == "builtin"), "{list}");
}

/// The SDKs' capability wrappers, in a component: the fields kept first
/// stay; the request the host sends has the secret spliced in, the header
/// and the JSON body; the
/// response comes back with the secret redacted; an error status is the
/// SDK's retryable error; an ungranted host is `denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_participants_send_http_through_their_sdks() {
    let receiver = support::HttpReceiver::start_answering(Duration::ZERO, |request| {
        if request.starts_with("POST /down") { 503 } else { 201 }
    })
    .await;
    for lang in [Lang::Python, Lang::Js] {
        let wasm = tokio::task::spawn_blocking(move || build(lang, "greeter")).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token.txt");
        std::fs::write(&token, "s3cret-value").unwrap();
        let (dir_path, port) = (dir.path().to_owned(), receiver.port);
        let invoke = move |path: &str, granted: bool| {
            let url = format!("url=http://127.0.0.1:{port}{path}");
            let grant = format!("http=127.0.0.1:{port}");
            let secret = format!("token=@{}", token.display());
            let mut args =
                vec!["participant", "invoke", wasm.to_str().unwrap(), "notify", "-p", &url, "-p", "name=Ada"];
            if granted {
                args.extend(["--grant", &grant, "--grant", "secret=token", "--secret", &secret]);
            }
            mastermind(&dir_path, &args)
        };
        let invoke = std::sync::Arc::new(invoke);
        let call = |path: &'static str, granted: bool| {
            let invoke = invoke.clone();
            tokio::task::spawn_blocking(move || invoke(path, granted))
        };

        let fields = json_out(&call("/hook", true).await.unwrap());
        assert_eq!(fields["status"], 201, "{lang:?}: {fields}");
        // What `keep` kept before sending is merged under the result.
        assert_eq!(fields["notified"], format!("http://127.0.0.1:{port}/hook"), "{lang:?}: {fields}");
        let echo = fields["echo"].as_str().unwrap().to_ascii_lowercase();
        assert!(echo.contains("authorization: bearer [redacted]"), "{lang:?}: {echo}");
        let sent = receiver.requests().last().unwrap().clone();
        let head = sent.to_ascii_lowercase();
        assert!(head.contains("authorization: bearer s3cret-value"), "{lang:?}: {sent}");
        let by = match lang {
            Lang::Python => "python",
            Lang::Js => "javascript",
        };
        assert!(
            head.contains(&format!("x-greeter: {by}")) && head.contains("content-type: application/json"),
            "{sent}"
        );
        let body: Value = serde_json::from_str(sent.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body, json!({"greeting": "Hello, Ada!"}), "{lang:?}");

        let out = call("/down", true).await.unwrap();
        assert_eq!(out.status.code(), Some(1), "{lang:?}");
        assert!(text(&out.stderr).contains("error: retryable: notifying: HTTP 503"), "{lang:?}: {}", text(&out.stderr));

        let out = call("/hook", false).await.unwrap();
        assert_eq!(out.status.code(), Some(1), "{lang:?}");
        let expected = format!("error: denied: http: 127.0.0.1:{port} is not granted");
        assert!(text(&out.stderr).contains(&expected), "{lang:?}: {}", text(&out.stderr));
    }
}

/// The SDKs' EC2 wrappers against moto, in a component: the requests they
/// build are the contract's, and what comes back (instances, tags, state
/// changes) reaches the participant as plain values. Without grants, the
/// ssh, chef and ec2 requests they build reach the host, whose refusal is
/// the SDK's `Denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_participants_reach_ec2_and_are_refused_ssh_and_chef_through_their_sdks() {
    let moto = support::moto::Moto::start().await;
    for lang in [Lang::Python, Lang::Js] {
        let wasm = tokio::task::spawn_blocking(move || build(lang, "capabilities")).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("aws.json");
        std::fs::write(&credentials, r#"{"access_key_id": "testing", "secret_access_key": "testing"}"#).unwrap();
        let (dir_path, url) = (dir.path().to_owned(), moto.url.clone());
        let (ec2, refused) = tokio::task::spawn_blocking(move || {
            let wasm = wasm.to_str().unwrap();
            let name = format!("name={lang:?}");
            let secret = format!("aws=@{}", credentials.display());
            let grants = ["--grant", "ec2=us-west-2", "--grant", "secret=aws", "--secret", &secret];
            let mut args = vec!["participant", "invoke", wasm, "ec2", "-p", &name];
            args.extend(grants);
            let ec2 = mastermind_with(&dir_path, &args, &[("AWS_ENDPOINT_URL", &url)]);
            (ec2, mastermind(&dir_path, &["participant", "invoke", wasm, "refused"]))
        })
        .await
        .unwrap();

        let fields = json_out(&ec2);
        let launched = fields["launched"].as_array().unwrap();
        assert_eq!(launched.len(), 2, "{lang:?}: {fields}");
        assert!(launched.iter().all(|id| id.as_str().unwrap().starts_with("i-")), "{fields}");
        assert_eq!(fields["found"], fields["launched"], "{lang:?}: found by their tag");
        assert_eq!(fields["tags"], json!([{"key": "Name", "value": format!("{lang:?}")}]), "{lang:?}: {fields}");
        assert_eq!(fields["states"], json!(["stopping", "stopping"]), "{lang:?}");

        let fields = json_out(&refused);
        for (capability, refusal) in [
            ("ssh", "ssh: deploy@10.0.0.5:22 is not granted to this participant"),
            ("chef", "chef: server https://chef.example.com/organizations/acme is not granted"),
            ("ec2", "ec2: region 'us-west-2' is not granted to this participant"),
        ] {
            let message = fields[capability].as_str().unwrap_or_else(|| panic!("{lang:?}: {fields}"));
            assert!(message.starts_with(refusal), "{lang:?}: {message}");
        }
    }
}

/// The SDKs' SSH wrapper against a real sshd, in a component: the command
/// gets its stdin, one result comes back per target, in order — the
/// output of the first, and the second's error (nothing listens there) as
/// the SDK's error of its kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_participants_run_ssh_commands_through_their_sdks() {
    let lab = support::sshd::SshLab::new();
    let sshd = lab.start("target");
    let closed = support::free_port();
    let key = lab.dir.path().join("client");
    for lang in [Lang::Python, Lang::Js] {
        let wasm = tokio::task::spawn_blocking(move || build(lang, "capabilities")).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (dir_path, port, key) = (dir.path().to_owned(), sshd.port, key.clone());
        let out = tokio::task::spawn_blocking(move || {
            let user = format!("user={}", support::sshd::USER);
            let (port_param, closed_param) = (format!("port:={port}"), format!("closed_port:={closed}"));
            let grant = format!("ssh={}@127.0.0.1:*", support::sshd::USER);
            let secret = format!("ssh_key=@{}", key.display());
            let wasm = wasm.to_str().unwrap();
            let args = ["participant", "invoke", wasm, "ssh", "-p", &user, "-p", &port_param, "-p", &closed_param];
            let grants = ["--grant", &grant, "--grant", "secret=ssh_key", "--secret", &secret];
            mastermind(&dir_path, &[&args[..], &grants[..]].concat())
        })
        .await
        .unwrap();
        let fields = json_out(&out);
        assert_eq!(fields["stdout"], "out\nfrom stdin", "{lang:?}: {fields}");
        assert_eq!(fields["stderr"], "err\n", "{lang:?}: {fields}");
        assert_eq!(fields["exit_status"], 3, "{lang:?}: {fields}");
        let second = fields["second"].as_str().unwrap();
        assert!(second.starts_with("retryable: ") || second.starts_with("fatal: "), "{lang:?}: {second}");
        assert!(second.contains(&closed.to_string()), "{lang:?}: {second}");
    }
}
