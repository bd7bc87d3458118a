//! `apply`: runs a tree given as data — by default the block the enclosing
//! subprocess was called with (the variable `tree`), as Ruby's `yield`;
//! or `tree:` (a tree in the JSON form, Ruote's array form too),
//! `tree_var:`, `tree_field:`. Its other attributes become the applied
//! tree's variables. Without a tree it does nothing.
//!
//! ```ruby
//! handle do
//!   participant 'alpha'
//! end
//! define 'handle' do
//!   prepare_data
//!   apply
//!   rearrange_data
//! end
//! ```

use super::super::flow::Flow;
use crate::model::*;
use super::subprocess::TREE_VARIABLE;
use super::{COMMON_ATTRIBUTES, attr, expand, path, value_text};
use crate::language::Node;
use crate::language::json::node_from_json;
use serde_json::Value;

pub(crate) struct Apply;

impl super::Kind for Apply {
    const NAMES: &'static [&'static str] = &["apply"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("apply: {m}")).at_line(node.span.line);
        let text = |v: &Value| expand(flow, fei, node, &workitem, v).map(|v| value_text(&v));
        let tree = if let Some(t) = node.attr("tree") {
            Some(t.clone())
        } else if let Some(v) = attr(node, &["tree_var", "tree_variable"]) {
            match text(v) {
                Ok(name) => flow.variable(fei, &name),
                Err(e) => return flow.fail(fei, e),
            }
        } else if let Some(f) = attr(node, &["tree_field", "tree_f"]) {
            match text(f) {
                Ok(name) => path::get(&workitem.fields, &name),
                Err(e) => return flow.fail(fei, e),
            }
        } else {
            flow.variable(fei, TREE_VARIABLE)
        };
        let Some(tree) = tree.filter(|t| !t.is_null()) else {
            return flow.reply_to_parent(fei, workitem);
        };
        let applied = match node_from_json(&tree) {
            Ok(n) => n,
            Err(e) => return flow.fail(fei, bad(format!("not a tree: {e}"))),
        };
        let mut vars = Fields::new();
        for (k, v) in &node.attrs {
            if COMMON_ATTRIBUTES.contains(&k.as_str()) || k.starts_with("tree") {
                continue;
            }
            match expand(flow, fei, node, &workitem, v) {
                Ok(v) => vars.insert(k.trim_start_matches("v:").to_owned(), v),
                Err(e) => return flow.fail(fei, e),
            };
        }
        let child = fei.child(0);
        if let Some(e) = flow.get_mut(fei) {
            e.children.push(child.clone());
        }
        flow.queue(Message::Apply {
            fei: child,
            parent: Some(fei.clone()),
            tree: TreeRef::Inline(Box::new(NodeJson::from_node(&applied))),
            workitem,
            variables: Some(vars),
            retries: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn runs_the_block_the_subprocess_was_called_with() {
        let source = "handle do\n  alpha\nend\nhandle do\n  bravo\nend
define 'handle' do\n  prepare\n  apply\n  rearrange\nend";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["prepare", "alpha", "rearrange", "prepare", "bravo", "rearrange"]);
    }

    #[test]
    fn passes_its_attributes_as_variables() {
        let source = "handle do\n  participant '${v:target}'\nend
define 'handle' do\n  apply target: 'alpha'\n  apply target: 'bravo'\nend";
        let job = run(source, json!({}));
        assert_eq!(job.calls, ["alpha", "bravo"], "{:?}", job.error);
    }

    #[test]
    fn a_tree_as_data() {
        let job = run("apply tree: ['echo', {'hello' => nil}, []]", json!({}));
        assert_eq!(job.echoes, ["hello"], "{:?}", job.error);
        let job = run("set 'v:t' => { 'name' => 'charly' }\napply tree_var: 't'", json!({}));
        assert_eq!(job.calls, ["charly"], "{:?}", job.error);
        let job = run("apply", json!({}));
        assert_eq!(job.state, JobState::Completed);
    }

    #[test]
    fn call_attributes_set_fields_or_variables() {
        let source = "sub 'f:a' => 1, 'v:b' => 2, c: 3\ndefine 'sub' do\n  alpha x: '${v:b}${v:c}'\nend";
        let job = run(source, json!({}));
        assert_eq!(job.fields, json!({"a": 1, "x": "23"}), "{:?}", job.error);
    }
}
