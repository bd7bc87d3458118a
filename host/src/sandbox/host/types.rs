//! `types`: the contract's `call-error`, which every capability's error
//! becomes on its way back to the participant.

use crate::capabilities::{CallCaps, CapabilityError, CapabilityErrorKind};
use crate::sandbox::bindings::mastermind::participant::types;
use crate::sandbox::bindings::{WitError, WitKind};

impl types::Host for CallCaps {}

impl From<CapabilityErrorKind> for WitKind {
    fn from(kind: CapabilityErrorKind) -> Self {
        match kind {
            CapabilityErrorKind::Retryable => WitKind::Retryable,
            CapabilityErrorKind::Fatal => WitKind::Fatal,
            CapabilityErrorKind::Denied => WitKind::Denied,
            CapabilityErrorKind::BadInput => WitKind::BadInput,
        }
    }
}

impl From<CapabilityError> for WitError {
    fn from(e: CapabilityError) -> Self {
        WitError { kind: e.kind.into(), message: e.message }
    }
}

/// A capability's result as the participant receives it.
pub(super) fn wit_result<T, U: From<T>>(result: Result<T, CapabilityError>) -> Result<U, WitError> {
    result.map(U::from).map_err(WitError::from)
}

/// A capability's list result as the participant receives it.
pub(super) fn wit_list<T, U: From<T>>(result: Result<Vec<T>, CapabilityError>) -> Result<Vec<U>, WitError> {
    result.map(|items| items.into_iter().map(U::from).collect()).map_err(WitError::from)
}
