//! Glue between the generated bindings and [`Participant`]; used by the
//! [`export!`](crate::export) macro only.

use crate::bindings::mastermind::participant::types as wit;
use crate::{Call, Context, Error, Participant};
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
    run::<P>(action, params, fields, context).map_err(|mut e| {
        // Kept fields travel beside the error (the contract's `outcome.keep`).
        if let Some(kept) = e.fields.take() {
            let _ = crate::bindings::mastermind::participant::outcome::keep(&Value::Object(kept).to_string());
        }
        e.into()
    })
}

fn run<P: Participant>(action: String, params: String, fields: String, context: wit::Context) -> crate::Result<String> {
    let params = object("params", &params)?;
    let fields = object("fields", &fields)?;
    let description = P::describe();
    let Some(spec) = description.find(&action) else {
        let known: Vec<&str> = description.actions.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::bad_input(format!(
            "participant '{}' has no action '{action}' (known: {})",
            description.name,
            known.join(", ")
        )));
    };
    let problems = spec.check(&params);
    if !problems.is_empty() {
        return Err(Error::bad_input(format!("{action}: {}", problems.join("; "))));
    }
    let call = Call {
        action,
        params,
        fields,
        context: Context {
            job_id: context.job_id,
            step_id: context.step_id,
            attempt: context.attempt,
            idempotency_key: context.idempotency_key,
            tenant: context.tenant,
            settings: context.settings,
        },
    };
    let updates = P::invoke(call)?;
    Ok(Value::Object(updates).to_string())
}

fn object(what: &str, text: &str) -> crate::Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::bad_input(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::bad_input(format!("{what} is not valid JSON: {e}"))),
    }
}
