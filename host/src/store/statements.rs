//! Every statement the store runs, by name, for a test to prepare on both
//! databases (tests/statements.rs): each module's fixed texts (its
//! `statements!` list) and the texts built at run time, in the shapes they
//! take (every combination of their clauses, lists of a few lengths).
//!
//! A fixed text can only be named through `statements!`, which lists it;
//! a module with statements adds its list here once.

use super::sql::{self, Statement};
use super::work::{self, ROWS_PER_STATEMENT};
use super::{
    Backend, audit, batches, definitions, events, jobs, listing, locks, notifications, participants, schedules,
    secrets, take, tenants, triggers, uploads, wakeup, webhooks,
};

/// The lengths a built list is prepared with: one, a few, the most.
const SIZES: [usize; 3] = [1, 2, ROWS_PER_STATEMENT];

/// The statements the store runs on `backend`.
pub fn statements(backend: Backend) -> Vec<Statement> {
    let fixed = [
        sql::STATEMENTS,
        super::STATEMENTS,
        work::STATEMENTS,
        batches::STATEMENTS,
        take::STATEMENTS,
        wakeup::STATEMENTS,
        listing::STATEMENTS,
        jobs::STATEMENTS,
        audit::STATEMENTS,
        definitions::STATEMENTS,
        events::STATEMENTS,
        locks::STATEMENTS,
        notifications::STATEMENTS,
        webhooks::STATEMENTS,
        participants::STATEMENTS,
        schedules::STATEMENTS,
        secrets::STATEMENTS,
        tenants::STATEMENTS,
        triggers::STATEMENTS,
        uploads::STATEMENTS,
    ];
    let mut all: Vec<Statement> = fixed.iter().flat_map(|list| list.iter().map(|s| (*s).clone())).collect();
    all.push(work::open_job_statement().clone());
    all.push(take::take_jobs_statement().clone());
    all.push(work::claim_jobs_statement(backend));
    all.push(notifications::claim_statement(backend));
    for n in [0, 1, 3] {
        all.push(work::claim_dispatches_statement(backend, n));
    }
    for n in SIZES {
        all.push(events::append_jobs_statement(n));
        all.push(events::insert_statement(n));
        all.push(work::release_dispatches_statement(n));
        all.push(batches::delete_messages_statement(n));
        all.push(batches::delete_expressions_statement(n));
        all.push(batches::withdraw_dispatches_statement(n));
        all.push(batches::withdraw_timers_statement(n));
        all.push(batches::upsert_expressions_statement(n));
        all.push(batches::end_and_upsert_expressions_statement(n));
    }
    let both = [false, true];
    for (a, b, c) in both.into_iter().flat_map(|a| both.into_iter().flat_map(move |b| both.map(|c| (a, b, c)))) {
        // Clears the error, replaces the fields, takes a lease.
        for from in [1, 3] {
            all.push(jobs::control_statement(a, b, c, from));
        }
        // Filters by state, by name, by cursor.
        all.push(listing::list_jobs_statement(a, b, c));
    }
    all.retain(|s| s.runs_on(backend));
    all
}
