//! Console: keys (filled in by issue #16's work).

use axum::Router;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
}
