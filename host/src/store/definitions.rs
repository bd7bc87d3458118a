//! Stored definitions, versioned.
//!
//! Guarantees: a version, once stored, never changes; pushing a definition
//! stores the next version number of that name (concurrent pushes of one
//! name get distinct versions or one fails, never a shared number); the
//! latest version is the highest.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result, corrupt, from_json};
use serde_json::Value;

/// One version of a stored definition: its source as pushed and the tree
/// jobs launched from it run.
#[derive(Debug, Clone)]
pub struct DefinitionRecord {
    /// The tenant that owns it.
    pub tenant: String,
    /// Its name, unique in the tenant.
    pub name: String,
    /// From 1, one more for each push of the name (assigned by
    /// [`Catalogue::push_definition`]).
    pub version: i64,
    /// How `source` is written: `mastermind` (text) or `json` (a tree).
    pub format: String,
    /// The text as pushed.
    pub source: String,
    /// `source` parsed: what a job launched from this version runs.
    pub tree: Value,
    /// When it was pushed, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The id of the token that pushed it.
    pub created_by: Option<String>,
}

/// A definition's name, latest version and when that version was pushed.
#[derive(Debug, Clone)]
pub struct DefinitionSummary {
    /// Its name.
    pub name: String,
    /// Its highest version.
    pub latest: i64,
    /// When its latest version was pushed.
    pub updated_at: i64,
}

/// The columns [`from_row`] reads (a macro: `concat!` takes literals).
macro_rules! columns {
    () => {
        "tenant, name, version, format, source, tree, created_at, created_by"
    };
}

statements! {
    NEXT_VERSION = "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM definitions WHERE tenant = $1 AND name = $2";
    INSERT_DEFINITION = "INSERT INTO definitions (tenant, name, version, format, source, tree, created_at, created_by)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
    DEFINITION_VERSION =
        concat!("SELECT ", columns!(), " FROM definitions WHERE tenant = $1 AND name = $2 AND version = $3");
    DEFINITION_LATEST = concat!(
        "SELECT ", columns!(), " FROM definitions WHERE tenant = $1 AND name = $2 ORDER BY version DESC LIMIT 1"
    );
    DEFINITION_VERSIONS =
        concat!("SELECT ", columns!(), " FROM definitions WHERE tenant = $1 AND name = $2 ORDER BY version");
    DEFINITIONS = "SELECT name, MAX(version) AS latest, MAX(created_at) AS updated_at FROM definitions
                   WHERE tenant = $1 GROUP BY name ORDER BY name";
}

fn from_row(r: &Row) -> Result<DefinitionRecord> {
    Ok(DefinitionRecord {
        tenant: r.text("tenant")?,
        name: r.text("name")?,
        version: r.int("version")?,
        format: r.text("format")?,
        source: r.text("source")?,
        tree: from_json("definition tree", r.str("tree")?)?,
        created_at: r.int("created_at")?,
        created_by: r.opt_text("created_by")?,
    })
}

impl Catalogue {
    /// Stores `d` as the next version of its name (its `version` is
    /// ignored); returns that version.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails, or when
    /// concurrent pushes of the name took ten versions in a row before this
    /// one could.
    pub async fn push_definition(&self, d: &DefinitionRecord) -> Result<i64> {
        // The primary key refuses a version taken by a concurrent push:
        // retry with the next number.
        let mut attempts = 0;
        loop {
            let next = self.db.fetch_one(&NEXT_VERSION, args![&d.tenant, &d.name]).await?.int("next")?;
            let done = self
                .db
                .execute(
                    &INSERT_DEFINITION,
                    args![
                        &d.tenant,
                        &d.name,
                        next,
                        &d.format,
                        &d.source,
                        d.tree.to_string(),
                        d.created_at,
                        d.created_by.clone()
                    ],
                )
                .await?;
            if done == 1 {
                return Ok(next);
            }
            attempts += 1;
            if attempts > 10 {
                return Err(corrupt("definition version", "too many concurrent pushes of one name"));
            }
        }
    }

    /// One version (the latest when `version` is None); None when there is
    /// no such definition or version.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn definition(&self, tenant: &str, name: &str, version: Option<i64>) -> Result<Option<DefinitionRecord>> {
        let sql = if version.is_some() { &DEFINITION_VERSION } else { &DEFINITION_LATEST };
        let mut args = args![tenant, name];
        args.extend(version.map(Into::into));
        self.db.fetch_optional(sql, args).await?.as_ref().map(from_row).transpose()
    }

    /// Every version of a definition, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn definition_versions(&self, tenant: &str, name: &str) -> Result<Vec<DefinitionRecord>> {
        self.db.fetch_all(&DEFINITION_VERSIONS, args![tenant, name]).await?.iter().map(from_row).collect()
    }

    /// The tenant's definitions by name.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// stored row cannot be read.
    pub async fn definitions(&self, tenant: &str) -> Result<Vec<DefinitionSummary>> {
        let rows = self.db.fetch_all(&DEFINITIONS, args![tenant]).await?;
        rows.iter()
            .map(|r| {
                Ok(DefinitionSummary {
                    name: r.text("name")?,
                    latest: r.int("latest")?,
                    updated_at: r.int("updated_at")?,
                })
            })
            .collect()
    }
}
