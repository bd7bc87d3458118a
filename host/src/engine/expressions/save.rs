//! `save`: a copy of the workitem's fields into a field or a variable, as
//! Ruote's: `save to_field: 'before'` (also `to_f:`, `to_fld:`, a dotted
//! path: `to_f: 'h.before'`), `save to_var: 'before'` (also `to_v:`,
//! `to_variable:`; `'/name'` for the job's root scope), or `save to: 'f:x'`
//! / `to: 'v:x'` (`to: 'x'` is a field). See `restore`.

use super::super::flow::Flow;
use crate::model::*;
use super::{attr, expand, path, value_text};
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Save;

impl super::Kind for Save {
    const NAMES: &'static [&'static str] = &["save"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

/// Where `to_*:` points.
pub(crate) enum To {
    Field(String),
    Variable(String),
}

/// Ruote's `determine_tos`: `to_field:`/`to_f:`/`to_fld:`,
/// `to_variable:`/`to_var:`/`to_v:`, or `to: 'f:x' | 'v:x' | 'x'`.
pub(crate) fn destination(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Result<Option<To>, StepError> {
    let text = |v: &Value| expand(flow, fei, node, workitem, v).map(|v| value_text(&v));
    if let Some(v) = attr(node, &["to_field", "to_f", "to_fld"]) {
        return Ok(Some(To::Field(text(v)?)));
    }
    if let Some(v) = attr(node, &["to_variable", "to_var", "to_v"]) {
        return Ok(Some(To::Variable(text(v)?)));
    }
    let Some(v) = node.attr("to") else { return Ok(None) };
    let to = text(v)?;
    Ok(Some(match to.split_once(':') {
        Some(("v" | "var" | "variable", name)) => To::Variable(name.to_owned()),
        Some(("f" | "fld" | "field", name)) => To::Field(name.to_owned()),
        _ => To::Field(to),
    }))
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("save: {m}")).at_line(node.span.line);
    let to = match destination(flow, fei, node, &workitem) {
        Ok(Some(to)) => to,
        Ok(None) => return flow.fail(fei, bad("where to? (save to_field: 'name' or save to_var: 'name')".into())),
        Err(e) => return flow.fail(fei, e),
    };
    let copy = Value::Object(workitem.fields.clone());
    match to {
        To::Field(name) => {
            if let Err(m) = path::set(&mut workitem.fields, &name, copy) {
                return flow.fail(fei, bad(m));
            }
        }
        To::Variable(name) if name.is_empty() => return flow.fail(fei, bad("an empty variable name".into())),
        To::Variable(name) => flow.set_variable(fei, &name, Some(copy)),
    }
    flow.reply_to_parent(fei, workitem);
}
