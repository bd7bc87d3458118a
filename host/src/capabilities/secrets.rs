//! Secrets: values a participant may name in a capability call but never
//! read. They are looked up by the host after the grant check, used, and
//! redacted from anything that flows back (responses, logs, output).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// A secret value. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value so it is never printed by accident.
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
    /// The value of secret `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<Secret>;
}

/// Secrets held in memory (the CLI's `--secret` flags, tests).
#[derive(Debug, Default, Clone)]
pub struct MemorySecrets(BTreeMap<String, Secret>);

impl MemorySecrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets secret `name` to `value`, replacing any earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), Secret::new(value));
    }

    /// The names of the secrets held, in order; never their values.
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

/// Values shorter than this are not redacted: they would shred ordinary
/// text and are no secret worth the name.
const MIN_REDACTED_LEN: usize = 4;

/// Replaces every occurrence of each value in `text` (and of its
/// JSON-escaped spelling).
pub fn redact(text: &str, values: &[Secret]) -> String {
    Redactor::new(values).redact(text)
}

/// Byte-level [`redact`] for response bodies.
pub fn redact_bytes(body: Vec<u8>, values: &[Secret]) -> Vec<u8> {
    Redactor::new(values).redact_bytes(body)
}

/// Finds every redacted value in one pass over the text.
///
/// A naive scan per secret costs text size × secret size, which a tenant
/// controls on both sides (a 64 KiB secret, a 16 MiB response): it froze the
/// server for 20 s. Aho-Corasick is linear in the text whatever the
/// patterns. Each value is matched as it is and as JSON escapes it (a `"`
/// or `\` in a secret must not slip through the field updates, which are
/// JSON text); the host adds the encodings it applies itself (an HTTP Basic
/// token, a percent-encoded URL part) with [`Redactor::add`].
#[derive(Clone, Default)]
pub struct Redactor {
    patterns: Vec<String>,
    /// Built on first use after a change; `Err` if the patterns could not
    /// be compiled, in which case everything is redacted.
    automaton: OnceLock<Result<AhoCorasick, ()>>,
}

impl Redactor {
    /// A redactor of `values`, each as it is and JSON-escaped.
    pub fn new(values: &[Secret]) -> Self {
        let mut r = Redactor::default();
        for v in values {
            r.add_secret(v);
        }
        r
    }

    /// Redacts `secret` as it is and JSON-escaped.
    pub fn add_secret(&mut self, secret: &Secret) {
        self.add(secret.expose());
        if let Ok(quoted) = serde_json::to_string(secret.expose()) {
            self.add(&quoted[1..quoted.len() - 1]);
        }
    }

    /// Redacts one more literal value (e.g. an encoding of a secret).
    pub fn add(&mut self, value: &str) {
        if value.len() < MIN_REDACTED_LEN || self.patterns.iter().any(|p| p == value) {
            return;
        }
        self.patterns.push(value.to_owned());
        self.automaton = OnceLock::new();
    }

    /// Whether there is nothing to redact (then redacting copies the text).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn automaton(&self) -> Option<Result<&AhoCorasick, ()>> {
        if self.patterns.is_empty() {
            return None;
        }
        let built = self.automaton.get_or_init(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                // A contiguous NFA stays linear in the text and small in
                // memory however long a secret is (a DFA may not).
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&self.patterns)
                .map_err(|e| tracing::error!(error = %e, "cannot build the redaction automaton"))
        });
        Some(built.as_ref().map_err(|_| ()))
    }

    /// `text` with every value replaced by [`REDACTED`]; all of it redacted if
    /// the patterns could not be compiled.
    pub fn redact(&self, text: &str) -> String {
        match self.automaton() {
            None => text.to_owned(),
            Some(Ok(ac)) => {
                let mut out = String::with_capacity(text.len());
                ac.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(REDACTED);
                    true
                });
                out
            }
            Some(Err(())) => REDACTED.to_owned(),
        }
    }

    /// Byte-level [`Redactor::redact`], for response bodies.
    pub fn redact_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        match self.automaton() {
            None => body,
            Some(Ok(ac)) => {
                if !ac.is_match(&body) {
                    return body;
                }
                let mut out = Vec::with_capacity(body.len());
                ac.replace_all_with_bytes(&body, &mut out, |_, _, dst| {
                    dst.extend_from_slice(REDACTED.as_bytes());
                    true
                });
                out
            }
            Some(Err(())) => REDACTED.as_bytes().to_vec(),
        }
    }
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

    #[test]
    fn redacts_json_escaped_forms_and_overlapping_values() {
        let s = [Secret::new(r#"pa"ss\word"#), Secret::new("abcdef"), Secret::new("abcdefgh")];
        let json = serde_json::json!({ "f": r#"x pa"ss\word y"# }).to_string();
        assert_eq!(redact(&json, &s), r#"{"f":"x [REDACTED] y"}"#);
        // The longest match wins, so no tail of a longer secret is left.
        assert_eq!(redact("1abcdefgh2abcdef3", &s), "1[REDACTED]2[REDACTED]3");
        assert_eq!(redact("short abc", &[Secret::new("abc")]), "short abc");
    }

    /// A naive scan of a 16 MiB body for a 64 KiB secret took 20 s; one
    /// pass is linear in the body whatever the secret's length.
    #[test]
    fn redaction_is_linear_in_the_text() {
        // The worst case for a naive scan: every position matches all but
        // the secret's last byte.
        let secret = format!("{}b", "a".repeat((64 << 10) - 1));
        let mut body = vec![b'a'; 16 << 20];
        body.extend_from_slice(secret.as_bytes());
        let started = std::time::Instant::now();
        let out = redact_bytes(body, &[Secret::new(secret)]);
        let took = started.elapsed();
        eprintln!("redacting 16 MiB against a 64 KiB secret took {took:?}");
        assert!(out.ends_with(REDACTED.as_bytes()) && out.len() == (16 << 20) + REDACTED.len());
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    }
}
