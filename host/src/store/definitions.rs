//! Stored definitions, versioned.
//!
//! Guarantees: a version, once stored, never changes; pushing a definition
//! stores the next version number of that name (concurrent pushes of one
//! name get distinct versions or one fails, never a shared number); the
//! latest version is the highest.

use super::{Result, Store, corrupt};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct DefinitionRecord {
    pub tenant: String,
    pub name: String,
    pub version: i64,
    pub format: String,
    pub source: String,
    pub tree: Value,
    pub created_at: i64,
    pub created_by: Option<String>,
}

/// A definition's name, latest version and how many versions it has.
#[derive(Debug, Clone)]
pub struct DefinitionSummary {
    pub name: String,
    pub latest: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "tenant, name, version, format, source, tree, created_at, created_by";

fn from_row(r: &AnyRow) -> Result<DefinitionRecord> {
    let tree: String = r.get(5);
    Ok(DefinitionRecord {
        tenant: r.get(0),
        name: r.get(1),
        version: r.get(2),
        format: r.get(3),
        source: r.get(4),
        tree: serde_json::from_str(&tree).map_err(|e| corrupt("definition tree", e))?,
        created_at: r.get(6),
        created_by: r.get(7),
    })
}

impl Store {
    /// Stores `d` as the next version of its name; returns that version.
    pub async fn push_definition(&self, d: &DefinitionRecord) -> Result<i64> {
        // The primary key refuses a version taken by a concurrent push:
        // retry with the next number.
        let mut attempts = 0;
        loop {
            let next: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 FROM definitions WHERE tenant = $1 AND name = $2")
                .bind(&d.tenant)
                .bind(&d.name)
                .fetch_one(&self.pool)
                .await?
                .get(0);
            let done = sqlx::query(
                "INSERT INTO definitions (tenant, name, version, format, source, tree, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(&d.tenant)
            .bind(&d.name)
            .bind(next)
            .bind(&d.format)
            .bind(&d.source)
            .bind(d.tree.to_string())
            .bind(d.created_at)
            .bind(d.created_by.clone())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(next);
            }
            attempts += 1;
            if attempts > 10 {
                return Err(corrupt("definition version", "too many concurrent pushes of one name"));
            }
        }
    }

    /// One version (the latest when `version` is None).
    pub async fn definition(&self, tenant: &str, name: &str, version: Option<i64>) -> Result<Option<DefinitionRecord>> {
        let sql = match version {
            Some(_) => format!("SELECT {COLUMNS} FROM definitions WHERE tenant = $1 AND name = $2 AND version = $3"),
            None => format!("SELECT {COLUMNS} FROM definitions WHERE tenant = $1 AND name = $2 ORDER BY version DESC LIMIT 1"),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(name);
        if let Some(v) = version {
            query = query.bind(v);
        }
        query.fetch_optional(&self.pool).await?.as_ref().map(from_row).transpose()
    }

    /// Every version of a definition, oldest first.
    pub async fn definition_versions(&self, tenant: &str, name: &str) -> Result<Vec<DefinitionRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM definitions WHERE tenant = $1 AND name = $2 ORDER BY version");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(name).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// The tenant's definitions by name.
    pub async fn definitions(&self, tenant: &str) -> Result<Vec<DefinitionSummary>> {
        let rows = sqlx::query(
            "SELECT name, MAX(version), MAX(created_at) FROM definitions WHERE tenant = $1 GROUP BY name ORDER BY name",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| DefinitionSummary { name: r.get(0), latest: r.get(1), updated_at: r.get(2) }).collect())
    }
}
