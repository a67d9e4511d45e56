//! What generated cases (schemathesis against `/admin/v1/openapi.json`, issue #18) found: each
//! answer here once disagreed with the document. The server now answers as documented, and the
//! document lists what the server answers.

use reqwest::Method;
use serde_json::Value;

use crate::admin::{call, client_token};
use crate::helpers::{Backend, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(list_limits_outside_the_documented_range_are_refused, refusals_are_documented);

async fn document(app: &TestApp) -> Value {
    browser().get(app.url("/admin/v1/openapi.json")).send().await.unwrap().json().await.unwrap()
}

fn documented(doc: &Value, method: &str, path: &str, status: u16) -> bool {
    doc["paths"][path][method]["responses"].get(status.to_string()).is_some()
}

/// `limit` is documented as 1–500; the server used to clamp anything else silently, and took
/// values above the document's int32 range (`2147483648`) as valid.
async fn list_limits_outside_the_documented_range_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let doc = document(&app).await;
    for list in ["/admin/v1/users", "/admin/v1/audit-events"] {
        let limit =
            &doc["paths"][list]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap()
                ["schema"];
        assert_eq!((limit["minimum"].as_u64(), limit["maximum"].as_u64()), (Some(1), Some(500)), "{list}");
        for bad in ["0", "501", "2147483648", "4294967295"] {
            let r = call(&app, Some(&admin), Method::GET, &format!("{list}?limit={bad}"), None).await;
            assert_eq!(r.status(), 400, "{list}?limit={bad}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
        }
        for good in ["1", "500"] {
            let r = call(&app, Some(&admin), Method::GET, &format!("{list}?limit={good}"), None).await;
            assert_eq!(r.status(), 200, "{list}?limit={good}");
        }
    }
}

/// Answers the server gave and the document did not list: 415 for a body sent without
/// `Content-Type: application/json`, 413 for one too large, and 422 for an invalid policy name
/// on GET and DELETE.
async fn refusals_are_documented(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let doc = document(&app).await;

    let r =
        browser().post(app.url("/admin/v1/roles")).bearer_auth(&admin).body("{\"name\":\"x\"}").send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert!(documented(&doc, "post", "/admin/v1/roles", 415));
    // Just over the 64 KiB limit: small enough to sit in socket buffers, so the early 413 cannot
    // break the pipe under the client while it still writes.
    let big = format!("{{\"name\":\"x\",\"description\":\"{}\"}}", "a".repeat(80_000));
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/roles", None).await;
    assert_eq!(r.status(), 415, "no body, no content type");
    let r = browser()
        .post(app.url("/admin/v1/roles"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(documented(&doc, "post", "/admin/v1/roles", 413));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                assert!(documented(&doc, method, path, 415) && documented(&doc, method, path, 413), "{method} {path}");
            }
        }
    }

    for method in [Method::GET, Method::DELETE] {
        let r = call(&app, Some(&admin), method.clone(), "/admin/v1/policies/%C3%88", None).await;
        assert_eq!(r.status(), 422, "{method} of an invalid policy name");
        let body = r.text().await.unwrap();
        assert!(!body.contains('È'), "the name is not echoed: {body}");
        assert!(documented(&doc, &method.as_str().to_lowercase(), "/admin/v1/policies/{name}", 422));
    }
}
