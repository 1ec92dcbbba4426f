//! Which address an anonymous caller is: the TCP peer, unless the peer is
//! one of the operator's `--trusted-proxies`, in which case its
//! `Forwarded` (RFC 7239) or else `X-Forwarded-For` header names the
//! client: the rightmost address in it that is not itself a trusted
//! proxy (every proxy appends the address it received from, so the
//! addresses left of the first untrusted one are the client's to forge).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, as far as it can be known.
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is not an address (`unknown`, an obfuscated
            // name): the proxy that wrote it is the last we can name.
            let Some(ip) = hop else { break };
            client = *ip;
            if !self.trusts(*ip) {
                break;
            }
        }
        Some(client)
    }
}

/// The `for=` hops of every `Forwarded` header in order, else those of
/// `X-Forwarded-For`; `None` for a hop that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let forwarded: Vec<Option<IpAddr>> = values("forwarded")
        .into_iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim().trim_matches('"')))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    values("x-forwarded-for")
        .into_iter()
        .map(parse_node)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    const LB: &str = "10.0.0.5:4000";

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let ip = proxies(&[]).client(Some(LB.parse().unwrap()), &h);
        assert_eq!(ip, Some("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        let peer = Some(LB.parse().unwrap());
        // The client forged the leftmost entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(p.client(peer, &h), Some("198.51.100.7".parse().unwrap()));
        let h = headers(&[
            ("forwarded", "for=1.2.3.4"),
            (
                "forwarded",
                r#"for="[2001:db8::17]:4711";proto=https, for=10.2.2.2"#,
            ),
        ]);
        assert_eq!(p.client(peer, &h), Some("2001:db8::17".parse().unwrap()));
        // All trusted: the leftmost; no header: the proxy itself.
        let h = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(p.client(peer, &h), Some("10.9.9.9".parse().unwrap()));
        assert_eq!(
            p.client(peer, &HeaderMap::new()),
            Some("10.0.0.5".parse().unwrap())
        );
        // A hop that is not an address stops at the proxy that wrote it.
        let h = headers(&[("forwarded", "for=unknown, for=10.3.3.3")]);
        assert_eq!(p.client(peer, &h), Some("10.3.3.3".parse().unwrap()));
    }
}
