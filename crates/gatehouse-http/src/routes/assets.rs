//! The stylesheet, the passkey script, the console's script and the icon, compiled into the
//! binary.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;
use crate::policy::{Policy, Routes};

const STYLE: &str = include_str!("../../static/style.css");
const PASSKEY_JS: &str = include_str!("../../static/passkey.js");
const CONSOLE_JS: &str = include_str!("../../static/console.js");
const FAVICON: &str = include_str!("../../static/favicon.svg");

pub fn router(state: &AppState) -> Routes {
    Routes::new(
        state,
        Policy::same_origin(),
        Router::new()
            .route("/static/style.css", get(style))
            .route("/static/passkey.js", get(passkey_js))
            .route("/static/console.js", get(console_js))
            .route("/static/favicon.svg", get(favicon))
            // Browsers ask for it whatever the page says.
            .route("/favicon.ico", get(favicon)),
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLE)
}

async fn passkey_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        PASSKEY_JS,
    )
}

async fn console_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        CONSOLE_JS,
    )
}

async fn favicon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], FAVICON)
}
