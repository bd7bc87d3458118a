//! Test participant: does nothing, quickly; or a little CPU work (`fib`);
//! or sleeps in the host (`sleep`). Used by tests and benchmarks.

use mastermind_sdk::prelude::*;
use std::time::Duration;

struct Noop;

impl Participant for Noop {
    fn describe() -> Description {
        Description::new("noop", "Does nothing, for tests and benchmarks")
            .action(Action::new("noop", "Returns no field updates"))
            .action(Action::new("fib", "Computes fib(n) recursively into the field `fib`").required(
                "n",
                Kind::Integer,
                "which Fibonacci number",
            ))
            .action(Action::new("sleep", "Sleeps in the host, then sets `slept_ms`").required(
                "ms",
                Kind::Integer,
                "how long",
            ))
    }

    fn invoke(call: Call) -> Result<Fields> {
        match call.action.as_str() {
            "noop" => Ok(Fields::new()),
            "fib" => {
                let n: u32 = call.param("n")?;
                Ok(fields! { "fib" => fib(n.min(40)) })
            }
            "sleep" => {
                let ms: u64 = call.param("ms")?;
                sleep(Duration::from_millis(ms));
                Ok(fields! { "slept_ms" => ms })
            }
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

fn fib(n: u32) -> u64 {
    if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) }
}

mastermind_sdk::export!(Noop);
