//! The on-disk cache of compiled components.
//!
//! Guarantees:
//! - An entry is keyed by the SHA-256 of the component's bytes and by the
//!   engine's compatibility hash (wasmtime version, target, settings), so a
//!   changed component or an upgraded host never reuses stale code.
//! - Only bytes this host compiled itself are ever deserialized: every entry
//!   carries an HMAC-SHA256 tag under a key generated on first use and kept
//!   beside the cache (mode 0600). An entry whose tag does not verify, a
//!   truncated entry or an unreadable one is ignored and recompiled.
//! - Entries are written to a temporary file and renamed, so a crash leaves
//!   either the old state or a whole entry.
//! - The cache is bounded: after each write, entries unused for longer than
//!   the maximum age go, then the least recently used until the total fits
//!   the maximum size (a hit refreshes an entry's modification time). A
//!   compiled component is many times its upload's size, and uploads are
//!   tenants' to make; only components that loaded are written at all.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;
const TAG_LEN: usize = 32;

/// Why the cache directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing under `path` failed.
    #[error("cache directory {path}: {source}")]
    Io {
        /// The directory or file concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How much compiled code the cache keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct CacheBounds {
    /// All entries together, in bytes.
    pub max_bytes: u64,
    /// An entry not used for this long is removed.
    pub max_age: Duration,
}

impl Default for CacheBounds {
    fn default() -> Self {
        CacheBounds { max_bytes: 2 << 30, max_age: Duration::from_secs(30 * 24 * 3600) }
    }
}

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    compat: String,
    bounds: CacheBounds,
}

impl ArtifactCache {
    pub fn open(dir: &Path, engine: &Engine, bounds: CacheBounds) -> Result<Self, CacheError> {
        let io = |source| CacheError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = load_or_create_key(&dir.join("cache.key")).map_err(io)?;
        // SipHash with fixed keys: stable across runs of the same build.
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache { dir: dir.to_owned(), key, compat: format!("{:016x}", hasher.finish()), bounds })
    }

    fn entry_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.compat))
    }

    /// The compiled component for `digest`, if a valid entry exists.
    pub fn get(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.entry_path(digest);
        let bytes = std::fs::read(&path).ok()?;
        let (code, tag) = bytes.split_at_checked(bytes.len().checked_sub(TAG_LEN)?)?;
        let mut mac = self.mac(digest);
        mac.update(code);
        if mac.verify_slice(tag).is_err() {
            tracing::warn!(digest, "compiled-code cache entry failed its integrity check; recompiling");
            return None;
        }
        // SAFETY: the tag proves these bytes are the output of
        // `Component::serialize` on this host (only it holds the key), and
        // the file name's compatibility hash matches this engine.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(c) => {
                // Recently used: the last to be evicted.
                let _ =
                    std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
                Some(c)
            }
            Err(e) => {
                tracing::warn!(digest, error = %e, "unusable compiled-code cache entry; recompiling");
                None
            }
        }
    }

    pub fn put(&self, digest: &str, component: &Component) -> Result<(), CacheError> {
        let path = self.entry_path(digest);
        let io = |source| CacheError::Io { path: path.clone(), source };
        let mut code = component.serialize().map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let mut mac = self.mac(digest);
        mac.update(&code);
        code.extend_from_slice(&mac.finalize().into_bytes());
        let tmp = self.dir.join(format!(".{digest}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &code).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        self.evict(&path);
        Ok(())
    }

    /// Removes entries past the maximum age, then the least recently used
    /// until the rest fits the maximum size; `keep` (just written) stays.
    fn evict(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return };
        let now = SystemTime::now();
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = dir
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().unwrap_or(UNIX_EPOCH), meta.len(), e.path()))
            })
            .collect();
        entries.sort();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        for (modified, len, path) in entries {
            let stale = now.duration_since(modified).is_ok_and(|age| age > self.bounds.max_age);
            if path == keep || !(stale || total > self.bounds.max_bytes) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total -= len,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot evict a compiled-code cache entry")
                }
            }
        }
    }

    fn mac(&self, digest: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(digest.as_bytes());
        mac.update(self.compat.as_bytes());
        mac
    }
}

/// The hex SHA-256 of a component's bytes: its identity everywhere.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn load_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&key)?;
    }
    std::fs::rename(&tmp, path)?;
    // Another process may have raced us: whatever landed is the key.
    let bytes = std::fs::read(path)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| std::io::Error::other("cache key has the wrong length"))
}
