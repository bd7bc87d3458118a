//! A job's own rows as their readers see them (the job, its calls in
//! flight, its events and step history), and changes of its state from
//! outside its batches ([`Store::control_job`]).

use super::events::Pending;
use super::sql::{Row, SqlValue, Statement, args, statements};
use super::{
    HistoryEntry, JobLease, JobRecord, NewEvent, NewMessage, Result, RunningStep, Store, StoredEvent,
    WaitingExpression, corrupt, from_json, insert_message, now_ms, work,
};
use crate::model::{Expression, Fields, JobState, Message};
use serde_json::Value;

statements! {
    JOB = "SELECT j.id, j.tenant, j.name, d.definition, j.definition_ref, j.state, j.fields, j.error, j.created_at,
                  j.updated_at, j.finished_at, j.dry_run
           FROM jobs j JOIN job_definitions d ON d.job_id = j.id WHERE j.id = $1";
    JOB_DEFINITION = "SELECT d.definition, j.dry_run FROM jobs j JOIN job_definitions d ON d.job_id = j.id
                      WHERE j.id = $1";
    JOBS_IN_STATE = "SELECT id FROM jobs WHERE state = $1 ORDER BY created_at";
    JOB_STATE = "SELECT state FROM jobs WHERE id = $1 AND tenant = $2";
    RUNNING_STEPS = "SELECT body, due_at FROM messages WHERE job_id = $1 AND kind = 'dispatch' ORDER BY id";
    // The kind is matched in the JSON text, then checked on the parsed row:
    // only expressions that wait on people are listed this way, and a
    // tenant has few of them.
    WAITING_EXPRESSIONS = "SELECT e.job_id, e.body, j.name, j.definition_ref FROM expressions e
                           JOIN jobs j ON j.id = e.job_id
                           WHERE e.tenant = $1 AND j.state IN ('running', 'paused') AND e.body LIKE $2
                           ORDER BY e.job_id, e.fei";
    TENANT_EXPRESSION = "SELECT body FROM expressions WHERE job_id = $1 AND fei = $2 AND tenant = $3";
    EVENTS_AFTER = "SELECT seq, kind, body FROM events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
    EVENT_CURSOR =
        "SELECT state, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = $1) AS last FROM jobs WHERE id = $1";
    HISTORY = "SELECT fei, line, participant, action, params, attempt, started_at, ended_at, ok, result
               FROM history WHERE job_id = $1 ORDER BY id";
}

/// One change of a job's state made from outside its batches, as
/// [`Store::control_job`] makes it: from one of `from` to `to`.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The states it may be made from.
    pub from: &'a [JobState],
    /// The state it makes.
    pub to: JobState,
    /// Queued in the same transaction (a cancel, a retry, a first apply).
    pub message: Option<NewMessage>,
    /// Replaces the job's fields (a started job's, with their overrides).
    pub fields: Option<&'a Fields>,
    /// Clears the job's error (it runs again).
    pub clears_error: bool,
    /// Leases the job to a worker of this process (see [`JobLease`]).
    pub lease: Option<JobLease<'a>>,
    /// Appended to the job's events (a pending job cancelled: its end).
    pub event: Option<NewEvent>,
    /// Events kept per job (see
    /// [`WorkTx::append_events`](super::WorkTx::append_events)).
    pub keep_events: usize,
}

/// What [`Store::control_job`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controlled {
    /// The transition at this index was made (its event, if any, got
    /// this number).
    Made(usize, Option<i64>),
    /// No job of this id for this tenant.
    NotFound,
    /// The job is in this state, which none of the transitions starts from.
    Conflict(JobState),
}

/// The UPDATE of [`Store::control_job`]: `$1` state, `$2` time, `$3` end,
/// `$4` id, `$5` tenant, then the fields when replaced, the lease's worker
/// and end when taken, then the `from` states. Only generated markers are
/// spliced: every value is bound.
pub(super) fn control_statement(clears_error: bool, fields: bool, lease: bool, from: usize) -> Statement {
    let mut set = String::from("state = $1, updated_at = $2, finished_at = $3");
    let mut next = 6;
    if clears_error {
        set.push_str(", error = NULL");
    }
    if fields {
        set.push_str(&format!(", fields = ${next}"));
        next += 1;
    }
    if lease {
        set.push_str(&format!(", lease_owner = ${next}, lease_until = ${}", next + 1));
        next += 2;
    }
    Statement::built(
        "store::jobs::control_statement",
        format!(
            "UPDATE jobs SET {set} WHERE id = $4 AND tenant = $5 AND state IN ({}) RETURNING state",
            work::marks(next, from)
        ),
    )
}

impl Store {
    /// A job, definition tree included; None when there is none of that
    /// id (of any tenant: callers check the tenant).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let row = self.db.fetch_optional(&JOB, args![id]).await?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// A job's stored definition tree alone; None when there is no such
    /// job.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn job_definition(&self, id: &str) -> Result<Option<(Value, Option<Value>)>> {
        let row = self.db.fetch_optional(&JOB_DEFINITION, args![id]).await?;
        row.map(|r| {
            let dry_run = r.opt_text("dry_run")?.map(|s| from_json("dry run stubs", &s)).transpose()?;
            Ok((from_json("job definition", r.str("definition")?)?, dry_run))
        })
        .transpose()
    }

    /// The ids of every job (of every tenant) in `state`, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>> {
        let rows = self.db.fetch_all(&JOBS_IN_STATE, args![state.as_str()]).await?;
        rows.iter().map(|r| r.text("id")).collect()
    }

    /// Changes a job's state from outside its batches (start, pause,
    /// resume, cancel, retry): the first of `transitions` whose `from`
    /// holds the job's current state is made, with the message it queues,
    /// in one transaction. The state is checked by the UPDATE that changes
    /// it (`WHERE ... AND state IN (...)`), so a concurrent change — another
    /// control call, or a batch that completed the job — makes this one
    /// answer [`Controlled::Conflict`] instead of overwriting it.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn control_job(&self, id: &str, tenant: &str, transitions: &[Transition<'_>]) -> Result<Controlled> {
        let mut tx = self.db.begin().await?;
        for (index, t) in transitions.iter().enumerate() {
            let now = now_ms();
            let mut args = args![t.to.as_str(), now, t.to.is_final().then_some(now), id, tenant];
            if let Some(fields) = t.fields {
                args.push(SqlValue::from(Value::Object(fields.clone()).to_string()));
            }
            if let Some(lease) = t.lease {
                args.push(SqlValue::from(lease.worker));
                args.push(SqlValue::from(lease.until));
            }
            args.extend(t.from.iter().map(|s| SqlValue::from(s.as_str())));
            let update = control_statement(t.clears_error, t.fields.is_some(), t.lease.is_some(), t.from.len());
            if tx.fetch_optional(&update, args).await?.is_none() {
                continue;
            }
            if let Some(message) = &t.message {
                insert_message(&mut tx, id, tenant, message, None).await?;
                tx.wake_others_on_commit();
            }
            let Some(event) = &t.event else {
                tx.commit().await?;
                return Ok(Controlled::Made(index, None));
            };
            let pending = [Pending {
                job_id: id.to_owned(),
                tenant: tenant.to_owned(),
                rows: vec![event.clone()],
                keep: t.keep_events,
            }];
            let numbering = super::events::append(&mut tx, &pending).await?;
            let mut answers = tx.commit_answering().await?;
            let seq = numbering.firsts(&pending, &mut answers)?.first().copied();
            return Ok(Controlled::Made(index, seq));
        }
        let row = tx.fetch_optional(&JOB_STATE, args![id, tenant]).await?;
        tx.commit().await?;
        match row {
            None => Ok(Controlled::NotFound),
            Some(r) => {
                let state = r.text("state")?;
                Ok(Controlled::Conflict(JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?))
            }
        }
    }

    /// A job's participant calls in flight (journaled, not yet finished),
    /// oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn running_steps(&self, job_id: &str) -> Result<Vec<RunningStep>> {
        let rows = self.db.fetch_all(&RUNNING_STEPS, args![job_id]).await?;
        let mut steps = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Message::Dispatch(d) = from_json("dispatch", r.str("body")?)? {
                steps.push(RunningStep {
                    fei: d.fei.0,
                    line: (d.line > 0).then_some(d.line),
                    participant: d.participant,
                    action: d.action,
                    attempt: d.attempt,
                    since: r.int("due_at")?,
                });
            }
        }
        Ok(steps)
    }

    /// The live expressions of `kind` (e.g. `approval`) in `tenant`'s
    /// running and paused jobs, with their job's name and definition.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn waiting_expressions(&self, tenant: &str, kind: &str) -> Result<Vec<WaitingExpression>> {
        let pattern = format!("%\"kind\":\"{kind}\"%");
        let rows = self.db.fetch_all(&WAITING_EXPRESSIONS, args![tenant, pattern]).await?;
        let mut found = Vec::new();
        for r in &rows {
            let expression: Expression = from_json("expression", r.str("body")?)?;
            if expression.kind == kind {
                found.push(WaitingExpression {
                    job_id: r.text("job_id")?,
                    job_name: r.opt_text("name")?,
                    definition: r.opt_text("definition_ref")?,
                    expression,
                });
            }
        }
        Ok(found)
    }

    /// One live expression of `tenant`'s job.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or the
    /// stored row cannot be read.
    pub async fn tenant_expression(&self, tenant: &str, job_id: &str, fei: &str) -> Result<Option<Expression>> {
        match self.db.fetch_optional(&TENANT_EXPRESSION, args![job_id, fei, tenant]).await? {
            Some(r) => Ok(Some(from_json("expression", r.str("body")?)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` of the job's stored events numbered after `after`, in
    /// order.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn events_after(&self, job_id: &str, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        let rows = self.db.fetch_all(&EVENTS_AFTER, args![job_id, after, limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent { seq: r.int("seq")?, kind: r.text("kind")?, data: from_json("event", r.str("body")?)? })
            })
            .collect()
    }

    /// The job's state and the number of its last event, read together:
    /// when the state is final, every event up to that number is stored.
    /// None when there is no such job.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn event_cursor(&self, job_id: &str) -> Result<Option<(JobState, i64)>> {
        let row = self.db.fetch_optional(&EVENT_CURSOR, args![job_id]).await?;
        row.map(|r| {
            let state = r.text("state")?;
            Ok((JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?, r.int("last")?))
        })
        .transpose()
    }

    /// The job's finished participant calls, in the order they finished.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn history(&self, job_id: &str) -> Result<Vec<HistoryEntry>> {
        let rows = self.db.fetch_all(&HISTORY, args![job_id]).await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    fei: r.text("fei")?,
                    line: r.opt_int("line")?.map(|l| l as u32),
                    participant: r.text("participant")?,
                    action: r.text("action")?,
                    params: from_json("history", r.str("params")?)?,
                    attempt: r.int("attempt")? as u32,
                    started_at: r.int("started_at")?,
                    ended_at: r.int("ended_at")?,
                    ok: r.int("ok")? != 0,
                    result: from_json("history", r.str("result")?)?,
                })
            })
            .collect()
    }
}

pub(super) fn job_from_row(r: &Row) -> Result<JobRecord> {
    Ok(JobRecord {
        definition: from_json("job definition", r.str("definition")?)?,
        ..job_from_row_without_definition(r)?
    })
}

/// A job whose definition tree was not read (listings leave it out: it is
/// the bulk of the row); its `definition` is null.
pub(super) fn job_from_row_without_definition(r: &Row) -> Result<JobRecord> {
    let state = r.text("state")?;
    Ok(JobRecord {
        id: r.text("id")?,
        tenant: r.text("tenant")?,
        name: r.opt_text("name")?,
        definition: Value::Null,
        definition_ref: r.opt_text("definition_ref")?,
        state: JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
        fields: match from_json("job fields", r.str("fields")?)? {
            Value::Object(m) => m,
            _ => return Err(corrupt("job fields", "not an object")),
        },
        error: r.opt_text("error")?.map(|e| from_json("job error", &e)).transpose()?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        finished_at: r.opt_int("finished_at")?,
        dry_run: r.opt_text("dry_run")?.map(|s| from_json("dry run stubs", &s)).transpose()?,
    })
}
