//! Which network addresses a participant may reach.
//!
//! A participant granted a host by wildcard reaches only public addresses;
//! loopback, private, link-local (the cloud metadata service at
//! 169.254.169.254 included) and other special-purpose ranges need the
//! exact host in a grant. The check applies to every address a name
//! resolves to, right before connecting, so DNS cannot smuggle a private
//! address past a name check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// How long an upload's check waits for a granted name to resolve. A name
/// that does not resolve in time is accepted: the check that matters runs
/// on the addresses actually connected to.
const GRANT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a host (normalised, see `grants::normalize_host`) may not be granted
/// to an upload on a server that keeps uploads to public addresses, or
/// `None`. Refused: non-public address literals, `localhost` and its
/// subdomains, and names that resolve to any non-public address.
pub async fn non_public_grant(host: &str) -> Option<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return (!is_public(ip)).then(|| format!("{ip} is a loopback, private or otherwise non-public address"));
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Some(format!("{host} names the loopback, a non-public address"));
    }
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(GRANT_RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => {
            let private = addrs.map(|a| a.ip()).find(|ip| !is_public(*ip));
            private.map(|ip| format!("{host} resolves to the non-public address {ip}"))
        }
        Ok(Err(_)) | Err(_) => None,
    }
}

/// Whether `ip` is an ordinary, globally routed unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64, may embed a private v4
                || (seg[0] == 0x2001 && seg[1] == 0xdb8) // documentation
                || seg[0] == 0x2002 // 6to4, may embed a private v4
                || is_v4_compatible(v6))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_v4_compatible(v6: Ipv6Addr) -> bool {
    let seg = v6.segments();
    seg[..6].iter().all(|s| *s == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} must not be public");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public} must be public");
        }
    }

    /// The upload check refuses every spelling of a non-public host, names
    /// that resolve to one included; nothing here connects anywhere.
    #[tokio::test]
    async fn upload_policy_refuses_non_public_hosts_however_spelled() {
        use crate::capabilities::grants::normalize_host;
        for host in [
            "127.0.0.1",
            "0x7f000001",
            "2130706433",
            "127.1",
            "0177.0.0.1",
            "[::1]",
            "fd00::1",
            "169.254.169.254",
            "10.0.0.1",
            "localhost",
            "LOCALHOST.",
            "db.localhost",
            "[::ffff:10.0.0.1]",
        ] {
            let why = non_public_grant(&normalize_host(host)).await;
            assert!(why.is_some(), "{host} was accepted");
        }
        assert_eq!(non_public_grant("93.184.216.34").await, None);
    }
}
