//! What a participant may do, as data.
//!
//! A [`Grants`] value is built from spec strings (the CLI's `--grant`, the
//! API's upload form) and checked on every capability call. Everything not
//! granted is denied. Grant syntax, one capability per spec:
//!
//! | spec | allows |
//! |---|---|
//! | `http=api.example.com` | HTTP(S) to that host on ports 80 and 443 |
//! | `http=api.example.com:8443` | that host, that port only |
//! | `http=*.example.com:*` | any subdomain, any port |
//! | `http=*` | any public host on 80/443 (private addresses stay refused) |
//! | `ssh=deploy@web1.example.com` | SSH as `deploy` to that host, port 22 |
//! | `ssh=*@10.0.0.5:2222` | any user, that host and port |
//! | `ec2=us-west-2` | EC2 calls in that region (`ec2=*`: any region) |
//! | `chef=https://chef.example.com/organizations/acme` | Chef API calls under that URL |
//! | `secret=campfire_token` | using that secret inside capability calls |
//!
//! Loopback, private, link-local and other non-public addresses are reached
//! only through a host granted by its exact name or address (no wildcard).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a grant spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grant '{spec}': {reason}")]
pub struct GrantError {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(spec: &str, reason: impl Into<String>) -> GrantError {
    GrantError { spec: spec.to_owned(), reason: reason.into() }
}

/// The set of capabilities granted to one participant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// Hosts reachable over HTTP(S) (`http=`).
    pub http: Vec<HostGrant>,
    /// Users and hosts reachable over SSH (`ssh=`).
    pub ssh: Vec<SshGrant>,
    /// AWS regions EC2 calls may use (`ec2=`; `*` for any).
    pub ec2: Vec<String>,
    /// Chef server URLs, canonical and without a trailing `/` (`chef=`).
    pub chef: Vec<String>,
    /// Secrets capability calls may use, by name (`secret=`).
    pub secrets: Vec<String>,
    /// Reach public addresses only, even through hosts granted by exact
    /// name or address (a server's policy for its tenants' uploads: a
    /// granted name that resolves to a private address is refused when the
    /// connection is made).
    pub public_only: bool,
}

impl Grants {
    /// Parses `kind=value` specs into one grant set.
    ///
    /// # Errors
    /// The first spec that does not read (see [`Grants::add`]).
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, GrantError> {
        let mut grants = Grants::default();
        for spec in specs {
            grants.add(spec.as_ref())?;
        }
        Ok(grants)
    }

    /// Adds one `kind=value` spec.
    ///
    /// # Errors
    /// When the spec has no `=`, an empty value, an unknown kind, or a value
    /// its kind refuses (a bad host or port, a non-region, a non-HTTP URL).
    pub fn add(&mut self, spec: &str) -> Result<(), GrantError> {
        let (kind, value) =
            spec.split_once('=').ok_or_else(|| invalid(spec, "expected KIND=VALUE, e.g. http=api.example.com"))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid(spec, "empty value"));
        }
        match kind.trim() {
            "http" => self.http.push(value.parse().map_err(|r: String| invalid(spec, r))?),
            "ssh" => self.ssh.push(value.parse().map_err(|r: String| invalid(spec, r))?),
            "ec2" => {
                if value != "*" && !is_region(value) {
                    return Err(invalid(spec, "not an AWS region (like us-west-2) or *"));
                }
                self.ec2.push(value.to_owned())
            }
            "chef" => {
                let url = url::Url::parse(value).map_err(|e| invalid(spec, format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(spec, "the Chef server URL must be http or https"));
                }
                // Canonical (lower-case host, address spelled normally, no
                // default port) so it compares with request URLs.
                self.chef.push(url.as_str().trim_end_matches('/').to_owned())
            }
            "secret" => self.secrets.push(value.to_owned()),
            other => {
                return Err(invalid(
                    spec,
                    format!("unknown capability '{other}' (known: http, ssh, ec2, chef, secret)"),
                ));
            }
        }
        Ok(())
    }

    /// Merges another grant set into this one.
    pub fn extend(&mut self, other: &Grants) {
        self.http.extend(other.http.iter().cloned());
        self.ssh.extend(other.ssh.iter().cloned());
        self.ec2.extend(other.ec2.iter().cloned());
        self.chef.extend(other.chef.iter().cloned());
        self.secrets.extend(other.secrets.iter().cloned());
    }

    /// How an HTTP target is granted, if at all.
    pub fn http_access(&self, host: &str, port: u16) -> Option<Access> {
        self.policy(best(self.http.iter().filter_map(|g| g.matches(host, port))))
    }

    /// How an SSH target is granted to `user`, if at all.
    pub fn ssh_access(&self, user: &str, host: &str, port: u16) -> Option<Access> {
        self.policy(best(self.ssh.iter().filter_map(|g| {
            (g.user.as_deref().is_none_or(|u| u == user)).then(|| g.host.matches(host, port)).flatten()
        })))
    }

    /// Under `public_only`, every grant is held to what a wildcard may reach.
    fn policy(&self, access: Option<Access>) -> Option<Access> {
        access.map(|a| if self.public_only { Access::Wildcard } else { a })
    }

    /// Whether EC2 calls may use `region`.
    pub fn allows_region(&self, region: &str) -> bool {
        self.ec2.iter().any(|r| r == "*" || r == region)
    }

    /// Whether `url` lies under a granted Chef server URL.
    pub fn allows_chef(&self, url: &str) -> bool {
        self.chef.iter().any(|base| url == base || url.starts_with(&format!("{base}/")))
    }

    /// How a Chef server URL is granted: by its exact URL, held to public
    /// addresses under `public_only` like every other connection.
    pub fn chef_access(&self, url: &str) -> Option<Access> {
        self.policy(self.allows_chef(url).then_some(Access::Exact))
    }

    /// Every host a grant names exactly (HTTP, SSH, Chef), normalised: what
    /// a server's upload policy checks.
    pub fn exact_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .http
            .iter()
            .chain(self.ssh.iter().map(|g| g.host()))
            .filter_map(|g| g.exact_host().map(str::to_owned))
            .collect();
        hosts.extend(self.chef.iter().filter_map(|u| url::Url::parse(u).ok()?.host_str().map(normalize_host)));
        hosts
    }

    /// Whether capability calls may use secret `name`.
    pub fn allows_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s == name)
    }

    /// The grants as spec strings, the inverse of [`Grants::parse`].
    pub fn specs(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.http.iter().map(|g| format!("http={g}")));
        out.extend(self.ssh.iter().map(|g| format!("ssh={g}")));
        out.extend(self.ec2.iter().map(|g| format!("ec2={g}")));
        out.extend(self.chef.iter().map(|g| format!("chef={g}")));
        out.extend(self.secrets.iter().map(|g| format!("secret={g}")));
        out
    }
}

/// How a target matched: by its exact name (which may reach private
/// addresses) or through a wildcard (public addresses only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Through a wildcard: public addresses only.
    Wildcard,
    /// By exact name or address: may reach private addresses, unless the
    /// grants are `public_only`.
    Exact,
}

fn best(it: impl Iterator<Item = Access>) -> Option<Access> {
    it.max()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    /// Ports 80 and 443 for HTTP, 22 for SSH.
    Default,
    Any,
    Exact(u16),
}

/// `host[:port]` with `*` wildcards, as used by `http=` and `ssh=` grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostGrant {
    host: HostMatch,
    port: PortMatch,
    default_ports: &'static [u16],
}

impl HostGrant {
    fn parse_with(s: &str, default_ports: &'static [u16]) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let (host, port) = split_host_port(&s)?;
        let host = match host {
            "*" => HostMatch::Any,
            h if h.starts_with("*.") && h.len() > 2 => HostMatch::Suffix(h[1..].to_owned()),
            h if h.contains('*') => return Err("'*' is allowed only as a whole host or a leading '*.'".into()),
            "" => return Err("empty host".into()),
            h => HostMatch::Exact(normalize_host(h)),
        };
        let port = match port {
            None => PortMatch::Default,
            Some("*") => PortMatch::Any,
            Some(p) => PortMatch::Exact(p.parse().map_err(|_| format!("bad port '{p}'"))?),
        };
        Ok(HostGrant { host, port, default_ports })
    }

    /// The host named exactly (no wildcard), if it is one.
    pub fn exact_host(&self) -> Option<&str> {
        match &self.host {
            HostMatch::Exact(h) => Some(h),
            _ => None,
        }
    }

    fn matches(&self, host: &str, port: u16) -> Option<Access> {
        let port_ok = match self.port {
            PortMatch::Any => true,
            PortMatch::Exact(p) => p == port,
            PortMatch::Default => self.default_ports.contains(&port),
        };
        if !port_ok {
            return None;
        }
        let host = normalize_host(&host.to_ascii_lowercase());
        match &self.host {
            HostMatch::Any => Some(Access::Wildcard),
            HostMatch::Suffix(suffix) => host.ends_with(suffix.as_str()).then_some(Access::Wildcard),
            HostMatch::Exact(h) => (*h == host).then_some(Access::Exact),
        }
    }
}

impl FromStr for HostGrant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        HostGrant::parse_with(s, &[80, 443])
    }
}

impl TryFrom<String> for HostGrant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<HostGrant> for String {
    fn from(g: HostGrant) -> String {
        g.to_string()
    }
}

impl fmt::Display for HostGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Any => f.write_str("*")?,
            HostMatch::Suffix(s) => write!(f, "*{s}")?,
            HostMatch::Exact(h) if h.contains(':') => write!(f, "[{h}]")?,
            HostMatch::Exact(h) => f.write_str(h)?,
        }
        match self.port {
            PortMatch::Default => Ok(()),
            PortMatch::Any => f.write_str(":*"),
            PortMatch::Exact(p) => write!(f, ":{p}"),
        }
    }
}

/// `user@host[:port]`; `*@host` allows any user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SshGrant {
    user: Option<String>,
    host: HostGrant,
}

impl SshGrant {
    /// The host and port part of the grant.
    pub fn host(&self) -> &HostGrant {
        &self.host
    }
}

impl FromStr for SshGrant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (user, host) = s.split_once('@').ok_or("expected USER@HOST[:PORT] (USER may be *)")?;
        let user = match user.trim() {
            "" => return Err("empty user".into()),
            "*" => None,
            u => Some(u.to_owned()),
        };
        Ok(SshGrant { user, host: HostGrant::parse_with(host, &[22])? })
    }
}

impl TryFrom<String> for SshGrant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<SshGrant> for String {
    fn from(g: SshGrant) -> String {
        g.to_string()
    }
}

impl fmt::Display for SshGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user.as_deref().unwrap_or("*"), self.host)
    }
}

/// Splits `host:port`, `[v6]:port`, `[v6]` or a bare host.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            p => p.strip_prefix(':').map(|p| (host, Some(p))).ok_or_else(|| format!("unexpected '{p}'")),
        };
    }
    match s.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Ok((s, None)), // a bare IPv6 address
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((s, None)),
    }
}

/// Canonical spelling of a host name or address, so that grants and URLs
/// compare equal however the address was written, and a policy check sees
/// the address: the legacy IPv4 spellings resolvers and URL parsers accept
/// (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) become `127.0.0.1`
/// (the URL standard's host parser, as in the `url` crate), names become
/// lower-case ASCII (IDNA).
pub fn normalize_host(host: &str) -> String {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return ip.to_string();
    }
    match url::Host::parse(h) {
        Ok(url::Host::Ipv4(ip)) => ip.to_string(),
        Ok(url::Host::Ipv6(ip)) => ip.to_string(),
        Ok(url::Host::Domain(d)) => d,
        Err(_) => h.to_ascii_lowercase(),
    }
}

/// Whether `s` looks like an AWS region (`us-west-2`, `ap-southeast-1`,
/// `us-gov-east-1`): the region becomes part of the endpoint's host name
/// and a key of the host's client cache, so anything else is refused.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    s.len() <= 32
        && parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(lower)
        && parts.last().is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_http_grants() {
        let g = Grants::parse(&["http=api.example.com", "http=*.corp.example:*", "http=127.0.0.1:8080"]).unwrap();
        assert_eq!(g.http_access("api.example.com", 443), Some(Access::Exact));
        assert_eq!(g.http_access("API.example.com.", 80), Some(Access::Exact));
        assert_eq!(g.http_access("api.example.com", 8080), None);
        assert_eq!(g.http_access("x.corp.example", 9999), Some(Access::Wildcard));
        assert_eq!(g.http_access("corp.example", 443), None);
        assert_eq!(g.http_access("127.0.0.1", 8080), Some(Access::Exact));
        assert_eq!(g.http_access("127.0.0.1", 8081), None);
        assert_eq!(g.http_access("evil.com", 443), None);
    }

    #[test]
    fn ssh_grants_check_user_host_and_port() {
        let g = Grants::parse(&["ssh=deploy@web1", "ssh=*@[::1]:2222"]).unwrap();
        assert_eq!(g.ssh_access("deploy", "web1", 22), Some(Access::Exact));
        assert_eq!(g.ssh_access("root", "web1", 22), None);
        assert_eq!(g.ssh_access("anyone", "::1", 2222), Some(Access::Exact));
        assert_eq!(g.ssh_access("anyone", "0:0::1", 2222), Some(Access::Exact));
        assert_eq!(g.ssh_access("anyone", "::1", 22), None);
    }

    #[test]
    fn rejects_bad_specs_with_reasons() {
        for (spec, reason) in [
            ("http", "KIND=VALUE"),
            ("ftp=x", "unknown capability"),
            ("http=a*b.com", "'*' is allowed"),
            ("http=host:notaport", "bad port"),
            ("ssh=web1", "USER@HOST"),
            ("chef=not a url", "not a URL"),
        ] {
            let err = Grants::parse(&[spec]).unwrap_err();
            assert!(err.to_string().contains(reason), "{spec}: {err}");
        }
    }

    #[test]
    fn legacy_ipv4_spellings_normalise_to_the_address() {
        for spelling in ["2130706433", "0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "127.1", "127.0.0.1.", "[127.0.0.1]"] {
            assert_eq!(normalize_host(spelling), "127.0.0.1", "{spelling}");
        }
        assert_eq!(normalize_host("[::1]"), "::1");
        assert_eq!(normalize_host("0:0::1"), "::1");
        assert_eq!(normalize_host("Web1.Example.COM."), "web1.example.com");
        let g = Grants::parse(&["http=0x7f000001:8080", "ssh=*@2130706433"]).unwrap();
        assert_eq!(g.http_access("127.0.0.1", 8080), Some(Access::Exact));
        assert_eq!(g.ssh_access("x", "127.1", 22), Some(Access::Exact));
        assert_eq!(g.exact_hosts(), ["127.0.0.1", "127.0.0.1"]);
    }

    #[test]
    fn exact_hosts_cover_every_connecting_grant() {
        let g = Grants::parse(&[
            "http=*.example.com",
            "http=10.0.0.1",
            "ssh=deploy@[fd00::1]:2222",
            "chef=http://169.254.169.254/organizations/x",
            "chef=https://Chef.Example.com",
            "ec2=us-west-2",
        ])
        .unwrap();
        assert_eq!(g.exact_hosts(), ["10.0.0.1", "fd00::1", "169.254.169.254", "chef.example.com"]);
    }

    #[test]
    fn regions_are_checked() {
        for good in ["us-west-2", "eu-central-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"] {
            assert!(is_region(good), "{good}");
            assert!(Grants::parse(&[format!("ec2={good}")]).is_ok());
        }
        for bad in
            ["", "us", "us-west", "US-WEST-2", "us-west-2.evil.com", "us-west-2/", "x-y-1", "us--1", "us-west-123"]
        {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(Grants::parse(&["ec2=evil.com#"]).is_err());
        assert!(Grants::parse(&["ec2=*"]).is_ok());
    }

    #[test]
    fn round_trips_through_specs_and_json() {
        let specs = ["http=*.example.com:*", "http=[::1]:80", "ssh=*@db:2200", "ec2=us-west-2", "secret=tok"];
        let g = Grants::parse(&specs).unwrap();
        assert_eq!(g.specs(), specs);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Grants>(&json).unwrap(), g);
    }
}
