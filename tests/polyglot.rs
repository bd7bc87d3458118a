//! Issue 14: participants written in Python (componentize-py) and
//! JavaScript (componentize-js) run on the host like Rust ones: the CLI
//! describes and invokes them, their runaway loops and memory growth end
//! with the limit's error, a job mixes them with a built-in, and the
//! server accepts their uploads.
//!
//! The participants are built here, from `tests/participants/{python,js}`,
//! with the toolchains `tests/run` installs and pins; a built component is
//! kept under the target directory, keyed by its source, the contract and
//! the toolchain, so a rerun does not build it again.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::server::Server;

#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Js,
}

impl Lang {
    /// The participant name a component of this language describes, for
    /// `greeter` or `hostile`.
    fn participant(self, example: &str) -> String {
        match self {
            Lang::Python => format!("py_{example}"),
            Lang::Js => format!("js_{example}"),
        }
    }

    fn toolchain(self) -> PathBuf {
        let var = match self {
            Lang::Python => "MASTERMIND_COMPONENTIZE_PY",
            Lang::Js => "MASTERMIND_COMPONENTIZE_JS",
        };
        match std::env::var_os(var) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => panic!(
                "{var} is not set: run the tests with tests/run, which installs the pinned Python and JavaScript \
                 toolchains and sets it"
            ),
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// One build at a time: each toolchain uses a core for ten seconds or more.
static BUILDING: Mutex<()> = Mutex::new(());

/// Builds `tests/participants/LANG/EXAMPLE` into a component, or returns
/// the one built from the same source, contract and toolchain.
fn build(lang: Lang, example: &str) -> PathBuf {
    let root = root();
    let toolchain = lang.toolchain();
    let (dir, source) = match lang {
        Lang::Python => (root.join("tests/participants/python").join(example), "app.py".to_owned()),
        Lang::Js => (root.join("tests/participants/js").join(example), format!("{example}.js")),
    };
    let mut hash = Sha256::new();
    hash.update(std::fs::read(dir.join(&source)).unwrap());
    hash.update(std::fs::read(root.join("wit/participant.wit")).unwrap());
    // The toolchain's version: the Python one's venv is named by it, the
    // JavaScript one's is pinned by the lock file.
    hash.update(toolchain.to_string_lossy().as_bytes());
    hash.update(std::fs::read(root.join("tests/participants/js/package-lock.json")).unwrap());
    let digest = hex::encode(&hash.finalize()[..8]);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("polyglot");
    std::fs::create_dir_all(&cache).unwrap();
    let wasm = cache.join(format!("{}-{digest}.wasm", lang.participant(example)));
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if wasm.exists() {
        return wasm;
    }
    let partial = wasm.with_extension("partial");
    let started = Instant::now();
    let out = match lang {
        Lang::Python => Command::new(&toolchain)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "participant", "componentize", "-p"])
            .arg(&dir)
            .args(["app", "-o"])
            .arg(&partial)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output(),
        Lang::Js => Command::new(&toolchain)
            .arg(dir.join(&source))
            .arg("--wit")
            .arg(root.join("wit"))
            .args(["--world-name", "participant", "--disable", "http", "fetch-event", "-o"])
            .arg(&partial)
            .output(),
    }
    .unwrap_or_else(|e| panic!("running {}: {e}", toolchain.display()));
    assert!(out.status.success(), "building {}: {}{}", dir.display(), text(&out.stdout), text(&out.stderr));
    std::fs::rename(&partial, &wasm).unwrap();
    eprintln!("built {} in {:.1?}", wasm.display(), started.elapsed());
    wasm
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the CLI with the tests' shared compiled-code cache (an 18 MB
/// Python component takes seconds to compile; the cache is checked and
/// authenticated, so sharing it is safe).
fn mastermind(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::mastermind_bin())
        .args(args)
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        .env("MASTERMIND_DB", format!("sqlite:{}", dir.join("mm.db").display()))
        .env("XDG_DATA_HOME", dir)
        .output()
        .unwrap()
}

fn json_out(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

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

    // Params arrive as the step wrote them: the participant checks them,
    // and a wrong one is its bad-input error.
    for (param, message) in [
        ("name= ", "name must not be blank"),
        ("name:=7", "name must be a string"),
        ("times:=9", "times must be 1 to 5, not 9"),
        ("times=two", "times must be an integer"),
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
    seed_compiled_cache(&dir.path().join("compiled"), &mastermind::sandbox::digest(&py));
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let server = Server::start_with(dir.path(), &db, &[support::server::OWN_COMPILED_CACHE]).await;
    let api = server.tenant("acme").await;
    let (status, body) = api.upload(&js, &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    assert_eq!(body["name"], "js_greeter", "{body}");

    // The Python upload answers before it is compiled (Cranelift takes
    // tens of seconds for it): `compiling`, then `ready`.
    let rss_before = peak_rss_kib(&server);
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
        peak_rss_kib(&server) / 1024
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

/// Copies the shared test cache of compiled code into `dir`, leaving out
/// the entries of the component whose digest is `except`.
fn seed_compiled_cache(dir: &Path, except: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let shared = std::env::temp_dir().join("mastermind-test-compiled");
    let Ok(entries) = std::fs::read_dir(&shared) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name == "cache.key" || name.ends_with(".cwasm")) && !name.starts_with(except) {
            // Another server may be replacing it: a missing entry is compiled again.
            let _ = std::fs::copy(entry.path(), dir.join(&name));
        }
    }
}

/// The server's peak resident memory so far (VmHWM), in KiB; 0 where
/// /proc does not say.
fn peak_rss_kib(server: &Server) -> u64 {
    let Some(pid) = server.pid() else { return 0 };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
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
