//! Write a Mastermind participant in one small file.
//!
//! A participant is a WebAssembly component (wasm32-wasip2) that Mastermind
//! calls for each workflow step. This crate hides the WIT bindings: implement
//! [`Participant`], call [`export!`], and build with
//! `cargo build --target wasm32-wasip2 --release`.
//!
//! ```ignore
//! use mastermind_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Participant for Greeter {
//!     fn describe() -> Description {
//!         Description::new("greeter", "Says hello")
//!             .action(Action::new("greet", "Puts a greeting into the fields")
//!                 .required("name", Kind::String, "who to greet"))
//!     }
//!
//!     fn invoke(call: Call) -> Result<Fields> {
//!         let name: String = call.param("name")?;
//!         Ok(fields! { "greeting" => format!("hello, {name}") })
//!     }
//! }
//!
//! mastermind_sdk::export!(Greeter);
//! ```
//!
//! Before [`Participant::invoke`] runs, the SDK checks the call against the
//! description: an unknown action, a missing required param or a param of
//! the wrong JSON type fails the step with one `bad-input` error that lists
//! every problem, so an action's body can assume its params are present.
//!
//! The same code runs natively under `cargo test`: [`testing`] calls a
//! participant as the host would, with the host's capabilities answered by
//! a stub the test provides (or a `denied` error saying they are not
//! available in unit tests).

mod call;
pub mod chef;
mod describe;
mod duration;
mod error;
#[doc(hidden)]
pub mod guest;
pub mod http;
mod imports;
pub mod log;
pub mod ssh;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// The raw bindings generated from `wit/participant.wit`.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "participant",
        // The crate's own copy of the contract, so that it builds wherever
        // it is copied (`mastermind participant new` writes it into each
        // new project); the host's tests check it equals the repository's.
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_guest",
        default_bindings_module: "mastermind_sdk::bindings",
        generate_all,
    });
}

pub use call::{Call, Context, Fields};
pub use describe::{Action, Description, Kind};
pub use duration::parse_duration;
pub use error::{Error, ErrorKind, Result};
pub use serde_json::{self, Value, json};

/// Amazon EC2 through the host: the host holds the credentials (a call
/// names the secret) and the endpoint. The types are the contract's.
pub mod ec2 {
    pub use crate::bindings::mastermind::participant::ec2::{Instance, RunRequest, StateAction, StateChange, Tag};
    use crate::{Result, imports};

    /// Launches `request.count` instances; the same `client_token` never
    /// launches twice.
    pub fn run_instances(credentials: &str, request: &RunRequest) -> Result<Vec<Instance>> {
        Ok(imports::run_instances(credentials, request)?)
    }

    /// The given instances; with no ids, the live ones matching `filters`
    /// (EC2 filter name and accepted values, e.g. `tag:Name` -> `web`).
    pub fn describe_instances(
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        filters: &[(String, Vec<String>)],
    ) -> Result<Vec<Instance>> {
        Ok(imports::describe_instances(credentials, region, instance_ids, filters)?)
    }

    /// Starts, stops, reboots or terminates instances (a reboot reports no
    /// state change).
    pub fn change_state(
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        action: StateAction,
    ) -> Result<Vec<StateChange>> {
        Ok(imports::change_state(credentials, region, instance_ids, action)?)
    }
}

/// What a call leaves behind when it fails.
pub mod outcome {
    use crate::{Fields, Result, imports};

    /// Keeps `fields` in the job's workitem even if this call then fails:
    /// call it as soon as something exists that an error handler must
    /// clean up (an instance just launched), since a trap or a deadline
    /// ends the call before any error is returned. Later calls add to
    /// earlier ones; a successful result is merged over them.
    /// [`Error::with_fields`](crate::Error::with_fields) does the same for
    /// the error an action returns.
    pub fn keep(fields: Fields) -> Result<()> {
        Ok(imports::keep(&serde_json::Value::Object(fields).to_string())?)
    }
}

/// Sleeps without holding a host thread; cut short by the call's deadline.
/// Under [`testing`] it returns at once and the time is added up instead.
pub fn sleep(duration: std::time::Duration) {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    imports::sleep(ms);
}

/// What a participant implements.
pub trait Participant {
    /// The participant's name, actions and params. Called once when the
    /// component is loaded, and before every call to validate params.
    fn describe() -> Description;

    /// Runs one action. Returns the field updates to merge into the job.
    fn invoke(call: Call) -> Result<Fields>;
}

/// Everything a participant file needs.
pub mod prelude {
    pub use crate::{
        Action, Call, Context, Description, Error, ErrorKind, Fields, Kind, Participant, Result, Value, fields, json,
        log, outcome, sleep,
    };
}

/// Builds a [`Fields`] map: `fields! { "a" => 1, "b" => "two" }`.
#[macro_export]
macro_rules! fields {
    ($($key:expr => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = $crate::Fields::new();
        $( map.insert(::std::string::String::from($key), $crate::json!($value)); )*
        map
    }};
}

/// Exports a [`Participant`] implementation as the component's entry
/// points. Only on wasm32: a native build (`cargo test`) has no component
/// to export, and calls the participant through [`testing`] instead.
#[macro_export]
macro_rules! export {
    ($participant:ty) => {
        #[cfg(target_arch = "wasm32")]
        struct __MastermindGuest;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::Guest for __MastermindGuest {
            fn describe() -> $crate::bindings::mastermind::participant::types::Description {
                $crate::guest::describe::<$participant>()
            }

            fn invoke(
                action: ::std::string::String,
                params: ::std::string::String,
                fields: ::std::string::String,
                context: $crate::bindings::mastermind::participant::types::Context,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::bindings::mastermind::participant::types::CallError,
            > {
                $crate::guest::invoke::<$participant>(action, params, fields, context)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_guest!(__MastermindGuest with_types_in $crate::bindings);

        // Natively, still check that the type is a participant.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = || {
            fn is_participant<P: $crate::Participant>() {}
            is_participant::<$participant>();
        };
    };
}
