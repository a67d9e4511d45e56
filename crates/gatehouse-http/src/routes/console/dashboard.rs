//! Console: the dashboard (`/admin/`): counts, sign-in outcomes over the last day and week (a
//! server-rendered SVG chart with the same numbers in tables), recent security events.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use gatehouse_core::audit::AuditRecord;
use gatehouse_core::rbac::OverviewCounts;

use super::chart::{Chart, Naming, chart};
use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::pages::{self, format_time};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/admin/", get(dashboard))
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    nav: Nav,
    counts: OverviewCounts,
    charts: [Chart; 2],
    events: Vec<EventRow>,
}

/// A recent security event, as the table shows it.
pub(super) struct EventRow {
    pub at: String,
    pub event_type: String,
    pub outcome: String,
    /// A user's id: the subject links to the user's page.
    pub user: Option<String>,
    pub subject: String,
    pub reason: String,
    pub ip: String,
}

impl From<&AuditRecord> for EventRow {
    fn from(r: &AuditRecord) -> Self {
        let e = &r.event;
        let subject = e.subject.clone().unwrap_or_default();
        let user = uuid::Uuid::try_parse(&subject).ok().map(|id| id.to_string());
        let reason = e.details.get("reason").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Self {
            at: format_time(e.occurred_at),
            event_type: e.event_type.clone(),
            outcome: e.outcome.clone(),
            user,
            subject,
            reason,
            ip: e.ip.clone().unwrap_or_default(),
        }
    }
}

fn hour(t: i64) -> String {
    let format = time::macros::format_description!("[hour]:00");
    time::OffsetDateTime::from_unix_timestamp(t).ok().and_then(|d| d.format(&format).ok()).unwrap_or_default()
}

fn day(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t).ok().and_then(|d| d.format(&format).ok()).unwrap_or_default()
}

fn short_day(t: i64) -> String {
    let format = time::macros::format_description!("[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t).ok().and_then(|d| d.format(&format).ok()).unwrap_or_default()
}

async fn dashboard(admin: ConsoleAdmin, State(state): State<AppState>) -> Response {
    let overview = match state.admin.overview(&admin.cap).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let day_naming = Naming { full: format_time, short: hour, every: 6 };
    let week_naming = Naming { full: day, short: short_day, every: 1 };
    let charts = [
        chart("day", "Sign-ins in the last 24 hours, per hour (UTC)", &overview.last_day, &day_naming),
        chart("week", "Sign-ins in the last 7 days, per day (UTC)", &overview.last_week, &week_naming),
    ];
    let html = pages::render(&DashboardPage {
        nav: admin.nav("/admin/"),
        counts: overview.counts,
        charts,
        events: overview.recent.iter().map(EventRow::from).collect(),
    });
    page(&admin, html)
}
