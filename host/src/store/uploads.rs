//! Participant uploads on their way to becoming participants.
//!
//! Compiling an 18 MB Python component takes Cranelift tens of seconds, so
//! an upload is stored here `compiling` and answered at once; the compile
//! queue (`services::uploads`) then makes it a participants row (`ready`)
//! or records why it was refused (`failed`).
//!
//! Guarantees: an upload becomes at most one participant version, even
//! when two processes compile it (the one whose `UPDATE ... WHERE state =
//! 'compiling'` matches makes it, in the same transaction); every change of
//! state bumps the tenant's revision, so a tenant's runtime knows what is
//! still compiling; the bytes are kept only while they are needed.

use super::sql::{Row, args, statements};
use super::{Catalogue, Result, from_json};
use serde_json::Value;

/// Where an upload is: `compiling`, `ready` or `failed`.
pub const COMPILING: &str = "compiling";
/// It became a participant version.
pub const READY: &str = "ready";
/// It was refused; its error says why.
pub const FAILED: &str = "failed";

/// One upload, without its bytes.
#[derive(Debug, Clone)]
pub struct UploadRecord {
    /// Its id, which the API hands back to poll.
    pub id: String,
    /// The tenant that uploaded it.
    pub tenant: String,
    /// The name asked for at upload, or (once described) the component's.
    pub name: Option<String>,
    /// The hex SHA-256 of the component's bytes.
    pub sha256: String,
    /// The capabilities the tenant granted it.
    pub grants: Vec<String>,
    /// [`COMPILING`], [`READY`] or [`FAILED`].
    pub state: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The participant version it became, once ready.
    pub version: Option<i64>,
    /// When it was uploaded, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it became ready or failed.
    pub finished_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, tenant, name, sha256, grants, state, error, version, created_at, finished_at"
    };
}

fn from_row(r: &Row) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: r.text("id")?,
        tenant: r.text("tenant")?,
        name: r.opt_text("name")?,
        sha256: r.text("sha256")?,
        grants: from_json("upload grants", r.str("grants")?)?,
        state: r.text("state")?,
        error: r.opt_text("error")?,
        version: r.opt_int("version")?,
        created_at: r.int("created_at")?,
        finished_at: r.opt_int("finished_at")?,
    })
}

statements! {
    INSERT_UPLOAD = "INSERT INTO participant_uploads (id, tenant, name, wasm, sha256, grants, state, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'compiling', $7)";
    UPLOAD = concat!("SELECT ", columns!(), " FROM participant_uploads WHERE tenant = $1 AND id = $2");
    COMPILING_UPLOAD = concat!("SELECT ", columns!(), ", wasm FROM participant_uploads WHERE id = $1 AND state = 'compiling'");
    COMPILING_IDS = "SELECT id FROM participant_uploads WHERE state = 'compiling' ORDER BY created_at, id";
    /// Those still compiling and those that failed since `$2`, oldest first.
    UNFINISHED_UPLOADS = concat!(
        "SELECT ", columns!(), " FROM participant_uploads WHERE tenant = $1
         AND (state = 'compiling' OR (state = 'failed' AND finished_at >= $2)) ORDER BY created_at, id"
    );
    LATEST_UPLOAD_NAMED = concat!(
        "SELECT ", columns!(), " FROM participant_uploads WHERE tenant = $1 AND name = $2
         ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    CLAIM_READY = "UPDATE participant_uploads SET state = 'ready', name = $2, finished_at = $3
                   WHERE id = $1 AND state = 'compiling'";
    UPLOAD_BYTES = "SELECT tenant, wasm, sha256, grants, created_at FROM participant_uploads WHERE id = $1";
    SET_UPLOAD_VERSION = "UPDATE participant_uploads SET version = $2, wasm = $3 WHERE id = $1";
    FAIL_UPLOAD = "UPDATE participant_uploads SET state = 'failed', error = $2, wasm = $3, finished_at = $4
                   WHERE id = $1 AND state = 'compiling'";
    FORGET_FAILED = "DELETE FROM participant_uploads WHERE state = 'failed' AND finished_at < $1";
}

impl Catalogue {
    /// Stores an upload, `compiling`, and bumps the tenant's revision.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn insert_upload(&self, u: &UploadRecord, wasm: &[u8]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let grants = serde_json::to_string(&u.grants).unwrap_or_else(|_| "[]".into());
        tx.execute(
            &INSERT_UPLOAD,
            args![&u.id, &u.tenant, u.name.clone(), wasm.to_vec(), &u.sha256, grants, u.created_at],
        )
        .await?;
        super::tenants::bump_revision(&mut tx, &u.tenant).await?;
        tx.commit().await
    }

    /// One of the tenant's uploads.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or the
    /// row cannot be read.
    pub async fn upload(&self, tenant: &str, id: &str) -> Result<Option<UploadRecord>> {
        self.db.fetch_optional(&UPLOAD, args![tenant, id]).await?.as_ref().map(from_row).transpose()
    }

    /// An upload still compiling, with its bytes; `None` once it is not.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or the
    /// row cannot be read.
    pub async fn compiling_upload(&self, id: &str) -> Result<Option<(UploadRecord, Vec<u8>)>> {
        let Some(row) = self.db.fetch_optional(&COMPILING_UPLOAD, args![id]).await? else { return Ok(None) };
        Ok(Some((from_row(&row)?, row.blob("wasm")?)))
    }

    /// Every tenant's uploads still compiling, oldest first: what a
    /// restarted server resumes.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn compiling_uploads(&self) -> Result<Vec<String>> {
        self.db.fetch_all(&COMPILING_IDS, args![]).await?.iter().map(|r| r.text("id")).collect()
    }

    /// The tenant's uploads still compiling and those that failed at or
    /// after `failed_since`, oldest first.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or a
    /// row cannot be read.
    pub async fn unfinished_uploads(&self, tenant: &str, failed_since: i64) -> Result<Vec<UploadRecord>> {
        self.db.fetch_all(&UNFINISHED_UPLOADS, args![tenant, failed_since]).await?.iter().map(from_row).collect()
    }

    /// The tenant's latest upload of `name` (asked for, or described).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails or the
    /// row cannot be read.
    pub async fn latest_upload_named(&self, tenant: &str, name: &str) -> Result<Option<UploadRecord>> {
        self.db.fetch_optional(&LATEST_UPLOAD_NAMED, args![tenant, name]).await?.as_ref().map(from_row).transpose()
    }

    /// Makes a compiled upload the next version of `name`, described by
    /// `description`, drops its bytes from the upload and bumps the
    /// tenant's revision, in one transaction. `None` when the upload was
    /// no longer compiling (another process finished it first).
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn finish_upload(&self, id: &str, name: &str, description: &Value, at: i64) -> Result<Option<i64>> {
        let mut tx = self.db.begin().await?;
        if tx.execute(&CLAIM_READY, args![id, name, at]).await? == 0 {
            return Ok(None);
        }
        let row = tx.fetch_one(&UPLOAD_BYTES, args![id]).await?;
        let tenant = row.text("tenant")?;
        let next = tx.fetch_one(&super::participants::NEXT_VERSION, args![&tenant, name]).await?.int("next")?;
        tx.execute(
            &super::participants::INSERT_PARTICIPANT,
            args![
                &tenant,
                name,
                next,
                row.blob("wasm")?,
                row.text("sha256")?,
                row.text("grants")?,
                description.to_string(),
                row.int("created_at")?
            ],
        )
        .await?;
        tx.execute(&SET_UPLOAD_VERSION, args![id, next, Vec::<u8>::new()]).await?;
        super::tenants::bump_revision(&mut tx, &tenant).await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    /// Records why a compiling upload was refused, drops its bytes and
    /// bumps the tenant's revision; forgets failures older than
    /// `forget_before`. False when it was no longer compiling.
    ///
    /// # Errors
    /// A [`StoreError`](super::StoreError) when the database fails.
    pub async fn fail_upload(&self, tenant: &str, id: &str, error: &str, at: i64, forget_before: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = tx.execute(&FAIL_UPLOAD, args![id, error, Vec::<u8>::new(), at]).await? > 0;
        tx.execute(&FORGET_FAILED, args![forget_before]).await?;
        super::tenants::bump_revision(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(done)
    }
}
