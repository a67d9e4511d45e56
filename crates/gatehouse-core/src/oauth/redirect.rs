//! Redirect URIs: strict rules at registration, exact matching at the authorization endpoint
//! (RFC 9700 §4.1.3, RFC 6749 §3.1.2), with the RFC 8252 §7.3 loopback port exception.

use std::fmt;

use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectError {
    NotAbsolute,
    Fragment,
    Wildcard,
    Userinfo,
    Scheme,
    NotCanonical,
    ReservedParameter,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "must be an absolute URL",
            Self::Fragment => "must not contain a fragment (RFC 6749 §3.1.2)",
            Self::Wildcard => "must not contain wildcards",
            Self::Userinfo => "must not contain a user name or password",
            Self::Scheme => "must use https (plain http only for loopback hosts)",
            Self::NotCanonical => "must be written in canonical form (lower-case scheme and host, no default port, normalised path and escapes)",
            Self::ReservedParameter => {
                "must not carry the query parameters the server adds to it (code, state, iss, error, error_description, error_uri)"
            }
        })
    }
}

impl std::error::Error for RedirectError {}

/// A redirect URI that passed the registration rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Registration rules: absolute, canonical, `https` (or `http` on a loopback host), no
    /// fragment, no wildcard, no userinfo. Any other scheme (`javascript:`, `data:`, custom
    /// schemes) is refused.
    pub fn register(raw: &str) -> Result<Self, RedirectError> {
        if raw.contains('*') {
            return Err(RedirectError::Wildcard);
        }
        let url = Url::parse(raw).map_err(|_| RedirectError::NotAbsolute)?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(RedirectError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() || raw.contains('@') {
            return Err(RedirectError::Userinfo);
        }
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if is_loopback(&url) => {}
            _ => return Err(RedirectError::Scheme),
        }
        if url.as_str() != raw {
            return Err(RedirectError::NotCanonical);
        }
        // The authorization response appends these (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 §2): a
        // registered copy would make the client see each twice (parameter pollution), and which
        // one it reads decides whether it takes an attacker's value.
        if url.query_pairs().any(|(name, _)| RESERVED_PARAMETERS.contains(&name.as_ref())) {
            return Err(RedirectError::ReservedParameter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Query parameters the server adds to a redirect URI in its authorization responses.
const RESERVED_PARAMETERS: &[&str] = &["code", "state", "iss", "error", "error_description", "error_uri"];

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
}

/// Whether the RFC 8252 §7.3 loopback port exception applies to a client's redirect URIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackPorts {
    /// Native (public) apps: the port of an `http` loopback IP literal is chosen at run time by
    /// the app, so any port matches (RFC 8252 §7.3).
    Any,
    /// Every other client: exact match, port included. A confidential web client that
    /// registered `http://127.0.0.1:9996/cb` must not receive codes on another local port,
    /// where another local program may listen (the CVE-2024-8883 class).
    Exact,
}

/// The registered URI that `requested` matches exactly, if any. With [`LoopbackPorts::Any`],
/// for `http` loopback IP literals any port matches (RFC 8252 §7.3); nothing else is relaxed —
/// no prefix, case, path or query tolerance.
pub fn find_match<'a>(registered: &'a [String], requested: &str, ports: LoopbackPorts) -> Option<&'a str> {
    if let Some(r) = registered.iter().find(|r| r.as_str() == requested) {
        return Some(r);
    }
    if ports == LoopbackPorts::Exact {
        return None;
    }
    let req = Url::parse(requested).ok()?;
    if req.as_str() != requested || req.scheme() != "http" || !is_loopback_ip(&req) {
        return None;
    }
    let without_port = |u: &Url| {
        let mut u = u.clone();
        u.set_port(None).ok()?;
        Some(u.to_string())
    };
    let wanted = without_port(&req)?;
    registered
        .iter()
        .find(|r| Url::parse(r).ok().filter(is_loopback_ip).and_then(|u| without_port(&u)).as_deref() == Some(&wanted))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        assert!(RedirectUri::register("https://app.example.com/callback").is_ok());
        assert!(RedirectUri::register("http://127.0.0.1/callback").is_ok());
        assert!(RedirectUri::register("http://[::1]:8080/cb").is_ok());
        assert!(RedirectUri::register("http://localhost:3000/cb").is_ok());
        let cases = [
            ("/relative", RedirectError::NotAbsolute),
            ("https://app.example.com/cb#frag", RedirectError::Fragment),
            ("https://*.example.com/cb", RedirectError::Wildcard),
            ("https://user:pw@app.example.com/cb", RedirectError::Userinfo),
            ("https://evil.test@app.example.com/cb", RedirectError::Userinfo),
            ("http://app.example.com/cb", RedirectError::Scheme),
            ("javascript:alert(1)", RedirectError::Scheme),
            ("data:text/html,hi", RedirectError::Scheme),
            ("com.example.app:/cb", RedirectError::Scheme),
            ("HTTPS://App.Example.com/cb", RedirectError::NotCanonical),
            ("https://app.example.com:443/cb", RedirectError::NotCanonical),
            ("https://app.example.com/a/../cb", RedirectError::NotCanonical),
            ("https://app.example.com", RedirectError::NotCanonical),
        ];
        for (uri, err) in cases {
            assert_eq!(RedirectUri::register(uri), Err(err), "{uri}");
        }
    }

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let reg = vec!["https://app.example.com/cb".to_owned(), "http://127.0.0.1/native".to_owned()];
        let find_match = |reg: &[String], uri: &str| find_match(reg, uri, LoopbackPorts::Any).map(str::to_owned);
        assert_eq!(find_match(&reg, "https://app.example.com/cb").as_deref(), Some("https://app.example.com/cb"));
        // RFC 9700 §4.1.1 tricks: suffix, traversal, case, port, userinfo, encoding, query.
        for bad in [
            "https://app.example.com/cb/extra",
            "https://app.example.com/cb/../cb",
            "https://app.example.com/CB",
            "https://APP.example.com/cb",
            "https://app.example.com:8443/cb",
            "https://evil.test@app.example.com/cb",
            "https://app.example.com/c%62",
            "https://app.example.com/cb?x=1",
            "https://app.example.com.evil.test/cb",
            "https://app.example.com/cb#x",
            "http://app.example.com/cb",
        ] {
            assert_eq!(find_match(&reg, bad), None, "{bad}");
        }
        assert_eq!(find_match(&reg, "http://127.0.0.1:51234/native").as_deref(), Some("http://127.0.0.1/native"));
        assert_eq!(find_match(&reg, "http://127.0.0.1:51234/native2"), None);
        assert_eq!(find_match(&reg, "http://localhost:51234/native"), None, "only IP literals get the port rule");
    }

    /// RFC 8252 §7.3's any-port rule is for native apps only; every other client matches exactly.
    #[test]
    fn loopback_ports_are_exact_for_other_clients() {
        let reg = vec!["http://127.0.0.1:9996/cb".to_owned()];
        assert_eq!(
            find_match(&reg, "http://127.0.0.1:9996/cb", LoopbackPorts::Exact),
            Some("http://127.0.0.1:9996/cb")
        );
        assert_eq!(find_match(&reg, "http://127.0.0.1:12345/cb", LoopbackPorts::Exact), None);
        assert_eq!(find_match(&reg, "http://127.0.0.1/cb", LoopbackPorts::Exact), None);
        assert_eq!(find_match(&reg, "http://127.0.0.1:12345/cb", LoopbackPorts::Any), Some("http://127.0.0.1:9996/cb"));
    }

    #[test]
    fn parameters_the_server_adds_are_refused_at_registration() {
        for uri in [
            "https://app.example.com/cb?code=x",
            "https://app.example.com/cb?state=1",
            "https://app.example.com/cb?a=1&iss=https%3A%2F%2Fevil.test",
            "https://app.example.com/cb?error=x",
            "https://app.example.com/cb?error_description=x",
            "https://app.example.com/cb?error_uri=x",
            "http://127.0.0.1:8080/cb?code",
        ] {
            assert_eq!(RedirectUri::register(uri), Err(RedirectError::ReservedParameter), "{uri}");
        }
        assert!(RedirectUri::register("https://app.example.com/cb?tenant=a&codes=1").is_ok());
    }
}
