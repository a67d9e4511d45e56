//! Console: roles and permissions (`/admin/roles`): every role with its permissions and holders
//! (users and clients), and the forms that change them. Each form calls the same
//! `RbacService` method as the admin API (`routes::admin::rbac`, `users`, `ops`); the core's
//! refusals (last admin, invalid names, granting oneself) come back as error pages.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use gatehouse_core::rbac::{ADMIN_ROLE, Permission, RoleHolders};
use serde::Deserialize;

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::extract::PageForm;
use crate::pages;
use crate::routes::admin::user_id;
use crate::routes::see_other;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/roles", get(roles).post(create_role))
        .route("/admin/roles/{name}/delete", get(confirm_delete).post(delete_role))
        .route("/admin/roles/{name}/permissions", post(grant_permission))
        .route("/admin/roles/{name}/permissions/revoke", post(revoke_permission))
        .route("/admin/roles/{name}/users", post(grant_user))
        .route("/admin/roles/{name}/users/revoke", post(revoke_user))
        .route("/admin/roles/{name}/clients", post(grant_client))
        .route("/admin/roles/{name}/clients/revoke", post(revoke_client))
        .route("/admin/permissions", post(create_permission))
}

/// What a `?notice=` code says after a change (fixed texts: nothing from the request is shown).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "role-created" => "Role created.",
        "role-deleted" => "Role deleted with its grants.",
        "permission-created" => "Permission created.",
        "granted" => "Granted.",
        "already" => "Already held: nothing changed.",
        "revoked" => "Revoked.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    nav: Nav,
    csrf_token: String,
    notice: Option<&'static str>,
    roles: Vec<RoleHolders>,
    permissions: Vec<Permission>,
}

impl RolesPage {
    fn deletable(&self, role: &RoleHolders) -> bool {
        role.role.name.as_str() != ADMIN_ROLE
    }
}

async fn roles(admin: ConsoleAdmin, State(state): State<AppState>, Query(q): Query<NoticeQuery>) -> Response {
    let rbac = state.admin.rbac();
    let roles = match rbac.holders(&admin.cap).await {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let permissions = match rbac.list_permissions(&admin.cap).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let notice = q.notice.as_deref().and_then(notice_text);
    let html = pages::render(&RolesPage {
        nav: admin.nav("/admin/roles"),
        csrf_token: admin.csrf_token.clone(),
        notice,
        roles,
        permissions,
    });
    page(&admin, html)
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
    #[serde(default)]
    description: String,
}

fn optional(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

async fn create_role(admin: ConsoleAdmin, State(state): State<AppState>, PageForm(f): PageForm<NameForm>) -> Response {
    match state.admin.rbac().create_role(&admin.cap, f.name.trim(), optional(&f.description), &admin.ctx).await {
        Ok(_) => see_other("/admin/roles?notice=role-created"),
        Err(e) => failed(e),
    }
}

async fn create_permission(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    PageForm(f): PageForm<NameForm>,
) -> Response {
    let rbac = state.admin.rbac();
    match rbac.create_permission(&admin.cap, f.name.trim(), optional(&f.description), &admin.ctx).await {
        Ok(_) => see_other("/admin/roles?notice=permission-created"),
        Err(e) => failed(e),
    }
}

#[derive(Template)]
#[template(path = "console/role_delete.html")]
struct DeletePage {
    nav: Nav,
    csrf_token: String,
    role: RoleHolders,
}

/// The confirmation before a deletion: what the role grants and who loses it.
async fn confirm_delete(admin: ConsoleAdmin, State(state): State<AppState>, Path(name): Path<String>) -> Response {
    // The role itself first: an invalid or unknown name is the core's refusal.
    if let Err(e) = state.admin.rbac().role(&admin.cap, &name).await {
        return failed(e);
    }
    let holders = match state.admin.rbac().holders(&admin.cap).await {
        Ok(all) => all.into_iter().find(|r| r.role.name.as_str() == name),
        Err(e) => return failed(e),
    };
    let Some(role) = holders else { return failed(crate::error::ApiError::not_found()) };
    let html =
        pages::render(&DeletePage { nav: admin.nav("/admin/roles"), csrf_token: admin.csrf_token.clone(), role });
    page(&admin, html)
}

async fn delete_role(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(_): PageForm<Empty>,
) -> Response {
    match state.admin.rbac().delete_role(&admin.cap, &name, &admin.ctx).await {
        Ok(()) => see_other("/admin/roles?notice=role-deleted"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct Empty {}

#[derive(Deserialize)]
struct PermissionForm {
    permission: String,
}

/// 303 back to the roles page after a grant: whether it was new.
fn granted(added: bool) -> Response {
    see_other(if added { "/admin/roles?notice=granted" } else { "/admin/roles?notice=already" })
}

async fn grant_permission(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<PermissionForm>,
) -> Response {
    match state.admin.rbac().grant_permission(&admin.cap, &name, f.permission.trim(), &admin.ctx).await {
        Ok(added) => granted(added),
        Err(e) => failed(e),
    }
}

async fn revoke_permission(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<PermissionForm>,
) -> Response {
    match state.admin.rbac().revoke_permission(&admin.cap, &name, f.permission.trim(), &admin.ctx).await {
        Ok(()) => see_other("/admin/roles?notice=revoked"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct UserForm {
    /// A user id or an email address.
    user: String,
}

async fn grant_user(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<UserForm>,
) -> Response {
    let rbac = state.admin.rbac();
    let user = match rbac.find_user(&admin.cap, &f.user).await {
        Ok(u) => u,
        Err(e) => return failed(e),
    };
    match rbac.grant_user_role(&admin.cap, user.id, &name, &admin.ctx).await {
        Ok(added) => granted(added),
        Err(e) => failed(e),
    }
}

async fn revoke_user(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<UserForm>,
) -> Response {
    let id = match user_id(f.user.trim()) {
        Ok(id) => id,
        Err(e) => return failed(e),
    };
    match state.admin.rbac().revoke_user_role(&admin.cap, id, &name, &admin.ctx).await {
        Ok(()) => see_other("/admin/roles?notice=revoked"),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct ClientForm {
    client_id: String,
}

async fn grant_client(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<ClientForm>,
) -> Response {
    match state.admin.rbac().grant_client_role(&admin.cap, f.client_id.trim(), &name, &admin.ctx).await {
        Ok(added) => granted(added),
        Err(e) => failed(e),
    }
}

async fn revoke_client(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    PageForm(f): PageForm<ClientForm>,
) -> Response {
    match state.admin.rbac().revoke_client_role(&admin.cap, f.client_id.trim(), &name, &admin.ctx).await {
        Ok(()) => see_other("/admin/roles?notice=revoked"),
        Err(e) => failed(e),
    }
}
