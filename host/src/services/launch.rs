//! Creating a job of a stored definition: the API's `POST /v1/jobs`, a
//! trigger's call and a schedule's tick all come here, so a job is made the
//! same way whoever asks.
//!
//! Guarantees: the definition is the tenant's own (another tenant's name is
//! "no such definition", as a missing one is); the job records which
//! version it runs (`name@version`); with an id given, creating the same
//! job twice creates it once (a schedule's tick, from any process).

use crate::engine::{Engine, EngineError, NewJob};
use crate::language::Definition;
use crate::model::Fields;
use crate::store::{Store, StoreError};

/// Why a job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The tenant has no such definition (or no such version of it).
    #[error("no such definition: {0}")]
    NoDefinition(String),
    /// The stored definition could not be read back.
    #[error("stored definition {name}: {message}")]
    Corrupt {
        /// The definition's name.
        name: String,
        /// Why its stored tree does not read.
        message: String,
    },
    /// The engine refused the job (see [`EngineError`]).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A job to create from a stored definition.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Whose definition, and whose job.
    pub tenant: String,
    /// The definition's name.
    pub definition: String,
    /// Its version; the latest when `None`.
    pub version: Option<i64>,
    /// The job's initial fields.
    pub fields: Fields,
    /// Start it now (`false`: leave it pending until started).
    pub start: bool,
    /// The job's id, when the caller derives it (a schedule's tick).
    pub id: Option<String>,
    /// Make it a dry run, answered from these stubs (JSON); see `Engine::create`.
    pub dry_run: Option<serde_json::Value>,
}

/// The tenant's definition `name` (at `version`, else its latest) and its
/// reference, `name@version`.
///
/// # Errors
/// [`LaunchError::NoDefinition`] when the tenant has no such definition or
/// version; [`LaunchError::Corrupt`] when the stored tree does not read back.
pub async fn load_definition(
    store: &Store,
    tenant: &str,
    name: &str,
    version: Option<i64>,
) -> Result<(Definition, String), LaunchError> {
    let record = store.catalogue().definition(tenant, name, version).await?.ok_or_else(|| {
        LaunchError::NoDefinition(match version {
            Some(v) => format!("{name}@{v}"),
            None => name.to_owned(),
        })
    })?;
    let definition = crate::language::json::definition_from_json(&record.tree)
        .map_err(|e| LaunchError::Corrupt { name: name.to_owned(), message: e.to_string() })?;
    Ok((definition, format!("{}@{}", record.name, record.version)))
}

/// Creates (and, with `start`, launches) a job of a stored definition;
/// returns its id.
///
/// # Errors
/// Those of [`load_definition`], and the engine's (the definition names a
/// participant the tenant does not have, the fields are too large...).
pub async fn launch_stored(store: &Store, engine: &Engine, launch: Launch) -> Result<String, LaunchError> {
    let (definition, reference) = load_definition(store, &launch.tenant, &launch.definition, launch.version).await?;
    let job = NewJob {
        id: launch.id,
        tenant: launch.tenant,
        definition: &definition,
        fields: launch.fields,
        name: Some(launch.definition),
        definition_ref: Some(reference),
        start: launch.start,
        dry_run: launch.dry_run,
    };
    Ok(engine.create(job).await?)
}
