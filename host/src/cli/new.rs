//! `mastermind participant new NAME --lang rust|python|js [--dir PATH]`: a
//! participant project that builds with one command (cargo, componentize-py
//! or `npm run build`). The language's SDK and the WIT contract are compiled
//! into this binary (the lists are made by `host/build.rs`) and written into
//! the project, so an author needs `mastermind` and the language's
//! toolchain, not a checkout of this repository.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The SDK's `Cargo.toml`, sources and WIT, by path inside the SDK.
const SDK_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The Python SDK's modules, by path (`mastermind_sdk/...`).
const SDK_PYTHON_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sdk_python_files.rs"));

/// The JavaScript SDK's modules, by file name.
const SDK_JS_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sdk_js_files.rs"));

/// The project's own files, by path; `@NAME@`, `@TYPE@` and `@VERSION@`
/// are filled in.
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("template/Cargo.toml.in")),
    ("src/lib.rs", include_str!("template/lib.rs.in")),
    ("flow.mm", include_str!("template/flow.mm.in")),
    ("README.md", include_str!("template/README.md.in")),
    (".gitignore", include_str!("template/gitignore.in")),
    // This repository's style, which the SDK and the template are written in.
    ("rustfmt.toml", include_str!("../../../rustfmt.toml")),
];

/// A Python project's own files, as [`TEMPLATE`].
const PYTHON_TEMPLATE: &[(&str, &str)] = &[
    ("app.py", include_str!("template/python/app.py.in")),
    ("test_app.py", include_str!("template/python/test_app.py.in")),
    ("flow.mm", include_str!("template/python/flow.mm.in")),
    ("README.md", include_str!("template/python/README.md.in")),
    (".gitignore", include_str!("template/python/gitignore.in")),
];

/// A JavaScript project's own files, as [`TEMPLATE`]. The lock file is the
/// one the repository's tests install the same toolchain with, renamed.
const JS_TEMPLATE: &[(&str, &str)] = &[
    ("@NAME@.js", include_str!("template/js/participant.js.in")),
    ("@NAME@.test.js", include_str!("template/js/participant.test.js.in")),
    ("package.json", include_str!("template/js/package.json.in")),
    ("package-lock.json", include_str!("../../../tests/participants/js/package-lock.json")),
    ("flow.mm", include_str!("template/js/flow.mm.in")),
    ("README.md", include_str!("template/js/README.md.in")),
    (".gitignore", include_str!("template/js/gitignore.in")),
];

/// Names cargo refuses for a package, or that would clash with what the
/// generated code uses.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mastermind_sdk",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// The SDK prelude's names (and Python's constants), which the
/// participant's type must not take.
const PRELUDE: &[&str] = &[
    "Action",
    "BadInput",
    "Call",
    "Context",
    "Description",
    "Error",
    "ErrorKind",
    "Fields",
    "False",
    "Kind",
    "None",
    "Participant",
    "Result",
    "True",
    "Value",
];

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The participant's name: lower-case letters, digits and '_', starting
    /// with a letter. Steps call its actions as ACTION_NAME.
    name: String,
    /// The project's language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The project's directory (default: ./NAME); it must not exist, or be
    /// empty.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    /// Rust, with the Mastermind SDK (mastermind-sdk).
    Rust,
    /// Python, with the Mastermind SDK for Python, built by componentize-py.
    Python,
    /// JavaScript, with the Mastermind SDK for JavaScript, built by
    /// componentize-js.
    Js,
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    if let Err(why) = check_name(&args.name, args.lang) {
        bail!("'{}' cannot name a participant: {why}", args.name);
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let files = project(&args.name, args.lang);
    write_project(&dir, &files)?;
    let name = &args.name;
    let (language, steps, wasm) = match args.lang {
        Lang::Rust => (
            "Rust, with the SDK in sdk/",
            vec![
                "cargo test                                      # its tests, natively".to_owned(),
                format!("cargo build --release --target wasm32-wasip2    # target/wasm32-wasip2/release/{name}.wasm"),
            ],
            format!("target/wasm32-wasip2/release/{name}.wasm"),
        ),
        Lang::Python => (
            "Python, with the SDK in mastermind_sdk/",
            vec![
                "python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1   # once".to_owned(),
                "python3 -m unittest                                                      # its tests, natively"
                    .to_owned(),
                format!(".venv/bin/componentize-py -d wit -w participant componentize app -o {name}.wasm"),
            ],
            format!("{name}.wasm"),
        ),
        Lang::Js => (
            "JavaScript, with the SDK in sdk/",
            vec![
                "npm ci           # once".to_owned(),
                "npm test         # its tests, natively".to_owned(),
                format!("npm run build    # {name}.wasm"),
            ],
            format!("{name}.wasm"),
        ),
    };
    println!("created the participant '{name}' in {} ({language})", dir.display());
    println!("next:");
    println!("    cd {}", dir.display());
    for step in steps {
        println!("    {step}");
    }
    println!("    mastermind run flow.mm --participant {wasm} --field who=world");
    Ok(ExitCode::SUCCESS)
}

/// Why `name` cannot be a participant (and crate or package) name, if it
/// cannot: the host's rule for participant names, cargo's for a Rust
/// project's package names, and not a built-in's name (`mastermind run`
/// would refuse it).
fn check_name(name: &str, lang: Lang) -> Result<(), String> {
    let shape = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !shape {
        return Err("use lower-case letters, digits and '_', starting with a letter, at most 64 in all".into());
    }
    if lang == Lang::Rust && RESERVED.contains(&name) {
        return Err("it is reserved in Rust or cargo".into());
    }
    if crate::builtin::get(name).is_some() {
        return Err("a built-in participant has that name".into());
    }
    Ok(())
}

/// The participant's Rust type: `disk_check` -> `DiskCheck`.
fn type_name(name: &str) -> String {
    let camel: String = name
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect::<String>()
        })
        .collect();
    if PRELUDE.contains(&camel.as_str()) { format!("{camel}Participant") } else { camel }
}

/// Every file of the project, by path: its own, the SDK's and the WIT
/// contract (a Rust project has it in the SDK crate, `sdk/wit`).
fn project(name: &str, lang: Lang) -> Vec<(String, String)> {
    let fill = |text: &str| {
        text.replace("@NAME@", name)
            .replace("@TYPE@", &type_name(name))
            .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
            .replace("\"mastermind-js-participants\"", &format!("\"{name}\""))
    };
    let (template, sdk, sdk_dir) = match lang {
        Lang::Rust => (TEMPLATE, SDK_FILES, "sdk/"),
        Lang::Python => (PYTHON_TEMPLATE, SDK_PYTHON_FILES, ""),
        Lang::Js => (JS_TEMPLATE, SDK_JS_FILES, "sdk/"),
    };
    let own = template.iter().map(|(path, text)| (fill(path), fill(text)));
    let sdk = sdk.iter().map(|(path, text)| (format!("{sdk_dir}{path}"), (*text).to_owned()));
    let wit = SDK_FILES.iter().filter(|(path, _)| lang != Lang::Rust && path.starts_with("wit/"));
    own.chain(sdk).chain(wit.map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))).collect()
}

/// Writes the files into `dir`, which must not exist or be empty; a
/// directory it created is removed again if writing fails.
fn write_project(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    let existed = dir.exists();
    if existed {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("{} is not a directory", dir.display()))?;
        if entries.next().is_some() {
            bail!("{} already exists and is not empty: give another NAME or --dir", dir.display());
        }
    }
    let written = files.iter().try_for_each(|(path, text)| {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    });
    if written.is_err() && !existed {
        let _ = std::fs::remove_dir_all(dir);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_for_the_host_cargo_and_the_built_ins() {
        for good in ["greeter", "disk_check", "a1", "x_2_y"] {
            assert_eq!(check_name(good, Lang::Rust), Ok(()), "{good}");
        }
        for bad in ["", "Greeter", "disk-check", "1st", "_x", "a b", "é", &"a".repeat(65)] {
            assert!(check_name(bad, Lang::Python).unwrap_err().contains("lower-case letters"), "{bad}");
        }
        assert!(check_name("fn", Lang::Rust).unwrap_err().contains("reserved"));
        assert!(check_name("test", Lang::Rust).unwrap_err().contains("reserved"));
        // Rust's words do not bind the other languages.
        assert_eq!(check_name("test", Lang::Js), Ok(()));
        assert!(check_name("echo", Lang::Js).unwrap_err().contains("built-in"));
    }

    #[test]
    fn the_type_is_the_name_in_camel_case_clear_of_the_prelude() {
        assert_eq!(type_name("disk_check"), "DiskCheck");
        assert_eq!(type_name("a__b2"), "AB2");
        assert_eq!(type_name("call"), "CallParticipant");
        assert_eq!(type_name("error_kind"), "ErrorKindParticipant");
    }

    #[test]
    fn the_project_carries_the_sdk_and_its_contract() {
        let files = project("disk_check", Lang::Rust);
        let file = |p: &str| files.iter().find(|(path, _)| path == p).map(|(_, t)| t.as_str());
        let lib = file("src/lib.rs").unwrap();
        assert!(lib.contains("struct DiskCheck;") && lib.contains("Description::new(\"disk_check\""));
        assert!(!files.iter().any(|(_, text)| text.contains("@NAME@") || text.contains("@TYPE@")));
        assert!(file("Cargo.toml").unwrap().contains("\n[workspace]\n"));
        for path in ["sdk/Cargo.toml", "sdk/src/lib.rs", "sdk/src/testing.rs", "sdk/wit/participant.wit"] {
            assert!(file(path).is_some(), "{path} missing");
        }
        assert!(!file("sdk/Cargo.toml").unwrap().contains("workspace = true"));
        assert!(file("wit/participant.wit").is_none(), "a Rust project's contract is the SDK's");
    }

    #[test]
    fn python_and_javascript_projects_carry_their_sdk_and_the_contract() {
        let python = project("disk_check", Lang::Python);
        let js = project("disk_check", Lang::Js);
        let file =
            |files: &[(String, String)], p: &str| files.iter().find(|(path, _)| path == p).map(|(_, t)| t.clone());
        for path in ["app.py", "test_app.py", "mastermind_sdk/__init__.py", "mastermind_sdk/testing.py", "flow.mm"] {
            assert!(file(&python, path).is_some(), "{path} missing");
        }
        assert!(file(&python, "app.py").unwrap().contains("class DiskCheck(Participant):"));
        for path in
            ["disk_check.js", "disk_check.test.js", "sdk/mastermind-sdk.js", "sdk/testing.js", "sdk/register.js"]
        {
            assert!(file(&js, path).is_some(), "{path} missing");
        }
        let lock: serde_json::Value = serde_json::from_str(&file(&js, "package-lock.json").unwrap()).unwrap();
        assert_eq!(lock["name"], "disk_check");
        assert_eq!(lock["packages"][""]["name"], "disk_check");
        let package: serde_json::Value = serde_json::from_str(&file(&js, "package.json").unwrap()).unwrap();
        assert_eq!(package["dependencies"], lock["packages"][""]["dependencies"], "package.json and its lock differ");
        let rust = project("disk_check", Lang::Rust);
        for files in [&python, &js] {
            assert_eq!(file(files, "wit/participant.wit"), file(&rust, "sdk/wit/participant.wit"));
            assert!(!files.iter().any(|(path, text)| path.contains('@') || text.contains("@NAME@")));
        }
    }

    #[test]
    fn an_existing_directory_must_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![("a/b.txt".to_owned(), "b".to_owned())];
        write_project(dir.path(), &files).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a/b.txt")).unwrap(), "b");
        let e = write_project(dir.path(), &files).unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
    }
}
