//! Host-key fingerprints recorded on first use, per tenant.
//!
//! The SSH capability trusts a host it has never seen (unless the step pins
//! its key) and records the key's fingerprint here; from then on a
//! different key for that host is refused. Records are per tenant, so one
//! tenant's first contact can never vouch for a host on another's behalf.
//!
//! The check-and-record is one operation ([`KnownHosts::check_or_record`])
//! so that two concurrent first contacts with a host cannot both "win" with
//! different keys.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What the store said about a presented fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// The recorded fingerprint is the presented one.
    Known,
    /// Nothing was recorded; the presented fingerprint now is.
    Recorded,
    /// A different fingerprint is recorded: the host's key changed.
    Changed {
        /// The fingerprint recorded before.
        expected: String,
    },
}

/// Where recorded host keys live. Implementations must make
/// `check_or_record` atomic per (tenant, host).
pub trait KnownHosts: Send + Sync {
    /// Compares `fingerprint` with what is recorded for `host` (`host:port`)
    /// for `tenant`, recording it if nothing is. An `Err` means the store
    /// could not be read or written; the caller must then refuse the host,
    /// since an unrecorded first use would silently re-trust it next time.
    ///
    /// # Errors
    /// Why the store could not be read or written.
    fn check_or_record(&self, tenant: &str, host: &str, fingerprint: &str) -> Result<HostKeyCheck, String>;
}

type Records = BTreeMap<String, BTreeMap<String, String>>;

fn check(records: &mut Records, tenant: &str, host: &str, fingerprint: &str) -> (HostKeyCheck, bool) {
    let hosts = records.entry(tenant.to_owned()).or_default();
    match hosts.get(host) {
        Some(known) if known == fingerprint => (HostKeyCheck::Known, false),
        Some(known) => (HostKeyCheck::Changed { expected: known.clone() }, false),
        None => {
            hosts.insert(host.to_owned(), fingerprint.to_owned());
            (HostKeyCheck::Recorded, true)
        }
    }
}

/// Records that last as long as the process: tests and one-off runs.
#[derive(Debug, Default)]
pub struct MemoryKnownHosts(Mutex<Records>);

impl MemoryKnownHosts {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KnownHosts for MemoryKnownHosts {
    fn check_or_record(&self, tenant: &str, host: &str, fingerprint: &str) -> Result<HostKeyCheck, String> {
        let mut records = self.0.lock().map_err(|_| "known-hosts store is poisoned".to_owned())?;
        Ok(check(&mut records, tenant, host, fingerprint).0)
    }
}

/// Records in a JSON file (`{tenant: {"host:port": "SHA256:..."}}`), so
/// trust survives a restart. Every new record rewrites the file through a
/// temporary file and a rename: a crash never leaves it half written.
#[derive(Debug)]
pub struct FileKnownHosts {
    path: PathBuf,
    records: Mutex<Records>,
}

impl FileKnownHosts {
    /// Opens (or starts) the file at `path`; an unreadable or corrupt file
    /// is an error rather than an empty store, which would re-trust every
    /// host.
    ///
    /// # Errors
    /// When the file exists but cannot be read or is not valid JSON.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let records = match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Records::new(),
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("known-hosts file {} is not valid: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Records::new(),
            Err(e) => anyhow::bail!("reading the known-hosts file {}: {e}", path.display()),
        };
        Ok(FileKnownHosts { path: path.to_owned(), records: Mutex::new(records) })
    }

    fn save(&self, records: &Records) -> std::io::Result<()> {
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(records).map_err(std::io::Error::other)?;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.path)
    }
}

impl KnownHosts for FileKnownHosts {
    fn check_or_record(&self, tenant: &str, host: &str, fingerprint: &str) -> Result<HostKeyCheck, String> {
        let mut records = self.records.lock().map_err(|_| "known-hosts store is poisoned".to_owned())?;
        let (result, changed) = check(&mut records, tenant, host, fingerprint);
        if changed && let Err(e) = self.save(&records) {
            // Forget the record too: the next call must not trust it either.
            if let Some(hosts) = records.get_mut(tenant) {
                hosts.remove(host);
            }
            return Err(format!("could not record the host key in {}: {e}", self.path.display()));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_on_first_use_and_refuses_a_change_per_tenant() {
        let store = MemoryKnownHosts::new();
        assert_eq!(store.check_or_record("a", "web:22", "SHA256:one"), Ok(HostKeyCheck::Recorded));
        assert_eq!(store.check_or_record("a", "web:22", "SHA256:one"), Ok(HostKeyCheck::Known));
        assert_eq!(
            store.check_or_record("a", "web:22", "SHA256:two"),
            Ok(HostKeyCheck::Changed { expected: "SHA256:one".into() })
        );
        assert_eq!(store.check_or_record("b", "web:22", "SHA256:two"), Ok(HostKeyCheck::Recorded));
    }

    #[test]
    fn file_store_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("known_hosts.json");
        let store = FileKnownHosts::open(&path).unwrap();
        assert_eq!(store.check_or_record("t", "db:2222", "SHA256:x"), Ok(HostKeyCheck::Recorded));
        drop(store);
        let store = FileKnownHosts::open(&path).unwrap();
        assert_eq!(
            store.check_or_record("t", "db:2222", "SHA256:y"),
            Ok(HostKeyCheck::Changed { expected: "SHA256:x".into() })
        );
        std::fs::write(&path, "{not json").unwrap();
        assert!(FileKnownHosts::open(&path).unwrap_err().to_string().contains("not valid"));
    }
}
