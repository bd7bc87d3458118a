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

mod call;
pub mod chef;
mod describe;
mod duration;
mod error;
#[doc(hidden)]
pub mod guest;
pub mod http;
pub mod log;
pub mod ssh;

/// The raw bindings generated from `wit/participant.wit`.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "participant",
        path: "../../wit",
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

/// Capability interfaces without a higher-level helper yet, as generated.
pub mod ec2 {
    pub use crate::bindings::mastermind::participant::ec2::*;
}

/// Sleeps without holding a host thread; cut short by the call's deadline.
pub fn sleep(duration: std::time::Duration) {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    bindings::mastermind::participant::timer::sleep(ms);
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
        log, sleep,
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

/// Exports a [`Participant`] implementation as the component's entry points.
#[macro_export]
macro_rules! export {
    ($participant:ty) => {
        struct __MastermindGuest;

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

        $crate::bindings::export_guest!(__MastermindGuest with_types_in $crate::bindings);
    };
}
