//! Which host key an SSH target must present: the step's pins, parsed
//! strictly, or else the key recorded for the tenant on first use. Checked
//! during the handshake, before the private key is offered, so a host that
//! fails the check never sees a credential.

use super::CapabilityError;
use super::grants::normalize_host;
use super::known_hosts::{HostKeyCheck, KnownHosts};
use russh::client;
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use std::sync::Arc;

/// `(host, port or None for every port, fingerprint)` from the request's
/// pins; a malformed pin refuses the request, since ignoring it would
/// silently fall back to trust on first use.
pub(super) fn parse_pins(pins: &[(String, String)]) -> Result<Vec<(String, Option<u16>, String)>, CapabilityError> {
    let mut out = Vec::with_capacity(pins.len());
    for (host, fingerprint) in pins {
        let (h, port) = split_host_port(host.trim()).ok_or_else(|| {
            CapabilityError::bad_input(format!("ssh: host-keys: '{host}' is not a host or host:port"))
        })?;
        let fp = normalize_fingerprint(fingerprint).ok_or_else(|| {
            CapabilityError::bad_input(format!(
                "ssh: host-keys: the fingerprint for '{host}' must look like SHA256:<43 base64 characters> (as `ssh-keygen -lf` prints), got '{fingerprint}'"
            ))
        })?;
        out.push((normalize_host(h), port, fp));
    }
    Ok(out)
}

/// `SHA256:` and unpadded base64 of 32 bytes, the way OpenSSH prints it.
fn normalize_fingerprint(raw: &str) -> Option<String> {
    let b64 = raw.trim().strip_prefix("SHA256:")?.trim_end_matches('=');
    let valid = b64.len() == 43 && b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    valid.then(|| format!("SHA256:{b64}"))
}

fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match s.split_once(':') {
        _ if s.is_empty() => None,
        Some((h, p)) if !p.contains(':') => Some((h, Some(p.parse().ok()?))),
        _ => Some((s, None)), // a bare host or a bare IPv6 address
    }
}

/// Checks the server's host key during the handshake, before any
/// credential is sent.
pub(super) struct HostKeyGuard {
    /// `user@host:port`, as errors name it.
    pub label: String,
    /// The known-hosts key, `host:port`.
    pub host_id: String,
    pub tenant: String,
    pub pin: Option<String>,
    pub known_hosts: Arc<dyn KnownHosts>,
}

pub(super) enum GuardError {
    HostKey(CapabilityError),
    Ssh(russh::Error),
}

impl std::fmt::Debug for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::HostKey(e) => write!(f, "host key refused: {}", e.message),
            GuardError::Ssh(e) => write!(f, "{e}"),
        }
    }
}

impl From<russh::Error> for GuardError {
    fn from(e: russh::Error) -> Self {
        GuardError::Ssh(e)
    }
}

impl client::Handler for HostKeyGuard {
    type Error = GuardError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, GuardError> {
        let data = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let presented = data.fingerprint(HashAlg::Sha256).to_string();
        let advice = "if the host was legitimately re-keyed, check the new fingerprint out of band (ssh-keygen -lf on the host) and pin it with the step's host key param";
        let (expected, source) = match &self.pin {
            Some(pin) if *pin == presented => return Ok(true),
            Some(pin) => (pin.clone(), "the step pins".to_owned()),
            None => match self.known_hosts.check_or_record(&self.tenant, &self.host_id, &presented) {
                Ok(HostKeyCheck::Known | HostKeyCheck::Recorded) => return Ok(true),
                Ok(HostKeyCheck::Changed { expected }) => (expected, "was recorded on first use".to_owned()),
                Err(e) => {
                    return Err(GuardError::HostKey(CapabilityError::fatal(format!(
                        "ssh: {}: host key not trusted: {e}",
                        self.label
                    ))));
                }
            },
        };
        tracing::warn!(host = %self.host_id, %expected, %presented, "ssh host key mismatch");
        Err(GuardError::HostKey(CapabilityError::fatal(format!(
            "ssh: {}: HOST KEY MISMATCH: the host presented {presented} but {expected} {source}; refusing to connect (possible man-in-the-middle); {advice}",
            self.label
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pins_and_fingerprints() {
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let pins = parse_pins(&[("web1".into(), fp.into()), ("[::1]:2222".into(), format!("{fp}="))]).unwrap();
        assert_eq!(pins[0], ("web1".to_owned(), None, fp.to_owned()));
        assert_eq!(pins[1], ("::1".to_owned(), Some(2222), fp.to_owned()));
        assert_eq!(split_host_port("10.0.0.1:22"), Some(("10.0.0.1", Some(22))));
        assert_eq!(split_host_port("fe80::1"), Some(("fe80::1", None)));
        for bad in ["MD5:aa:bb", "SHA256:short", "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"] {
            let e = parse_pins(&[("web1".into(), bad.into())]).unwrap_err();
            assert!(e.message.contains("SHA256:<43 base64"), "{}", e.message);
        }
        assert!(parse_pins(&[("web1:notaport".into(), fp.into())]).is_err());
    }
}
