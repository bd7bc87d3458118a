//! `on_error` as an expression: registers an error handler on its parent
//! (Ruote 2.3), which tries its registered handlers in order, each for the
//! errors whose message matches its pattern, before its own `on_error:`
//! attribute.
//!
//! ```ruby
//! sequence do
//!   on_error '/unknown participant/' => 'missing_participant'
//!   on_error 'decommission'                  # any other error
//!   on_error '/timed out/' do                # a block as the handler
//!     notify_campfire message: 'timed out'
//!   end
//!   create_ec2_server ...
//! end
//! ```
//!
//! A handler is what an `on_error:` attribute may say (`retry * 3`, `pass`,
//! a subprocess or participant name) or a block, run in the parent's place.

use super::super::flow::Flow;
use crate::model::*;
use super::{COMMON_ATTRIBUTES, value_text};
use crate::language::{Node, Span};

pub(crate) struct OnError;

impl super::Kind for OnError {
    const NAMES: &'static [&'static str] = &["on_error"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        // A bare `on_error` registers nothing, as in Ruote.
        let parent = flow.get(fei).and_then(|e| e.parent.clone());
        if let Some(registered) = registration(node)
            && let Some(parent) = parent
            && let Some(p) = flow.get_mut(&parent)
        {
            p.error_handlers.push(registered);
        }
        flow.reply_to_parent(fei, workitem);
    }
}

/// The handler a node declares: `on_error 'handler'`, `on_error 'pattern'
/// => 'handler'`, or `on_error ['pattern'] do ... end`.
pub(crate) fn registration(node: &Node) -> Option<RegisteredHandler> {
    let pattern_of = |text: String| Some(text).filter(|t| !t.trim().is_empty());
    if !node.children.is_empty() {
        let mut sequence = Node::new("sequence", Span { line: node.span.line, ..Span::default() });
        sequence.children = node.children.clone();
        let pattern = node.args.first().map(value_text).and_then(pattern_of);
        return Some(RegisteredHandler { pattern, handler: HandlerTarget::Tree(NodeJson::from_node(&sequence)) });
    }
    if let Some(handler) = node.args.first() {
        return Some(RegisteredHandler { pattern: None, handler: HandlerTarget::Spec(value_text(handler)) });
    }
    let (pattern, handler) = node.attrs.iter().find(|(k, _)| !COMMON_ATTRIBUTES.contains(&k.as_str()))?;
    Some(RegisteredHandler { pattern: pattern_of(pattern.clone()), handler: HandlerTarget::Spec(value_text(handler)) })
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn the_first_matching_handler_takes_the_error() {
        let source = "sequence do
  on_error '/unknown/' => 'missing'
  on_error 'decommission'
  alpha fail: 'fatal'
end
define 'missing' do\n  charly\nend
define 'decommission' do\n  bravo\nend";
        let job = run(source, json!({}));
        assert_eq!(job.calls, ["alpha", "bravo"], "{:?}", job.error);
        assert_eq!(job.state, JobState::Completed);
    }

    #[test]
    fn a_block_is_a_handler() {
        let source = "sequence do\n  on_error do\n    echo 'handled ${__error__.message}'\n  end\n  error 'boom'\nend";
        let job = run(source, json!({}));
        assert_eq!(job.echoes, ["handled boom"], "{:?}", job.error);
        assert_eq!(job.state, JobState::Completed);
    }

    #[test]
    fn registered_handlers_come_before_the_attribute() {
        let source = "sequence on_error: 'pass' do\n  on_error 'retry'\n  alpha fail: 'retryable', fail_times: 1\nend";
        let job = run(source, json!({}));
        assert_eq!(job.calls, ["alpha", "alpha"], "{:?}", job.error);
        assert_eq!(job.state, JobState::Completed);
    }

    #[test]
    fn cando_runs_on_cancel_then_applies_again() {
        let source = "set 'f:mode' => 'fatal'
sequence on_error: 'cando', on_cancel: 'rollback' do
  alpha
  bravo fail: '${mode}'
end
define 'rollback' do
  set 'f:mode' => ''
  charly
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha", "bravo", "charly", "alpha", "bravo"]);
    }
}
