//! The smallest useful participant, and the example for participant authors:
//! `echo_echo message: 'hi'` logs the message and puts it into the fields;
//! `merge_echo a: 1, b: 2` copies its params into the fields.

use mastermind_sdk::prelude::*;

struct Echo;

impl Participant for Echo {
    fn describe() -> Description {
        Description::new("echo", "Echoes its params back into the job's fields")
            .action(
                Action::new("echo", "Logs `message` and sets the `echo` field to it")
                    .required("message", Kind::String, "the text to echo")
                    .optional("times", Kind::Integer, "how many times to repeat it (default 1)"),
            )
            .action(Action::new("merge", "Copies every param into the fields").any_params("each becomes a field"))
    }

    fn invoke(call: Call) -> Result<Fields> {
        match call.action.as_str() {
            "echo" => {
                let message: String = call.param("message")?;
                let times: usize = call.optional("times")?.unwrap_or(1);
                if times > 1000 {
                    return Err(Error::bad_input("times must be at most 1000"));
                }
                log::info(&message);
                Ok(fields! { "echo" => message.repeat(times) })
            }
            "merge" => Ok(call.params),
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

mastermind_sdk::export!(Echo);
