//! The `chef` capability: requests to the Chef Infra Server API, signed in
//! the host so the client key never enters the participant.
//!
//! Requests are signed with Mixlib::Authentication protocol version 1.3
//! (SHA-256 content hash, RSA PKCS#1 v1.5 signature over SHA-256 of the
//! canonical request). It is the version current Chef clients use, it is a
//! real signature rather than 1.0's raw private-key "encryption", and both
//! Chef Infra Server and goiardi (0.11.10, the test peer) accept it.
//!
//! Order of checks, so that nothing leaves the machine unless all pass: the
//! server URL and then the full request URL (after `..` is resolved) must lie
//! under a `chef=URL` grant; the params must be well formed; only then is the
//! key secret looked up (its own `secret=NAME` grant) and the request signed.
//! A Chef server is granted by its exact URL, so it may be on a private or
//! loopback address — unless the server holds uploads to public addresses
//! (`Grants::public_only`): then Chef is under the same address policy as
//! HTTP, checked before signing and again on the address connected.

use super::grants::normalize_host;
use super::{CallCaps, CapabilityError, MAX_ECHO_CHARS, clip};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// The protocol version this host signs with (see the module docs).
const SIGN_VERSION: &str = "1.3";
/// Sent as X-Ops-Server-API-Version and signed with it: API version 1 is
/// what Chef Infra Client 13+ speaks; servers without versioning ignore it.
const SERVER_API_VERSION: &str = "1";
/// Some servers refuse requests that do not say which Chef they come from.
const CHEF_VERSION: &str = "18.0.0";
/// Chef splits the base64 signature into header lines of this length.
const AUTH_LINE: usize = 60;

/// A Chef Infra Server API request, to be signed with the named key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The organization's base URL, e.g. `https://chef.example.com/organizations/acme`.
    pub server_url: String,
    /// The Chef client (API user) whose key signs the request.
    pub client_name: String,
    /// Name of the secret holding the client's private key (PEM).
    pub key_secret: String,
    /// GET, POST, PUT or DELETE.
    pub method: String,
    /// Relative to `server_url`, e.g. `/nodes/web1`, with any query.
    pub path: String,
    /// A JSON body.
    pub body: Option<String>,
}

/// The server's answer, its body redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body (JSON, as the server sent it), redacted.
    pub body: String,
}

impl CallCaps {
    /// Checks, signs and sends `request` (see the module docs for the order).
    ///
    /// # Errors
    /// `denied` when the server, the resolved URL, the key's secret or the
    /// address is not granted; `bad-input` for a malformed URL, path, method
    /// or body; `fatal` when the key is unset or cannot sign; `retryable`
    /// when the server cannot be reached in time.
    pub async fn chef_send(&mut self, request: Request) -> Result<Response, CapabilityError> {
        let base = server_url(&request.server_url)?;
        let Some(access) = self.grants.chef_access(&base) else {
            return Err(self.deny("chef", &format!("server {base}"), &format!("grant it with chef={base}")));
        };
        let url = request_url(&base, &request.path)?;
        let mut bare = url.clone();
        bare.set_query(None);
        if !self.grants.allows_chef(bare.as_str()) {
            return Err(self.deny(
                "chef",
                &format!("URL {bare}"),
                &format!("the path leaves the granted server {base}"),
            ));
        }
        let method = match request.method.to_ascii_uppercase().as_str() {
            m @ ("GET" | "POST" | "PUT" | "DELETE") => m.to_owned(),
            _ => {
                return Err(CapabilityError::bad_input(format!(
                    "chef: bad method '{}' (GET, POST, PUT or DELETE)",
                    clip(&request.method, 32)
                )));
            }
        };
        check_client_name(&request.client_name)?;
        let body = request.body.unwrap_or_default();
        if !body.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(CapabilityError::bad_input("chef: the request body is not valid JSON"));
        }
        // The same address policy as HTTP, before the key is even read.
        let host = normalize_host(url.host_str().unwrap_or_default());
        let public_only = if self.dry_run().is_some() {
            false
        } else {
            self.scope().address_policy("chef", &host, &base, access).await?
        };

        let secret = self.secret("chef", &request.key_secret)?;
        let key = parse_private_key(secret.expose()).map_err(|()| {
            CapabilityError::fatal(format!(
                "chef: secret '{}' does not hold an RSA private key in PEM form (PKCS#1 or PKCS#8)",
                request.key_secret
            ))
        })?;
        let timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let signing = Signing {
            method: &method,
            path: url.path(),
            body: body.as_bytes(),
            user: &request.client_name,
            timestamp: &timestamp,
        };
        let signed = signing.sign(&key).map_err(|e| {
            CapabilityError::fatal(format!("chef: cannot sign with the key in secret '{}': {e}", request.key_secret))
        })?;

        if self.dry_run().is_some() {
            return Ok(self.dry_chef(&request.client_name, &method, &request.path, url.as_str()));
        }
        let timeout = self.time_left(None);
        if timeout.is_zero() {
            return Err(CapabilityError::retryable("chef: no time left before the call's deadline"));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| CapabilityError::bad_input("chef: bad method"))?;
        let client = if public_only { &self.services.http.public_only } else { &self.services.http.exact };
        let mut builder = client
            .request(method, url)
            .timeout(timeout)
            .header("accept", "application/json")
            .header("x-chef-version", CHEF_VERSION);
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json").body(body);
        }
        let scope = self.scope();
        let response = builder.send().await.map_err(|e| scope.transport_error("chef", &base, &e))?;
        let status = response.status().as_u16();
        let body = scope.read_response("chef", &base, response).await?;
        Ok(Response { status, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

/// The server URL normalised (lower-case host, no default port, no trailing
/// slash), so it compares with grants the way a person wrote them.
fn server_url(raw: &str) -> Result<String, CapabilityError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| {
        CapabilityError::bad_input(format!("chef: invalid server URL '{}': {e}", clip(raw, MAX_ECHO_CHARS)))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CapabilityError::bad_input(format!(
            "chef: the server URL must be http or https, not '{}'",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CapabilityError::bad_input("chef: the server URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CapabilityError::bad_input(
            "chef: credentials in the server URL are refused; the client key signs requests",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CapabilityError::bad_input("chef: the server URL may not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `base` + `path`, with dot segments resolved so the grant check sees where
/// the request really goes. Encoded slashes, backslashes and dots are
/// refused: servers decode them differently, and no Chef API path needs them.
fn request_url(base: &str, path: &str) -> Result<url::Url, CapabilityError> {
    if !path.starts_with('/') {
        return Err(CapabilityError::bad_input(format!(
            "chef: the path must start with '/', got '{}'",
            clip(path, MAX_ECHO_CHARS)
        )));
    }
    let lower = path.to_ascii_lowercase();
    if path.contains('\\') || path.contains('#') || ["%2f", "%5c", "%2e"].iter().any(|s| lower.contains(s)) {
        return Err(CapabilityError::bad_input(format!(
            "chef: the path '{}' has an encoded slash, dot or a backslash",
            clip(path, MAX_ECHO_CHARS)
        )));
    }
    if path.chars().any(char::is_control) {
        return Err(CapabilityError::bad_input("chef: the path has control characters"));
    }
    url::Url::parse(&format!("{base}{path}"))
        .map_err(|e| CapabilityError::bad_input(format!("chef: invalid path '{}': {e}", clip(path, MAX_ECHO_CHARS))))
}

fn check_client_name(name: &str) -> Result<(), CapabilityError> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
    if valid {
        Ok(())
    } else {
        Err(CapabilityError::bad_input(format!(
            "chef: invalid client name '{}' (letters, digits, '_', '-', '.', ':', '@')",
            name.chars().take(80).collect::<String>()
        )))
    }
}

/// A PEM RSA private key, PKCS#1 (`BEGIN RSA PRIVATE KEY`, what Chef
/// writes) or PKCS#8 (`BEGIN PRIVATE KEY`). The error carries nothing, so no
/// part of the secret can reach a message.
fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, ()> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs1_pem(pem).or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem)).map_err(|_| ())
}

/// What protocol 1.3 signs about one request.
struct Signing<'a> {
    method: &'a str,
    /// The URL's path as sent (percent-encoded), without the query.
    path: &'a str,
    body: &'a [u8],
    user: &'a str,
    /// UTC, ISO 8601 to the second (`2009-01-01T12:00:00Z`).
    timestamp: &'a str,
}

impl Signing<'_> {
    fn content_hash(&self) -> String {
        BASE64.encode(Sha256::digest(self.body))
    }

    /// The string the signature covers. The path is canonicalised as the
    /// servers do before verifying: repeated slashes squeezed, a trailing
    /// slash dropped.
    fn canonical_request(&self) -> String {
        format!(
            "Method:{}\nPath:{}\nX-Ops-Content-Hash:{}\nX-Ops-Sign:version={SIGN_VERSION}\nX-Ops-Timestamp:{}\nX-Ops-UserId:{}\nX-Ops-Server-API-Version:{SERVER_API_VERSION}",
            self.method,
            canonical_path(self.path),
            self.content_hash(),
            self.timestamp,
            self.user,
        )
    }

    /// The authentication headers for this request.
    fn sign(&self, key: &RsaPrivateKey) -> Result<Vec<(String, String)>, rsa::Error> {
        let digest = Sha256::digest(self.canonical_request().as_bytes());
        let signature = BASE64.encode(key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest)?);
        let mut headers = vec![
            ("x-ops-sign".to_owned(), format!("algorithm=sha256;version={SIGN_VERSION}")),
            ("x-ops-userid".to_owned(), self.user.to_owned()),
            ("x-ops-timestamp".to_owned(), self.timestamp.to_owned()),
            ("x-ops-content-hash".to_owned(), self.content_hash()),
            ("x-ops-server-api-version".to_owned(), SERVER_API_VERSION.to_owned()),
        ];
        // Base64 is ASCII, so splitting at byte offsets is safe.
        for (i, line) in signature.as_bytes().chunks(AUTH_LINE).enumerate() {
            headers.push((format!("x-ops-authorization-{}", i + 1), String::from_utf8_lossy(line).into_owned()));
        }
        Ok(headers)
    }
}

fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPublicKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    // The published test vector of Mixlib::Authentication (the reference
    // implementation of the protocol, spec/mixlib/authentication/
    // mixlib_authentication_spec.rb): a throwaway 2048-bit key, a POST of
    // "Spec Body" to /organizations/clownco as `spec-user`, and the exact
    // version 1.3 signature Chef's own client produces for it.
    const VECTOR_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA0ueqo76MXuP6XqZBILFziH/9AI7C6PaN5W0dSvkr9yInyGHS
z/IR1+4tqvP2qlfKVKI4CP6BFH251Ft9qMUBuAsnlAVQ1z0exDtIFFOyQCdR7iXm
jBIWMSS4buBwRQXwDK7id1OxtU23qVJv+xwEV0IzaaSJmaGLIbvRBD+qatfUuQJB
MU/04DdJIwvLtZBYdC2219m5dUBQaa4bimL+YN9EcsDzD9h9UxQo5ReK7b3cNMzJ
BKJWLzFBcJuePMzAnLFktr/RufX4wpXe6XJxoVPaHo72GorLkwnQ0HYMTY8rehT4
mDi1FI969LHCFFaFHSAaRnwdXaQkJmSfcxzCYQIDAQABAoIBAQCW3I4sKN5B9jOe
xq/pkeWBq4OvhW8Ys1yW0zFT8t6nHbB1XrwscQygd8gE9BPqj3e0iIEqtdphbPmj
VHqTYbC0FI6QDClifV7noTwTBjeIOlgZ0NSUN0/WgVzIOxUz2mZ2vBZUovKILPqG
TOi7J7RXMoySMdcXpP1f+PgvYNcnKsT72UcWaSXEV8/zo+Zm/qdGPVWwJonri5Mp
DVm5EQSENBiRyt028rU6ElXORNmoQpVjDVqZ1gipzXkifdjGyENw2rt4V/iKYD7V
5iqXOsvP6Cemf4gbrjunAgDG08S00kiUgvVWcdXW+dlsR2nCvH4DOEe3AYYh/aH8
DxEE7FbtAoGBAPcNO8fJ56mNw0ow4Qg38C+Zss/afhBOCfX4O/SZKv/roRn5+gRM
KRJYSVXNnsjPI1plzqR4OCyOrjAhtuvL4a0DinDzf1+fiztyNohwYsW1vYmqn3ti
EN0GhSgE7ppZjqvLQ3f3LUTxynhA0U+k9wflb4irIlViTUlCsOPkrNJDAoGBANqL
Q+vvuGSsmRLU/Cenjy+Mjj6+QENg51dz34o8JKuVKIPKU8pNnyeLa5fat0qD2MHm
OB9opeQOcw0dStodxr6DB3wi83bpjeU6BWUGITNiWEaZEBrQ0aiqNJJKrrHm8fAZ
9o4l4oHc4hI0kYVYYDuxtKuVJrzZiEapTwoOcYiLAoGBAI/EWbeIHZIj9zOjgjEA
LHvm25HtulLOtyk2jd1njQhlHNk7CW2azIPqcLLH99EwCYi/miNH+pijZ2aHGCXb
/bZrSxM0ADmrZKDxdB6uGCyp+GS2sBxjEyEsfCyvwhJ8b3Q100tqwiNO+d5FCglp
HICx2dgUjuRVUliBwOK93nx1AoGAUI8RhIEjOYkeDAESyhNMBr0LGjnLOosX+/as
qiotYkpjWuFULbibOFp+WMW41vDvD9qrSXir3fstkeIAW5KqVkO6mJnRoT3Knnra
zjiKOITCAZQeiaP8BO5o3pxE9TMqb9VCO3ffnPstIoTaN4syPg7tiGo8k1SklVeH
2S8lzq0CgYAKG2fljIYWQvGH628rp4ZcXS4hWmYohOxsnl1YrszbJ+hzR+IQOhGl
YlkUQYXhy9JixmUUKtH+NXkKX7Lyc8XYw5ETr7JBT3ifs+G7HruDjVG78EJVojbd
8uLA+DdQm5mg4vd1GTiSK65q/3EeoBlUaVor3HhLFki+i9qpT8CBsg==
-----END RSA PRIVATE KEY-----
";
    const VECTOR_CANONICAL: &str = "Method:POST\nPath:/organizations/clownco\nX-Ops-Content-Hash:hDlKNZhIhgso3Fs0S0pZwJ0xyBWtR1RBaeHs1DrzOho=\nX-Ops-Sign:version=1.3\nX-Ops-Timestamp:2009-01-01T12:00:00Z\nX-Ops-UserId:spec-user\nX-Ops-Server-API-Version:1";
    const VECTOR_LINES: [&str; 6] = [
        "FZOmXAyOBAZQV/uw188iBljBJXOm+m8xQ/8KTGLkgGwZNcRFxk1m953XjE3W",
        "VGy1dFT76KeaNWmPCNtDmprfH2na5UZFtfLIKrPv7xm80V+lzEzTd9WBwsfP",
        "42dZ9N+V9I5SVfcL/lWrrlpdybfceJC5jOcP5tzfJXWUITwb6Z3Erg3DU3Uh",
        "H9h9E0qWlYGqmiNCVrBnpe6Si1gU/Jl+rXlRSNbLJ4GlArAPuL976iTYJTzE",
        "MmbLUIm3JRYi00Yb01IUCCKdI90vUq1HHNtlTEu93YZfQaJwRxXlGkCNwIJe",
        "fy49QzaCIEu1XiOx5Jn+4GmkrZch/RrK9VzQWXgs+w==",
    ];

    fn vector() -> Signing<'static> {
        Signing {
            method: "POST",
            path: "/organizations/clownco",
            body: b"Spec Body",
            user: "spec-user",
            timestamp: "2009-01-01T12:00:00Z",
        }
    }

    fn header<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
        headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn signs_the_mixlib_authentication_vector_exactly() {
        let signing = vector();
        assert_eq!(signing.canonical_request(), VECTOR_CANONICAL);
        let key = parse_private_key(VECTOR_KEY).unwrap();
        let headers = signing.sign(&key).unwrap();
        assert_eq!(header(&headers, "x-ops-content-hash"), "hDlKNZhIhgso3Fs0S0pZwJ0xyBWtR1RBaeHs1DrzOho=");
        assert_eq!(header(&headers, "x-ops-sign"), "algorithm=sha256;version=1.3");
        assert_eq!(header(&headers, "x-ops-userid"), "spec-user");
        assert_eq!(header(&headers, "x-ops-server-api-version"), "1");
        for (i, line) in VECTOR_LINES.iter().enumerate() {
            assert_eq!(header(&headers, &format!("x-ops-authorization-{}", i + 1)), *line, "line {}", i + 1);
        }
        assert!(!headers.iter().any(|(k, _)| k == "x-ops-authorization-7"));
    }

    #[test]
    fn signature_verifies_with_the_public_key_and_a_pkcs8_key_signs_the_same() {
        let key = parse_private_key(VECTOR_KEY).unwrap();
        let pkcs8 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        let same = parse_private_key(&pkcs8).unwrap();
        let signing = Signing { method: "GET", path: "/nodes/web1", body: b"", ..vector() };
        let headers = signing.sign(&same).unwrap();
        assert_eq!(headers, signing.sign(&key).unwrap());
        let joined: String = (1..)
            .map_while(|i| headers.iter().find(|(k, _)| *k == format!("x-ops-authorization-{i}")))
            .map(|(_, v)| v.as_str())
            .collect();
        let signature = BASE64.decode(joined).unwrap();
        let digest = Sha256::digest(signing.canonical_request().as_bytes());
        RsaPublicKey::from(&key).verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &signature).unwrap();
        // The empty body hashes to SHA-256 of nothing.
        assert_eq!(header(&headers, "x-ops-content-hash"), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn rejects_what_is_not_an_rsa_private_key() {
        assert!(parse_private_key("").is_err());
        assert!(
            parse_private_key("-----BEGIN RSA PRIVATE KEY-----\nnot base64\n-----END RSA PRIVATE KEY-----").is_err()
        );
        let public = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
            &RsaPublicKey::from(&parse_private_key(VECTOR_KEY).unwrap()),
            LineEnding::LF,
        )
        .unwrap();
        assert!(parse_private_key(&public).is_err());
    }

    #[test]
    fn canonicalises_paths_like_the_servers() {
        assert_eq!(canonical_path("/nodes/"), "/nodes");
        assert_eq!(canonical_path("//nodes///web1"), "/nodes/web1");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path(""), "/");
    }

    #[test]
    fn request_urls_resolve_dots_and_refuse_encoded_tricks() {
        let base = server_url("HTTP://Chef.Example.com:80/organizations/acme/").unwrap();
        assert_eq!(base, "http://chef.example.com/organizations/acme");
        let url = request_url(&base, "/nodes/../../other/nodes?q=1").unwrap();
        assert_eq!(url.path(), "/organizations/other/nodes");
        for bad in ["nodes", "/a%2F..%2Fb", "/a%2e%2e/b", "/a\\b", "/a#frag", "/a\nb"] {
            assert!(request_url(&base, bad).is_err(), "{bad:?} should be refused");
        }
        for bad in ["ftp://x", "http://user:pw@x", "http://x/?a=1", "not a url"] {
            assert!(server_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn client_names_are_checked() {
        assert!(check_client_name("admin").is_ok());
        assert!(check_client_name("web-1.example.com").is_ok());
        for bad in ["", "a b", "a\nb", "é"] {
            assert!(check_client_name(bad).is_err(), "{bad:?}");
        }
    }
}
