//! The admin API's OpenAPI 3.1 document at `/admin/v1/openapi.json`: public, valid according to
//! a real validator (Python `openapi-spec-validator`), and in agreement with the served routes —
//! every documented operation exists and needs a token, and no undocumented method answers on a
//! documented path.

use std::io::Write as _;
use std::process::{Command, Stdio};

use gatehouse_core::abuse::Quota;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(openapi_document_is_valid_and_matches_the_routes);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Validates `doc` with `openapi-spec-validator` (which knows OpenAPI 3.1). `None` when the
/// module is missing and `GATEHOUSE_REQUIRE_SERVICES` is not `1`.
fn validate(doc: &str) -> Option<Result<(), String>> {
    let probe = Command::new("python3").args(["-c", "import openapi_spec_validator"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GATEHOUSE_REQUIRE_SERVICES=1 but openapi-spec-validator is missing: pip install openapi-spec-validator"
        );
        eprintln!("skipped: openapi-spec-validator not installed (pip install openapi-spec-validator)");
        return None;
    }
    let script = "import json, sys\n\
                  from openapi_spec_validator import validate\n\
                  from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator\n\
                  validate(json.load(sys.stdin), cls=OpenAPIV31SpecValidator)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(doc.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Some(if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) })
}

async fn openapi_document_is_valid_and_matches_the_routes(b: Backend) {
    // Five methods on every path from one address: above the default admin limit per IP.
    let Some(app) = TestApp::spawn_with(b, |s| s.rate_limits.admin_ip = Quota::new(10_000, 60)).await else { return };
    let http = reqwest::Client::new();
    // Public: no token needed.
    let r = http.get(app.url("/admin/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    if let Some(result) = validate(&text) {
        result.unwrap_or_else(|e| panic!("openapi-spec-validator refused the document: {e}"));
        // The validator is not a rubber stamp: a broken reference is refused.
        let broken = text.replacen("#/components/schemas/ErrorResponse", "#/components/schemas/Nowhere", 1);
        assert!(validate(&broken).unwrap().is_err(), "a dangling $ref must fail validation");
    }

    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());
    for (path, item) in paths {
        // Any value for the path parameters: the admin check answers before they are read.
        let concrete: String =
            path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/");
        for method in METHODS {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = http.request(m, app.url(&concrete)).send().await.unwrap().status();
            match item.get(method) {
                Some(_) if path == "/admin/v1/openapi.json" => assert_eq!(status, 200),
                Some(_) => assert_eq!(status, 401, "{method} {path}: documented, served, and guarded"),
                None => assert_eq!(status, 405, "{method} {path} answers but is not documented"),
            }
        }
    }
}
