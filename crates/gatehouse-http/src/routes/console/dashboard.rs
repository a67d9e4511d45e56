//! Console: the dashboard (`/admin/`).

use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::get;

use super::{ConsoleAdmin, Nav, page};
use crate::AppState;
use crate::pages;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/", get(dashboard))
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    nav: Nav,
}

async fn dashboard(admin: ConsoleAdmin) -> Response {
    let html = pages::render(&DashboardPage { nav: admin.nav("/admin/") });
    page(&admin, html)
}
