//! Who is the client? The TCP peer, unless that peer is one of our trusted reverse proxies: then
//! the proxy's `X-Forwarded-For` / `X-Forwarded-Proto` (the default) or RFC 7239 `Forwarded`
//! header names the client. From any other peer those headers are ignored, so a client can
//! never choose the IP address the audit log records or the rate limits are keyed on.
//!
//! [`resolve_client`] runs first on every request and stores the answer as request extensions:
//! [`ClientIp`] and [`HttpsRequest`]. Everything downstream (audit context, session list, rate
//! limits, HSTS) reads those instead of the headers.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The client's IP address after trusted-proxy resolution, set by [`resolve_client`] on every
/// request that arrived over a socket (`request.extensions().get::<ClientIp>()`). Key rate limits
/// and audit records on this, never on a forwarding header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// Whether the client's request reached us over HTTPS: our own TLS listener, or a trusted proxy
/// that says `X-Forwarded-Proto: https` (or `Forwarded: proto=https`). Set by [`resolve_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsRequest(pub bool);

/// Which header a trusted proxy uses to name the client. Only one is believed, so a client cannot
/// add the other one and have it passed through unchanged by a proxy that only sets the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For` (right-most address that is not a trusted proxy) and `X-Forwarded-Proto`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…;proto=…`.
    Forwarded,
}

impl FromStr for ProxyHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("proxy header must be \"x-forwarded-for\" or \"forwarded\", not {other:?}")),
        }
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address means
/// that one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip.into(), self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask_v4(ip: std::net::Ipv4Addr, prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::from(ip) & (u32::MAX << (32 - u32::from(prefix))) }
}

fn mask_v6(ip: u128, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { ip & (u128::MAX << (128 - u32::from(prefix))) }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length (0..={max})"))?,
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4, prefix).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6.into(), prefix).into()),
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The networks whose forwarding headers we believe. Empty (the default): none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Result<Self, String> {
        list.into_iter().map(|s| s.as_ref().parse()).collect::<Result<_, _>>().map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client address and scheme for a request from `peer` over a connection that was TLS or
/// not. Forwarding headers count only when `peer` is trusted; then the right-most address that
/// is not itself a trusted proxy is the client (anything left of it was written by the client).
pub fn resolve(
    peer: IpAddr,
    tls: bool,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    mode: ProxyHeader,
) -> (IpAddr, bool) {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return (peer, tls);
    }
    match mode {
        ProxyHeader::XForwardedFor => {
            let hops: Vec<Option<IpAddr>> = list_values(headers, "x-forwarded-for").map(parse_node).collect();
            let (ip, _) = rightmost_untrusted(peer, hops.iter().map(|h| (*h, ())), trusted);
            let https = match list_values(headers, "x-forwarded-proto").last() {
                Some(proto) => proto.eq_ignore_ascii_case("https"),
                None => tls,
            };
            (ip, https)
        }
        ProxyHeader::Forwarded => {
            let elements: Vec<(Option<IpAddr>, Option<String>)> =
                list_values(headers, "forwarded").map(forwarded_element).collect();
            let (ip, proto) = rightmost_untrusted(peer, elements.into_iter(), trusted);
            let https = match proto.flatten() {
                Some(p) => p.eq_ignore_ascii_case("https"),
                None => tls,
            };
            (ip, https)
        }
    }
}

/// Walks the hops from the right. The first address outside the trusted networks is the client;
/// an unparsable hop ends the walk at the last trustworthy address (it could be anything).
fn rightmost_untrusted<T>(
    peer: IpAddr,
    hops: impl DoubleEndedIterator<Item = (Option<IpAddr>, T)>,
    trusted: &TrustedProxies,
) -> (IpAddr, Option<T>) {
    let mut last: (IpAddr, Option<T>) = (peer, None);
    for (ip, extra) in hops.rev() {
        let Some(ip) = ip else { return last };
        if !trusted.contains(ip) {
            return (ip, Some(extra));
        }
        last = (ip, Some(extra));
    }
    last
}

/// The comma-separated items of every instance of a header, in order, trimmed (quoted commas
/// are not split, for `Forwarded`).
fn list_values<'a>(headers: &'a HeaderMap, name: &'static str) -> impl DoubleEndedIterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_outside_quotes)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`; `unknown` and obfuscated
/// identifiers (`_hidden`) are not addresses.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = s.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// One RFC 7239 element (`for=…;proto=…;by=…`): its `for` node and its `proto`.
fn forwarded_element(element: &str) -> (Option<IpAddr>, Option<String>) {
    let (mut node, mut proto) = (None, None);
    for pair in element.split(';') {
        let Some((name, value)) = pair.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').replace('\\', "");
        match name.trim().to_ascii_lowercase().as_str() {
            "for" => node = parse_node(&value),
            "proto" => proto = Some(value),
            _ => {}
        }
    }
    (node, proto)
}

/// Resolves the client of every request and stores [`ClientIp`] and [`HttpsRequest`].
/// Runs outside every other layer so that rate limits and the audit log see the result.
pub async fn resolve_client(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = &state.settings;
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let https = match peer {
        Some(peer) => {
            let (ip, https) =
                resolve(peer, settings.tls, req.headers(), &settings.trusted_proxies, settings.proxy_header);
            req.extensions_mut().insert(ClientIp(ip));
            https
        }
        None => settings.tls,
    };
    req.extensions_mut().insert(HttpsRequest(https));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped IPv6 peers match IPv4 networks");
        assert!(!net.contains(ip("11.0.0.1")));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")) && !v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0", "example.com", "10.0.0.0/x", "", "10.0.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_from_untrusted_peers_are_ignored() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https")]);
        assert_eq!(
            resolve(ip("203.0.113.5"), false, &h, &trusted, ProxyHeader::XForwardedFor),
            (ip("203.0.113.5"), false)
        );
        let none = TrustedProxies::default();
        assert_eq!(resolve(ip("10.0.0.1"), false, &h, &none, ProxyHeader::XForwardedFor), (ip("10.0.0.1"), false));
    }

    #[test]
    fn rightmost_untrusted_x_forwarded_for() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8", "192.168.0.0/16"]).unwrap();
        let peer = ip("10.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 192.168.1.1"), ("x-forwarded-proto", "https")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::XForwardedFor), (ip("203.0.113.7"), true));
        // Several header lines are one list.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.8:1234")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::XForwardedFor), (ip("203.0.113.8"), false));
        // Garbage right of the client ends the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, garbage, 192.168.1.1")]);
        assert_eq!(resolve(peer, true, &h, &trusted, ProxyHeader::XForwardedFor), (ip("192.168.1.1"), true));
        // All hops trusted: the left-most one.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 192.168.1.1")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::XForwardedFor).0, ip("10.9.9.9"));
        // No header: the peer itself.
        assert_eq!(resolve(peer, false, &HeaderMap::new(), &trusted, ProxyHeader::XForwardedFor).0, peer);
        // In this mode `Forwarded` is not believed.
        let h = headers(&[("forwarded", "for=6.6.6.6;proto=https")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::XForwardedFor), (peer, false));
    }

    #[test]
    fn rfc7239_forwarded() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let peer = ip("10.0.0.1");
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6;proto=http, for=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.1, for=10.0.0.2",
        )]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::Forwarded), (ip("2001:db8:cafe::17"), true));
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")]);
        assert_eq!(resolve(peer, true, &h, &trusted, ProxyHeader::Forwarded), (ip("192.0.2.60"), false));
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::Forwarded).0, ip("10.0.0.3"));
        let h = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(resolve(peer, false, &h, &trusted, ProxyHeader::Forwarded).0, peer, "XFF is not believed here");
        assert_eq!(split_outside_quotes("for=\"a,b\", for=c"), vec!["for=\"a,b\"", " for=c"]);
    }
}
