//! Database URLs made safe to log and print (`config check`): the password is replaced.

const REDACTED: &str = "REDACTED";

/// Replaces the password in a URL with `REDACTED`: the one in the userinfo
/// (`postgres://user:pw@host/db`) and a `password=` query parameter (which libpq-style URLs
/// accept). Works on text that is not a valid URL too (a missing `//`, no scheme at all), and
/// errs towards hiding more: the userinfo ends at the *last* `@`, so a password with an
/// unencoded `@`, `/` or `?` is still hidden whole.
pub fn redact_url(url: &str) -> String {
    // Without `://` the userinfo (if any) is taken to start at the very beginning: for
    // `postgres:/app:pw@db` that hides `/app` too, but never shows the password.
    let (scheme, rest) = url.split_at(url.find("://").map_or(0, |i| i + 3));
    let Some(at) = rest.rfind('@') else {
        return format!("{scheme}{}", redact_query(rest));
    };
    let (userinfo, host_and_rest) = rest.split_at(at);
    let userinfo = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:{REDACTED}"),
        None => userinfo.to_owned(),
    };
    format!("{scheme}{userinfo}{}", redact_query(host_and_rest))
}

/// The scheme of `url` (`"mysql"`; empty if it has none), for messages that must not show
/// the rest of it.
pub(crate) fn scheme_of(url: &str) -> &str {
    url.split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .unwrap_or_default()
}

fn redact_query(s: &str) -> String {
    let Some((base, query)) = s.split_once('?') else {
        return s.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_the_userinfo_password() {
        assert_eq!(redact_url("postgres://gh:s3cret@db:5432/gatehouse"), "postgres://gh:REDACTED@db:5432/gatehouse");
        assert_eq!(redact_url("postgresql://gh:@db/g"), "postgresql://gh:REDACTED@db/g");
    }

    #[test]
    fn hides_awkward_passwords_whole() {
        for url in ["postgres://u:p@ss/w?rd@db/g", "postgres://u:a:b@db/g", "mysql://u:pa%40ss@h/db"] {
            let out = redact_url(url);
            assert!(out.starts_with("postgres://u:REDACTED@") || out.starts_with("mysql://u:REDACTED@"), "{out}");
            for secret in ["ss/w", "a:b", "pa%40ss"] {
                assert!(!out.contains(secret), "{out}");
            }
        }
    }

    #[test]
    fn hides_passwords_in_malformed_urls() {
        assert_eq!(redact_url("postgres:/app:hunter2@db"), "postgres:REDACTED@db");
        assert_eq!(redact_url("app:hunter2@db/g"), "app:REDACTED@db/g");
        assert_eq!(redact_url("postgres//app:hunter2@db"), "postgres//app:REDACTED@db");
    }

    #[test]
    fn schemes() {
        assert_eq!(super::scheme_of("mysql://u:p@h/db"), "mysql");
        assert_eq!(super::scheme_of("sqlite:x.db"), "sqlite");
        assert_eq!(super::scheme_of("u:p@h"), "u");
        assert_eq!(super::scheme_of("/var/lib/g.db"), "");
    }

    #[test]
    fn hides_a_password_query_parameter() {
        assert_eq!(
            redact_url("postgres://db/g?sslmode=require&Password=hunter2&user=u"),
            "postgres://db/g?sslmode=require&Password=REDACTED&user=u"
        );
    }

    #[test]
    fn leaves_urls_without_secrets_alone() {
        for url in ["sqlite://data/gatehouse.db", "sqlite:gatehouse.db?mode=rwc", "postgres://u@db/g", "postgres://db"]
        {
            assert_eq!(redact_url(url), url);
        }
    }
}
