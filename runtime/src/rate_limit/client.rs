//! The client address of a request: the peer, or with trusted proxies in front, the last
//! address of `X-Forwarded-For` that is not one of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`). Without
/// any, the header is ignored: any client could write it.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts no proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// Addresses (`10.0.0.7`) and networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        entries
            .into_iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("`{entry}` is not an address or a network such as 10.0.0.0/8")
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, addr: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(addr))
    }

    /// The client of `request`: the peer unless the peer is a trusted proxy; then
    /// `X-Forwarded-For` read from the right, the first address no trusted proxy holds.
    pub fn client_ip(&self, request: &Request) -> IpAddr {
        let peer = peer(request).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if self.0.is_empty() || !self.trusts(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(addr) if self.trusts(&addr) => client = addr,
                Ok(addr) => return addr,
                // Garbage from before the first trusted hop: the last good address stands.
                Err(_) => return client,
            }
        }
        client
    }
}

/// The peer address (the server inserts `ConnectInfo` on every request).
fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> Request {
        let mut request = Request::new(axum::body::Body::empty());
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 4000)));
        for value in forwarded {
            request
                .headers_mut()
                .append("x-forwarded-for", value.parse().unwrap());
        }
        request
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let none = TrustedProxies::none();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            none.client_ip(&request("10.0.0.2", &["1.2.3.4"])),
            ip("10.0.0.2")
        );
        let proxies = TrustedProxies::parse(["10.0.0.0/8", "192.168.1.1"]).unwrap();
        // A client that is not a proxy cannot pick its address.
        assert_eq!(
            proxies.client_ip(&request("8.8.8.8", &["1.2.3.4"])),
            ip("8.8.8.8")
        );
        // Through two trusted proxies: the address before them.
        assert_eq!(
            proxies.client_ip(&request("10.0.0.2", &["6.6.6.6, 1.2.3.4, 192.168.1.1"])),
            ip("1.2.3.4")
        );
        // Split across header lines, the same.
        assert_eq!(
            proxies.client_ip(&request("10.0.0.2", &["6.6.6.6", "1.2.3.4"])),
            ip("1.2.3.4")
        );
        // No header: the proxy itself.
        assert_eq!(proxies.client_ip(&request("10.0.0.2", &[])), ip("10.0.0.2"));
        // Garbage: the last trusted hop.
        assert_eq!(
            proxies.client_ip(&request("10.0.0.2", &["evil, 10.1.1.1"])),
            ip("10.1.1.1")
        );
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(["proxy.local"]).is_err());
    }
}
