//! Every call into the host goes through here: on wasm32 to the
//! component's imports, natively to [`crate::testing`]'s test host, so a
//! participant's own code is the same in both and runs under `cargo test`.
//! Both sides have the generated imports' signatures.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::mastermind::participant::{
    chef::send as chef_send,
    ec2::{change_state, describe_instances, run_instances},
    http::send as http_send,
    log::{log, progress},
    outcome::keep,
    ssh::exec as ssh_exec,
    timer::sleep,
};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::host::*;
