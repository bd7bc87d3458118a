//! A job's live events as Server-Sent Events: a `state` event first (the
//! job as `GET /v1/jobs/{id}` shows it, step history included), then
//! `step_started`, `step_finished`, `log`, `progress`, `echo`,
//! `step_failed`, and `state` again whenever the state changes; the stream
//! ends after the job completes, fails or is canceled.
//!
//! Events come from the engine of this process; the job's state is also
//! polled every second, so a job run by another process sharing the
//! database still shows its state changes and the stream still ends.

use super::AppState;
use super::auth::{Principal, Scope};
use super::error::{ApiPath, ApiResult};
use super::jobs::{job_view, redact_value, tenant_job};
use crate::engine::{Event as EngineEvent, FlowEvent, JobState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(job_events))
}

fn over(state: JobState) -> bool {
    state.is_final() || state == JobState::Failed
}

/// Live events of a job (text/event-stream).
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "a stream of Server-Sent Events", content_type = "text/event-stream", body = String),
              (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
async fn job_events(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tenant = who.tenant(Scope::Read)?.to_owned();
    // Subscribe before reading the state, so nothing falls in between.
    let mut events = state.engine.subscribe();
    let job = tenant_job(&state, &tenant, &id).await?;
    let history = state.store.history(&id).await?;
    let running = state.store.running_steps(&id).await?;
    let secrets = state.tenancy.secret_values(&tenant).await?;
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(async move {
        let mut last = job.state;
        let first = sse(
            "state",
            &serde_json::to_value(job_view(job, Some(history), &secrets).with_running(running)).unwrap_or(Value::Null),
        );
        if tx.send(first).await.is_err() || over(last) {
            return;
        }
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        loop {
            // The state is read when the job may have ended, and each second.
            let check = tokio::select! {
                received = events.recv() => match received {
                    Ok(e) if e.job_id == id => {
                        let ends = matches!(e.event, EngineEvent::Flow(FlowEvent::Finished { .. } | FlowEvent::StepFailed { .. }));
                        if !forward(&tx, e.event, &secrets).await {
                            return;
                        }
                        ends
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => false,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick() => true,
                _ = tx.closed() => return,
            };
            if !check {
                continue;
            }
            let Ok(Some(job)) = state.store.job(&id).await else { return };
            if job.state != last {
                // Events already received come before the new state.
                while let Ok(e) = events.try_recv() {
                    if e.job_id == id && !forward(&tx, e.event, &secrets).await {
                        return;
                    }
                }
                last = job.state;
                let view = serde_json::to_value(job_view(job, None, &secrets)).unwrap_or(Value::Null);
                if tx.send(sse("state", &view)).await.is_err() || over(last) {
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Sends one engine event; false when the client is gone.
async fn forward(tx: &mpsc::Sender<Event>, event: EngineEvent, secrets: &[crate::capabilities::Secret]) -> bool {
    let (name, data) = describe(event);
    tx.send(sse(name, &redact_value(data, secrets))).await.is_ok()
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

fn describe(event: EngineEvent) -> (&'static str, Value) {
    let data = serde_json::to_value(&event).unwrap_or(Value::Null);
    let name = match &event {
        EngineEvent::StepStarted { .. } => "step_started",
        EngineEvent::StepFinished { .. } => "step_finished",
        EngineEvent::Log { .. } => "log",
        EngineEvent::Progress { .. } => "progress",
        EngineEvent::Flow(FlowEvent::Echo { .. }) => "echo",
        EngineEvent::Flow(FlowEvent::StepFailed { .. }) => "step_failed",
        EngineEvent::Flow(FlowEvent::Finished { state }) => return ("finished", json!({ "state": state.as_str() })),
    };
    (name, data)
}
