//! `wait '30s'` (also `wait for: '5m'`, `wait until:` or `wait` a time, alias
//! `sleep`): a durable timer. Nothing holds a thread while it waits, and
//! a restarted process fires it on time.

use super::super::flow::Flow;
use crate::model::*;
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
    let text = |raw: &serde_json::Value| expand(flow, fei, node, &workitem, raw).map(|v| value_text(&v));
    let after_ms = if let Some(until) = node.attr("until") {
        let text = match text(until) {
            Ok(t) => t,
            Err(e) => return flow.fail(fei, e),
        };
        match parse_time(&text) {
            Some(at) => at - flow.now(),
            None => return flow.fail(fei, fail(format!("until: '{text}' is not a time (write 2026-12-01T09:00:00Z)"))),
        }
    } else {
        let Some(raw) = node.args.first().or_else(|| super::attr(node, &["for", "duration"])) else {
            return flow.fail(fei, fail("how long? write wait '30s'".into()));
        };
        let text = match text(raw) {
            Ok(t) => t,
            Err(e) => return flow.fail(fei, e),
        };
        // A duration, or (as Ruote's `wait Time.now + 60`) a time.
        match (attributes::parse_duration(&text), parse_time(&text)) {
            (Ok(d), _) => d.as_millis().min(i64::MAX as u128) as i64,
            (Err(_), Some(at)) => at - flow.now(),
            (Err(e), None) => return flow.fail(fei, fail(e.to_string())),
        }
    };
    arm_timer(flow, fei, TimerKind::Wake, after_ms);
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-12-01T09:00:00Z`,
/// `...+01:00`), or of a date and time without a zone, read as UTC
/// (`2026-12-01 09:00:00`). Any year: a time in the past is due at once.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S%.f %Z"]
        .iter()
        .find_map(|format| {
            chrono::DateTime::parse_from_str(text, format)
                .map(|t| t.timestamp_millis())
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, format).map(|t| t.and_utc().timestamp_millis()))
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::parse_time;
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn times_of_any_year_with_or_without_a_zone() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1000));
        assert!(parse_time("1913-02-08T17:36:10Z").is_some_and(|t| t < 0));
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn a_time_in_the_past_is_due_at_once() {
        for source in ["wait until: '1913-02-08T17:36:10Z'\nalpha", "wait '2013-02-08 17:36:10'\nalpha"] {
            let job = run(source, json!({}));
            assert_eq!(job.state, JobState::Completed, "{source}: {:?}", job.error);
            assert_eq!(job.calls, ["alpha"]);
        }
    }
}
