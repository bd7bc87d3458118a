//! Checks a definition against the registered participants before it runs:
//! every step must be an expression, a subprocess defined somewhere in the
//! definition, or a participant action; attributes with a fixed syntax
//! (`timeout`, `on_error`) must read. Every problem is reported, each at
//! its line and column.

use super::expressions::BUILTIN;
use super::registry::Registry;
use crate::language::attributes::{parse_duration, parse_on_error};
use crate::language::{Definition, Diagnostic, Node};
use serde_json::Value;
use std::collections::HashSet;

pub fn validate(definition: &Definition, registry: &Registry) -> Vec<Diagnostic> {
    let mut defined = HashSet::new();
    collect_definitions(&definition.root, &mut defined);
    let mut out = Vec::new();
    check(&definition.root, registry, &defined, &mut out);
    out
}

fn collect_definitions(node: &Node, out: &mut HashSet<String>) {
    if super::expressions::is_definition(node)
        && let Some(name) = node.first_arg_str().or_else(|| node.attr_str("name"))
    {
        out.insert(name.to_owned());
    }
    for c in &node.children {
        collect_definitions(c, out);
    }
}

fn check(node: &Node, registry: &Registry, defined: &HashSet<String>, out: &mut Vec<Diagnostic>) {
    let builtin = BUILTIN.contains(&node.name.as_str());
    if node.name == "participant" || (!builtin && !defined.contains(&node.name)) {
        if let Err(message) = registry.resolve_step(&node.name, node) {
            out.push(Diagnostic::new(node.span, message));
        }
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
    for c in &node.children {
        check(c, registry, defined, out);
    }
}
