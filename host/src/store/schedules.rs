//! Schedules: launch a stored definition on a cron expression.
//!
//! Guarantees: each tick of a schedule launches exactly one job, even with
//! several processes sharing the database and across restarts. The job of
//! a tick has an id derived from the schedule and the tick, so a second
//! process (or a restarted one) firing the same tick finds the job already
//! there; the tick is then advanced with a compare-and-set on `next_at`.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result, from_json};
use serde_json::Value;

/// A schedule: which definition it launches, when, and where it is.
#[derive(Debug, Clone)]
pub struct ScheduleRecord {
    /// A UUIDv7; with a tick, what its job's id is derived from.
    pub id: String,
    /// The tenant it launches in.
    pub tenant: String,
    /// The stored definition's name (its latest version at each tick).
    pub definition: String,
    /// When it ticks, as a cron expression.
    pub cron: String,
    /// The time zone `cron` is read in (an IANA name).
    pub time_zone: String,
    /// The fields each of its jobs starts with.
    pub fields: Value,
    /// Its next tick, in milliseconds since the Unix epoch: only ever
    /// moved forward, by [`Catalogue::advance_schedule`].
    pub next_at: i64,
    /// The job its last tick launched, if any.
    pub last_job: Option<String>,
    /// When it was created.
    pub created_at: i64,
}

/// The columns [`from_row`] reads (a macro: `concat!` takes literals).
macro_rules! columns {
    () => {
        "id, tenant, definition, cron, time_zone, fields, next_at, last_job, created_at"
    };
}

statements! {
    INSERT_SCHEDULE = "INSERT INTO schedules (id, tenant, definition, cron, time_zone, fields, next_at, last_job, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)";
    SCHEDULES = concat!("SELECT ", columns!(), " FROM schedules WHERE tenant = $1 ORDER BY created_at, id");
    SCHEDULE = concat!("SELECT ", columns!(), " FROM schedules WHERE tenant = $1 AND id = $2");
    DELETE_SCHEDULE = "DELETE FROM schedules WHERE tenant = $1 AND id = $2";
    DUE_SCHEDULES = concat!("SELECT ", columns!(), " FROM schedules WHERE next_at <= $1 ORDER BY next_at LIMIT $2");
    ADVANCE_SCHEDULE =
        "UPDATE schedules SET next_at = $1, last_job = COALESCE($2, last_job) WHERE id = $3 AND next_at = $4";
    NEXT_SCHEDULE_AT = "SELECT MIN(next_at) AS next_at FROM schedules";
}

fn from_row(r: &Row) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.text("id")?,
        tenant: r.text("tenant")?,
        definition: r.text("definition")?,
        cron: r.text("cron")?,
        time_zone: r.text("time_zone")?,
        fields: from_json("schedule fields", r.str("fields")?)?,
        next_at: r.int("next_at")?,
        last_job: r.opt_text("last_job")?,
        created_at: r.int("created_at")?,
    })
}

impl Catalogue {
    /// Stores a new schedule (its `last_job` is ignored: none yet).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn create_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        self.db
            .execute(
                &INSERT_SCHEDULE,
                args![
                    &s.id,
                    &s.tenant,
                    &s.definition,
                    &s.cron,
                    &s.time_zone,
                    s.fields.to_string(),
                    s.next_at,
                    s.created_at
                ],
            )
            .await?;
        Ok(())
    }

    /// The tenant's schedules, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn schedules(&self, tenant: &str) -> Result<Vec<ScheduleRecord>> {
        self.db.fetch_all(&SCHEDULES, args![tenant]).await?.iter().map(from_row).collect()
    }

    /// One of the tenant's schedules; None when it has none of that id.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn schedule(&self, tenant: &str, id: &str) -> Result<Option<ScheduleRecord>> {
        self.db.fetch_optional(&SCHEDULE, args![tenant, id]).await?.as_ref().map(from_row).transpose()
    }

    /// Deletes one of the tenant's schedules; false when it has none of
    /// that id.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn delete_schedule(&self, tenant: &str, id: &str) -> Result<bool> {
        Ok(self.db.execute(&DELETE_SCHEDULE, args![tenant, id]).await? == 1)
    }

    /// Up to `limit` schedules (of every tenant) whose tick is at or before
    /// `now`, earliest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn due_schedules(&self, now: i64, limit: i64) -> Result<Vec<ScheduleRecord>> {
        self.db.fetch_all(&DUE_SCHEDULES, args![now, limit]).await?.iter().map(from_row).collect()
    }

    /// Moves a schedule from the tick `from` to `to`, recording the job the
    /// tick launched; false when another process already moved it.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn advance_schedule(&self, id: &str, from: i64, to: i64, job: Option<&str>) -> Result<bool> {
        let done = self.db.execute(&ADVANCE_SCHEDULE, args![to, job, id, from]).await?;
        Ok(done == 1)
    }

    /// The earliest tick of any schedule; None when there is none.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn next_schedule_at(&self) -> Result<Option<i64>> {
        self.db.fetch_one(&NEXT_SCHEDULE_AT, args![]).await?.opt_int("next_at")
    }
}
