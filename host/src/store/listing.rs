//! Jobs as the API lists them: one tenant's, filtered, newest first, paged
//! by id (ids are time-ordered UUIDv7, so `before` is a stable cursor).

use super::sql::{SqlValue, args};
use super::{JobRecord, Result, Store, from_json, job_from_row_without_definition};
use crate::model::JobState;

/// Which jobs to list.
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub state: Option<JobState>,
    /// The definition's name (jobs launched from a stored definition).
    pub name: Option<String>,
    /// Only jobs older than this id.
    pub before: Option<String>,
    pub limit: i64,
}

impl Store {
    /// A tenant's jobs, without their definition trees.
    pub async fn list_jobs(&self, tenant: &str, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        let mut sql = String::from(
            "SELECT id, tenant, name, definition_ref, state, fields, error, created_at, updated_at, finished_at
             FROM jobs WHERE tenant = $1",
        );
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.state.is_some() {
            sql += &format!(" AND state = {}", next());
        }
        if filter.name.is_some() {
            sql += &format!(" AND name = {}", next());
        }
        if filter.before.is_some() {
            sql += &format!(" AND id < {}", next());
        }
        sql += &format!(" ORDER BY id DESC LIMIT {}", next());
        let mut args = args![tenant];
        args.extend(filter.state.map(|s| SqlValue::from(s.as_str())));
        args.extend(filter.name.as_ref().map(SqlValue::from));
        args.extend(filter.before.as_ref().map(SqlValue::from));
        args.push(filter.limit.into());
        self.db.fetch_all(&sql, args).await?.iter().map(job_from_row_without_definition).collect()
    }

    /// The ids and definition trees of a tenant's jobs that are not over
    /// (pending, running, paused or failed: a failed job can be retried).
    pub async fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT id, definition FROM jobs WHERE tenant = $1 AND state IN ('pending', 'running', 'paused', 'failed')",
                args![tenant],
            )
            .await?;
        rows.iter().map(|r| Ok((r.text("id")?, from_json("job definition", r.str("definition")?)?))).collect()
    }

    /// Jobs per state, for metrics.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = self.db.fetch_all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state", args![]).await?;
        rows.iter().map(|r| Ok((r.text("state")?, r.int("n")?))).collect()
    }
}

impl Store {
    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.execute("SELECT 1", args![]).await?;
        Ok(())
    }
}
