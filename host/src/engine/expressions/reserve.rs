//! `reserve` (`reserve mutex: 'db' do ... end`, or `reserve 'db' do`): a
//! mutex between the branches of a job. One branch at a time runs the
//! children of the `reserve`s naming the same mutex; the others wait, in
//! the order they arrived, and go in as the holder replies or is
//! cancelled.
//!
//! ```ruby
//! concurrent_iterator on_field: 'hosts', to_var: 'h' do
//!   ssh_exec.run host: '${v:h}', command: 'apt-get -y upgrade'
//!   reserve 'load_balancer' do
//!     http.request method: 'POST', url: 'https://lb/rotate/${v:h}'
//!   end
//! end
//! ```
//!
//! As in Ruote, the mutex is a variable (`reserve` without a name uses
//! `reserve`): `['mutex', name, [holder, waiter...]]`, in the scope that
//! already holds it, else the nearest one (`'/db'` for the job's root). It
//! is removed when nobody holds it.

use super::super::flow::Flow;
use crate::model::*;
use super::{Kind, apply_branch, attr, body, child_count, expand, set_state, state, value_text};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) struct Reserve;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Held {
    /// The mutex's variable name.
    #[serde(default)]
    pub mutex: String,
}

impl Kind for Reserve {
    const NAMES: &'static [&'static str] = &["reserve"];
    type State = Held;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if child_count(flow, fei) == 0 {
            return flow.reply_to_parent(fei, workitem);
        }
        let name = match attr(node, &["mutex"]).or(node.args.first()).map(|v| expand(flow, fei, node, &workitem, v)) {
            Some(Ok(v)) => value_text(&v).trim().to_owned(),
            Some(Err(e)) => return flow.fail(fei, e),
            None => String::new(),
        };
        let mutex = if name.is_empty() { "reserve".to_owned() } else { name };
        set_state::<Reserve>(flow, fei, &Held { mutex: mutex.clone() });
        let queue = change_queue(flow, fei, &mutex, |q| q.push(fei.0.clone()));
        if queue.first() == Some(&fei.0) {
            enter(flow, fei);
        }
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        release(flow, fei);
        flow.reply_to_parent(fei, workitem)
    }

    fn on_cancel(flow: &mut Flow, fei: &Fei) {
        release(flow, fei)
    }
}

/// The holder runs its children, with the workitem it was applied with.
fn enter(flow: &mut Flow, fei: &Fei) {
    let Some(applied) = flow.get(fei).map(|e| e.applied.clone()) else { return };
    match body(flow, fei) {
        Ok(tree) => apply_branch(flow, fei, 0, tree, applied, None),
        Err(e) => flow.fail(fei, e),
    }
}

/// Leaves the mutex's queue; if it held the mutex, the next waiter enters.
fn release(flow: &mut Flow, fei: &Fei) {
    let mutex = state::<Reserve>(flow, fei).mutex;
    if mutex.is_empty() {
        return;
    }
    let mut was_holder = false;
    let queue = change_queue(flow, fei, &mutex, |q| {
        was_holder = q.first() == Some(&fei.0);
        q.retain(|f| f != &fei.0);
    });
    if let Some(next) = queue.first().filter(|_| was_holder) {
        enter(flow, &Fei(next.clone()));
    }
}

/// Changes the queue of `mutex` (as seen from `fei`) and returns it.
fn change_queue(flow: &mut Flow, fei: &Fei, mutex: &str, change: impl FnOnce(&mut Vec<String>)) -> Vec<String> {
    let Some((scope, name)) = flow.variable_scope(fei, mutex) else { return Vec::new() };
    let Some(holder) = flow.get_mut(&scope) else { return Vec::new() };
    let vars = holder.variables.get_or_insert_with(Fields::new);
    let mut queue: Vec<String> = match vars.get(name) {
        Some(Value::Array(v)) => v.get(2).and_then(|q| serde_json::from_value(q.clone()).ok()).unwrap_or_default(),
        _ => Vec::new(),
    };
    change(&mut queue);
    if queue.is_empty() {
        vars.remove(name);
    } else {
        vars.insert(name.to_owned(), json!(["mutex", name, queue]));
    }
    queue
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn one_branch_at_a_time_in_arrival_order() {
        let source = "concurrence do
  reserve mutex: 'a' do
    alpha delay_ms: 1000
    bravo
  end
  reserve 'a' do
    charly
  end
  delta delay_ms: 500
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        // Without the mutex charly would go first, beside delta.
        assert_eq!(job.calls, ["delta", "alpha", "bravo", "charly"]);
    }

    #[test]
    fn a_cancelled_holder_lets_the_next_in() {
        let source = "concurrence do
  reserve do
    alpha delay_ms: 5000, timeout: '1s'
  end
  reserve do
    bravo
  end
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha", "bravo"]);
    }

    #[test]
    fn the_mutex_is_shared_across_iterations_and_scopes() {
        let source = "concurrent_iterator on: [1, 2, 3], to_var: 'i' do
  reserve '/lb' do
    echo 'in ${v:i}'
    alpha delay_ms: 100
    echo 'out ${v:i}'
  end
end
echo 'free: ${v:lb}'";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.echoes, ["in 1", "out 1", "in 2", "out 2", "in 3", "out 3", "free: "]);
    }
}
