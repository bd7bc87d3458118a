//! Secrets: values a participant may name in a capability call but never
//! read. They are looked up by the host after the grant check, used, and
//! redacted from anything that flows back (responses, logs, output).

use std::collections::BTreeMap;
use std::fmt;

/// A secret value. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the host's own use inside a capability.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Where the secrets of one tenant come from.
pub trait SecretStore: Send + Sync {
    fn get(&self, name: &str) -> Option<Secret>;
}

/// Secrets held in memory (the CLI's `--secret` flags, tests).
#[derive(Debug, Default, Clone)]
pub struct MemorySecrets(BTreeMap<String, Secret>);

impl MemorySecrets {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), Secret::new(value));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl SecretStore for MemorySecrets {
    fn get(&self, name: &str) -> Option<Secret> {
        self.0.get(name).cloned()
    }
}

/// The text that replaces a secret's value wherever it would show.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces every occurrence of each value in `text`. Values shorter than
/// four bytes are not redacted: they would shred ordinary text and are no
/// secret worth the name.
pub fn redact(text: &str, values: &[Secret]) -> String {
    let mut out = text.to_owned();
    for v in values {
        if v.0.len() >= 4 && out.contains(v.0.as_str()) {
            out = out.replace(v.0.as_str(), REDACTED);
        }
    }
    out
}

/// Byte-level [`redact`] for response bodies.
pub fn redact_bytes(body: Vec<u8>, values: &[Secret]) -> Vec<u8> {
    let mut out = body;
    for v in values {
        let needle = v.0.as_bytes();
        if needle.len() < 4 || !out.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let mut replaced = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                replaced.extend_from_slice(REDACTED.as_bytes());
                i += needle.len();
            } else {
                replaced.push(out[i]);
                i += 1;
            }
        }
        out = replaced;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_text_and_bytes() {
        let s = [Secret::new("hunter22")];
        assert_eq!(redact("pw=hunter22;again hunter22", &s), "pw=[REDACTED];again [REDACTED]");
        assert_eq!(redact_bytes(b"xhunter22y".to_vec(), &s), b"x[REDACTED]y".to_vec());
        assert_eq!(format!("{:?}", s[0]), "Secret([REDACTED])");
    }
}
