//! Test participant for the engine's tests: records the order of calls in
//! the `trail` field, fails on demand, sleeps.

use mastermind_sdk::prelude::*;
use std::time::Duration;

struct Tester;

impl Participant for Tester {
    fn describe() -> Description {
        Description::new("tester", "Records calls, fails on demand")
            .action(
                Action::new("mark", "Appends `name` to the `trail` field and sets `last`")
                    .required("name", Kind::Any, "what to append")
                    .optional("sleep_ms", Kind::Integer, "sleep first"),
            )
            .action(
                Action::new("flaky", "Fails (retryable) until attempt `succeed_on`, then marks `name`")
                    .required("name", Kind::Any, "what to append")
                    .required("succeed_on", Kind::Integer, "the first attempt that succeeds"),
            )
            .action(
                Action::new("fail", "Always fails (fatal)").optional("message", Kind::String, "the error").optional(
                    "keep",
                    Kind::Object,
                    "field updates kept despite the failure",
                ),
            )
            .action(Action::new("set", "Returns its params as field updates").any_params("each becomes a field"))
            .default_action("mark")
    }

    fn invoke(call: Call) -> Result<Fields> {
        match call.action.as_str() {
            "mark" => {
                if let Some(ms) = call.optional::<u64>("sleep_ms")? {
                    sleep(Duration::from_millis(ms));
                }
                mark(&call)
            }
            "flaky" => {
                let succeed_on: u32 = call.param("succeed_on")?;
                if call.context.attempt < succeed_on {
                    return Err(Error::retryable(format!("flaky: attempt {} failed", call.context.attempt)));
                }
                mark(&call)
            }
            "fail" => {
                let error =
                    Error::fatal(call.optional::<String>("message")?.unwrap_or_else(|| "failed on purpose".into()));
                Err(match call.optional::<Fields>("keep")? {
                    Some(kept) => error.with_fields(kept),
                    None => error,
                })
            }
            "set" => Ok(call.params),
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

fn mark(call: &Call) -> Result<Fields> {
    let name: Value = call.param("name")?;
    let mut trail = match call.fields.get("trail") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    trail.push(name.clone());
    Ok(fields! { "trail" => trail, "last" => name })
}

mastermind_sdk::export!(Tester);
