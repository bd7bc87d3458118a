//! Builds every participant under `plugins/` and `tests/participants/` for
//! wasm32-wasip2, so `cargo build` is the only step a user runs. The
//! built-in participants (`plugins/*`) are embedded into the binary; the
//! test participants are left for the test suite.
//!
//! The guests are built by a nested cargo into their own target directory
//! (sharing it would deadlock on cargo's lock), with the `participant`
//! profile from the workspace manifest.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    for watched in ["wit", "plugins", "tests/participants", "migrations", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // Several checkouts may share one target directory, and cargo gives
    // this package the same build-script output directory in each (its
    // hash ignores where the checkout is), so the paths above alone would
    // let one checkout embed another's participants. Cargo's own working
    // directory tells the checkouts apart.
    println!("cargo:rerun-if-env-changed=PWD");

    let builtins = crates_in(&root.join("plugins"));
    let test_participants = crates_in(&root.join("tests/participants"));
    let target_dir = guest_target_dir(&root, &out_dir);

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .args(["--profile", "participant", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in builtins.iter().chain(&test_participants) {
        cmd.args(["-p", package]);
    }
    // The outer build's settings must not leak into the guest build.
    for (key, _) in env::vars() {
        let keep = matches!(key.as_str(), "CARGO_HOME" | "CARGO_MAKEFLAGS")
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_");
        let drop = (key.starts_with("CARGO_") && !keep)
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "OUT_DIR"
                    | "NUM_JOBS"
            );
        if drop {
            cmd.env_remove(&key);
        }
    }
    let status = cmd.status().expect("running cargo to build the participants");
    if !status.success() {
        panic!(
            "building the wasm participants failed (see above). If the target is missing, install it with:\n    rustup target add {WASM_TARGET}"
        );
    }

    let built = target_dir.join(WASM_TARGET).join("participant");
    // Per checkout, like the guests' build: OUT_DIR is the same for every
    // checkout sharing a target directory, so built there, one checkout's
    // tests could load (and its binary embed) another checkout's guests.
    let dest = target_dir.join("built");
    std::fs::create_dir_all(&dest).unwrap();
    let mut registry = String::from("&[\n");
    for (package, dir_name) in builtins.iter().chain(&test_participants) {
        let file = format!("{}.wasm", package.replace('-', "_"));
        let to = dest.join(format!("{dir_name}.wasm"));
        std::fs::copy(built.join(&file), &to).unwrap_or_else(|e| panic!("copying {file}: {e}"));
        if builtins.iter().any(|(p, _)| p == package) {
            writeln!(registry, "    ({dir_name:?}, include_bytes!({:?}) as &[u8]),", to.display().to_string()).unwrap();
        }
    }
    registry.push(']');
    std::fs::write(out_dir.join("builtins.rs"), registry).unwrap();
    std::fs::write(out_dir.join("sdk_files.rs"), sdk_files(&root.join("plugins/sdk"))).unwrap();
    let python = root.join("plugins/sdk-python");
    std::fs::write(out_dir.join("sdk_python_files.rs"), file_list(&python, &[python.join("mastermind_sdk")], &["py"]))
        .unwrap();
    let js = root.join("plugins/sdk-js");
    std::fs::write(out_dir.join("sdk_js_files.rs"), file_list(&js, std::slice::from_ref(&js), &["js"])).unwrap();
    println!("cargo:rustc-env=MASTERMIND_PARTICIPANTS_DIR={}", dest.display());
}

/// The Rust SDK's manifest, sources and WIT as `&[(path, contents)]`, for
/// `mastermind participant new` to write into a project: found here rather
/// than listed by hand, so a new SDK file cannot be left out.
fn sdk_files(sdk: &Path) -> String {
    let mut list = file_list(sdk, &[sdk.join("src"), sdk.join("wit")], &["rs", "wit"]);
    list.insert_str(
        2,
        &format!("    (\"Cargo.toml\", include_str!({:?})),\n", sdk.join("Cargo.toml").display().to_string()),
    );
    list
}

/// The files under `dirs` (not in their `test` or `tests` folders) with one
/// of `extensions`, as `&[(path relative to base, contents)]`: the Python
/// and JavaScript SDKs' sources are listed the same way as the Rust one's.
fn file_list(base: &Path, dirs: &[PathBuf], extensions: &[&str]) -> String {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "test" | "tests" | "node_modules" | "__pycache__") {
                    walk(&path, extensions, out);
                }
            } else if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, extensions, &mut files);
    }
    files.sort();
    let mut list = String::from("&[\n");
    for file in files {
        let relative = file.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
        writeln!(list, "    ({relative:?}, include_str!({:?})),", file.display().to_string()).unwrap();
    }
    list.push(']');
    list
}

/// (package name, directory name) of every guest crate in `dir`; the SDK
/// is a library, not a participant.
fn crates_in(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        if !text.contains("cdylib") {
            continue;
        }
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = ").map(|n| n.trim_matches('"').to_owned()))
            .unwrap_or_else(|| panic!("{}: no package name", manifest.display()));
        out.push((name, entry.file_name().to_string_lossy().into_owned()));
    }
    out.sort();
    out
}

/// `<target>/participants-<checkout>`, next to the host's own build
/// output; one per checkout, since two checkouts sharing a target
/// directory would overwrite each other's guests.
fn guest_target_dir(root: &Path, out_dir: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    root.hash(&mut hasher);
    let name = format!("participants-{:08x}", hasher.finish() as u32);
    if let Ok(dir) = env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join(name);
    }
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(|t| t.join(&name))
        .unwrap_or_else(|| root.join("target").join(name))
}
