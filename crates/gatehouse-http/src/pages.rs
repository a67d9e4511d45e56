//! Server-rendered pages: compile-time askama templates, auto-escaped, no inline script.

use askama::Template;

/// Renders a template; a render failure (not expected: templates are checked at compile time)
/// becomes a plain error page rather than a panic.
pub fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "template rendering failed");
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
    })
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub registration_enabled: bool,
    /// Where to continue after signing in (an authorization request).
    pub next: Option<&'a str>,
    /// The authorization request asked for a fresh sign-in (`prompt=login`): kept in the form
    /// so the page rebuilt after a wrong password still passes it on to the provider buttons.
    pub prompt_login: bool,
    /// "Sign in with …" links, one per configured upstream provider.
    pub providers: Vec<ProviderButton>,
    /// The "Sign in with a passkey" button (and passkey autofill).
    pub passkeys_enabled: bool,
}

/// A "Sign in with …" link on the login page.
pub struct ProviderButton {
    pub name: String,
    /// `/login/<id>?return_to=…`, built and encoded in Rust.
    pub href: String,
}

/// An upstream provider on the account page.
pub struct ProviderRow {
    pub id: String,
    pub name: String,
    pub linked: bool,
}

/// A federated sign-in that did not complete. `upstream_detail` is the upstream's
/// `error_description`, shown escaped and shortened, never trusted.
#[derive(Template)]
#[template(path = "federation_error.html")]
pub struct FederationErrorPage<'a> {
    pub provider: &'a str,
    pub message: &'a str,
    pub upstream_detail: Option<&'a str>,
    /// The form that links with the local account's password, when that is possible.
    pub password_link: Option<PasswordLink<'a>>,
}

pub struct PasswordLink<'a> {
    pub provider_id: &'a str,
    pub csrf_token: &'a str,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub error: Option<&'a str>,
}

/// The accept page of an invitation (`/invitation?token=…`): the invited address is shown,
/// not editable; the token rides in a hidden field.
#[derive(Template)]
#[template(path = "invitation.html")]
pub struct InvitationPage<'a> {
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub error: Option<&'a str>,
}

pub struct SessionRow {
    pub id: String,
    /// "Browser" or "App (token)".
    pub kind: &'static str,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub user_agent: String,
    pub current: bool,
}

pub struct ConsentRow {
    pub client_id: String,
    pub client_name: String,
    pub scopes: String,
    pub granted: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub sessions: Vec<SessionRow>,
    pub consents: Vec<ConsentRow>,
    pub notice: Option<&'a str>,
    /// Upstream providers, linked or not (empty when none is configured).
    pub providers: Vec<ProviderRow>,
    /// For the address block (`account_email.html`): verified or not (a resend button), and
    /// whether a change asks for the password (else for a recent sign-in).
    pub email_verified: bool,
    pub has_password: bool,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub csrf_token: &'a str,
    pub client_name: &'a str,
    pub scopes: Vec<&'a str>,
    /// A privileged scope is asked for: the page warns.
    pub privileged: bool,
    /// The resource servers (RFC 8707 identifiers) the access is for; empty: no particular one.
    pub resources: Vec<&'a str>,
    /// The authorization request's parameters, sent back with the decision.
    pub hidden: Vec<(String, String)>,
    /// The client registered itself (RFC 7591 or a metadata document): the page says nobody
    /// checked who runs it. For a metadata document, the host its client_id URL names.
    pub self_registered: Option<SelfRegisteredNotice>,
}

/// What the consent page says about a self-registered client.
pub struct SelfRegisteredNotice {
    /// The host of a metadata-document client_id (`None` for RFC 7591 registrations).
    pub host: Option<String>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub csrf_token: &'a str,
    pub hidden: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub message: &'a str,
}

/// `2026-11-27 12:00 UTC`, for the session list.
pub fn format_time(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| t.to_string())
}

// Email verification and change of address (`routes::verify`, `routes::account_email`).

/// `GET /verify-email`: what the link confirms, and the button that does it.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage<'a> {
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    /// A change of address (else a verification of the current one).
    pub change: bool,
}

/// After `POST /verify-email`.
#[derive(Template)]
#[template(path = "verify_done.html")]
pub struct VerifyDonePage<'a> {
    pub email: &'a str,
    pub change: bool,
}

/// Instead of signing in to an application while `accounts.require_verified_email` holds it.
#[derive(Template)]
#[template(path = "verify_required.html")]
pub struct VerifyRequiredPage<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
}

/// `/device`: the user types the code their device shows (RFC 8628 §3.3).
#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePage<'a> {
    pub csrf_token: &'a str,
    pub user_code: &'a str,
    pub error: Option<&'a str>,
}

/// The device's request: which application, which scopes; allow or deny.
#[derive(Template)]
#[template(path = "device_consent.html")]
pub struct DeviceConsentPage<'a> {
    pub csrf_token: &'a str,
    pub client_name: &'a str,
    /// As the device shows it (`XXXX-XXXX`), so the user can compare.
    pub user_code: &'a str,
    pub scopes: Vec<&'a str>,
    pub privileged: bool,
}

/// The decision was recorded: back to the device.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage<'a> {
    pub client_name: &'a str,
    pub approved: bool,
}
