//! Jobs as the API lists them: one tenant's, filtered, newest first, paged
//! by id (ids are time-ordered UUIDv7, so `before` is a stable cursor).

use super::{JobRecord, Result, Store, job_from_row};
use crate::engine::JobState;

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
            "SELECT id, tenant, name, 'null', definition_ref, state, fields, error, created_at, updated_at, finished_at
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
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant);
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        if let Some(name) = &filter.name {
            query = query.bind(name.clone());
        }
        if let Some(before) = &filter.before {
            query = query.bind(before.clone());
        }
        let rows = query.bind(filter.limit).fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The ids and definition trees of a tenant's jobs that are not over
    /// (pending, running, paused or failed: a failed job can be retried).
    pub async fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = sqlx::query(
            "SELECT id, definition FROM jobs WHERE tenant = $1 AND state IN ('pending', 'running', 'paused', 'failed')",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        use sqlx::Row;
        rows.iter()
            .map(|r| {
                let tree: String = r.get(1);
                Ok((r.get(0), serde_json::from_str(&tree).map_err(|e| super::corrupt("job definition", e))?))
            })
            .collect()
    }

    /// Jobs per state, for metrics.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Store {
    /// Checks the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
