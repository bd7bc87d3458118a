//! Python and JavaScript participants for the tests: built from
//! `tests/participants/{python,js}` with the toolchains `tests/run` installs
//! and pins, a built component kept under the target directory keyed by its
//! source, its SDK, the contract and the toolchain, so a rerun does not
//! build it again; and the CLI run against them.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub enum Lang {
    Python,
    Js,
}

impl Lang {
    /// The participant name a component of this language describes, for
    /// `greeter` or `hostile`.
    pub fn participant(self, example: &str) -> String {
        match self {
            Lang::Python => format!("py_{example}"),
            Lang::Js => format!("js_{example}"),
        }
    }

    pub fn toolchain(self) -> PathBuf {
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

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// One build at a time: each toolchain uses a core for ten seconds or more.
static BUILDING: Mutex<()> = Mutex::new(());

/// Builds `tests/participants/LANG/EXAMPLE` into a component, or returns
/// the one built from the same source, contract and toolchain.
pub fn build(lang: Lang, example: &str) -> PathBuf {
    let root = root();
    let toolchain = lang.toolchain();
    let (dir, source) = match lang {
        Lang::Python => (root.join("tests/participants/python").join(example), "app.py".to_owned()),
        Lang::Js => (root.join("tests/participants/js").join(example), format!("{example}.js")),
    };
    let sdk = match lang {
        Lang::Python => root.join("plugins/sdk-python/mastermind_sdk"),
        Lang::Js => root.join("plugins/sdk-js"),
    };
    let mut hash = Sha256::new();
    hash.update(std::fs::read(dir.join(&source)).unwrap());
    let mut sdk_files: Vec<PathBuf> = std::fs::read_dir(&sdk).unwrap().map(|e| e.unwrap().path()).collect();
    sdk_files.sort();
    for file in sdk_files.iter().filter(|f| f.is_file()) {
        hash.update(std::fs::read(file).unwrap());
    }
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
    // A Python participant speaking wasi:http itself needs its WIT, which
    // componentize-py does not carry, and a world of its own: the
    // participant's with wasi:http's outgoing handler.
    let world_dir = cache.join(format!("{}-{digest}-wit", lang.participant(example)));
    let worlds: Vec<String> = match (lang, example) {
        (Lang::Python, "fetcher") => {
            let (wasi_http, version) = wasi_http_wit();
            std::fs::create_dir_all(&world_dir).unwrap();
            let world = format!(
                "package mastermind:fetcher;\n\nworld fetcher {{\n  include mastermind:participant/participant@0.1.0;\n  \
                 import wasi:http/outgoing-handler@{version};\n}}\n"
            );
            std::fs::write(world_dir.join("world.wit"), world).unwrap();
            let dirs = [wasi_http, world_dir.clone()].map(|d| ["-d".to_owned(), d.display().to_string()]);
            dirs.into_iter().flatten().chain(["-w".into(), "mastermind:fetcher/fetcher".into()]).collect()
        }
        _ => vec!["-w".into(), "participant".into()],
    };
    let out = match lang {
        Lang::Python => Command::new(&toolchain)
            .arg("-d")
            .arg(root.join("wit"))
            .args(&worlds)
            .args(["componentize", "-p"])
            .arg(&dir)
            .arg("-p")
            .arg(root.join("plugins/sdk-python"))
            .args(["app", "-o"])
            .arg(&partial)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output(),
        Lang::Js => Command::new(&toolchain)
            .arg(dir.join(&source))
            .arg("--wit")
            .arg(root.join("wit"))
            // Participants make requests (wasi:http, which the host sends
            // under the http grants); they do not serve them.
            .args(["--world-name", "participant", "--disable", "fetch-event", "-o"])
            .arg(&partial)
            // The build reads only the directory it runs in (and the
            // source's): the root, so that the SDK's module is in it.
            .current_dir(&root)
            .output(),
    }
    .unwrap_or_else(|e| panic!("running {}: {e}", toolchain.display()));
    assert!(out.status.success(), "building {}: {}{}", dir.display(), text(&out.stdout), text(&out.stderr));
    std::fs::rename(&partial, &wasm).unwrap();
    eprintln!("built {} in {:.1?}", wasm.display(), started.elapsed());
    wasm
}

/// wasi:http's WIT as the host's wasmtime-wasi-http carries it (found
/// through `cargo metadata`), and the version of its package.
pub fn wasi_http_wit() -> (PathBuf, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let host = text(&rustc.stdout).lines().find_map(|l| l.strip_prefix("host: ").map(str::to_owned)).unwrap();
    // For this platform only: offline, cargo has only this platform's
    // packages (on a fresh machine, not e.g. Android's).
    let out = Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1", "--filter-platform", &host, "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", text(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wasmtime-wasi-http")
        .expect("wasmtime-wasi-http in the host's dependencies");
    let dir = Path::new(package["manifest_path"].as_str().unwrap()).parent().unwrap().join("wit");
    let http = std::fs::read_to_string(dir.join("deps/http.wit")).unwrap();
    let version = http
        .lines()
        .find_map(|l| l.strip_prefix("package wasi:http@"))
        .and_then(|v| v.strip_suffix(';'))
        .expect("the package line of wasi:http's WIT")
        .to_owned();
    (dir, version)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the CLI with the tests' shared compiled-code cache (an 18 MB
/// Python component takes seconds to compile; the cache is checked and
/// authenticated, so sharing it is safe).
pub fn mastermind(dir: &Path, args: &[&str]) -> Output {
    mastermind_with(dir, args, &[])
}

/// The same, with more environment variables.
pub fn mastermind_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(super::mastermind_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        .env("MASTERMIND_DB", format!("sqlite:{}", dir.join("mm.db").display()))
        .env("XDG_DATA_HOME", dir)
        .output()
        .unwrap()
}

pub fn json_out(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}
