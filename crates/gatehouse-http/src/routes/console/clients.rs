//! Console: OAuth clients (`/admin/clients…`): list, register (the secret shown once, with a
//! copy button), edit (the registration's rules, errors on the form with the input kept),
//! rotate the secret with an overlap, disable and enable, delete after a confirmation. Every
//! rule is `ClientAdmin`'s, the same as the admin API's and the command line's.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_core::oauth::{AuthMethod, Client, ClientRegistration, ClientSecret, ClientUpdate, GrantType};
use gatehouse_core::rbac::RbacError;
use serde::Deserialize;

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::extract::PageForm;
use crate::pages::{self, format_time};
use crate::routes::see_other;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clients", get(list))
        .route("/admin/clients/new", get(new_form).post(create))
        .route("/admin/clients/{id}", get(detail).post(update))
        .route("/admin/clients/{id}/secret", axum::routing::post(rotate))
        .route("/admin/clients/{id}/disable", axum::routing::post(disable))
        .route("/admin/clients/{id}/enable", axum::routing::post(enable))
        .route("/admin/clients/{id}/delete", get(confirm_delete).post(delete))
}

const AREA: &str = "/admin/clients";

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// Fixed texts for `?notice=` (never the input reflected).
fn notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "updated" => Some("Saved."),
        "created" => Some("Registered. This client has no secret: it is public or signs with its own keys."),
        "disabled" => Some("The client is disabled: it gets no tokens, and the tokens it holds do not work."),
        "enabled" => Some("The client is enabled."),
        "deleted" => Some("The client was deleted; its refresh tokens and consents are gone."),
        _ => None,
    }
}

/// A row of the list and the head of the detail page.
struct ClientRow {
    id: String,
    name: String,
    kind: &'static str,
    auth_method: &'static str,
    disabled: bool,
    created: String,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: if c.is_public() { "public" } else { "confidential" },
            auth_method: c.auth_method.as_str(),
            disabled: c.is_disabled(),
            created: format_time(c.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ListPage {
    nav: Nav,
    clients: Vec<ClientRow>,
    notice: Option<&'static str>,
}

async fn list(admin: ConsoleAdmin, State(state): State<AppState>, Query(q): Query<NoticeQuery>) -> Response {
    let clients = match state.admin.client_admin().clients(&admin.cap).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let html = pages::render(&ListPage {
        nav: admin.nav(AREA),
        clients: clients.iter().map(ClientRow::from).collect(),
        notice: notice(q.notice.as_deref()),
    });
    page(&admin, html)
}

/// The create and edit form's fields, as the browser sends them: lists one per line (scopes
/// also space-separated), checkboxes present when ticked.
#[derive(Deserialize, Default, Clone)]
struct ClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    auth_method: String,
    grant_authorization_code: Option<String>,
    grant_refresh_token: Option<String>,
    grant_client_credentials: Option<String>,
    grant_device_code: Option<String>,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    cors_origins: String,
    #[serde(default)]
    scopes: String,
    skip_consent: Option<String>,
    require_mfa: Option<String>,
    require_par: Option<String>,
    #[serde(default)]
    backchannel_logout_uri: String,
    backchannel_logout_session_required: Option<String>,
    #[serde(default)]
    access_token_lifetime: String,
    #[serde(default)]
    jwks: String,
    /// The revision the edit page showed: a save over someone else's change is refused.
    revision: Option<i64>,
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl ClientForm {
    fn from_client(c: &Client) -> Self {
        let on = |b: bool| b.then(|| "on".to_owned());
        Self {
            name: c.name.clone(),
            auth_method: c.auth_method.as_str().to_owned(),
            grant_authorization_code: on(c.allows_grant(GrantType::AuthorizationCode)),
            grant_refresh_token: on(c.allows_grant(GrantType::RefreshToken)),
            grant_client_credentials: on(c.allows_grant(GrantType::ClientCredentials)),
            grant_device_code: on(c.allows_grant(GrantType::DeviceCode)),
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            cors_origins: c.cors_origins.join("\n"),
            scopes: c.scopes.join(" "),
            skip_consent: on(c.skip_consent),
            require_mfa: on(c.require_mfa),
            require_par: on(c.require_pushed_authorization_requests),
            backchannel_logout_uri: c.backchannel_logout_uri.clone().unwrap_or_default(),
            backchannel_logout_session_required: on(c.backchannel_logout_session_required),
            access_token_lifetime: c.access_token_lifetime.map(|l| l.to_string()).unwrap_or_default(),
            jwks: c.jwks.as_ref().map(|j| j.as_json().to_string()).unwrap_or_default(),
            revision: Some(c.lifecycle.revision),
        }
    }

    fn grant_types(&self) -> Vec<String> {
        [
            (&self.grant_authorization_code, GrantType::AuthorizationCode),
            (&self.grant_refresh_token, GrantType::RefreshToken),
            (&self.grant_client_credentials, GrantType::ClientCredentials),
            (&self.grant_device_code, GrantType::DeviceCode),
        ]
        .into_iter()
        .filter(|(on, _)| on.is_some())
        .map(|(_, g)| g.as_str().to_owned())
        .collect()
    }

    /// The lifetime and the JWK Set, which must parse before the rules can be asked.
    fn parsed(&self) -> Result<(Option<i64>, Option<serde_json::Value>), String> {
        let lifetime = match self.access_token_lifetime.trim() {
            "" => None,
            n => Some(n.parse().map_err(|_| "access_token_lifetime must be a number of seconds".to_owned())?),
        };
        let jwks = match self.jwks.trim() {
            "" => None,
            j => Some(serde_json::from_str(j).map_err(|_| "jwks: the JWK Set is not valid JSON".to_owned())?),
        };
        Ok((lifetime, jwks))
    }

    fn registration(&self) -> Result<ClientRegistration, String> {
        let (access_token_lifetime, jwks) = self.parsed()?;
        Ok(ClientRegistration {
            name: self.name.clone(),
            public: self.auth_method == AuthMethod::None.as_str(),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            grant_types: self.grant_types(),
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            cors_origins: lines(&self.cors_origins),
            skip_consent: self.skip_consent.is_some(),
            auth_method: Some(self.auth_method.clone()),
            access_token_lifetime,
            jwks,
            require_mfa: self.require_mfa.is_some(),
            require_pushed_authorization_requests: self.require_par.is_some(),
            backchannel_logout_uri: Some(self.backchannel_logout_uri.trim())
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            backchannel_logout_session_required: self.backchannel_logout_session_required.is_some(),
            // Not on the form (yet): set through the admin API or the CLI.
            dpop_bound_access_tokens: false,
        })
    }

    /// Every field set: the form shows them all, so what it sends replaces them all.
    fn update(&self) -> Result<ClientUpdate, String> {
        let r = self.registration()?;
        Ok(ClientUpdate {
            name: Some(r.name),
            redirect_uris: Some(r.redirect_uris),
            post_logout_redirect_uris: Some(r.post_logout_redirect_uris),
            grant_types: Some(r.grant_types),
            scopes: Some(r.scopes),
            cors_origins: Some(r.cors_origins),
            skip_consent: Some(r.skip_consent),
            auth_method: r.auth_method,
            access_token_lifetime: Some(r.access_token_lifetime),
            require_mfa: Some(r.require_mfa),
            require_pushed_authorization_requests: Some(r.require_pushed_authorization_requests),
            backchannel_logout_uri: Some(r.backchannel_logout_uri),
            backchannel_logout_session_required: Some(r.backchannel_logout_session_required),
            // Not on the form: an edit there keeps it.
            dpop_bound_access_tokens: None,
            jwks: r.jwks,
            expected_revision: self.revision,
        })
    }
}

/// The auth-method choices: (value, label).
const AUTH_METHODS: [(&str, &str); 4] = [
    ("client_secret_basic", "Secret, HTTP Basic (client_secret_basic)"),
    ("client_secret_post", "Secret, in the form (client_secret_post)"),
    ("private_key_jwt", "Signed JWT with its own keys (private_key_jwt)"),
    ("none", "Public: no secret, PKCE (none)"),
];

#[derive(Template)]
#[template(path = "console/client_form.html")]
struct FormPage {
    nav: Nav,
    csrf_token: String,
    /// `None` when registering; the client when editing (with its lifecycle).
    client: Option<Detail>,
    form: ClientForm,
    auth_methods: [(&'static str, &'static str); 4],
    error: Option<String>,
    notice: Option<&'static str>,
}

/// What the detail page shows besides the form.
struct Detail {
    row: ClientRow,
    uses_secret: bool,
    secret_rotated: Option<String>,
    previous_secret_until: Option<String>,
    disabled_since: Option<String>,
}

impl From<&Client> for Detail {
    fn from(c: &Client) -> Self {
        Self {
            row: ClientRow::from(c),
            uses_secret: c.uses_secret(),
            secret_rotated: c.lifecycle.secret_rotated_at.map(format_time),
            previous_secret_until: c.lifecycle.previous_secret_expires_at.map(format_time),
            disabled_since: c.lifecycle.disabled_at.map(format_time),
        }
    }
}

fn form_page(
    admin: &ConsoleAdmin,
    client: Option<&Client>,
    form: ClientForm,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let html = pages::render(&FormPage {
        nav: admin.nav(AREA),
        csrf_token: admin.csrf_token.clone(),
        client: client.map(Detail::from),
        form,
        auth_methods: AUTH_METHODS,
        error,
        notice,
    });
    (status, page(admin, html)).into_response()
}

async fn new_form(admin: ConsoleAdmin) -> Response {
    let form = ClientForm {
        auth_method: "client_secret_basic".into(),
        grant_authorization_code: Some("on".into()),
        scopes: "openid profile email".into(),
        ..ClientForm::default()
    };
    form_page(&admin, None, form, None, None)
}

#[derive(Template)]
#[template(path = "console/client_secret.html")]
struct SecretPage {
    nav: Nav,
    client_id: String,
    name: String,
    secret: String,
    previous_secret_until: Option<String>,
}

/// The page that shows a new secret, once.
fn secret_page(admin: &ConsoleAdmin, client: &Client, secret: &ClientSecret) -> Response {
    let html = pages::render(&SecretPage {
        nav: admin.nav(AREA),
        client_id: client.id.clone(),
        name: client.name.clone(),
        secret: secret.expose().to_owned(),
        previous_secret_until: client.lifecycle.previous_secret_expires_at.map(format_time),
    });
    page(admin, html)
}

async fn create(admin: ConsoleAdmin, State(state): State<AppState>, PageForm(form): PageForm<ClientForm>) -> Response {
    let registration = match form.registration() {
        Ok(r) => r,
        Err(m) => return form_page(&admin, None, form, Some(m), None),
    };
    match state.admin.client_admin().create_client(&admin.cap, registration, &admin.ctx).await {
        Ok((client, Some(secret))) => secret_page(&admin, &client, &secret),
        Ok((client, None)) => see_other(&format!("/admin/clients/{}?notice=created", client.id)),
        Err(RbacError::Invalid(m)) => form_page(&admin, None, form, Some(m), None),
        Err(e) => failed(e),
    }
}

async fn detail(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    match state.admin.client_admin().client(&admin.cap, &id).await {
        Ok(c) => form_page(&admin, Some(&c), ClientForm::from_client(&c), None, notice(q.notice.as_deref())),
        Err(e) => failed(e),
    }
}

async fn update(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(form): PageForm<ClientForm>,
) -> Response {
    let clients = state.admin.client_admin();
    let current = match clients.client(&admin.cap, &id).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let change = match form.update() {
        Ok(u) => u,
        Err(m) => return form_page(&admin, Some(&current), form, Some(m), None),
    };
    match clients.update_client(&admin.cap, &id, change, &admin.ctx).await {
        Ok((client, Some(secret))) => secret_page(&admin, &client, &secret),
        Ok((client, None)) => see_other(&format!("/admin/clients/{}?notice=updated", client.id)),
        Err(RbacError::Invalid(m)) => form_page(&admin, Some(&current), form, Some(m), None),
        // Changed since the page was shown: their version, to edit again (409).
        Err(RbacError::Changed(_)) => match clients.client(&admin.cap, &id).await {
            Ok(now) => {
                let m = "Someone changed this client after you opened the page; this is their version. \
                         Make your change again and save.";
                let mut resp = form_page(&admin, Some(&now), ClientForm::from_client(&now), Some(m.into()), None);
                *resp.status_mut() = StatusCode::CONFLICT;
                resp
            }
            Err(e) => failed(e),
        },
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct RotateForm {
    overlap_seconds: i64,
}

async fn rotate(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(form): PageForm<RotateForm>,
) -> Response {
    match state.admin.client_admin().rotate_secret(&admin.cap, &id, Some(form.overlap_seconds), &admin.ctx).await {
        Ok((client, secret)) => secret_page(&admin, &client, &secret),
        Err(e) => failed(e),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct Empty {}

async fn set_disabled(admin: ConsoleAdmin, state: AppState, id: String, disabled: bool) -> Response {
    match state.admin.client_admin().set_disabled(&admin.cap, &id, disabled, &admin.ctx).await {
        Ok(c) => {
            see_other(&format!("/admin/clients/{}?notice={}", c.id, if disabled { "disabled" } else { "enabled" }))
        }
        Err(e) => failed(e),
    }
}

async fn disable(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: PageForm<Empty>,
) -> Response {
    set_disabled(admin, state, id, true).await
}

async fn enable(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: PageForm<Empty>,
) -> Response {
    set_disabled(admin, state, id, false).await
}

#[derive(Template)]
#[template(path = "console/client_delete.html")]
struct DeletePage {
    nav: Nav,
    csrf_token: String,
    row: ClientRow,
}

async fn confirm_delete(admin: ConsoleAdmin, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.admin.client_admin().client(&admin.cap, &id).await {
        Ok(c) => {
            let html = pages::render(&DeletePage {
                nav: admin.nav(AREA),
                csrf_token: admin.csrf_token.clone(),
                row: ClientRow::from(&c),
            });
            page(&admin, html)
        }
        Err(e) => failed(e),
    }
}

async fn delete(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: PageForm<Empty>,
) -> Response {
    match state.admin.client_admin().delete_client(&admin.cap, &id, &admin.ctx).await {
        Ok(()) => see_other("/admin/clients?notice=deleted"),
        Err(e) => failed(e),
    }
}
