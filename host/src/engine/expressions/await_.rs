//! `await`: blocks until something happens elsewhere in the same job —
//! a tagged expression is entered or left, a participant is reached or
//! left — then replies (Ruote 2.3's "once" mode).
//!
//! ```ruby
//! concurrence do
//!   sequence do
//!     create_ec2_server ...
//!     await left_tag: 'dns'          # until the dns branch is done
//!     notify_campfire message: 'up'
//!   end
//!   sequence tag: 'dns' do ... end
//! end
//! ```
//!
//! Events: `in_tag:` / `entered_tag:` / `reached_tag:` / `tag:` / `tags:`,
//! `left_tag:` / `out_tag:`,
//! `in_participant:` / `reached_participant:` / `participant:`,
//! `left_participant:` / `out_participant:`. The value is a name, a
//! `/regex/`, or a list of them, as an array or comma-separated (any
//! matches). Only events after the
//! `await` started count. Ruote's "multiple times" mode (`await` with a
//! block) is not implemented.

use super::super::flow::Flow;
use super::super::model::*;
use super::{Kind, attr, expand, set_state, value_text};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct Await;

impl Kind for Await {
    const NAMES: &'static [&'static str] = &["await"];
    type State = Awaited;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("await: {m}")).at_line(node.span.line);
        if !node.children.is_empty() {
            return flow.fail(fei, bad("a block (Ruote's \"multiple times\" mode) is not supported".into()));
        }
        let found = [
            (Event::EnteredTag, &["in_tag", "entered_tag", "reached_tag", "tag", "tags"][..]),
            (Event::LeftTag, &["left_tag", "out_tag"]),
            (Event::ReachedParticipant, &["in_participant", "reached_participant", "participant", "participants"]),
            (Event::LeftParticipant, &["left_participant", "out_participant"]),
        ]
        .into_iter()
        .find_map(|(event, names)| attr(node, names).map(|v| (event, v)));
        let Some((event, value)) = found else {
            return flow.fail(fei, bad("what to wait for? (await left_tag: 'x', in_participant: 'y'...)".into()));
        };
        let names = match expand(flow, fei, node, &workitem, value) {
            Ok(Value::Array(items)) => items.iter().map(value_text).collect(),
            // `'a, b'`: either (a regex stays whole).
            Ok(Value::String(text)) if !text.starts_with('/') => {
                text.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect()
            }
            Ok(other) => vec![value_text(&other)],
            Err(e) => return flow.fail(fei, e),
        };
        set_state::<Await>(flow, fei, &Awaited { event, names });
    }
}

/// What an `await` waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Event {
    #[default]
    EnteredTag,
    LeftTag,
    ReachedParticipant,
    LeftParticipant,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Awaited {
    #[serde(default)]
    pub event: Event,
    #[serde(default)]
    pub names: Vec<String>,
}

/// Something happened in the job: the `await`s waiting for it reply.
pub(crate) fn happened(flow: &mut Flow, event: Event, name: &str) {
    let waiting: Vec<Fei> = flow
        .exprs
        .values()
        .filter(|e| e.kind == Await::NAMES[0] && e.status == Status::Active)
        .filter(|e| {
            Awaited::deserialize(&e.state)
                .is_ok_and(|a| a.event == event && a.names.iter().any(|pattern| matches(pattern, name)))
        })
        .map(|e| e.fei.clone())
        .collect();
    for fei in waiting {
        let applied = flow.get(&fei).map(|e| e.applied.clone()).unwrap_or_default();
        flow.reply_to_parent(&fei, applied);
    }
}

/// A name, or a `/regex/` searched in it.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(re) => regex::RegexBuilder::new(re).size_limit(1 << 20).build().is_ok_and(|re| re.is_match(name)),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn waits_for_a_tag_to_be_left() {
        let source = "concurrence do
  sequence do
    alice
    await left_tag: 'a'
    bob
  end
  sequence tag: 'a' do
    charly delay_ms: 100
    doug delay_ms: 100
  end
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alice", "charly", "doug", "bob"]);
    }

    #[test]
    fn waits_for_a_participant_by_name_or_pattern() {
        for wanted in ["'charly'", "/^ch/", "['x', 'charly']"] {
            let source = format!(
                "concurrence do\n  sequence do\n    await left_participant: {wanted}\n    bob\n  end\n  charly delay_ms: 50\nend"
            );
            let job = run(&source, json!({}));
            assert_eq!(job.calls, ["charly", "bob"], "{wanted}: {:?}", job.error);
        }
    }
}
