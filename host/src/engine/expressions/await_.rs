//! `await`: waits for something to happen elsewhere in the same job — a
//! tagged expression is entered or left, a participant is reached or left.
//! Without a block it then replies, with the event's workitem (Ruote 2.3's
//! "once" mode); with a block it runs the block at each such event, as a
//! branch of its own, and never replies by itself ("multiple times" mode,
//! until it is cancelled):
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
//! matches). Only events after the `await` started count. `where:` is a
//! condition on the event's workitem. `merge:` says which fields go on:
//! `override` (the event's, the default), `ignore`/`drop` (the await's
//! own), `incoming` (both, the event's win), `awaiting` (both, its own win).

use super::super::flow::Flow;
use crate::model::*;
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
        let merge = match node.attr("merge").map(|v| expand(flow, fei, node, &workitem, v)) {
            None => Merge::Override,
            Some(Ok(v)) => match serde_json::from_value(Value::String(value_text(&v))) {
                Ok(merge) => merge,
                Err(_) => {
                    let m = format!("merge: '{}' is not override, ignore, drop, incoming or awaiting", value_text(&v));
                    return flow.fail(fei, bad(m));
                }
            },
            Some(Err(e)) => return flow.fail(fei, e),
        };
        set_state::<Await>(flow, fei, &Awaited { event, names, merge, fired: 0 });
    }

    /// A branch the block started ended: it goes on awaiting.
    fn reply(_flow: &mut Flow, _fei: &Fei, _from: &Fei, _workitem: Workitem) {}
}

/// Which fields go on when the event happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Merge {
    /// The event's workitem.
    #[default]
    Override,
    /// The await's own workitem.
    #[serde(alias = "drop")]
    Ignore,
    /// Both, the event's fields winning.
    Incoming,
    /// Both, the await's fields winning.
    Awaiting,
}

impl Merge {
    fn apply(self, awaiting: &Workitem, incoming: &Workitem) -> Workitem {
        let (mut base, over) = match self {
            Merge::Override => return incoming.clone(),
            Merge::Ignore => return awaiting.clone(),
            Merge::Incoming => (awaiting.clone(), incoming),
            Merge::Awaiting => (incoming.clone(), awaiting),
        };
        base.fields.extend(over.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        base
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
    #[serde(default)]
    pub merge: Merge,
    /// Events its block ran for so far: each run is the child of that number.
    #[serde(default)]
    pub fired: usize,
}

/// Something happened in the job, to `workitem`: the `await`s waiting for
/// it reply, or run their block.
pub(crate) fn happened(flow: &mut Flow, event: Event, name: &str, workitem: &Workitem) {
    let mut waiting: Vec<(Fei, Awaited)> = flow
        .exprs
        .values()
        .filter(|e| e.kind == Await::NAMES[0] && e.status == Status::Active)
        .filter_map(|e| Some((e.fei.clone(), Awaited::deserialize(&e.state).ok()?)))
        .filter(|(_, a)| a.event == event && a.names.iter().any(|pattern| matches(pattern, name)))
        .collect();
    // In the order of the definition, not of a hash map.
    let position = |fei: &Fei| fei.expid().split('_').map(|n| n.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    waiting.sort_by_cached_key(|(fei, _)| position(fei));
    for (fei, awaited) in waiting {
        let Some(e) = flow.get(&fei) else { continue };
        let Ok(node) = flow.node(&e.tree) else { continue };
        let applied = e.applied.clone();
        if let Some(condition) = node.attr("where") {
            match crate::language::condition::evaluate_value(condition, &flow.lookup(&fei, workitem)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    let error = StepError::new(StepErrorKind::BadInput, format!("await: where: {e}"));
                    flow.fail(&fei, error.at_line(node.span.line));
                    continue;
                }
            }
        }
        let goes_on = awaited.merge.apply(&applied, workitem);
        if node.children.is_empty() {
            flow.reply_to_parent(&fei, goes_on);
            continue;
        }
        match super::body(flow, &fei) {
            Ok(tree) => super::apply_branch(flow, &fei, awaited.fired, tree, goes_on, None),
            Err(e) => flow.fail(&fei, e),
        }
        super::update_state::<Await>(flow, &fei, |a| a.fired += 1);
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
    use crate::model::JobState;
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

    #[test]
    fn goes_on_with_the_event_s_workitem_unless_merge_says_otherwise() {
        let source = |merge: &str| {
            format!(
                "concurrence do
  sequence do
    set 'f:mine' => 1
    set 'f:both' => 'awaiting'
    await left_participant: 'charly'{merge}
    echo '${{f:mine}}/${{f:theirs}}/${{f:both}}'
  end
  sequence do
    set 'f:theirs' => 2
    set 'f:both' => 'incoming'
    charly delay_ms: 50
  end
end"
            )
        };
        for (merge, seen) in [
            ("", "/2/incoming"),
            (", merge: 'ignore'", "1//awaiting"),
            (", merge: 'incoming'", "1/2/incoming"),
            (", merge: 'awaiting'", "1/2/awaiting"),
        ] {
            let job = run(&source(merge), json!({}));
            assert_eq!(job.state, JobState::Completed, "{merge}: {:?}", job.error);
            assert_eq!(job.echoes, [seen], "{merge}");
        }
    }

    #[test]
    fn a_block_runs_at_each_event_that_matches_where() {
        let source = "concurrence count: 1 do
  await left_participant: 'alpha', where: '${f:task} == sing' do
    echo 'sing-${f:n}'
  end
  await left_participant: 'alpha' do
    echo 'any-${f:n}'
  end
  sequence do
    alpha task: 'talk', n: 1
    alpha task: 'sing', n: 2
    wait '1s'
  end
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.echoes, ["any-1", "sing-2", "any-2"]);
    }
}
