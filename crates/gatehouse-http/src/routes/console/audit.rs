//! Console: the audit trail (`/admin/audit`): filters (event type, actor, subject, a time range
//! in UTC), newest first in cursor pages, and the export of every match as JSON lines. Both
//! read `AdminService::audit_events` as `GET /admin/v1/audit-events` does; the export is that
//! route's `format=jsonl` answer (the same fields, the same cap).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_core::audit::{AuditEventType, AuditQuery, AuditRecord};
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::error::ApiError;
use crate::pages::{self, format_time};
use crate::routes::admin::MAX_PAGE;
use crate::routes::admin::ops::{EXPORT_MAX, export_lines};

/// Events on one page.
const PAGE_SIZE: u32 = 50;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(list)).route("/admin/audit/export", get(export))
}

/// The filters as the form sends them (and as the next-page and export links repeat them).
#[derive(Deserialize, Serialize, Default, Clone)]
struct Filters {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    actor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    subject: String,
    /// `datetime-local` (`YYYY-MM-DDTHH:MM[:SS]`), read as UTC; inclusive.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    /// As `from`; exclusive.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    until: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

fn present(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A `datetime-local` value read as UTC, in unix seconds.
fn utc_seconds(field: &str, value: &str) -> Result<Option<i64>, ApiError> {
    let Some(value) = present(value) else { return Ok(None) };
    let long = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let short = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(&value, &long)
        .or_else(|_| PrimitiveDateTime::parse(&value, &short))
        .map(|t| Some(t.assume_utc().unix_timestamp()))
        .map_err(|_| ApiError::bad_request(format!("{field} must be a date and time, YYYY-MM-DDTHH:MM")))
}

impl Filters {
    /// The core's query: the same fields as the admin API's.
    fn query(&self, limit: u32) -> Result<AuditQuery, ApiError> {
        let before_id = match self.cursor.as_deref().and_then(present) {
            Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::bad_request("invalid cursor"))?),
            None => None,
        };
        Ok(AuditQuery {
            from: utc_seconds("from", &self.from)?,
            until: utc_seconds("until", &self.until)?,
            event_type: present(&self.event_type),
            actor: present(&self.actor),
            subject: present(&self.subject),
            before_id,
            limit,
        })
    }

    /// These filters as a query string, with `cursor` replaced.
    fn link(&self, cursor: Option<String>) -> String {
        serde_urlencoded::to_string(Self { cursor, ..self.clone() }).unwrap_or_default()
    }
}

struct Row {
    id: i64,
    when: String,
    event_type: String,
    actor: String,
    subject: String,
    ip: String,
    outcome: String,
    details: String,
}

impl From<AuditRecord> for Row {
    fn from(r: AuditRecord) -> Self {
        let e = r.event;
        Self {
            id: r.id,
            when: format_time(e.occurred_at),
            event_type: e.event_type,
            actor: e.actor.unwrap_or_default(),
            subject: e.subject.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            outcome: e.outcome,
            details: if e.details.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.details.to_string()
            },
        }
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    filters: Filters,
    types: &'static [AuditEventType],
    rows: Vec<Row>,
    /// The next page's link (the filters kept).
    next: Option<String>,
    /// The export link of these filters.
    export: String,
    export_max: usize,
}

async fn list(admin: ConsoleAdmin, State(state): State<AppState>, Query(filters): Query<Filters>) -> Response {
    let query = match filters.query(PAGE_SIZE) {
        Ok(q) => q,
        Err(e) => return failed(e),
    };
    let found = match state.admin.audit_events(&admin.cap, &query).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let next = found.next.map(|c| format!("/admin/audit?{}", filters.link(Some(c))));
    let export = format!("/admin/audit/export?{}", filters.link(None));
    let html = pages::render(&AuditPage {
        nav: admin.nav("/admin/audit"),
        types: &AuditEventType::ALL,
        rows: found.items.into_iter().map(Row::from).collect(),
        filters,
        next,
        export,
        export_max: EXPORT_MAX,
    });
    page(&admin, html)
}

/// `GET /admin/audit/export?<filters>`: every match (from the newest; at most [`EXPORT_MAX`]) as
/// JSON lines, a download.
async fn export(admin: ConsoleAdmin, State(state): State<AppState>, Query(filters): Query<Filters>) -> Response {
    let query = match filters.query(MAX_PAGE) {
        Ok(q) => q,
        Err(e) => return failed(e),
    };
    let body = match export_lines(&state, &admin.cap, query).await {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    let mut resp = (admin.jar, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"audit.jsonl\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
