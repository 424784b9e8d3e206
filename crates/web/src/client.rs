//! The client's address, for throttling and sign-in diagnostics.
//!
//! `X-Forwarded-For` is believed only when the connection comes from a configured trusted
//! proxy; otherwise anyone could rotate the header to dodge per-address throttling.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The client's address, when the server knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn as_string(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// The client behind `peer`: the peer itself, or, when the peer is a trusted proxy, the
/// right-most address in `X-Forwarded-For` that is not a trusted proxy.
/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 peers) are compared as
/// the IPv4 addresses they are.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.to_canonical() == ip);
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.iter().rev() {
        for hop in value.rsplit(',') {
            match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
                Ok(ip) if is_trusted(ip) => client = ip,
                Ok(ip) => return ip,
                // A garbled hop: stop at the last address we could vouch for.
                Err(_) => return client,
            }
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(None));
        };
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(Self(Some(client_ip(
            peer.ip(),
            &forwarded,
            &state.web.trusted_proxies,
        ))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["198.51.100.1"], &[proxy]),
            ip("203.0.113.9"),
            "an untrusted peer cannot claim another address"
        );
        assert_eq!(
            client_ip(proxy, &["198.51.100.1, 203.0.113.5"], &[proxy]),
            ip("203.0.113.5"),
            "the right-most hop the proxy saw"
        );
        assert_eq!(
            client_ip(proxy, &["203.0.113.5, 10.0.0.1"], &[proxy]),
            ip("203.0.113.5"),
            "trusted hops are skipped"
        );
        assert_eq!(client_ip(proxy, &[], &[proxy]), proxy);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &["203.0.113.5"], &[proxy]),
            ip("203.0.113.5"),
            "a dual-stack listener sees the proxy as an IPv4-mapped address"
        );
        assert_eq!(client_ip(proxy, &["garbage"], &[proxy]), proxy);
    }
}
