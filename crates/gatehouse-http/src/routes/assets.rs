//! The stylesheet, compiled into the binary.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;
use crate::policy::{Policy, Routes};

const STYLE: &str = include_str!("../../static/style.css");

pub fn router(state: &AppState) -> Routes {
    Routes::new(state, Policy::same_origin(), Router::new().route("/static/style.css", get(style)))
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE)
}
