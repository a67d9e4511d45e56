//! Console: what an admin does to a user from the user's page — disable, enable, reset second
//! factors, mail a password-reset or verification link, end one or every sign-in, delete (after
//! a confirmation page). Each form calls the same core as its admin API route and answers 303
//! back to a page with a fixed notice; a refusal (the last admin, a disabled account) is an
//! error page with the API's status.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use gatehouse_core::user::UserStatus;
use serde::Deserialize;

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::PageForm;
use crate::pages;
use crate::routes::admin::user_id;
use crate::routes::see_other;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/disable", post(disable))
        .route("/admin/users/{id}/enable", post(enable))
        .route("/admin/users/{id}/mfa-reset", post(mfa_reset))
        .route("/admin/users/{id}/password-reset", post(password_reset))
        .route("/admin/users/{id}/verification-email", post(verification_email))
        .route("/admin/users/{id}/sessions/end-all", post(end_all_sessions))
        .route("/admin/users/{id}/sessions/{session}/end", post(end_session))
        .route("/admin/users/{id}/delete", get(confirm_delete).post(delete))
}

/// The fixed text of a `?notice=` code (anything else shows nothing: input is never reflected).
pub(super) fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "disabled" => "The account is disabled; its sessions and tokens were ended.",
        "enabled" => "The account is enabled.",
        "factors_reset" => "The second factors were removed.",
        "no_factors" => "The user had no second factor.",
        "reset_sent" => "A password-reset link is on its way.",
        "verification_sent" => "A verification link is on its way.",
        "already_verified" => "The address is verified already; nothing was sent.",
        "session_ended" => "The session was ended.",
        "sessions_ended" => "Every sign-in of the user was ended.",
        "deleted" => "The user was deleted.",
        _ => return None,
    })
}

/// A form with nothing but its CSRF token (checked by [`PageForm`]).
#[derive(Deserialize)]
struct Empty {}

fn back_to(id: &str, notice: &str) -> Response {
    see_other(&format!("/admin/users/{id}?notice={notice}"))
}

/// Runs `action` on the user `id` and sends the browser back to the user's page with the
/// notice it names, or shows the refusal.
macro_rules! user_action {
    ($name:ident, |$state:ident, $admin:ident, $user:ident| $body:expr) => {
        async fn $name(
            $admin: ConsoleAdmin,
            State($state): State<AppState>,
            Path(id): Path<String>,
            PageForm(Empty {}): PageForm<Empty>,
        ) -> Response {
            let $user = match user_id(&id) {
                Ok(u) => u,
                Err(e) => return failed(e),
            };
            let result: Result<&'static str, ApiError> = async { $body }.await;
            match result {
                Ok(notice) => back_to(&$user.to_string(), notice),
                Err(e) => failed(e),
            }
        }
    };
}

user_action!(disable, |state, admin, user| {
    state.admin.disable_user(&admin.cap, user, &admin.ctx).await?;
    Ok("disabled")
});

user_action!(enable, |state, admin, user| {
    state.admin.update_user(&admin.cap, user, None, Some(UserStatus::Active), &admin.ctx).await?;
    Ok("enabled")
});

user_action!(mfa_reset, |state, admin, user| {
    let removed = state.accounts.reset_mfa(&admin.cap, user, &admin.ctx).await?;
    Ok(if removed { "factors_reset" } else { "no_factors" })
});

user_action!(password_reset, |state, admin, user| {
    state.accounts.admin_password_reset(&admin.cap, user, &admin.ctx).await?;
    Ok("reset_sent")
});

user_action!(verification_email, |state, admin, user| {
    let sent = state.admin.send_verification(&admin.cap, user, &admin.ctx).await?;
    Ok(if sent { "verification_sent" } else { "already_verified" })
});

user_action!(end_all_sessions, |state, admin, user| {
    state.admin.revoke_all_sessions(&admin.cap, user, &admin.ctx).await?;
    Ok("sessions_ended")
});

/// `POST /admin/users/{id}/sessions/{session}/end`: a session of another user is 404.
async fn end_session(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path((id, session)): Path<(String, String)>,
    PageForm(Empty {}): PageForm<Empty>,
) -> Response {
    let result = async {
        let user = user_id(&id)?;
        let session = uuid::Uuid::try_parse(&session).map_err(|_| ApiError::not_found())?;
        state.admin.revoke_session(&admin.cap, user, session, &admin.ctx).await?;
        Ok::<_, ApiError>(user)
    }
    .await;
    match result {
        Ok(user) => back_to(&user.to_string(), "session_ended"),
        Err(e) => failed(e),
    }
}

#[derive(Template)]
#[template(path = "console/user_delete.html")]
struct DeletePage {
    nav: Nav,
    csrf_token: String,
    id: String,
    email: String,
}

/// `GET /admin/users/{id}/delete`: the confirmation.
async fn confirm_delete(admin: ConsoleAdmin, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let user = match async { Ok::<_, ApiError>(state.admin.user(&admin.cap, user_id(&id)?).await?) }.await {
        Ok(u) => u,
        Err(e) => return failed(e),
    };
    let html = pages::render(&DeletePage {
        nav: admin.nav("/admin/users"),
        csrf_token: admin.csrf_token.clone(),
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
    });
    page(&admin, html)
}

/// `POST /admin/users/{id}/delete`: back to the list.
async fn delete(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(Empty {}): PageForm<Empty>,
) -> Response {
    let result = async {
        state.admin.delete_user(&admin.cap, user_id(&id)?, &admin.ctx).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/admin/users?notice=deleted"),
        Err(e) => failed(e),
    }
}
