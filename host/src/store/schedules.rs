//! Schedules: launch a stored definition on a cron expression.
//!
//! Guarantees: each tick of a schedule launches exactly one job, even with
//! several processes sharing the database and across restarts. The job of
//! a tick has an id derived from the schedule and the tick, so a second
//! process (or a restarted one) firing the same tick finds the job already
//! there; the tick is then advanced with a compare-and-set on `next_at`.

use super::{Result, Store, corrupt};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct ScheduleRecord {
    pub id: String,
    pub tenant: String,
    pub definition: String,
    pub cron: String,
    pub time_zone: String,
    pub fields: Value,
    pub next_at: i64,
    pub last_job: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, tenant, definition, cron, time_zone, fields, next_at, last_job, created_at";

fn from_row(r: &AnyRow) -> Result<ScheduleRecord> {
    let fields: String = r.get(5);
    Ok(ScheduleRecord {
        id: r.get(0),
        tenant: r.get(1),
        definition: r.get(2),
        cron: r.get(3),
        time_zone: r.get(4),
        fields: serde_json::from_str(&fields).map_err(|e| corrupt("schedule fields", e))?,
        next_at: r.get(6),
        last_job: r.get(7),
        created_at: r.get(8),
    })
}

impl Store {
    pub async fn create_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO schedules (id, tenant, definition, cron, time_zone, fields, next_at, last_job, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
        )
        .bind(&s.id)
        .bind(&s.tenant)
        .bind(&s.definition)
        .bind(&s.cron)
        .bind(&s.time_zone)
        .bind(s.fields.to_string())
        .bind(s.next_at)
        .bind(s.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn schedules(&self, tenant: &str) -> Result<Vec<ScheduleRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE tenant = $1 ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn schedule(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE tenant = $1 AND id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(id).fetch_optional(&self.pool).await?.as_ref().map(from_row).transpose()
    }

    pub async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM schedules WHERE tenant = $1 AND id = $2").bind(tenant).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Schedules whose tick is due.
    pub async fn due_schedules(&self, now: i64, limit: i64) -> Result<Vec<ScheduleRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE next_at <= $1 ORDER BY next_at LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Moves a schedule from the tick `from` to `to`, recording the job the
    /// tick launched; false when another process already moved it.
    pub async fn advance_schedule(&self, id: &str, from: i64, to: i64, job: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE schedules SET next_at = $1, last_job = COALESCE($2, last_job) WHERE id = $3 AND next_at = $4")
            .bind(to)
            .bind(job.map(str::to_owned))
            .bind(id)
            .bind(from)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The earliest tick of any schedule.
    pub async fn next_schedule_at(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_at) FROM schedules").fetch_one(&self.pool).await?;
        Ok(row.get::<Option<i64>, _>(0))
    }
}
