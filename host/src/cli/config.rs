//! What `mastermind login` stores for the client commands: the server's URL
//! and a token, in `$XDG_CONFIG_HOME/mastermind/client.json` (else
//! `~/.config/mastermind/client.json`), readable by its owner only.

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The stored login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Login {
    pub(crate) url: String,
    pub(crate) token: String,
}

/// Where the login is kept, or None when neither XDG_CONFIG_HOME nor HOME
/// is set.
pub(crate) fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mastermind").join("client.json"))
}

/// The stored login, if there is one.
pub(crate) fn load() -> anyhow::Result<Option<(Login, PathBuf)>> {
    let Some(path) = path() else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let login = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a stored login: run `mastermind login URL` again", path.display()))?;
    Ok(Some((login, path)))
}

/// Stores the login (replacing any), mode 0600 in a directory of mode 0700;
/// written to a temporary file first, so the token is never readable by
/// others, even for a moment, and a crash leaves the old login whole.
pub(crate) fn store(login: &Login) -> anyhow::Result<PathBuf> {
    let path = path().context("neither XDG_CONFIG_HOME nor HOME is set: nowhere to store the login")?;
    let dir = path.parent().expect("the path has a directory");
    create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".client.json.{}", std::process::id()));
    let text = serde_json::to_string_pretty(login)? + "\n";
    write_private(&temporary, text.as_bytes()).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
