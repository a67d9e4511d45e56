//! Console: users (`/admin/users…`): search with cursor pages, and a user's page (profile,
//! status, roles, linked providers, second factors, sessions, consents) with its actions
//! (`user_actions`). Reads go through the same `AdminService` calls as the admin API.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use gatehouse_core::rbac::UserFilter;
use gatehouse_core::user::{User, UserId};
use serde::Deserialize;

use super::user_actions::{self, notice_text};
use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::{self, format_time};
use crate::routes::admin::{page_limit, user_id};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/users", get(list)).route("/admin/users/{id}", get(detail)).merge(user_actions::router())
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
    notice: Option<String>,
}

/// A user in the list.
struct UserRow {
    id: String,
    email: String,
    name: String,
    status: &'static str,
    verified: bool,
    created: String,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            name: u.display_name.clone().unwrap_or_default(),
            status: if u.is_active() { "active" } else { "disabled" },
            verified: u.email_verified,
            created: format_time(u.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    nav: Nav,
    q: String,
    users: Vec<UserRow>,
    /// The next page's link (query string built and encoded here).
    next: Option<String>,
    notice: Option<&'static str>,
}

/// `GET /admin/users?q=&after=&limit=`: `q` matches part of the email address, as the admin
/// API's `q` does; `after` is the previous page's last id.
async fn list(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return failed(ApiError::bad_request("invalid search: limit must be a number from 1 to 500"));
    };
    let limit = match page_limit(query.limit, 50) {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let after = match query.after.as_deref().filter(|a| !a.is_empty()).map(UserId::parse) {
        None => None,
        Some(Some(a)) => Some(a),
        // A cursor is a user id; anything else is a bad request (not "no such user").
        Some(None) => return failed(ApiError::bad_request("invalid cursor")),
    };
    let q = query.q.unwrap_or_default();
    let filter = UserFilter { after, limit, email_contains: Some(q.clone()).filter(|q| !q.trim().is_empty()) };
    let found = match state.admin.list_users(&admin.cap, &filter).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let next = found.next.map(|after| {
        let mut params = vec![("after", after)];
        if !q.is_empty() {
            params.push(("q", q.clone()));
        }
        if query.limit.is_some() {
            params.push(("limit", limit.to_string()));
        }
        format!("/admin/users?{}", serde_urlencoded::to_string(params).unwrap_or_default())
    });
    let html = pages::render(&UsersPage {
        nav: admin.nav("/admin/users"),
        q,
        users: found.items.iter().map(UserRow::from).collect(),
        next,
        notice: query.notice.as_deref().and_then(notice_text),
    });
    page(&admin, html)
}

struct SessionRow {
    id: String,
    /// The admin's own session (viewing their own page).
    current: bool,
    kind: &'static str,
    created: String,
    last_seen: String,
    expires: String,
    ip: String,
    user_agent: String,
}

struct ConsentRow {
    client_id: String,
    scopes: String,
    granted: String,
}

struct ProviderRow {
    provider: String,
    email: String,
    linked: String,
    last_login: String,
}

struct PasskeyRow {
    name: String,
    added: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    nav: Nav,
    csrf_token: String,
    user: UserRow,
    has_password: bool,
    updated: String,
    roles: Vec<String>,
    providers: Vec<ProviderRow>,
    totp_since: Option<String>,
    passkeys: Vec<PasskeyRow>,
    recovery_codes_left: usize,
    sessions: Vec<SessionRow>,
    consents: Vec<ConsentRow>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct DetailQuery {
    notice: Option<String>,
}

/// `GET /admin/users/{id}`
async fn detail(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<DetailQuery>, QueryRejection>,
) -> Response {
    let notice = query.ok().and_then(|Query(q)| q.notice).as_deref().and_then(notice_text);
    match user_page(&admin, &state, &id, notice).await {
        Ok(html) => page(&admin, html),
        Err(e) => failed(e),
    }
}

async fn user_page(
    admin: &ConsoleAdmin,
    state: &AppState,
    id: &str,
    notice: Option<&'static str>,
) -> Result<String, ApiError> {
    let id = user_id(id)?;
    let cap = &admin.cap;
    let user = state.admin.user(cap, id).await?;
    let roles = state.admin.rbac().user_roles(cap, id).await?;
    let factors = state.admin.user_factors(cap, id).await?;
    let sessions = state.admin.sessions(cap, id).await?;
    let consents = state.admin.user_consents(cap, id).await?;
    let identities = state.admin.user_identities(cap, id).await?;
    let or_never = |t: Option<i64>| t.map_or_else(|| "never".to_owned(), format_time);
    Ok(pages::render(&UserPage {
        nav: admin.nav("/admin/users"),
        csrf_token: admin.csrf_token.clone(),
        user: UserRow::from(&user),
        has_password: user.password_hash.is_some(),
        updated: format_time(user.updated_at),
        roles: roles.iter().map(ToString::to_string).collect(),
        providers: identities
            .iter()
            .map(|i| ProviderRow {
                provider: i.provider.clone(),
                email: i.email.clone().unwrap_or_default(),
                linked: format_time(i.created_at),
                last_login: format_time(i.last_login_at),
            })
            .collect(),
        totp_since: factors.totp_since.map(format_time),
        passkeys: factors
            .passkeys
            .iter()
            .map(|p| PasskeyRow {
                name: p.name.clone(),
                added: format_time(p.created_at),
                last_used: or_never(p.last_used_at),
            })
            .collect(),
        recovery_codes_left: factors.recovery_codes_left,
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                current: s.id == admin.session.id,
                kind: s.kind.as_str(),
                created: format_time(s.created_at),
                last_seen: format_time(s.last_seen_at),
                expires: format_time(s.expires_at),
                ip: s.ip.clone().unwrap_or_default(),
                user_agent: s.user_agent.clone().unwrap_or_default(),
            })
            .collect(),
        consents: consents
            .iter()
            .map(|c| ConsentRow {
                client_id: c.client_id.clone(),
                scopes: c.scopes.join(" "),
                granted: format_time(c.granted_at),
            })
            .collect(),
        notice,
    }))
}
