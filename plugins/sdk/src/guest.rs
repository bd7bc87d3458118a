//! Glue between the generated bindings and [`Participant`]: used by the
//! [`export!`](crate::export) macro on wasm32, and by [`crate::testing`]
//! natively, so a test goes through the same checks as a real call.

use crate::bindings::mastermind::participant::types as wit;
use crate::{Call, Context, Error, Fields, Participant};
use serde_json::{Map, Value};

pub fn describe<P: Participant>() -> wit::Description {
    P::describe().into_wit()
}

pub fn invoke<P: Participant>(
    action: String,
    params: String,
    fields: String,
    context: wit::Context,
) -> Result<String, wit::CallError> {
    let context = Context {
        job_id: context.job_id,
        step_id: context.step_id,
        attempt: context.attempt,
        idempotency_key: context.idempotency_key,
        tenant: context.tenant,
        settings: context.settings,
    };
    let parsed = object("params", &params).and_then(|p| Ok((p, object("fields", &fields)?)));
    let result = parsed.and_then(|(params, fields)| run::<P>(Call { action, params, fields, context }));
    match result {
        Ok(updates) => Ok(Value::Object(updates).to_string()),
        Err(e) => Err(failed(e)),
    }
}

/// The error as the contract returns it; its kept fields travel beside
/// it (the contract's `outcome.keep`).
pub(crate) fn failed(mut e: Error) -> wit::CallError {
    if let Some(kept) = e.fields.take() {
        let _ = crate::imports::keep(&Value::Object(kept).to_string());
    }
    e.into()
}

/// Checks the call against the participant's description, then runs it.
pub(crate) fn run<P: Participant>(call: Call) -> crate::Result<Fields> {
    let description = P::describe();
    let Some(spec) = description.find(&call.action) else {
        let known: Vec<&str> = description.actions.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::bad_input(format!(
            "participant '{}' has no action '{}' (known: {})",
            description.name,
            call.action,
            known.join(", ")
        )));
    };
    let problems = spec.check(&call.params);
    if !problems.is_empty() {
        return Err(Error::bad_input(format!("{}: {}", call.action, problems.join("; "))));
    }
    P::invoke(call)
}

pub(crate) fn object(what: &str, text: &str) -> crate::Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_input(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::bad_input(format!("{what} is not valid JSON: {e}"))),
    }
}
