//! The host's layers, checked: no module of `host/src` refers to a module
//! of a layer above its own (ARCHITECTURE.md, "Layers"). A back edge fails
//! here with the file, the line and the layer it reached for.
//!
//! Read from the source text: every `crate::LAYER` path outside a comment
//! counts, whether in a `use` or written out in place.

use std::path::{Path, PathBuf};

/// Bottom to top. A layer may use any layer before it in this list.
const LAYERS: &[&str] =
    &["language", "model", "capabilities", "sandbox", "store", "engine", "builtin", "services", "api", "cli"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a file of `src` belongs to (`src/engine/flow.rs` -> engine).
fn layer_of(src: &Path, file: &Path) -> Option<usize> {
    let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().position(|l| *l == name)
}

/// The layers a line of code names as `crate::LAYER`.
fn layers_named(line: &str) -> Vec<usize> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if let Some(i) = LAYERS.iter().position(|l| *l == name) {
            found.push(i);
        }
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut back_edges = Vec::new();
    for file in &files {
        let Some(own) = layer_of(&src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in layers_named(line) {
                if used > own {
                    back_edges.push(format!(
                        "{}:{}: {} uses {}: {}",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1,
                        LAYERS[own],
                        LAYERS[used],
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(back_edges.is_empty(), "back edges between layers:\n{}", back_edges.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(';')) {
            assert!(LAYERS.contains(&name), "module {name} is in no layer: add it to LAYERS (and ARCHITECTURE.md)");
        }
    }
}

#[test]
fn the_check_sees_a_back_edge() {
    assert_eq!(layers_named("use crate::engine::Engine; // crate::api"), vec![5]);
    assert_eq!(layers_named("    let x = crate::api::time(1);"), vec![8]);
    assert!(layers_named("//! see crate::api").is_empty());
}
