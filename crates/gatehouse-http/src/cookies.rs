//! The session cookie and the pre-session CSRF cookie.
//!
//! Session cookie: `__Host-gatehouse_session`, HttpOnly, Secure, SameSite=Lax, Path=/ (without
//! the prefix and `Secure` when the issuer is loopback http). The pre-session cookie holds a
//! random value that CSRF tokens of forms shown before sign-in are bound to.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use gatehouse_core::token::RefreshToken;
use gatehouse_core::{SessionToken, csrf, random};

use crate::HttpSettings;
use crate::error::ApiError;

pub fn session_token(jar: &CookieJar, settings: &HttpSettings) -> Option<SessionToken> {
    jar.get(settings.session_cookie()).map(|c| SessionToken::from_cookie(c.value()))
}

fn base(name: &'static str, value: String, settings: &HttpSettings) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .secure(settings.secure_cookies())
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

pub fn session_cookie(token: &SessionToken, settings: &HttpSettings) -> Cookie<'static> {
    base(settings.session_cookie(), token.expose().to_owned(), settings)
}

pub fn clear_session(jar: CookieJar, settings: &HttpSettings) -> CookieJar {
    jar.remove(base(settings.session_cookie(), String::new(), settings))
}

/// The CSRF token for a form about to be rendered, and the jar to send with it: bound to the
/// session when there is one, else to a pre-session cookie (created here when missing).
pub fn form_token(jar: CookieJar, settings: &HttpSettings) -> Result<(CookieJar, String), ApiError> {
    if let Some(session) = jar.get(settings.session_cookie()) {
        let token = csrf::token_for(session.value());
        return Ok((jar, token));
    }
    if let Some(pre) = jar.get(settings.csrf_cookie()) {
        let token = csrf::token_for(pre.value());
        return Ok((jar, token));
    }
    let value = random::token().map_err(|_| ApiError::internal())?;
    let token = csrf::token_for(&value);
    Ok((jar.add(base(settings.csrf_cookie(), value, settings)), token))
}

/// Checks a submitted form's CSRF token against the cookies this browser holds.
pub fn check_form_token(jar: &CookieJar, settings: &HttpSettings, presented: &str) -> Result<(), ApiError> {
    let bound = [settings.session_cookie(), settings.csrf_cookie()]
        .into_iter()
        .filter_map(|name| jar.get(name))
        .any(|c| csrf::verify(c.value(), presented));
    if bound {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "csrf_token_invalid",
            "the form has expired or was not sent by this site; reload it and try again",
        ))
    }
}

/// The federation binding cookie and the jar to send: the existing value (several tabs may
/// sign in at once), else a new random one; sent again either way, so that it lives as long
/// as the login state starting now. SameSite=Lax, so that it comes back with the top-level
/// redirect from the upstream.
pub fn federation_binding(
    jar: CookieJar,
    settings: &HttpSettings,
) -> Result<(CookieJar, gatehouse_core::federation::BrowserBinding), ApiError> {
    use gatehouse_core::federation::BrowserBinding;
    let binding = match federation_cookie(&jar, settings) {
        Some(existing) => existing,
        None => BrowserBinding::generate().map_err(|_| ApiError::internal())?,
    };
    Ok((jar.add(binding_cookie(&binding, settings)), binding))
}

/// The binding cookie sent again with a fresh Max-Age, if there is one (a pending link starts
/// a new 10-minute state bound to it).
pub fn refresh_federation_binding(jar: CookieJar, settings: &HttpSettings) -> CookieJar {
    match federation_cookie(&jar, settings) {
        Some(binding) => jar.add(binding_cookie(&binding, settings)),
        None => jar,
    }
}

fn binding_cookie(binding: &gatehouse_core::federation::BrowserBinding, settings: &HttpSettings) -> Cookie<'static> {
    let mut cookie = base(settings.federation_cookie(), binding.expose().to_owned(), settings);
    cookie.set_max_age(time::Duration::seconds(gatehouse_core::federation::flow::LOGIN_STATE_LIFETIME));
    cookie
}

pub fn federation_cookie(
    jar: &CookieJar,
    settings: &HttpSettings,
) -> Option<gatehouse_core::federation::BrowserBinding> {
    jar.get(settings.federation_cookie()).map(|c| gatehouse_core::federation::BrowserBinding::from_cookie(c.value()))
}

/// Path of the refresh cookie: it is sent only to the token API.
pub const REFRESH_PATH: &str = "/api/v1/auth";

fn refresh_base(value: String, settings: &HttpSettings) -> Cookie<'static> {
    // `__Secure-`, not `__Host-`: the latter requires `Path=/`, and this cookie must not travel
    // with every request.
    let name = if settings.secure_cookies() { "__Secure-gatehouse_refresh" } else { "gatehouse_refresh" };
    Cookie::build((name, value))
        .http_only(true)
        .secure(settings.secure_cookies())
        .same_site(SameSite::Strict)
        .path(REFRESH_PATH)
        .build()
}

pub fn refresh_cookie(token: &RefreshToken, settings: &HttpSettings, lifetime: i64) -> Cookie<'static> {
    let mut c = refresh_base(token.expose().to_owned(), settings);
    c.set_max_age(time::Duration::seconds(lifetime));
    c
}

pub fn refresh_token(jar: &CookieJar, settings: &HttpSettings) -> Option<RefreshToken> {
    let name = refresh_base(String::new(), settings).name().to_owned();
    jar.get(&name).map(|c| RefreshToken::from_client(c.value()))
}

pub fn clear_refresh(jar: CookieJar, settings: &HttpSettings) -> CookieJar {
    jar.remove(refresh_base(String::new(), settings))
}

/// The pending second-factor step of a page sign-in: HttpOnly, SameSite=Strict (it is only
/// needed on our own `/login/mfa`), and gone with the step after 5 minutes.
pub fn mfa_cookie(handle: &str, settings: &HttpSettings) -> Cookie<'static> {
    let mut cookie = base(settings.mfa_cookie(), handle.to_owned(), settings);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_max_age(time::Duration::seconds(gatehouse_core::mfa::CHALLENGE_LIFETIME));
    cookie
}

pub fn mfa_handle(jar: &CookieJar, settings: &HttpSettings) -> Option<String> {
    jar.get(settings.mfa_cookie()).map(|c| c.value().to_owned())
}

pub fn clear_mfa(jar: CookieJar, settings: &HttpSettings) -> CookieJar {
    let mut cookie = base(settings.mfa_cookie(), String::new(), settings);
    cookie.set_same_site(SameSite::Strict);
    jar.remove(cookie)
}
