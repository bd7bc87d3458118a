//! Checks a definition against the registered participants before it runs:
//! every step must be an expression, a subprocess defined somewhere in the
//! definition, or a participant action; attributes with a fixed syntax
//! (`timeout`, `on_error`) must read; `undo`/`cancel`/`kill`/`redo`/
//! `add_branches` must name a tag some expression carries (a `filter`'s
//! block holds rules, not steps). Every problem is reported, each at its
//! line and column.

use super::expressions::BUILTIN;
use super::registry::Registry;
use crate::language::attributes::{parse_duration, parse_on_error};
use crate::language::{Definition, Diagnostic, Node};
use serde_json::Value;
use std::collections::HashSet;

pub fn validate(definition: &Definition, registry: &Registry) -> Vec<Diagnostic> {
    let mut known = Known::default();
    collect(&definition.root, &mut known);
    let mut out = Vec::new();
    check(&definition.root, registry, &known, &mut out);
    out
}

/// Names found anywhere in the definition.
#[derive(Default)]
struct Known {
    /// Subprocesses (`define 'name'`).
    defined: HashSet<String>,
    /// Tags (`tag: 'name'`).
    tags: HashSet<String>,
    /// A tag is computed (`tag: '${x}'`): any name may exist at run time.
    computed_tags: bool,
}

/// Expressions that name another by its tag.
const TAG_REFERENCES: &[&str] = &["undo", "cancel", "kill", "redo", "_redo", "add_branches", "add_branch"];

fn collect(node: &Node, known: &mut Known) {
    if super::expressions::is_definition(node)
        && let Some(name) = node.first_arg_str().or_else(|| node.attr_str("name"))
    {
        known.defined.insert(name.to_owned());
    }
    match node.attr("tag") {
        Some(Value::String(t)) if !t.contains('$') => {
            known.tags.insert(t.clone());
        }
        Some(_) => known.computed_tags = true,
        None => {}
    }
    if node.name == "filter" {
        return; // its children are rules, not steps
    }
    for c in &node.children {
        collect(c, known);
    }
}

/// `undo 'x'` and the like: the tag must be named, and exist somewhere.
fn check_tag_reference(node: &Node, known: &Known, out: &mut Vec<Diagnostic>) {
    let reference = node.attr("ref").or(node.args.first());
    if node.name.starts_with("add_branch") {
        // Without ref: the enclosing concurrent_iterator; the argument is the items.
        let Some(Value::String(tag)) = node.attr("ref") else { return };
        if !tag.contains('$') && !known.computed_tags && !known.tags.contains(tag) {
            out.push(Diagnostic::new(node.span, format!("{}: no expression is tagged '{tag}'", node.name)));
        }
        return;
    }
    match reference {
        None => out.push(Diagnostic::new(
            node.span,
            format!("{}: which expression? Name its tag: {} ref: 'tag' (or {} 'tag')", node.name, node.name, node.name),
        )),
        Some(Value::String(tag)) if !tag.contains('$') && !known.computed_tags && !known.tags.contains(tag.trim()) => {
            let mut d = Diagnostic::new(node.span, format!("{}: no expression is tagged '{tag}'", node.name));
            if !known.tags.is_empty() {
                let mut tags: Vec<&String> = known.tags.iter().collect();
                tags.sort();
                d = d.with_help(format!(
                    "tags in this definition: {}",
                    tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            out.push(d);
        }
        _ => {}
    }
}

fn check(node: &Node, registry: &Registry, known: &Known, out: &mut Vec<Diagnostic>) {
    let builtin = BUILTIN.contains(&node.name.as_str());
    if (node.name == "participant" || (!builtin && !known.defined.contains(&node.name)))
        && let Err(message) = registry.resolve_step(&node.name, node)
    {
        out.push(Diagnostic::new(node.span, message));
    }
    if let Some(Value::String(t)) = node.attr("timeout")
        && !t.contains('$')
        && let Err(e) = parse_duration(t)
    {
        out.push(Diagnostic::new(node.span, format!("timeout: {e}")));
    }
    if let Some(Value::String(spec)) = node.attr("on_error")
        && !spec.contains('$')
        && !spec.trim().is_empty()
        && let Err(e) = parse_on_error(spec)
    {
        out.push(Diagnostic::new(node.span, format!("on_error: {e}")));
    }
    if TAG_REFERENCES.contains(&node.name.as_str()) {
        check_tag_reference(node, known, out);
    }
    if node.name == "filter" {
        return; // its children are rules, not steps
    }
    for c in &node.children {
        check(c, registry, known, out);
    }
}
