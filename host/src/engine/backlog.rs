//! The work waiting for a committer, shared fairly between tenants.
//!
//! A committer does its work one group (one transaction) at a time, and a
//! transaction's time grows with what it writes. Taken in arrival order, a
//! tenant that floods the queue — thousands of steps, or steps returning a
//! megabyte of fields each — would put every other tenant's next step
//! behind all of its own. The backlog instead queues work per tenant and
//! forms each group by deficit round robin over the bytes each piece will
//! write (Shreedhar and Varghese's DRR):
//!
//! - every tenant with work gets [`QUANTUM`] bytes of credit per pass over
//!   the tenants, and its pieces join the group while their weight fits its
//!   credit, up to its share of the group's places in that pass;
//! - a group stops at [`MAX_GROUP`] pieces or [`GROUP_BYTES`] bytes, or
//!   after a pass that added nothing to it;
//! - a piece heavier than a quantum waits for its tenant's credit to build
//!   up over passes, so a tenant writing large outputs gets its share of
//!   the bytes, not a group to itself whenever it likes.
//!
//! Guarantees: a job's work stays in arrival order (a job has one tenant,
//! and a tenant's queue is FIFO); every group holds at least one piece, so
//! the committer always progresses; a tenant with queued work is in the
//! next group unless its next piece outweighs its credit.
//!
//! ```ignore
//! let mut backlog = Backlog::default();
//! backlog.push(work);
//! let group = backlog.next_group(); // one transaction's work
//! ```

use super::committer::Work;
use std::collections::{HashMap, VecDeque};

/// Most pieces of work in one transaction: enough to amortize a commit,
/// few enough that one transaction holds the database briefly.
pub(super) const MAX_GROUP: usize = 128;
/// Most bytes (estimated) one group writes, its first piece excepted.
pub(super) const GROUP_BYTES: usize = 2 << 20;
/// Credit a tenant gets per pass: a pass of one tenant fills a group.
pub(super) const QUANTUM: usize = 256 << 10;

#[derive(Default)]
struct TenantQueue {
    work: VecDeque<Work>,
    credit: usize,
}

/// Work queued per tenant; see the module documentation.
#[derive(Default)]
pub(super) struct Backlog {
    queues: HashMap<String, TenantQueue>,
    /// Tenants with queued work, in turn order.
    turns: VecDeque<String>,
    len: usize,
}

impl Backlog {
    pub(super) fn push(&mut self, work: Work) {
        let tenant = work.tenant();
        let queue = match self.queues.get_mut(tenant) {
            Some(q) => q,
            None => self.queues.entry(tenant.to_owned()).or_default(),
        };
        if queue.work.is_empty() {
            self.turns.push_back(tenant.to_owned());
        }
        queue.work.push_back(work);
        self.len += 1;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pieces queued.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The next transaction's work (empty only when the backlog is).
    pub(super) fn next_group(&mut self) -> Vec<Work> {
        let mut group = Vec::new();
        let mut bytes = 0;
        let full = |group: &Vec<Work>, bytes: usize| group.len() >= MAX_GROUP || bytes >= GROUP_BYTES;
        while !self.turns.is_empty() && !full(&group, bytes) {
            let tenants = self.turns.len();
            // Each tenant's share of the group's places in this pass.
            let share = MAX_GROUP.div_ceil(tenants);
            let before = group.len();
            for _ in 0..tenants {
                if full(&group, bytes) {
                    break;
                }
                let Some(tenant) = self.turns.pop_front() else { break };
                let Some(queue) = self.queues.get_mut(&tenant) else { continue };
                queue.credit = queue.credit.saturating_add(QUANTUM);
                let mut taken = 0;
                while let Some(next) = queue.work.front() {
                    let weight = next.weight();
                    let fits = weight <= queue.credit && (group.is_empty() || bytes + weight <= GROUP_BYTES);
                    if !fits || taken >= share || group.len() >= MAX_GROUP {
                        break;
                    }
                    queue.credit -= weight;
                    bytes += weight;
                    group.extend(queue.work.pop_front());
                    taken += 1;
                    self.len -= 1;
                }
                if queue.work.is_empty() {
                    // An idle tenant keeps no credit (DRR): it cannot save
                    // up a burst.
                    self.queues.remove(&tenant);
                } else {
                    self.turns.push_back(tenant);
                }
            }
            // A pass that added nothing to a group that has something: what
            // is left waits for credit, in a later group.
            if group.len() == before && !group.is_empty() {
                break;
            }
        }
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(tenant: &str, job: &str) -> Work {
        Work::Claimed { job_id: job.into(), tenant: tenant.into() }
    }

    /// A finished call whose outcome is `bytes` long.
    fn heavy(tenant: &str, job: &str, bytes: usize) -> Work {
        let fei = crate::model::Fei("0_0".into());
        let history = crate::store::HistoryEntry {
            fei: fei.0.clone(),
            line: None,
            participant: "p".into(),
            action: "call".into(),
            params: serde_json::Value::Null,
            attempt: 0,
            started_at: 0,
            ended_at: 0,
            ok: true,
            result: serde_json::Value::Null,
        };
        let message = crate::model::Message::Result { fei, outcome: Ok(Default::default()), attempt: 0 };
        Work::Finished(Box::new(super::super::committer::Finished {
            dispatch_id: 1,
            job_id: job.into(),
            tenant: tenant.into(),
            result: crate::store::NewMessage { message, due_at: 0 },
            history,
            events: Vec::new(),
            bytes,
            claimed: None,
        }))
    }

    fn jobs(group: &[Work]) -> Vec<&str> {
        group.iter().map(Work::job_id).collect()
    }

    #[test]
    fn a_flooding_tenant_does_not_delay_another_tenants_next_piece() {
        let mut backlog = Backlog::default();
        for i in 0..1_000 {
            backlog.push(claimed("attacker", &format!("a{i}")));
        }
        backlog.push(claimed("victim", "v1"));
        let first = backlog.next_group();
        assert!(jobs(&first).contains(&"v1"), "the victim's piece is in the first group");
        // The rest of the group is the flood's: no place is left empty.
        assert_eq!(first.len(), MAX_GROUP);
        assert_eq!(backlog.len(), 1_001 - MAX_GROUP);
    }

    #[test]
    fn a_tenants_pieces_stay_in_arrival_order() {
        let mut backlog = Backlog::default();
        for i in 0..300 {
            backlog.push(claimed("t", &format!("{i:03}")));
        }
        let mut seen = Vec::new();
        while !backlog.is_empty() {
            seen.extend(backlog.next_group().iter().map(|w| w.job_id().to_owned()));
        }
        let expected: Vec<String> = (0..300).map(|i| format!("{i:03}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn large_outputs_share_commits_by_bytes() {
        let mut backlog = Backlog::default();
        for i in 0..8 {
            backlog.push(heavy("big", &format!("b{i}"), 1 << 20));
        }
        for i in 0..8 {
            backlog.push(claimed("small", &format!("s{i}")));
        }
        // The small tenant's pieces go first: the big tenant's credit
        // builds up over passes.
        let first = backlog.next_group();
        assert_eq!(jobs(&first), ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
        // Alone, the big tenant still progresses, at most GROUP_BYTES a
        // group (the first piece always fits).
        let mut groups = 0;
        while !backlog.is_empty() {
            let group = backlog.next_group();
            assert!(!group.is_empty());
            assert!(group.len() <= GROUP_BYTES / (1 << 20));
            groups += 1;
        }
        assert!(groups >= 4, "{groups} groups for 8 MiB");
    }

    #[test]
    fn a_piece_heavier_than_a_group_goes_alone() {
        let mut backlog = Backlog::default();
        backlog.push(heavy("big", "b", 64 << 20));
        backlog.push(claimed("big", "c"));
        assert_eq!(jobs(&backlog.next_group()), ["b"]);
        assert_eq!(jobs(&backlog.next_group()), ["c"]);
        assert!(backlog.is_empty());
        assert!(backlog.next_group().is_empty());
    }
}
