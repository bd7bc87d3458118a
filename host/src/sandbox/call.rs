//! Running one call: a fresh store with its limits armed, the guest's
//! code under the deadline, its traps named, its output read.
//!
//! [`Calls`] is what a call needs from the sandbox (the engine, the host
//! services, the tenants' CPU shares), apart from loading.

use super::bindings::WitKind;
use super::bindings::mastermind::participant::types as wit;
use super::error::{CallError, ErrorKind, Limit};
use super::limits::{CallLimiter, LimitExceeded, human_duration};
use super::state::{self, CallState};
use super::{CallEnv, CallRequest, Limits, Outcome, Participant, STDERR_CAPTURE, cpu, engine};
use crate::capabilities::{CallCaps, HostServices, Redactor};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

pub(super) struct Calls {
    pub engine: Engine,
    pub services: Arc<HostServices>,
    pub cpu: Option<cpu::CpuShares>,
    pub max_memory_bytes: usize,
}

impl Calls {
    pub async fn invoke_unbounded(
        &self,
        participant: &Participant,
        request: CallRequest,
        env: &CallEnv,
    ) -> Result<Outcome, CallError> {
        let started = Instant::now();
        let params = to_object_text("params", &request.params)?;
        let fields = to_object_text("fields", &request.fields)?;
        let c = request.context;
        let mut store = self.store(env, &c.tenant);
        let context = wit::Context {
            job_id: c.job_id,
            step_id: c.step_id,
            attempt: c.attempt,
            idempotency_key: c.idempotency_key,
            tenant: c.tenant,
            settings: c.settings,
        };
        let result = run_bounded(&mut store, &env.limits, async |store| {
            let instance = participant.pre.instantiate_async(&mut *store).await?;
            instance.call_invoke(&mut *store, &request.action, &params, &fields, &context).await
        })
        .await;
        let caps = &store.data().caps;
        let kept = caps.kept.updates.clone();
        let result = match (result, caps.ledger.wasi_http_denial()) {
            (Err(e), Some(denial)) if e.kind == ErrorKind::Crashed => Err(denied_then_failed(denial, &e.message)),
            (Ok(Err(e)), Some(denial)) => {
                let mut error = denied_then_failed(denial, &caps.redact(&e.message));
                error.fields = (!kept.is_empty()).then(|| kept.clone());
                Err(error)
            }
            (result, _) => result,
        };
        match result? {
            Ok(text) => {
                if text.len() > env.limits.output_bytes {
                    return Err(CallError::limit(
                        Limit::Output,
                        format!(
                            "output limit exceeded: {} KiB of field updates, the limit is {} KiB",
                            text.len() / 1024,
                            env.limits.output_bytes / 1024
                        ),
                    ));
                }
                // Redacting and parsing up to 16 MiB is CPU work: off the
                // async workers when it is more than a little.
                let parsed = if text.len() <= 64 << 10 {
                    serde_json::from_str(&caps.redact(&text))
                } else {
                    let redactor = caps.redactor.clone();
                    tokio::task::spawn_blocking(move || serde_json::from_str(&redactor.redact(&text)))
                        .await
                        .map_err(|e| CallError::new(ErrorKind::Crashed, format!("reading the output failed: {e}")))?
                };
                let updates = match parsed {
                    Ok(Value::Object(map)) => {
                        // The result's own updates win over what was kept.
                        let mut updates = kept;
                        updates.extend(map);
                        updates
                    }
                    Ok(_) => {
                        return Err(CallError::new(
                            ErrorKind::Crashed,
                            "the participant returned field updates that are not a JSON object",
                        ));
                    }
                    Err(e) => {
                        return Err(CallError::new(
                            ErrorKind::Crashed,
                            format!("the participant returned invalid JSON: {e}"),
                        ));
                    }
                };
                Ok(Outcome { updates, denials: caps.ledger.denials(), elapsed: started.elapsed() })
            }
            Err(e) => {
                let kind = match e.kind {
                    WitKind::Retryable => ErrorKind::Retryable,
                    WitKind::Fatal => ErrorKind::Fatal,
                    WitKind::Denied => ErrorKind::Denied,
                    WitKind::BadInput => ErrorKind::BadInput,
                };
                let mut error = CallError::new(kind, caps.redact(&e.message));
                error.fields = (!kept.is_empty()).then_some(kept);
                Err(error)
            }
        }
    }

    /// A fresh store for one call, with its limits armed.
    pub fn store(&self, env: &CallEnv, tenant: &str) -> Store<CallState> {
        let deadline = Instant::now() + env.limits.deadline;
        let memory_bytes = env.limits.memory_bytes.min(self.max_memory_bytes);
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let state = CallState {
            wasi: state::wasi_context(&stderr),
            table: ResourceTable::new(),
            limiter: CallLimiter::new(memory_bytes),
            caps: CallCaps {
                grants: env.grants.clone(),
                secrets: env.secrets.clone(),
                services: self.services.clone(),
                events: env.events.clone(),
                dry_run: env.dry_run.clone().or_else(|| self.services.dry_run.clone()),
                tenant: tenant.to_owned(),
                deadline,
                log_budget: env.limits.log_bytes,
                ledger: Default::default(),
                memory_bytes,
                redactor: Redactor::default(),
                kept: Default::default(),
                output_limit: env.limits.output_bytes,
            },
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        let share = self.cpu.as_ref().map(|c| c.tenant(tenant));
        store.epoch_deadline_callback(move |_| {
            let now = Instant::now();
            if now >= deadline {
                return Err(LimitExceeded::new(Limit::Deadline, "deadline").into());
            }
            match &share {
                // Past the tenant's CPU share: wait for it (no longer than
                // the deadline), then the tick just run is charged.
                Some(share) if share.check().is_err() => {
                    let (share, left) = (share.clone(), deadline - now);
                    Ok(UpdateDeadline::YieldCustom(
                        1,
                        Box::pin(async move {
                            let _ = tokio::time::timeout(left, share.until_ready()).await;
                        }),
                    ))
                }
                // Yield to other calls on this thread at every tick.
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        store
    }
}

/// Runs `f` against the store under the call's deadline and turns traps
/// into errors that name their cause.
pub(super) async fn run_bounded<T>(
    store: &mut Store<CallState>,
    limits: &Limits,
    f: impl AsyncFnOnce(&mut Store<CallState>) -> wasmtime::Result<T>,
) -> Result<T, CallError> {
    // Host calls are cut at the deadline by the timer; guest code by the
    // epoch callback. The grace lets the epoch path report first.
    let budget = limits.deadline + engine::EPOCH_TICK * 4;
    let outcome = tokio::time::timeout(budget, f(store)).await;
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify_trap(e, store, limits)),
        Err(_) => Err(deadline_error(limits)),
    }
}

fn deadline_error(limits: &Limits) -> CallError {
    CallError::limit(
        Limit::Deadline,
        format!("deadline exceeded: the call ran longer than its {} limit", human_duration(limits.deadline)),
    )
}

fn classify_trap(error: wasmtime::Error, store: &Store<CallState>, limits: &Limits) -> CallError {
    if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
        return match limit.limit {
            Limit::Deadline => deadline_error(limits),
            _ => limit.clone().into_call_error(),
        };
    }
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return CallError::limit(Limit::Concurrency, format!("too many participant calls at once: {error}"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            return CallError::limit(
                Limit::Stack,
                "stack limit exceeded: the participant recursed past its wasm stack",
            );
        }
        Some(Trap::Interrupt) => return deadline_error(limits),
        _ => {}
    }
    let stderr = store.data().stderr.contents();
    let stderr = String::from_utf8_lossy(&stderr);
    let tail: Vec<&str> = stderr.lines().rev().filter(|l| !l.trim().is_empty()).take(3).collect();
    let mut message = format!("the participant crashed: {}", error.root_cause());
    if !tail.is_empty() {
        message = format!("{message}; stderr: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
    }
    CallError::new(ErrorKind::Crashed, store.data().caps.redact(&message))
}

/// A call that failed after one of its `wasi:http` requests was refused:
/// the refusal is the cause an operator needs (the guest saw only
/// `HTTP-request-denied`, a JavaScript `fetch` a bare `TypeError`), and
/// granting the host is what may help, so the call fails as `denied`.
fn denied_then_failed(denial: &str, failure: &str) -> CallError {
    let failure = crate::capabilities::clip(failure, 512);
    CallError::new(ErrorKind::Denied, format!("{denial}; the participant then failed: {failure}"))
}

fn to_object_text(what: &str, value: &Value) -> Result<String, CallError> {
    match value {
        Value::Object(_) => Ok(value.to_string()),
        Value::Null => Ok("{}".to_owned()),
        _ => Err(CallError::new(ErrorKind::BadInput, format!("{what} must be a JSON object"))),
    }
}
