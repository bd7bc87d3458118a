//! `mastermind participant new NAME --lang rust [--dir PATH]`: a participant
//! project that builds with one cargo command. The SDK and the WIT contract
//! are compiled into this binary (the list is made by `host/build.rs`) and
//! written into the project, so an author needs `mastermind` and a Rust
//! toolchain, not a checkout of this repository.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The SDK's `Cargo.toml`, sources and WIT, by path inside the SDK.
const SDK_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

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

/// The SDK prelude's names, which the participant's type must not take.
const PRELUDE: &[&str] = &[
    "Action",
    "Call",
    "Context",
    "Description",
    "Error",
    "ErrorKind",
    "Fields",
    "Kind",
    "Participant",
    "Result",
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    /// Rust, with the Mastermind SDK (mastermind-sdk).
    Rust,
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    match args.lang {
        Lang::Rust => {}
    }
    if let Err(why) = check_name(&args.name) {
        bail!("'{}' cannot name a participant: {why}", args.name);
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let files = project(&args.name);
    write_project(&dir, &files)?;
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", args.name);
    println!("created the participant '{}' in {} (Rust, with the SDK in sdk/)", args.name, dir.display());
    println!("next:");
    println!("    cd {}", dir.display());
    println!("    cargo test                                      # its tests, natively");
    println!("    cargo build --release --target wasm32-wasip2    # {wasm}");
    println!("    mastermind run flow.mm --participant {wasm} --field who=world");
    Ok(ExitCode::SUCCESS)
}

/// Why `name` cannot be a participant (and crate) name, if it cannot: the
/// host's rule for participant names, cargo's for package names, and not a
/// built-in's name (`mastermind run` would refuse it).
fn check_name(name: &str) -> Result<(), String> {
    let shape = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !shape {
        return Err("use lower-case letters, digits and '_', starting with a letter, at most 64 in all".into());
    }
    if RESERVED.contains(&name) {
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

/// Every file of the project, by path.
fn project(name: &str) -> Vec<(String, String)> {
    let fill = |text: &str| {
        text.replace("@NAME@", name).replace("@TYPE@", &type_name(name)).replace("@VERSION@", env!("CARGO_PKG_VERSION"))
    };
    let own = TEMPLATE.iter().map(|(path, text)| ((*path).to_owned(), fill(text)));
    let sdk = SDK_FILES.iter().map(|(path, text)| (format!("sdk/{path}"), (*text).to_owned()));
    own.chain(sdk).collect()
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
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Greeter", "disk-check", "1st", "_x", "a b", "é", &"a".repeat(65)] {
            assert!(check_name(bad).unwrap_err().contains("lower-case letters"), "{bad}");
        }
        assert!(check_name("fn").unwrap_err().contains("reserved"));
        assert!(check_name("test").unwrap_err().contains("reserved"));
        assert!(check_name("echo").unwrap_err().contains("built-in"));
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
        let files = project("disk_check");
        let file = |p: &str| files.iter().find(|(path, _)| path == p).map(|(_, t)| t.as_str());
        let lib = file("src/lib.rs").unwrap();
        assert!(lib.contains("struct DiskCheck;") && lib.contains("Description::new(\"disk_check\""));
        assert!(!files.iter().any(|(_, text)| text.contains("@NAME@") || text.contains("@TYPE@")));
        assert!(file("Cargo.toml").unwrap().contains("\n[workspace]\n"));
        for path in ["sdk/Cargo.toml", "sdk/src/lib.rs", "sdk/src/testing.rs", "sdk/wit/participant.wit"] {
            assert!(file(path).is_some(), "{path} missing");
        }
        assert!(!file("sdk/Cargo.toml").unwrap().contains("workspace = true"));
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
