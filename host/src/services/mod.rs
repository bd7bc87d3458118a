//! The server's services, used alike by `mastermind serve`, `mastermind
//! worker` and `mastermind run`: below the HTTP API, above the engine and
//! the store.
//!
//! - [`tenancy`]: each tenant's runtime — its participants with their
//!   grants, its secrets, its limits and its launch rate;
//! - [`launch`]: creating a job from a stored definition, the one way the
//!   API, triggers and schedules all do it;
//! - [`schedules`]: the loop that fires due schedules, in any process;
//! - [`metrics`]: what this process counts for `/metrics`;
//! - [`notify`]: the loop that posts webhook notifications, in any process;
//! - [`plan`]: a job's steps and the capability calls they made (a dry run's plan);
//! - [`uploads`]: the compile queue that makes uploads participants.
//!
//! Nothing here knows about HTTP: errors are this layer's own, and the API
//! renders them.

pub mod launch;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod schedules;
pub mod tenancy;
pub mod uploads;

pub use launch::{Launch, LaunchError, launch_stored, load_definition};
pub use metrics::Metrics;
pub use notify::Notifier;
pub use schedules::Scheduler;
pub use tenancy::{Builtin, ServerTenancy, TenantLimits};
pub use uploads::Compiler;
