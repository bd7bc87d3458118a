//! Jobs as the API lists them: one tenant's, filtered, newest first, paged
//! by id (ids are time-ordered UUIDv7, so `before` is a stable cursor).

use super::jobs::job_from_row_without_definition;
use super::sql::{SqlValue, Statement, args, statements};
use super::{JobRecord, Result, Store, from_json};
use crate::model::JobState;

/// Which jobs to list.
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// The definition's name (jobs launched from a stored definition).
    pub name: Option<String>,
    /// Only jobs older than this id.
    pub before: Option<String>,
    /// At most this many.
    pub limit: i64,
}

statements! {
    UNFINISHED_JOBS =
        "SELECT j.id, d.definition FROM jobs j JOIN job_definitions d ON d.job_id = j.id
         WHERE j.tenant = $1 AND j.state IN ('pending', 'running', 'paused', 'failed')";
    JOB_COUNTS = "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state";
    PING = "SELECT 1";
}

/// [`Store::list_jobs`]'s SELECT, with the filters that are set: `$1`
/// tenant, then the state, name and cursor that are set, then the limit.
/// Only generated markers are spliced: every value is bound.
pub(super) fn list_jobs_statement(state: bool, name: bool, before: bool) -> Statement {
    let mut sql = String::from(
        "SELECT id, tenant, name, definition_ref, state, fields, error, created_at, updated_at, finished_at, dry_run
         FROM jobs WHERE tenant = $1",
    );
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if state {
        sql += &format!(" AND state = {}", next());
    }
    if name {
        sql += &format!(" AND name = {}", next());
    }
    if before {
        sql += &format!(" AND id < {}", next());
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", next());
    Statement::built("store::listing::list_jobs_statement", sql)
}

impl Store {
    /// A tenant's jobs that pass `filter`, newest first, without their
    /// definition trees.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn list_jobs(&self, tenant: &str, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        let sql = list_jobs_statement(filter.state.is_some(), filter.name.is_some(), filter.before.is_some());
        let mut args = args![tenant];
        args.extend(filter.state.map(|s| SqlValue::from(s.as_str())));
        args.extend(filter.name.as_ref().map(SqlValue::from));
        args.extend(filter.before.as_ref().map(SqlValue::from));
        args.push(filter.limit.into());
        self.db.fetch_all(&sql, args).await?.iter().map(job_from_row_without_definition).collect()
    }

    /// The ids and definition trees of a tenant's jobs that are not over
    /// (pending, running, paused or failed: a failed job can be retried).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self.db.fetch_all(&UNFINISHED_JOBS, args![tenant]).await?;
        rows.iter().map(|r| Ok((r.text("id")?, from_json("job definition", r.str("definition")?)?))).collect()
    }

    /// How many jobs (of every tenant) are in each state that has any, for
    /// metrics.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = self.db.fetch_all(&JOB_COUNTS, args![]).await?;
        rows.iter().map(|r| Ok((r.text("state")?, r.int("n")?))).collect()
    }
}

impl Store {
    /// Checks the database answers (a health check).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn ping(&self) -> Result<()> {
        self.db.execute(&PING, args![]).await?;
        Ok(())
    }
}
