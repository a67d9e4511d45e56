//! Console: signing keys (`/admin/keys`): each key's algorithm, kid, state and dates, and the
//! rotate form, calling `AdminService::rotate_key` as `POST /admin/v1/keys/rotate` does
//! (audited there). The public halves are published at `/oauth2/jwks`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use gatehouse_core::keys::{Algorithm, KeyInfo};
use serde::Deserialize;

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::PageForm;
use crate::pages::{self, format_time};
use crate::routes::see_other;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/keys", get(keys)).route("/admin/keys/rotate", axum::routing::post(rotate))
}

struct Row {
    kid: String,
    alg: &'static str,
    state: &'static str,
    created: String,
    activates: String,
    unpublish: Option<String>,
}

impl From<KeyInfo> for Row {
    fn from(k: KeyInfo) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg.as_str(),
            state: k.state,
            created: format_time(k.created_at),
            activates: format_time(k.activates_at),
            unpublish: k.unpublish_at.map(format_time),
        }
    }
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    nav: Nav,
    csrf_token: String,
    notice: bool,
    keys: Vec<Row>,
    algorithms: Vec<&'static str>,
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn keys(admin: ConsoleAdmin, State(state): State<AppState>, Query(q): Query<NoticeQuery>) -> Response {
    let keys = state.admin.keys(&admin.cap).into_iter().map(Row::from).collect();
    let html = pages::render(&KeysPage {
        nav: admin.nav("/admin/keys"),
        csrf_token: admin.csrf_token.clone(),
        notice: q.notice.as_deref() == Some("rotated"),
        keys,
        algorithms: Algorithm::ALL.iter().map(|a| a.as_str()).collect(),
    });
    page(&admin, html)
}

#[derive(Deserialize)]
struct RotateForm {
    alg: String,
    /// A checkbox: present when ticked.
    immediately: Option<String>,
}

async fn rotate(admin: ConsoleAdmin, State(state): State<AppState>, PageForm(f): PageForm<RotateForm>) -> Response {
    let Some(alg) = Algorithm::parse(&f.alg) else {
        return failed(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "alg must be ES256, EdDSA or RS256",
        ));
    };
    match state.admin.rotate_key(&admin.cap, alg, f.immediately.is_some(), &admin.ctx).await {
        Ok(_) => see_other("/admin/keys?notice=rotated"),
        Err(e) => failed(e),
    }
}
