//! `mastermind participant new`: a project written by the binary alone
//! builds into a component with one command (cargo offline, from crates
//! already in cargo's cache; componentize-py; `npm run build`), passes its
//! own tests natively, describes itself and runs in a workflow, every event
//! of which `mastermind run` shows. The SDKs pass their own tests, and the
//! Rust SDK's copy of the WIT contract is the contract.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn mastermind(cwd: &Path, args: &[&str]) -> Output {
    Command::new(support::mastermind_bin())
        .args(args)
        .current_dir(cwd)
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        .env("MASTERMIND_DB", format!("sqlite:{}", cwd.join("mm.db").display()))
        .output()
        .unwrap()
}

/// Cargo on the generated project, as its author would run it, but offline
/// and with a target directory kept between runs of this test (a cold
/// build compiles wit-bindgen's macros).
fn cargo(project: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).arg("--offline").current_dir(project);
    // This test's own build settings must not leak into the author's build.
    for (key, _) in std::env::vars() {
        let leaks = key.starts_with("CARGO_") && !key.starts_with("CARGO_HOME")
            || matches!(key.as_str(), "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER");
        if leaks {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir());
    cmd.output().unwrap()
}

/// Where the generated project is built (in place of its `target/`).
fn target_dir() -> PathBuf {
    std::env::temp_dir().join("mastermind-participant-new-target")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir`, by relative path, with its contents.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_sdk_carries_the_contract_unchanged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let contract = files(&root.join("wit"));
    let copy = files(&root.join("plugins/sdk/wit"));
    let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&copy), names(&contract), "plugins/sdk/wit must hold the files of wit/");
    for ((path, ours), (_, theirs)) in copy.iter().zip(&contract) {
        assert!(ours == theirs, "plugins/sdk/wit/{} differs from wit/: copy wit/ over it", path.display());
    }
}

#[test]
fn a_bad_name_or_a_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, why) in [
        ("Hello-World", "lower-case letters, digits and '_'"),
        ("fn", "reserved"),
        ("echo", "built-in participant has that name"),
    ] {
        let out = mastermind(d, &["participant", "new", name]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("'{name}' cannot name a participant")) && err.contains(why), "{err}");
        assert!(!d.join(name).exists(), "{name}: a project was written");
    }
    std::fs::create_dir(d.join("taken")).unwrap();
    std::fs::write(d.join("taken/notes.txt"), "mine").unwrap();
    let out = mastermind(d, &["participant", "new", "greeter", "--dir", "taken"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists and is not empty"), "{}", text(&out.stderr));
    assert_eq!(files(&d.join("taken")).len(), 1, "the directory in use was written to");
    let out = mastermind(d, &["participant", "new", "greeter", "--lang", "cobol"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown language");
}

#[test]
fn a_new_participant_builds_passes_its_tests_and_runs_in_a_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Inside another workspace's directory, the project is still its own.
    std::fs::write(d.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\n").unwrap();
    let out = mastermind(d, &["participant", "new", "hello_mm", "--lang", "rust"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("cargo build --release --target wasm32-wasip2"), "{}", text(&out.stdout));
    let project = d.join("hello_mm");
    assert!(project.join("sdk/wit/participant.wit").is_file() && project.join("src/lib.rs").is_file());

    // One command builds the component.
    let started = Instant::now();
    let out = cargo(&project, &["build", "--release", "--target", "wasm32-wasip2"]);
    assert!(out.status.success(), "cargo build failed:\n{}", text(&out.stderr));
    eprintln!("cargo build --release --target wasm32-wasip2: {:.1?}", started.elapsed());
    let wasm = target_dir().join("wasm32-wasip2/release/hello_mm.wasm");
    let wasm = wasm.to_str().unwrap();

    // Its tests pass natively: the logic runs without Wasm.
    let started = Instant::now();
    let out = cargo(&project, &["test"]);
    assert!(out.status.success(), "cargo test failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("test result: ok. 2 passed"), "{}", text(&out.stdout));
    eprintln!("cargo test: {:.1?}", started.elapsed());

    // It describes itself as written.
    let out = mastermind(d, &["participant", "describe", wasm]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let description: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(description["name"], "hello_mm");
    assert_eq!(description["actions"][0]["name"], "greet");
    let params: Vec<(&str, bool)> = description["actions"][0]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["required"].as_bool().unwrap()))
        .collect();
    assert_eq!(params, [("name", true), ("times", false)]);

    // The workflow it was written with runs, and every event is shown, the
    // last ones too (a run used to end before showing them, now and then:
    // three runs make a regression likely to show).
    for _ in 0..3 {
        let out = mastermind(&project, &["run", "flow.mm", "--participant", wasm, "--field", "who=world"]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        let fields: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(fields["greeting"], "hello, world! hello, world");
        assert_eq!(fields["who"], "world");
        let lines: Vec<&str> = err.lines().collect();
        for expected in ["-> hello_mm.greet [line 4]", "info: greeting world 2 time(s)", "ok hello_mm.greet"] {
            assert!(lines.iter().any(|l| l.contains(expected)), "no '{expected}' in:\n{err}");
        }
        assert!(lines.contains(&"hello, world! hello, world"), "the echo is missing:\n{err}");
        assert_eq!(lines.last(), Some(&"job completed"), "the last event is missing:\n{err}");
    }

    // An error's kind and message reach the job, the last events included.
    std::fs::write(project.join("bad.mm"), "greet_hello_mm name: 'world', times: 11\n").unwrap();
    let out = mastermind(&project, &["run", "bad.mm", "--participant", wasm]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let failed = err.lines().find(|l| l.starts_with("step failed: bad-input (line 1)"));
    assert!(failed.is_some_and(|l| l.contains("times must be 1 to 10, not 11")), "{err}");
}

/// A toolchain `tests/run` installs and pins, from the variable it sets.
fn toolchain(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("{var} is not set: run the tests with tests/run, which installs the pinned toolchains and sets it"),
    }
}

/// `program args` in `dir`, as an author runs it, without this test's
/// bytecode files.
fn run_in(dir: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.to_string_lossy()));
    assert!(
        out.status.success(),
        "{} {} failed:\n{}{}",
        program.to_string_lossy(),
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// What every new project's component does, whatever its language: it
/// describes itself as written, its action logs and answers, the workflow
/// it came with runs, and its error's kind reaches the job.
fn the_component_runs(project: &Path, name: &str, wasm: &str) {
    let description = serde_json::from_slice::<Value>(&mastermind(project, &["participant", "describe", wasm]).stdout)
        .unwrap_or_else(|e| panic!("{e}: describe failed"));
    assert_eq!(description["name"], name, "{description}");
    assert_eq!(description["default_action"], "greet", "{description}");
    let params: Vec<(&str, &str, bool)> = description["actions"][0]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["kind"].as_str().unwrap(), p["required"].as_bool().unwrap()))
        .collect();
    assert_eq!(params, [("name", "string", true), ("times", "integer", false)]);

    let out = mastermind(project, &["participant", "invoke", wasm, "greet", "--param", "name=world"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["greeting"], "hello, world");
    assert!(text(&out.stderr).contains("info: greeting world 1 time(s)"), "{}", text(&out.stderr));

    let out = mastermind(project, &["run", "flow.mm", "--participant", wasm, "--field", "who=world"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let fields: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fields["greeting"], "hello, world! hello, world");
    let ok = format!("ok {name}.greet");
    for expected in [ok.as_str(), "info: greeting world 2 time(s)", "job completed"] {
        assert!(err.contains(expected), "no '{expected}' in:\n{err}");
    }

    std::fs::write(project.join("bad.mm"), format!("greet_{name} name: 'world', times: 11\n")).unwrap();
    let out = mastermind(project, &["run", "bad.mm", "--participant", wasm]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let failed = err.lines().find(|l| l.starts_with("step failed: bad-input (line 1)"));
    assert!(failed.is_some_and(|l| l.contains("times must be 1 to 10, not 11")), "{err}");
    // The SDK checks a param's type before the participant's code runs.
    let out = mastermind(project, &["participant", "invoke", wasm, "greet", "-p", "name:=7"]);
    assert_eq!(out.status.code(), Some(1));
    let expected = "error: bad-input: greet: param 'name' must be a string, got an integer";
    assert!(text(&out.stderr).contains(expected), "{}", text(&out.stderr));
}

#[test]
fn a_new_python_participant_passes_its_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = mastermind(dir.path(), &["participant", "new", "hello_py", "--lang", "python"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let build = "componentize-py -d wit -w participant componentize app -o hello_py.wasm";
    assert!(text(&out.stdout).contains(build), "{}", text(&out.stdout));
    let project = dir.path().join("hello_py");

    // Its tests pass natively, with nothing installed.
    let out = run_in(&project, "python3", &["-m", "unittest"]);
    assert!(text(&out.stderr).contains("Ran 2 tests"), "{}", text(&out.stderr));

    // One command builds the component, with the pinned componentize-py.
    let started = Instant::now();
    let args: Vec<&str> = build.split(' ').skip(1).collect();
    run_in(&project, toolchain("MASTERMIND_COMPONENTIZE_PY"), &args);
    eprintln!("componentize-py: {:.1?}", started.elapsed());
    the_component_runs(&project, "hello_py", "hello_py.wasm");
}

#[test]
fn a_new_javascript_participant_passes_its_tests_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = mastermind(dir.path(), &["participant", "new", "hello_js", "--lang", "js"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("npm run build"), "{}", text(&out.stdout));
    let project = dir.path().join("hello_js");

    // The pinned toolchain, from its lock file (from npm's cache when the
    // repository's own JavaScript participants were installed first).
    run_in(&project, "npm", &["ci", "--prefer-offline", "--no-audit", "--no-fund"]);
    let out = run_in(&project, "npm", &["test"]);
    assert!(text(&out.stdout).contains("# pass 2"), "{}", text(&out.stdout));
    let started = Instant::now();
    run_in(&project, "npm", &["run", "build"]);
    eprintln!("npm run build: {:.1?}", started.elapsed());
    the_component_runs(&project, "hello_js", "hello_js.wasm");
}

/// The SDKs' own tests (their checks, errors and each capability's wrapper
/// through a stub, and docs/authoring.md's examples in their language),
/// natively, as `participant new` projects run theirs.
#[test]
fn the_python_and_javascript_sdks_pass_their_own_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = run_in(&root.join("plugins/sdk-python"), "python3", &["-m", "unittest"]);
    assert!(text(&out.stderr).contains("Ran 12 tests"), "{}", text(&out.stderr));
    let out = run_in(&root.join("plugins/sdk-js"), "npm", &["test"]);
    let stdout = text(&out.stdout);
    let passed: usize =
        stdout.lines().find_map(|l| l.strip_prefix("# pass ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(passed >= 12 && stdout.contains("# fail 0"), "{stdout}");
}
