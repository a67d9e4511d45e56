//! Liveness (`/healthz`), readiness (`/readyz`: the database answers; Redis is not asked, since
//! without it a node still serves, with per-node rate limits) and Prometheus `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::policy::{Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let routes =
        Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics));
    Routes::new(state, Policy::same_origin(), routes)
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.health.ping().await {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            let resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, crate::error::RETRY_AFTER_UNREACHABLE.to_string())],
                axum::Json(json!({ "status": "unavailable" })),
            )
                .into_response();
            crate::error::with_cause(resp, Some(format!("readiness check failed: {e}")))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return ApiError::not_found().into_response();
    };
    let stats = state.accounts.hasher().stats();
    metrics_exporter_prometheus::PrometheusHandle::run_upkeep(handle);
    let mut body = handle.render();
    // Pool occupancy is read live rather than recorded, so it is exact at scrape time.
    body.push_str(&format!(
        "# TYPE gatehouse_password_hash_pool_size gauge\ngatehouse_password_hash_pool_size {}\n\
         # TYPE gatehouse_password_hash_peak_in_flight gauge\ngatehouse_password_hash_peak_in_flight {}\n\
         # TYPE gatehouse_password_hash_waiting gauge\ngatehouse_password_hash_waiting {}\n\
         # TYPE gatehouse_password_hash_running gauge\ngatehouse_password_hash_running {}\n\
         # TYPE gatehouse_password_hash_queue_size gauge\ngatehouse_password_hash_queue_size {}\n\
         # TYPE gatehouse_password_hash_buffers gauge\ngatehouse_password_hash_buffers {}\n",
        stats.size, stats.peak_in_flight, stats.waiting, stats.in_flight, stats.max_waiting, stats.buffers
    ));
    // Per server (not the process-wide recorder): whether limits are counted in Redis now.
    body.push_str(&state.shared_state.render_prometheus());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
