//! A job's events as Server-Sent Events: a `state` event first (the job as
//! `GET /v1/jobs/{id}` shows it, step history included), then the job's
//! stored events — `step_started`, `step_finished`, `log`, `progress`,
//! `echo`, `step_failed`, `finished` — each with its number in the job's
//! sequence as the SSE `id`, then `state` again whenever the state changes.
//!
//! Guarantees:
//! - Events come from the store, where each was written by the transaction
//!   of the batch that produced it and numbered 1, 2, ... without gaps in
//!   the order they happened: a stream delivers each event once, in that
//!   order, whichever process runs the job (this process's engine only
//!   wakes the stream early; other processes' jobs are read each second).
//! - A stream starts after `Last-Event-ID` (a reconnecting client) or
//!   `?after=N`, else with the job's first event: opened before the launch,
//!   mid-run or after the end, it shows the same events. Only events older
//!   than the job's retention (`events_per_job`) are gone.
//! - The stream ends only once the job is over (completed, canceled or
//!   failed) and every event up to the last one stored with that state was
//!   sent: a job's final state and its last events commit together.
//!
//! The tenant's secret values are redacted from everything sent.

use super::AppState;
use super::auth::{Principal, Scope};
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use super::jobs::{job_view, redact_value, tenant_job};
use crate::model::JobState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Events read from the store at once.
const PAGE: i64 = 256;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(job_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Start after the event with this number (as `Last-Event-ID`, which
    /// wins when both are given); from the first event when absent.
    pub after: Option<i64>,
}

fn over(state: JobState) -> bool {
    state.is_final() || state == JobState::Failed
}

/// A job's events (text/event-stream): replayed from the start, from
/// `Last-Event-ID` or from `after`, then live, until the job is over.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", params(("id" = String, Path), EventsQuery),
    responses((status = 200, description = "a stream of Server-Sent Events", content_type = "text/event-stream", body = String),
              (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn job_events(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tenant = who.tenant(Scope::Read)?.to_owned();
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event number".into()))?,
        ),
        None => None,
    };
    let after = last_event_id.or(query.after).unwrap_or(0).max(0);
    // Subscribed before anything is read: an event stored meanwhile wakes us.
    let mut live = state.engine.subscribe();
    let job = tenant_job(&state, &tenant, &id).await?;
    let history = state.store.history(&id).await?;
    let running = state.store.running_steps(&id).await?;
    let secrets = state.tenancy.secret_values(&tenant).await?;
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(async move {
        let mut shown = job.state;
        let first = job_view(job, Some(history), &secrets).with_running(running);
        if tx.send(sse("state", &serde_json::to_value(first).unwrap_or(Value::Null))).await.is_err() {
            return;
        }
        let mut cursor = after;
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Everything stored after the cursor, in order.
            loop {
                let Ok(page) = state.store.events_after(&id, cursor, PAGE).await else { return };
                let full = page.len() as i64 == PAGE;
                for e in page {
                    let event = sse(&e.kind, &redact_value(e.data, &secrets)).id(e.seq.to_string());
                    if tx.send(event).await.is_err() {
                        return;
                    }
                    cursor = e.seq;
                }
                if !full {
                    break;
                }
            }
            // The state and the last event's number, read together.
            let Ok(Some((now, last))) = state.store.event_cursor(&id).await else { return };
            if cursor < last {
                continue;
            }
            if now != shown {
                shown = now;
                let Ok(Some(job)) = state.store.job(&id).await else { return };
                let view = serde_json::to_value(job_view(job, None, &secrets)).unwrap_or(Value::Null);
                if tx.send(sse("state", &view)).await.is_err() {
                    return;
                }
            }
            if over(now) {
                return;
            }
            // Woken by this process's events of the job, or each second
            // (another process may be running it).
            loop {
                tokio::select! {
                    received = live.recv() => match received {
                        Ok(e) if e.job_id == id => break,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = poll.tick() => break,
                    _ = tx.closed() => return,
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
