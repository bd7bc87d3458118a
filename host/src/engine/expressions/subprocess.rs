//! Calling a subprocess: `subprocess 'name'` (or `ref:`, a name computed at
//! run time: `subprocess '${v:which}'`), or the name as a step. The call
//! opens a variable scope; the definition's body runs inside it.
//!
//! As in Ruote, the call's attributes prefixed `f:`/`field:` set fields of
//! the workitem the body gets; the others (`v:`/`var:`-prefixed or plain)
//! become its variables. A block given to the call is the body's variable
//! `tree`, which `apply` runs.
//!
//! ```ruby
//! deploy 'f:version' => '1.2', env: 'prod' do
//!   smoke_test
//! end
//! define 'deploy' do
//!   echo 'deploying ${version} to ${v:env}'
//!   apply                       # runs smoke_test
//! end
//! ```

use super::super::flow::Flow;
use crate::model::*;
use super::{COMMON_ATTRIBUTES, Kind, Properties, expand, value_text};
use crate::language::{Node, Span};
use serde_json::Value;

pub(crate) struct Subprocess;

impl Kind for Subprocess {
    const NAMES: &'static [&'static str] = &["subprocess"];
    const PROPERTIES: Properties = Properties { keeps_variables: true, ..Properties::PLAIN };
    type State = ();

    /// `subprocess 'name'`, or the name of a subprocess defined in scope as
    /// a step of its own.
    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let name = if node.name == Self::NAMES[0] {
            match node.args.first().or_else(|| node.attr("ref")) {
                Some(raw) => match expand(flow, fei, node, &workitem, raw) {
                    Ok(v) => value_text(&v),
                    Err(e) => return flow.fail(fei, e),
                },
                None => String::new(),
            }
        } else {
            node.name.clone()
        };
        match lookup(flow, fei, &name) {
            Some(tree) => call(flow, fei, node, tree, workitem),
            None => flow.fail(
                fei,
                StepError::new(StepErrorKind::BadInput, format!("unknown participant or subprocess '{name}'"))
                    .at_line(node.span.line),
            ),
        }
    }
}

/// The tree bound to `name` as a subprocess, seen from `scope`.
pub(crate) fn lookup(flow: &Flow, scope: &Fei, name: &str) -> Option<TreeRef> {
    let v = flow.variable(scope, name)?;
    serde_json::from_value(v.get("__subprocess__")?.clone()).ok()
}

/// Attributes of a call that name the subprocess rather than pass values.
const TARGET_ATTRIBUTES: &[&str] = &["ref", "action"];

/// Runs the body `tree` in a new scope holding the call's attributes.
pub(crate) fn call(flow: &mut Flow, fei: &Fei, node: &Node, tree: TreeRef, mut workitem: Workitem) {
    let mut vars = Fields::new();
    let mut fields = Vec::new();
    for (k, v) in &node.attrs {
        if COMMON_ATTRIBUTES.contains(&k.as_str()) || TARGET_ATTRIBUTES.contains(&k.as_str()) {
            continue;
        }
        let value = match expand(flow, fei, node, &workitem, v) {
            Ok(v) => v,
            Err(e) => return flow.fail(fei, e),
        };
        match k.split_once(':') {
            Some(("f" | "fld" | "field", name)) => fields.push((name.to_owned(), value)),
            Some(("v" | "var" | "variable", name)) => {
                vars.insert(name.to_owned(), value);
            }
            _ => {
                vars.insert(k.clone(), value);
            }
        }
    }
    for (name, value) in fields {
        if let Err(m) = super::path::set(&mut workitem.fields, &name, value) {
            let e = StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name));
            return flow.fail(fei, e.at_line(node.span.line));
        }
    }
    if let Some(block) = block_of(node) {
        vars.insert(TREE_VARIABLE.into(), crate::language::json::node_to_json(&block));
    }
    if let Some(e) = flow.get_mut(fei) {
        e.kind = Subprocess::NAMES[0].into();
        e.variables = Some(vars);
        e.state = Value::Null;
    }
    let body = fei.child(0);
    if let Some(e) = flow.get_mut(fei) {
        e.children.push(body.clone());
    }
    flow.queue(Message::Apply { fei: body, parent: Some(fei.clone()), tree, workitem, variables: None, retries: 0 });
}

/// The variable holding the block a subprocess was called with.
pub(crate) const TREE_VARIABLE: &str = "tree";

/// The block given to a call: its one child, or its children in sequence.
fn block_of(node: &Node) -> Option<Node> {
    match node.children.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            let mut sequence = Node::new("sequence", Span { line: node.span.line, ..Span::default() });
            sequence.children = many.to_vec();
            Some(sequence)
        }
    }
}
