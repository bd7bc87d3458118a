//! Checks a definition against the registered participants before it runs:
//! every step must be an expression, a subprocess defined somewhere in the
//! definition, or a participant action; attributes with a fixed syntax
//! (`timeout`, `on_error`) must read; `undo`/`cancel`/`kill`/`redo`/
//! `add_branches` must name a tag some expression carries (a `filter`'s
//! block holds rules, not steps). Every problem is reported, each at its
//! line and column.

use super::expressions;
use super::registry::Resolver;
use crate::language::attributes::{parse_duration, parse_on_error};
use crate::language::{Definition, Diagnostic, Node, dollar};
use serde_json::Value;
use std::collections::HashSet;

/// Every problem of `definition` against the participants `resolver`
/// knows (see the module docs); empty when it may run.
pub fn validate(definition: &Definition, resolver: &dyn Resolver) -> Vec<Diagnostic> {
    let mut known = Known::default();
    collect(&definition.root, &mut known);
    let mut out = Vec::new();
    check(&definition.root, resolver, &known, false, &mut out);
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

fn collect(node: &Node, known: &mut Known) {
    let properties = expressions::properties(&node.name);
    if properties.is_definition
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
    if properties.children_are_data {
        return;
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

/// `handled`: an ancestor (or the node) has an `on_error` handler, which
/// may take an unknown participant's error at run time.
fn check(node: &Node, resolver: &dyn Resolver, known: &Known, handled: bool, out: &mut Vec<Diagnostic>) {
    let properties = expressions::properties(&node.name);
    let handled = handled || node.attr("on_error").is_some_and(|h| !expressions::value_text(h).trim().is_empty());
    let calls_participant = expressions::is_explicit_step(&node.name)
        || (!expressions::is_expression(&node.name) && !known.defined.contains(&node.name));
    // `participant '${v:step}'` is resolved at run time.
    let computed = expressions::is_explicit_step(&node.name)
        && node.args.first().or_else(|| node.attr("ref")).is_some_and(|t| expressions::value_text(t).contains('$'));
    let named_subprocess = expressions::is_explicit_step(&node.name)
        && node.first_arg_str().or_else(|| node.attr_str("ref")).is_some_and(|t| known.defined.contains(t));
    if calls_participant && !computed && !named_subprocess {
        match resolver.resolve_step(&node.name, node) {
            Ok((participant, action)) => check_params(node, resolver, &participant, &action, out),
            // A typo must not fail step 5 after step 1 created a server,
            // unless a handler is there to take it.
            Err(_) if handled => {}
            Err(message) => out.push(Diagnostic::new(node.span, message)),
        }
    }
    for value in node.args.iter().chain(node.attrs.iter().map(|(_, v)| v)) {
        check_dollars(node, value, out);
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
    if properties.references_tag {
        check_tag_reference(node, known, out);
    }
    if properties.children_are_data {
        return;
    }
    // An `on_error` child registers a handler on this node.
    let handled = handled || node.children.iter().any(|c| c.name == "on_error");
    for c in &node.children {
        check(c, resolver, known, handled, out);
    }
}

/// Every string's dollar notation reads (`${` closed, no empty `${}`, a
/// known prefix), so a typo fails the check instead of the step.
fn check_dollars(node: &Node, value: &Value, out: &mut Vec<Diagnostic>) {
    match value {
        Value::String(text) => {
            if let Err(e) = dollar::check_syntax(text) {
                out.push(Diagnostic::new(node.span, format!("{}: {e}", node.name)));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| check_dollars(node, v, out)),
        Value::Object(map) => map.values().for_each(|v| check_dollars(node, v, out)),
        _ => {}
    }
}

/// A participant step's params against the action's description: no
/// unknown param (unless the action takes any), every required one given.
fn check_params(node: &Node, resolver: &dyn Resolver, participant: &str, action: &str, out: &mut Vec<Diagnostic>) {
    // A call takes named params only: text or a block would be lost.
    let named_by_argument = usize::from(expressions::is_explicit_step(&node.name));
    if let Some(extra) = node.args.get(named_by_argument) {
        let d = Diagnostic::new(node.span, format!("{participant}.{action} takes named params only"));
        let text = expressions::value_text(extra);
        out.push(d.with_help(format!("'{text}' would be lost: write it as a param (message: '{text}')")));
    }
    if !node.children.is_empty() {
        let d = Diagnostic::new(node.span, format!("{participant}.{action} is a participant step: it takes no block"));
        out.push(d.with_help("put the steps after it, or in a subprocess (define) it calls"));
    }
    let Some(spec) = resolver.action(participant, action) else { return };
    let given: Vec<&str> = expressions::participant::param_names(node).collect();
    if !spec.params.iter().any(|p| p.name == ANY_PARAMS) {
        for name in &given {
            if spec.params.iter().any(|p| p.name == *name) {
                continue;
            }
            let mut d = Diagnostic::new(node.span, format!("{participant}.{action} has no param `{name}`"));
            let known: Vec<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
            d = match closest(name, &known) {
                Some(near) => d.with_help(format!("did you mean `{near}`?")),
                None if known.is_empty() => d.with_help(format!("{participant}.{action} takes no params")),
                None => d.with_help(format!("its params: {}", known.join(", "))),
            };
            out.push(d);
        }
    }
    let missing: Vec<&str> = spec
        .params
        .iter()
        .filter(|p| p.required && p.name != ANY_PARAMS && !given.contains(&p.name.as_str()))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        out.push(Diagnostic::new(node.span, format!("{participant}.{action} needs param(s) {}", missing.join(", "))));
    }
}

/// A param named `*` in a description: the action accepts params it does
/// not list (`echo.merge` returns whatever it is given).
pub(crate) const ANY_PARAMS: &str = "*";

/// The known name nearest to a misspelt one, when it is near enough to be
/// what was meant (at most a third of its letters off).
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), *k))
        .filter(|(d, k)| *d <= k.chars().count().max(name.chars().count()) / 3 + 1 && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
