//! Console: Cedar policies (`/admin/policies`): the active policies, each one's versions, and an
//! editor. One form holds the draft and a "try a decision" box: *save* stores the draft as the
//! next version (`PolicyService::put`, as `PUT /admin/v1/policies/{name}`, audited); *try*
//! evaluates the AuthZEN request against the draft without storing it
//! (`PolicyService::decide_with_draft`, the evaluation `/access/v1/evaluation` uses). A draft
//! Cedar refuses comes back with the text kept and each of Cedar's diagnostics beside its line.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::policy::{Decision, DecisionRequest, Diagnostic, PolicyError, PolicyVersion};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ConsoleAdmin, Nav, failed, page};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::PageForm;
use crate::pages::{self, format_time};
use crate::routes::authzen::reason_text;
use crate::routes::see_other;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/policies", get(list))
        .route("/admin/policies/edit", post(edit))
        .route("/admin/policies/{name}", get(show))
        .route("/admin/policies/{name}/versions/{version}", get(show_version))
}

/// A version in a list.
struct VersionRow {
    name: String,
    version: i64,
    deleted: bool,
    author: String,
    created: String,
}

impl From<&PolicyVersion> for VersionRow {
    fn from(v: &PolicyVersion) -> Self {
        Self {
            name: v.name.clone(),
            version: v.version,
            deleted: v.body.is_none(),
            author: v.author.clone(),
            created: format_time(v.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct ListPage {
    nav: Nav,
    active: Vec<VersionRow>,
    editor: Editor,
}

/// The editor form and what the last submission found: the draft, Cedar's diagnostics placed
/// on the draft's lines, and the decision tried against it.
#[derive(Default)]
struct Editor {
    csrf_token: String,
    name: String,
    /// A policy not stored yet: the name is a field.
    new: bool,
    body: String,
    try_form: TryFields,
    /// The draft's lines, with the diagnostics of each; empty when there are none.
    lines: Vec<SourceLine>,
    /// Diagnostics without a place in the text.
    general: Vec<String>,
    try_error: Option<String>,
    decision: Option<Shown>,
    notice: Option<&'static str>,
}

/// One line of a document as shown with its number, and the messages that refer to it.
struct SourceLine {
    number: usize,
    text: String,
    errors: Vec<String>,
}

/// `text` line by line with `diagnostics` beside the lines they refer to; those without a
/// line (or past the end) are returned apart.
fn place(text: &str, diagnostics: &[Diagnostic]) -> (Vec<SourceLine>, Vec<String>) {
    let mut lines: Vec<SourceLine> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| SourceLine { number: i + 1, text: l.trim_end_matches('\r').to_owned(), errors: Vec::new() })
        .collect();
    let mut general = Vec::new();
    for d in diagnostics {
        match d.line.and_then(|n| lines.get_mut(n.wrapping_sub(1))) {
            Some(line) => {
                let at = d.column.map(|c| format!("line {}, column {c}: ", line.number)).unwrap_or_default();
                line.errors.push(format!("{at}{}", d.message));
            }
            None => general.push(d.message.clone()),
        }
    }
    (lines, general)
}

/// The decision tried against the draft, as shown.
struct Shown {
    allowed: bool,
    reason: String,
    basis: &'static str,
    permission: String,
    granted_by_roles: String,
    permitted_by: String,
    forbidden_by: String,
    errors: Vec<String>,
}

impl From<&Decision> for Shown {
    fn from(d: &Decision) -> Self {
        let e = &d.explanation;
        Self {
            allowed: d.allowed,
            reason: reason_text(d),
            basis: d.basis(),
            permission: e.permission.clone(),
            granted_by_roles: e.granted_by_roles.join(", "),
            permitted_by: e.permitted_by.join(", "),
            forbidden_by: e.forbidden_by.join(", "),
            errors: e.errors.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "saved" => Some("Saved as a new version."),
        _ => None,
    }
}

async fn list(admin: ConsoleAdmin, State(state): State<AppState>) -> Response {
    let active = match state.policies.list(&admin.cap).await {
        Ok(all) => all.iter().map(VersionRow::from).collect(),
        Err(e) => return failed(e),
    };
    let editor = Editor { csrf_token: admin.csrf_token.clone(), new: true, ..Editor::default() };
    let html = pages::render(&ListPage { nav: admin.nav("/admin/policies"), active, editor });
    page(&admin, html)
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    nav: Nav,
    name: String,
    versions: Vec<VersionRow>,
    editor: Editor,
}

async fn show(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let versions = match state.policies.versions(&admin.cap, &name).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    // The latest text (a deleted policy: the last one it had), to edit.
    let body = versions.iter().rev().find_map(|v| v.body.clone()).unwrap_or_default();
    let editor = Editor {
        csrf_token: admin.csrf_token.clone(),
        name: name.clone(),
        body,
        notice: q.notice.as_deref().and_then(notice_text),
        ..Editor::default()
    };
    let versions = versions.iter().rev().map(VersionRow::from).collect();
    let html = pages::render(&PolicyPage { nav: admin.nav("/admin/policies"), name, versions, editor });
    page(&admin, html)
}

#[derive(Template)]
#[template(path = "console/policy_version.html")]
struct VersionPage {
    nav: Nav,
    row: VersionRow,
    lines: Vec<SourceLine>,
}

async fn show_version(
    admin: ConsoleAdmin,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> Response {
    let versions = match state.policies.versions(&admin.cap, &name).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let Some(v) = versions.iter().find(|v| v.version == version) else { return failed(ApiError::not_found()) };
    let (lines, _) = place(v.body.as_deref().unwrap_or_default(), &[]);
    let html = pages::render(&VersionPage { nav: admin.nav("/admin/policies"), row: VersionRow::from(v), lines });
    page(&admin, html)
}

/// The editor's fields: the draft and the decision to try.
#[derive(Deserialize, Default, Clone)]
struct TryFields {
    #[serde(default)]
    subject_type: String,
    #[serde(default)]
    subject_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_id: String,
    #[serde(default)]
    resource_properties: String,
    #[serde(default)]
    context: String,
}

#[derive(Deserialize)]
struct EditForm {
    name: String,
    body: String,
    /// `save` or `try`.
    intent: String,
    #[serde(flatten)]
    try_form: TryFields,
}

/// `POST /admin/policies/edit`: save the draft, or try a decision against it.
async fn edit(admin: ConsoleAdmin, State(state): State<AppState>, PageForm(f): PageForm<EditForm>) -> Response {
    let name = f.name.trim().to_owned();
    let result = match f.intent.as_str() {
        "save" => match state.policies.put(&admin.cap, &name, &f.body, &admin.ctx).await {
            Ok(v) => return see_other(&format!("/admin/policies/{}?notice=saved", v.name)),
            Err(e) => Err(e),
        },
        "try" => match decision_request(&f.try_form) {
            Ok(req) => state.policies.decide_with_draft(&admin.cap, &name, &f.body, &req).await.map(Some),
            Err(m) => Err(PolicyError::BadRequest(m)),
        },
        _ => return failed(ApiError::bad_request("intent must be save or try")),
    };
    let mut editor = Editor {
        csrf_token: admin.csrf_token.clone(),
        name: name.clone(),
        body: f.body,
        try_form: f.try_form,
        ..Editor::default()
    };
    let status = match result {
        Ok(decision) => {
            editor.decision = decision.as_ref().map(Shown::from);
            StatusCode::OK
        }
        Err(PolicyError::Document(d)) => {
            (editor.lines, editor.general) = place(&editor.body, &d.diagnostics);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(PolicyError::Invalid(m)) => {
            editor.general.push(m);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(PolicyError::BadRequest(m)) => {
            editor.try_error = Some(m);
            StatusCode::BAD_REQUEST
        }
        Err(e) => return failed(e),
    };
    // A draft of a policy not stored yet shows as the new-policy editor (no versions).
    let versions = state.policies.versions(&admin.cap, &name).await.unwrap_or_default();
    let nav = admin.nav("/admin/policies");
    let html = if versions.is_empty() {
        editor.new = true;
        let active = state.policies.list(&admin.cap).await.unwrap_or_default();
        pages::render(&ListPage { nav, active: active.iter().map(VersionRow::from).collect(), editor })
    } else {
        let versions = versions.iter().rev().map(VersionRow::from).collect();
        pages::render(&PolicyPage { nav, name, versions, editor })
    };
    (status, page(&admin, html)).into_response()
}

/// The AuthZEN request of the try box: `context` and the resource's properties are JSON
/// objects (empty: none).
fn decision_request(f: &TryFields) -> Result<DecisionRequest, String> {
    let object = |label: &str, text: &str| -> Result<Map<String, Value>, String> {
        if text.trim().is_empty() {
            return Ok(Map::new());
        }
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format!("{label} must be a JSON object")),
        }
    };
    let v = json!({
        "subject": { "type": f.subject_type.trim(), "id": f.subject_id.trim() },
        "action": { "name": f.action.trim() },
        "resource": {
            "type": f.resource_type.trim(),
            "id": f.resource_id.trim(),
            "properties": object("the resource properties", &f.resource_properties)?,
        },
        "context": object("the context", &f.context)?,
    });
    serde_json::from_value(v).map_err(|e| format!("invalid evaluation request: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_go_beside_their_line_or_apart() {
        let d = |line, column, m: &str| Diagnostic { line, column, message: m.to_owned() };
        let (lines, general) = place(
            "a\r\nb\nc",
            &[d(Some(2), Some(1), "bad b"), d(None, None, "whole"), d(Some(9), Some(1), "past the end")],
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text, "a", "a CR of CRLF is not shown");
        assert_eq!(lines[1].errors, ["line 2, column 1: bad b"]);
        assert!(lines[0].errors.is_empty() && lines[2].errors.is_empty());
        assert_eq!(general, ["whole", "past the end"]);
    }

    #[test]
    fn the_try_box_builds_an_authzen_request() {
        let f = TryFields {
            subject_type: "user".into(),
            subject_id: " u1 ".into(),
            action: "read".into(),
            resource_type: "doc".into(),
            resource_id: "1".into(),
            resource_properties: r#"{"owner": "u1"}"#.into(),
            context: String::new(),
        };
        let req = decision_request(&f).unwrap();
        assert_eq!((req.subject.id.as_str(), req.permission()), ("u1", "doc:read".to_owned()));
        assert_eq!(req.resource.properties["owner"], "u1");
        assert!(req.context.is_empty());
        let bad = TryFields { context: "[]".into(), ..f };
        assert_eq!(decision_request(&bad).unwrap_err(), "the context must be a JSON object");
    }
}
