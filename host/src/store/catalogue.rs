//! The catalogue: what a tenant configures, as opposed to what its jobs
//! do (the job journal, [`Store`](super::Store)).
//!
//! Its rows are written by the API, the CLI and the schedules' loop, and
//! read by the services that launch and run jobs; no job batch writes
//! them, so none of its methods takes part in a
//! [`WorkTx`](super::WorkTx) or wakes a worker.
//! Each kind keeps its statements and its guarantees in a file of its own:
//! tenants and tokens (`tenants.rs`), definitions, participants, secrets,
//! triggers, schedules and the audit log.

use super::sql::Db;

/// Tenants and their tokens, definitions, participants, secrets, triggers,
/// schedules and audit log, on the same database (and connections) as the
/// [`Store`](super::Store) that hands it out
/// ([`Store::catalogue`](super::Store::catalogue)).
#[derive(Clone)]
pub struct Catalogue {
    /// Where statements run: a clone of the store's (see `sql.rs`).
    pub(super) db: Db,
}

impl Catalogue {
    pub(super) fn new(db: Db) -> Self {
        Catalogue { db }
    }
}
