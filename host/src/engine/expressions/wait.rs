//! `wait '30s'` (also `wait for: '5m'`, `wait until: RFC 3339 time`, alias
//! `sleep`): a durable timer. Nothing holds a thread while it waits, and
//! a restarted process fires it on time.

use super::super::flow::Flow;
use super::super::model::*;
use super::{arm_timer, expand, value_text};
use crate::language::{Node, attributes};

pub(crate) struct Wait;

impl super::Kind for Wait {
    const NAMES: &'static [&'static str] = &["wait", "sleep"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let fail = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let after_ms = if let Some(until) = node.attr("until") {
        let text = match expand(flow, fei, node, &workitem, until) {
            Ok(v) => value_text(&v),
            Err(e) => return flow.fail(fei, e),
        };
        match humantime::parse_rfc3339_weak(&text) {
            Ok(t) => {
                let target = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                target - flow.now()
            }
            Err(e) => return flow.fail(fei, fail(format!("until: '{text}' is not a time ({e})"))),
        }
    } else {
        let Some(raw) = node.args.first().or_else(|| super::attr(node, &["for", "duration"])) else {
            return flow.fail(fei, fail("how long? write wait '30s'".into()));
        };
        let text = match expand(flow, fei, node, &workitem, raw) {
            Ok(v) => value_text(&v),
            Err(e) => return flow.fail(fei, e),
        };
        match attributes::parse_duration(&text) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => return flow.fail(fei, fail(e.to_string())),
        }
    };
    arm_timer(flow, fei, TimerKind::Wake, after_ms);
}
