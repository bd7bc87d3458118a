//! `restore` (and its alias `set_fields`): puts fields back from a copy —
//! `restore from_var: 'before'` (also `from_v:`, `from_variable:`),
//! `restore from_field: 'before'` (also `from_f:`, `from_fld:`, a dotted
//! path), or a literal `val:`/`value:` (`set_fields val: { 'a' => 1 }`).
//!
//! Without a destination the copy replaces all the fields, as in Ruote.
//! `merge_type:` merges it instead, the copy's fields prevailing: `mix`
//! (top-level keys), `union` / `concat` (arrays joined without / with
//! duplicates, hashes merged), `deep` (hashes merged at every level);
//! `override` is the default. `to_field:` / `to_f:` / `to: 'f:x'` (a
//! dotted path) puts the copy into that one field instead (merged into it
//! with `merge_type:` when both are hashes).

use super::super::flow::Flow;
use crate::model::*;
use super::save::{To, destination};
use super::{attr, expand, path, value_text};
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Restore;

impl super::Kind for Restore {
    const NAMES: &'static [&'static str] = &["restore", "set_fields"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) const MERGE_TYPES: &[&str] = &["override", "mix", "union", "concat", "deep"];

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    match restore(flow, fei, node, workitem) {
        Ok(w) => flow.reply_to_parent(fei, w),
        Err(e) => flow.fail(fei, e),
    }
}

fn restore(flow: &Flow, fei: &Fei, node: &Node, mut workitem: Workitem) -> Result<Workitem, StepError> {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let text = |v: &Value, w: &Workitem| expand(flow, fei, node, w, v).map(|v| value_text(&v));
    let copy = if let Some(v) = attr(node, &["from_variable", "from_var", "from_v"]) {
        let name = text(v, &workitem)?;
        flow.variable(fei, &name).ok_or_else(|| bad(format!("variable '{name}' is not set")))?
    } else if let Some(v) = attr(node, &["from_field", "from_f", "from_fld"]) {
        let name = text(v, &workitem)?;
        path::get(&workitem.fields, &name).ok_or_else(|| bad(format!("field '{name}' is not set")))?
    } else if let Some(v) = attr(node, &["value", "val"]).or(node.args.first()) {
        expand(flow, fei, node, &workitem, v)?
    } else {
        return Err(bad(format!("from where? ({} from_var: 'saved', from_field: 'saved' or val: {{...}})", node.name)));
    };
    let merge_type = match attr(node, &["merge_type", "mt"]) {
        Some(v) => text(v, &workitem)?,
        None => "override".to_owned(),
    };
    if !MERGE_TYPES.contains(&merge_type.as_str()) {
        return Err(bad(format!("merge_type '{merge_type}' is not one of {}", MERGE_TYPES.join(", "))));
    }
    match destination(flow, fei, node, &workitem)? {
        Some(To::Variable(name)) => {
            return Err(bad(format!("restores fields, not variables (to: 'v:{name}'); use set 'v:{name}' => ...")));
        }
        Some(To::Field(name)) => {
            let value = match (path::get(&workitem.fields, &name), copy) {
                (Some(Value::Object(current)), Value::Object(copy)) => Value::Object(merge(current, copy, &merge_type)),
                (_, copy) => copy,
            };
            path::set(&mut workitem.fields, &name, value).map_err(bad)?;
        }
        None => {
            let Value::Object(copy) = copy else {
                let what = crate::language::tree::describe_value(&copy);
                return Err(bad(format!("the fields to restore must be a hash, not {what}")));
            };
            workitem.fields = merge(std::mem::take(&mut workitem.fields), copy, &merge_type);
        }
    }
    Ok(workitem)
}

fn merge(current: Fields, copy: Fields, merge_type: &str) -> Fields {
    let merge_type = serde_json::from_value(Value::String(merge_type.to_owned())).unwrap_or_default();
    super::concurrence::merge_fields(0, Some(current), copy, merge_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_types() {
        let current = json!({ "a": 1, "l": [1, 2], "h": { "x": { "p": 1 } } }).as_object().cloned().unwrap();
        let copy = json!({ "b": 2, "l": [2, 3], "h": { "x": { "q": 2 } } }).as_object().cloned().unwrap();
        let m = |t| Value::Object(merge(current.clone(), copy.clone(), t));
        assert_eq!(m("override"), json!({ "b": 2, "l": [2, 3], "h": { "x": { "q": 2 } } }));
        assert_eq!(m("mix"), json!({ "a": 1, "l": [2, 3], "h": { "x": { "q": 2 } }, "b": 2 }));
        assert_eq!(m("union"), json!({ "a": 1, "l": [1, 2, 3], "h": { "x": { "q": 2 } }, "b": 2 }));
        assert_eq!(m("concat"), json!({ "a": 1, "l": [1, 2, 2, 3], "h": { "x": { "q": 2 } }, "b": 2 }));
        assert_eq!(m("deep"), json!({ "a": 1, "l": [1, 2, 2, 3], "h": { "x": { "p": 1, "q": 2 } }, "b": 2 }));
    }
}
