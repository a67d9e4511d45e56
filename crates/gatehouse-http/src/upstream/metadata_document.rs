//! Fetching OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! "Security Considerations": server-side request forgery): https only, no redirects, no proxy,
//! a size cap and a timeout. Host names are resolved by [`GuardedResolver`], which refuses
//! private, loopback, link-local, unique-local, multicast, CGNAT, reserved and unspecified
//! addresses, and hands the connector exactly the addresses it checked: there is no second
//! lookup an attacker's DNS could answer differently (no rebinding window). IP literals, which
//! reqwest connects to without resolving, are checked before the request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use gatehouse_core::oauth::{FetchedDocument, MetadataDocumentFetcher};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, EXPIRES};
use url::{Host, Url};

/// How the fetches are made.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Connect to private and loopback addresses too (development only).
    pub allow_private_addresses_insecure_dev_only: bool,
    /// PEM certificates trusted for these fetches on top of the system's roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Largest document accepted.
    pub max_bytes: usize,
    /// Bound of the whole fetch (connect, TLS, headers and body).
    pub timeout: Duration,
}

pub struct MetadataDocumentHttp {
    client: reqwest::Client,
    allow_private: bool,
    max_bytes: usize,
}

impl MetadataDocumentHttp {
    pub fn new(settings: &FetchSettings) -> Result<Self, String> {
        let allow_private = settings.allow_private_addresses_insecure_dev_only;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(true)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(0)
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }));
        if let Some(pem) = &settings.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| "the extra CA file is not PEM")?;
            if certs.is_empty() {
                return Err("the extra CA file holds no certificate".into());
            }
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { client, allow_private, max_bytes: settings.max_bytes })
    }
}

#[async_trait]
impl MetadataDocumentFetcher for MetadataDocumentHttp {
    async fn fetch(&self, url: &Url) -> Result<FetchedDocument, String> {
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.allow_private
            && forbidden_address(ip)
        {
            return Err("the host is a private or reserved address".into());
        }
        let resp = self.client.get(url.as_str()).header(ACCEPT, "application/json").send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                // Also a refused address: the resolver's error becomes a connect error.
                "cannot connect (or the host resolves to a refused address)".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("HTTP {} (redirects are not followed)", resp.status().as_u16()));
        }
        let declared = resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(format!("larger than {} bytes", self.max_bytes));
        }
        let max_age = cache_lifetime(resp.headers());
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|_| "the body could not be read".to_owned())? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("larger than {} bytes", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, max_age })
    }
}

/// RFC 9111 §5.2.2: `no-store`/`no-cache` → 0, `max-age` (or `s-maxage`), else `Expires`
/// (§5.3) relative to now; `None` when the response says nothing.
fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    if let Some(cc) = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
        let mut max_age = None;
        for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "no-store" || directive == "no-cache" {
                return Some(0);
            }
            if let Some(v) = directive.strip_prefix("max-age=").or_else(|| directive.strip_prefix("s-maxage=")) {
                max_age = v.trim_matches('"').parse::<i64>().ok().or(Some(0));
            }
        }
        if max_age.is_some() {
            return max_age;
        }
    }
    let expires = headers.get(EXPIRES)?.to_str().ok()?;
    // §5.3: an invalid date means "already expired".
    let at = httpdate::parse_http_date(expires).ok();
    let secs = at.and_then(|at| at.duration_since(SystemTime::now()).ok()).map_or(0, |d| d.as_secs());
    Some(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Resolves with the system resolver and refuses names with any address
/// [`forbidden_address`] refuses; the connector connects to exactly the addresses returned.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err("the host name has no address".into());
            }
            // Any refused address refuses the name: connecting would try them in turn.
            if !allow_private && addrs.iter().any(|a| forbidden_address(a.ip())) {
                return Err("the host name resolves to a private or reserved address".into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Addresses a metadata document is never fetched from: everything that is not plain public
/// unicast (RFC 6890 special-purpose registries).
pub fn forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) and SIIT (::ffff:0:a.b.c.d, RFC 7915) reach the embedded IPv4
            // address.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return forbidden_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || seg[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
                || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2] == 1) // local-use NAT64 64:ff9b:1::/48 (RFC 8215)
                || (seg[0] == 0x2002) // 6to4 embeds any IPv4 address
                || (seg[0] == 0x2001 && seg[1] == 0) // Teredo
                || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // discard-only 100::/64
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::ffff:0:a00:1",
            "64:ff9b:1::8.8.8.8",
        ] {
            assert!(forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_lifetime_per_rfc_9111() {
        let h = |name, value: &str| {
            let mut m = reqwest::header::HeaderMap::new();
            m.insert(name, value.parse().unwrap());
            m
        };
        assert_eq!(cache_lifetime(&h(CACHE_CONTROL, "public, max-age=300")), Some(300));
        assert_eq!(cache_lifetime(&h(CACHE_CONTROL, "no-store")), Some(0));
        assert_eq!(cache_lifetime(&h(EXPIRES, "Thu, 01 Jan 1970 00:00:00 GMT")), Some(0));
        assert_eq!(cache_lifetime(&h(EXPIRES, "garbage")), Some(0));
        assert_eq!(cache_lifetime(&reqwest::header::HeaderMap::new()), None);
    }
}
