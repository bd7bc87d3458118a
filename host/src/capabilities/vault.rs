//! Sealing secrets for storage: XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`) with a random 192-bit nonce per value, and the
//! tenant and name as associated data, so a sealed value copied to another
//! tenant's row or another name does not open.
//!
//! The key is 32 bytes, given base64-encoded in `MASTERMIND_SECRET_KEY` or
//! in a file; the embedded default generates one on first start (mode 0600,
//! beside the database). Several processes sharing a PostgreSQL database
//! must be given the same key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;

/// Why the vault could not be set up, or a sealed value not opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key is missing, unreadable or not 32 base64-encoded bytes.
    #[error("secret key: {0}")]
    Key(String),
    /// The value was sealed with another key, or for another tenant or name.
    #[error("a stored secret does not open with this key (was the key changed?)")]
    Open,
    /// The stored text is not a sealed value.
    #[error("a stored secret is malformed")]
    Malformed,
}

/// Seals and opens secret values with the process's key (see the module
/// docs): only sealed values are stored.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([key])")
    }
}

impl Vault {
    /// A vault with a key given as base64 text (32 bytes decoded).
    ///
    /// # Errors
    /// [`VaultError::Key`] when `text` is not base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        let key = B64.decode(text.trim()).map_err(|e| VaultError::Key(format!("not base64: {e}")))?;
        if key.len() != 32 {
            return Err(VaultError::Key(format!("{} bytes; a key is 32 bytes, base64-encoded", key.len())));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|e| VaultError::Key(e.to_string()))?;
        Ok(Vault { cipher })
    }

    /// A vault with a random key that is never stored: it opens nothing
    /// sealed before (for a process that has no secrets to open).
    pub fn ephemeral() -> Self {
        let key: [u8; 32] = rand::random();
        Vault { cipher: XChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key") }
    }

    /// The key in `path`, created (random, mode 0600) if the file is absent.
    ///
    /// # Errors
    /// [`VaultError::Key`] when the file cannot be read or written, or does not
    /// hold a key.
    pub fn from_file_or_create(path: &Path) -> Result<Self, VaultError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let text = B64.encode(key);
                write_private(path, &text).map_err(|e| VaultError::Key(format!("writing {}: {e}", path.display())))?;
                Self::from_base64(&text)
            }
            Err(e) => Err(VaultError::Key(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Seals `value` as secret `name` of `tenant`: base64 text, with a fresh
    /// nonce each time, that only [`Vault::open`] with the same key, tenant and
    /// name opens.
    pub fn seal(&self, tenant: &str, name: &str, value: &str) -> String {
        let nonce: [u8; 24] = rand::random();
        let aad = associated_data(tenant, name);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory values");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    /// Opens a value [`Vault::seal`] sealed for the same tenant and name.
    ///
    /// # Errors
    /// [`VaultError::Open`] for another key, tenant or name;
    /// [`VaultError::Malformed`] when `sealed` is not a sealed value.
    pub fn open(&self, tenant: &str, name: &str, sealed: &str) -> Result<String, VaultError> {
        let bytes = B64.decode(sealed).map_err(|_| VaultError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let aad = associated_data(tenant, name);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| VaultError::Open)?;
        String::from_utf8(plain).map_err(|_| VaultError::Malformed)
    }
}

fn associated_data(tenant: &str, name: &str) -> Vec<u8> {
    format!("mastermind-secret\0{tenant}\0{name}").into_bytes()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_tenant_and_name() {
        let vault = Vault::from_base64(&B64.encode([7u8; 32])).unwrap();
        let sealed = vault.seal("t1", "aws", "AKIA-secret-value");
        assert!(!sealed.contains("AKIA"));
        assert_eq!(vault.open("t1", "aws", &sealed).unwrap(), "AKIA-secret-value");
        assert!(matches!(vault.open("t2", "aws", &sealed), Err(VaultError::Open)));
        assert!(matches!(vault.open("t1", "ssh_key", &sealed), Err(VaultError::Open)));
        let other = Vault::from_base64(&B64.encode([8u8; 32])).unwrap();
        assert!(matches!(other.open("t1", "aws", &sealed), Err(VaultError::Open)));
        // Two seals of one value differ (random nonces).
        assert_ne!(sealed, vault.seal("t1", "aws", "AKIA-secret-value"));
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert!(Vault::from_base64("not base64!").unwrap_err().to_string().contains("base64"));
        assert!(Vault::from_base64(&B64.encode([1u8; 16])).unwrap_err().to_string().contains("32 bytes"));
    }
}
