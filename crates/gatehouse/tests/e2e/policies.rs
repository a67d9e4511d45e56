//! Cedar policies and the AuthZEN decision API: upload validation (422 with Cedar's message,
//! nothing stored), versions, schema changes, the example policies of docs/policies.md (each
//! allowed and denied), explanations, deny on evaluation error, the request/response shapes of
//! AuthZEN Authorization API 1.0 (§6, §7), batch semantics, callers, the `policies` command, and
//! grants written by another process reaching the decisions' in-memory copy (RBAC revision).

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, client_token, get_json, token, user_with_token};
use crate::helpers::{Backend, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(
    uploads_are_validated_and_versioned,
    example_policies_decide,
    explanations_and_evaluation_errors,
    authzen_shapes_batches_and_callers,
    cli_manages_and_tests_policies,
    grants_from_another_process_reach_decisions,
);

pub const OWNER_ONLY: &str = include_str!("../../../../docs/policies/owner-only-edits.cedar");
pub const BUSINESS_HOURS: &str = include_str!("../../../../docs/policies/business-hours.cedar");
pub const DEPARTMENT: &str = include_str!("../../../../docs/policies/department-match.cedar");
pub const MFA: &str = include_str!("../../../../docs/policies/mfa-for-sensitive.cedar");

/// An admin's token and an evaluator client's token.
async fn setup(app: &TestApp) -> (String, String) {
    user_with_token(app, "admin@example.com").await;
    cli_ok(app, &["roles", "grant", "admin", "--user", "admin@example.com"]).await;
    let admin = token(app, "admin@example.com").await;
    let (_, evaluator) = client_token(app, &["gatehouse:evaluate"]).await;
    (admin, evaluator)
}

async fn put_policy(app: &TestApp, admin: &str, name: &str, body: &str) -> reqwest::Response {
    call(app, Some(admin), Method::PUT, &format!("/admin/v1/policies/{name}"), Some(&json!({ "body": body }))).await
}

async fn evaluate(app: &TestApp, token: &str, path: &str, body: &Value) -> Value {
    let r = call(app, Some(token), Method::POST, path, Some(body)).await;
    assert_eq!(r.status(), 200, "{path} {body}");
    r.json().await.unwrap()
}

/// `{"decision": …}` of one evaluation.
async fn decide(app: &TestApp, token: &str, body: Value) -> bool {
    let v = evaluate(app, token, "/access/v1/evaluation", &body).await;
    assert_eq!(v.as_object().unwrap().len(), 1, "no context without explain: {v}");
    v["decision"].as_bool().unwrap()
}

fn req(subject: Value, action: &str, resource: Value) -> Value {
    json!({ "subject": subject, "action": { "name": action }, "resource": resource })
}

fn user(id: &str, properties: Value) -> Value {
    json!({ "type": "user", "id": id, "properties": properties })
}

fn doc(id: &str, properties: Value) -> Value {
    json!({ "type": "document", "id": id, "properties": properties })
}

async fn uploads_are_validated_and_versioned(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin, _) = setup(&app).await;

    // A parse error: 422 with Cedar's message, and nothing stored.
    let r = put_policy(&app, &admin, "broken", "permit(principal, action, resource) when { resource.owner == };").await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"], "invalid_policy");
    assert!(err["error_description"].as_str().unwrap().contains("unexpected token"), "{err}");
    // A validation error: an optional attribute read without `has`.
    let r = put_policy(&app, &admin, "nohas", "permit(principal, action, resource) when { resource.owner == \"x\" };")
        .await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    assert!(err["error_description"].as_str().unwrap().contains("owner"), "{err}");
    // Unknown action (not in the schema).
    let r = put_policy(&app, &admin, "noaction", "permit(principal, action == Gatehouse::Action::\"fly\", resource);")
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(put_policy(&app, &admin, "Bad Name", DEPARTMENT).await.status(), 422);
    assert_eq!(get_json(&app, &admin, "/admin/v1/policies").await["items"], json!([]));
    for name in ["broken", "nohas", "noaction"] {
        let r = call(&app, Some(&admin), Method::GET, &format!("/admin/v1/policies/{name}"), None).await;
        assert_eq!(r.status(), 404, "{name} must not be stored");
    }

    // Versions: 201 for the first, 200 for the next; the history keeps both and the deletion.
    let r = put_policy(&app, &admin, "department", DEPARTMENT).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["version"], 1);
    let r = put_policy(&app, &admin, "department", OWNER_ONLY).await;
    assert_eq!(r.status(), 200);
    let shown = get_json(&app, &admin, "/admin/v1/policies/department").await;
    assert_eq!((shown["version"].as_i64(), shown["body"].as_str()), (Some(2), Some(OWNER_ONLY)));
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    assert_eq!(shown["versions"][0]["body"], DEPARTMENT);
    let list = get_json(&app, &admin, "/admin/v1/policies").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A schema that drops the principals' `roles` would invalidate the stored policy: refused.
    let schema = get_json(&app, &admin, "/admin/v1/policy-schema").await;
    assert_eq!(schema["default"], true);
    let text = schema["body"].as_str().unwrap();
    let narrowed = text.replace("    roles: Set<String>,\n", "");
    assert_ne!(narrowed, text);
    let r = call(&app, Some(&admin), Method::PUT, "/admin/v1/policy-schema", Some(&json!({ "body": narrowed }))).await;
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    assert!(err["error_description"].as_str().unwrap().contains("policy department"), "{err}");
    let r =
        call(&app, Some(&admin), Method::PUT, "/admin/v1/policy-schema", Some(&json!({ "body": "namespace {" }))).await;
    assert_eq!(r.status(), 422);
    assert_eq!(get_json(&app, &admin, "/admin/v1/policy-schema").await["default"], true);
    // An extended schema is accepted.
    let wider = text.replace("    level?: Long,\n", "    level?: Long,\n    project?: String,\n");
    let r = call(&app, Some(&admin), Method::PUT, "/admin/v1/policy-schema", Some(&json!({ "body": wider }))).await;
    assert_eq!(r.status(), 200);
    let schema = get_json(&app, &admin, "/admin/v1/policy-schema").await;
    assert_eq!((schema["default"].as_bool(), schema["version"].as_i64()), (Some(false), Some(1)));

    // Delete: gone from the list, kept in the history; a second delete is 404.
    let r = call(&app, Some(&admin), Method::DELETE, "/admin/v1/policies/department", None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(get_json(&app, &admin, "/admin/v1/policies").await["items"], json!([]));
    let shown = get_json(&app, &admin, "/admin/v1/policies/department").await;
    assert_eq!((shown["deleted"].as_bool(), shown["version"].as_i64()), (Some(true), Some(3)));
    let r = call(&app, Some(&admin), Method::DELETE, "/admin/v1/policies/department", None).await;
    assert_eq!(r.status(), 404);

    // Every change audited with its actor.
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=policy.put").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=policy.schema_put").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=policy.deleted").await;
    assert_eq!(audit["items"][0]["subject"], "department");
    assert!(audit["items"][0]["actor"].as_str().unwrap().len() > 10);
}

/// Seconds to add to the app's clock to reach the next `weekday` (1 = Monday) at `hour`:00 UTC.
fn shift_to(now: i64, weekday: i64, hour: i64) -> i64 {
    let day = now.div_euclid(86_400);
    let today = (day + 3).rem_euclid(7) + 1;
    let ahead = (weekday - today).rem_euclid(7) + 7;
    (day + ahead) * 86_400 + hour * 3600 - now
}

async fn example_policies_decide(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin, ev) = setup(&app).await;
    for (name, body) in [
        ("owner-only-edits", OWNER_ONLY),
        ("business-hours", BUSINESS_HOURS),
        ("department-match", DEPARTMENT),
        ("mfa-for-sensitive", MFA),
    ] {
        assert_eq!(put_policy(&app, &admin, name, body).await.status(), 201, "{name}");
    }
    let (alice, _) = user_with_token(&app, "alice@example.com").await;
    let (bob, _) = user_with_token(&app, "bob@example.com").await;
    for cmd in [
        &["roles", "create", "editor"][..],
        &["roles", "create", "approver"],
        &["permissions", "create", "document:edit"],
        &["permissions", "create", "document:delete"],
        &["permissions", "create", "invoice:approve"],
        &["permissions", "grant", "document:edit", "--role", "editor"],
        &["permissions", "grant", "document:delete", "--role", "editor"],
        &["permissions", "grant", "invoice:approve", "--role", "approver"],
        &["roles", "grant", "editor", "--user", "bob@example.com"],
        &["roles", "grant", "approver", "--user", "bob@example.com"],
    ] {
        cli_ok(&app, cmd).await;
    }

    // Owner-only edits: the owner may edit without any role; bob's editor role does not help
    // on alice's document (the forbid overrides RBAC).
    let mine = doc("d1", json!({ "owner": alice }));
    assert!(decide(&app, &ev, req(user(&alice, json!({})), "edit", mine.clone())).await);
    assert!(!decide(&app, &ev, req(user(&bob, json!({})), "edit", mine.clone())).await);
    assert!(decide(&app, &ev, req(user(&bob, json!({})), "edit", doc("d2", json!({ "owner": bob })))).await);

    // Business hours: bob approves through RBAC on a Tuesday at 10:00, not at 20:00 or Sunday.
    // (Each clock jump outlives the evaluator's token: a new one is fetched after it.)
    let invoice = json!({ "type": "invoice", "id": "i1" });
    app.clock.advance(shift_to(app.clock_now(), 2, 10));
    let (_, ev) = client_token(&app, &["gatehouse:evaluate"]).await;
    assert!(decide(&app, &ev, req(user(&bob, json!({})), "approve", invoice.clone())).await);
    assert!(!decide(&app, &ev, req(user(&alice, json!({})), "approve", invoice.clone())).await, "no role");
    app.clock.advance(10 * 3600);
    let (_, ev) = client_token(&app, &["gatehouse:evaluate"]).await;
    assert!(!decide(&app, &ev, req(user(&bob, json!({})), "approve", invoice.clone())).await, "20:00");
    app.clock.advance(shift_to(app.clock_now(), 7, 11));
    let (_, ev) = client_token(&app, &["gatehouse:evaluate"]).await;
    assert!(!decide(&app, &ev, req(user(&bob, json!({})), "approve", invoice)).await, "Sunday");

    // Department match: alice (sales) reads a sales report, not an engineering one.
    let sales = user(&alice, json!({ "department": "sales" }));
    let report = |dept: &str| json!({ "type": "report", "id": "r", "properties": { "department": dept } });
    assert!(decide(&app, &ev, req(sales.clone(), "read", report("sales"))).await);
    assert!(!decide(&app, &ev, req(sales, "read", report("engineering"))).await);
    assert!(!decide(&app, &ev, req(user(&alice, json!({})), "read", report("sales"))).await, "no department");

    // MFA for sensitive actions: bob may delete (RBAC), but a sensitive document needs MFA.
    // Bob is a Gatehouse account: only his token can say he used a second factor (allowed with
    // one in `mfa_policy::cedar_principal_mfa_comes_from_the_subject_token`); a body claim is 400.
    let secret = doc("d3", json!({ "owner": bob, "sensitive": true }));
    let claimed = req(user(&bob, json!({ "mfa": true })), "delete", secret.clone());
    let r = call(&app, Some(&ev), Method::POST, "/access/v1/evaluation", Some(&claimed)).await;
    assert_eq!(r.status(), 400, "the caller cannot attest mfa for a Gatehouse account");
    let bob_token = token(&app, "bob@example.com").await;
    let evidence = user(&bob, json!({ "token": bob_token }));
    assert!(!decide(&app, &ev, req(evidence, "delete", secret.clone())).await, "a password-only token");
    assert!(!decide(&app, &ev, req(user(&bob, json!({})), "delete", secret)).await, "mfa defaults to false");
    assert!(decide(&app, &ev, req(user(&bob, json!({})), "delete", doc("d4", json!({})))).await, "not sensitive");

    // A disabled user is denied even what RBAC grants.
    cli_ok(&app, &["users", "disable", "bob@example.com"]).await;
    assert!(!decide(&app, &ev, req(user(&bob, json!({})), "delete", doc("d4", json!({})))).await);

    // A deleted user is denied like a disabled one, even where an attribute policy permits
    // (deleting an account must never grant more than disabling it).
    let sales = user(&alice, json!({ "department": "sales" }));
    assert!(decide(&app, &ev, req(sales.clone(), "read", report("sales"))).await);
    let admin = token(&app, "admin@example.com").await; // the first one expired with the clock jumps
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{alice}"), None).await;
    assert_eq!(r.status(), 204);
    assert!(!decide(&app, &ev, req(sales, "read", report("sales"))).await, "deleted user");

    // One spelling per user id: another spelling of a UUID would dodge a forbid naming it.
    let shouted = req(user(&alice.to_uppercase(), json!({})), "read", report("sales"));
    let r = call(&app, Some(&ev), Method::POST, "/access/v1/evaluation", Some(&shouted)).await;
    assert_eq!(r.status(), 400);
}

async fn explanations_and_evaluation_errors(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin, ev) = setup(&app).await;
    let (alice, _) = user_with_token(&app, "alice@example.com").await;
    cli_ok(&app, &["roles", "create", "reader"]).await;
    cli_ok(&app, &["permissions", "create", "document:read"]).await;
    cli_ok(&app, &["permissions", "grant", "document:read", "--role", "reader"]).await;
    cli_ok(&app, &["roles", "grant", "reader", "--user", "alice@example.com"]).await;
    assert_eq!(put_policy(&app, &admin, "department-match", DEPARTMENT).await.status(), 201);
    let level = "permit (principal, action == Gatehouse::Action::\"read\", resource)\n\
                 when { resource has level && resource.level > 2 };";
    assert_eq!(put_policy(&app, &admin, "level-gate", level).await.status(), 201);
    let explain = "/access/v1/evaluation?explain=true";

    // RBAC decided: the role is named (AuthZEN §6.2 Reason Object plus our details).
    let v = evaluate(&app, &ev, explain, &req(user(&alice, json!({})), "read", doc("1", json!({})))).await;
    assert_eq!(v["decision"], true);
    assert_eq!(v["context"]["id"], "rbac");
    assert!(v["context"]["reason_admin"]["en"].as_str().unwrap().contains("reader"));
    assert_eq!(v["context"]["gatehouse"]["permission"], "document:read");
    assert_eq!(v["context"]["gatehouse"]["granted_by_roles"], json!(["reader"]));

    // A policy decided: its id is named.
    let (bob, _) = user_with_token(&app, "bob@example.com").await;
    let v = evaluate(
        &app,
        &ev,
        explain,
        &req(user(&bob, json!({ "department": "ops" })), "read", doc("2", json!({ "department": "ops" }))),
    )
    .await;
    assert_eq!((v["decision"].as_bool(), v["context"]["id"].as_str()), (Some(true), Some("policy")));
    assert_eq!(v["context"]["gatehouse"]["permitted_by"], json!(["department-match"]));

    // Denied by default: nothing matched.
    let v = evaluate(&app, &ev, explain, &req(user(&bob, json!({})), "read", doc("3", json!({})))).await;
    assert_eq!((v["decision"].as_bool(), v["context"]["id"].as_str()), (Some(false), Some("default")));

    // An evaluation error denies, even where RBAC alone would allow: `level` is not a Long.
    let v =
        evaluate(&app, &ev, explain, &req(user(&alice, json!({})), "read", doc("4", json!({ "level": "high" })))).await;
    assert_eq!(v["decision"], false, "{v}");
    assert_eq!(v["context"]["id"], "error");
    let errors = v["context"]["gatehouse"]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e.as_str().unwrap().contains("level-gate")), "{v}");
    assert!(decide(&app, &ev, req(user(&bob, json!({})), "read", doc("5", json!({ "level": 3 })))).await);

    // The counter behind /metrics moved (when the exporter is installed in this process).
    let m = browser().get(app.url("/metrics")).send().await.unwrap();
    if m.status() == 200 {
        assert!(m.text().await.unwrap().contains("gatehouse_decisions_total"));
    }
}

async fn authzen_shapes_batches_and_callers(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin, ev) = setup(&app).await;
    let (alice, alice_token) = user_with_token(&app, "alice@example.com").await;
    cli_ok(&app, &["roles", "create", "reader"]).await;
    cli_ok(&app, &["permissions", "create", "document:can_read"]).await;
    cli_ok(&app, &["permissions", "grant", "document:can_read", "--role", "reader"]).await;
    cli_ok(&app, &["roles", "grant", "reader", "--user", "alice@example.com"]).await;

    // §6.1's example request (subject, resource, action with properties, context): accepted;
    // §6.2: the response is exactly `{"decision": bool}`. The example's subject is not a
    // Gatehouse user, so the decision is false.
    let example = json!({
        "subject": { "type": "user", "id": "alice@acmecorp.com" },
        "resource": { "type": "account", "id": "123" },
        "action": { "name": "can_read", "properties": { "method": "GET" } },
        "context": { "time_of_request": "1985-10-26T01:22-07:00" }
    });
    assert_eq!(evaluate(&app, &ev, "/access/v1/evaluation", &example).await, json!({ "decision": false }));
    // Transport, "Request Identification in a Response": X-Request-ID is echoed.
    let r = browser()
        .post(app.url("/access/v1/evaluation"))
        .bearer_auth(&ev)
        .header("x-request-id", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")
        .json(&example)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "bfe9eb29-ab87-4ca3-be83-a1d5d8305716");

    // §7.1.1 defaults: top-level subject and action, one evaluation overriding the action.
    let boxcar = json!({
        "subject": { "type": "user", "id": alice },
        "action": { "name": "can_read" },
        "evaluations": [
            { "resource": { "type": "document", "id": "boxcarring.md" } },
            { "resource": { "type": "document", "id": "subject-search.md" }, "action": { "name": "can_edit" } },
            { "resource": { "type": "document", "id": "resource-search.md" } }
        ]
    });
    let v = evaluate(&app, &ev, "/access/v1/evaluations", &boxcar).await;
    // §7.2: one response per evaluation, in order; no top-level decision.
    assert_eq!(v, json!({ "evaluations": [{ "decision": true }, { "decision": false }, { "decision": true }] }));

    // §7.1.2.1 semantics.
    let mut deny_first = boxcar.clone();
    deny_first["options"] = json!({ "evaluations_semantic": "deny_on_first_deny" });
    let v = evaluate(&app, &ev, "/access/v1/evaluations", &deny_first).await;
    let items = v["evaluations"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!((items[0]["decision"].as_bool(), items[1]["decision"].as_bool()), (Some(true), Some(false)));
    assert_eq!(items[1]["context"]["reason"], "deny_on_first_deny");
    let mut permit_first = boxcar.clone();
    permit_first["options"] = json!({ "evaluations_semantic": "permit_on_first_permit", "another_option": "value" });
    let v = evaluate(&app, &ev, "/access/v1/evaluations", &permit_first).await;
    assert_eq!(v, json!({ "evaluations": [{ "decision": true }] }));
    let mut execute_all = boxcar.clone();
    execute_all["options"] = json!({ "evaluations_semantic": "execute_all" });
    assert_eq!(
        evaluate(&app, &ev, "/access/v1/evaluations", &execute_all).await["evaluations"].as_array().unwrap().len(),
        3
    );

    // §7.2.1: an error in one evaluation is that evaluation's false, with the error.
    let mixed = json!({
        "subject": { "type": "user", "id": alice },
        "action": { "name": "can_read" },
        "evaluations": [
            { "resource": { "type": "document", "id": "1" } },
            { "resource": { "type": "document" } },
            { "resource": { "type": "document", "id": "3" }, "subject": { "type": "group", "id": "g" } }
        ]
    });
    let v = evaluate(&app, &ev, "/access/v1/evaluations", &mixed).await;
    assert_eq!(v["evaluations"][0], json!({ "decision": true }));
    for i in [1, 2] {
        assert_eq!(v["evaluations"][i]["decision"], false);
        assert_eq!(v["evaluations"][i]["context"]["error"]["status"], 400);
    }
    // §7.1: without `evaluations`, the request is a single evaluation.
    let single = json!({ "subject": { "type": "user", "id": alice }, "action": { "name": "can_read" },
                         "resource": { "type": "document", "id": "1" } });
    assert_eq!(evaluate(&app, &ev, "/access/v1/evaluations", &single).await, json!({ "decision": true }));

    // Payload errors: 400 with a JSON error (Transport, "Error Responses").
    for (path, body) in [
        ("/access/v1/evaluation", json!({ "subject": { "type": "user", "id": alice }, "action": { "name": "x" } })),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "user", "id": alice, "extra": 1 },
                                           "action": { "name": "x" }, "resource": { "type": "d", "id": "1" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "user", "id": alice }, "action": { "name": "x" },
                                           "resource": { "type": "d", "id": "1" }, "unknown": true }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "user", "id": alice, "properties": { "roles": ["admin"] } },
                                           "action": { "name": "x" }, "resource": { "type": "d", "id": "1" } }),
        ),
        (
            "/access/v1/evaluation",
            json!({ "subject": { "type": "user", "id": 7 }, "action": { "name": "x" },
                                           "resource": { "type": "d", "id": "1" } }),
        ),
        ("/access/v1/evaluations", json!({ "evaluations": [], "options": { "evaluations_semantic": "sometimes" } })),
        ("/access/v1/evaluations", json!({ "evaluations": vec![json!({}); 101] })),
    ] {
        let r = call(&app, Some(&ev), Method::POST, path, Some(&body)).await;
        assert_eq!(r.status(), 400, "{path} {body}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }

    // Callers: no token 401 (with WWW-Authenticate), a garbage token 401, a user's token, an
    // admin's token and a client without the scope 403.
    let (_, other_client) = client_token(&app, &["posts:read"]).await;
    for path in ["/access/v1/evaluation", "/access/v1/evaluations"] {
        let r = call(&app, None, Method::POST, path, Some(&single)).await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(call(&app, Some("not.a.jwt"), Method::POST, path, Some(&single)).await.status(), 401);
        for tok in [&alice_token, &admin, &other_client] {
            let r = call(&app, Some(tok), Method::POST, path, Some(&single)).await;
            assert_eq!(r.status(), 403, "{path}");
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
        }
    }

    // Decisions on Gatehouse's own resources are audited with the calling client.
    let own = json!({ "subject": { "type": "user", "id": alice }, "action": { "name": "read" },
                      "resource": { "type": "gatehouse.users", "id": "all" } });
    assert_eq!(evaluate(&app, &ev, "/access/v1/evaluation", &own).await["decision"], false);
    let audit = get_json(&app, &admin, "/admin/v1/audit-events?type=access.decision").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "ordinary decisions are not audited: {audit}");
    assert!(items[0]["actor"].as_str().unwrap().starts_with("client:"));
    assert_eq!(items[0]["subject"], format!("user:{alice}"));
    assert_eq!(items[0]["outcome"], "failure");
}

async fn cli_manages_and_tests_policies(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    user_with_token(&app, "alice@example.com").await;
    let alice = {
        let out = cli_ok(&app, &["users", "show", "alice@example.com", "--json"]).await;
        serde_json::from_str::<Value>(&out).unwrap()["id"].as_str().unwrap().to_owned()
    };

    // A bad policy: non-zero exit with Cedar's message; nothing stored.
    let out = app.cli(&["policies", "put", "broken"], Some("permit(principal, action, resource) when {")).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cli_ok(&app, &["policies", "list", "--json"]).await.trim(), "[]");

    let out = app.cli(&["policies", "put", "business-hours", "--json"], Some(BUSINESS_HOURS)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((stored["version"].as_i64(), stored["author"].as_str()), (Some(1), Some("cli")));
    let list: Value = serde_json::from_str(&cli_ok(&app, &["policies", "list", "--json"]).await).unwrap();
    assert_eq!(list[0]["name"], "business-hours");
    let shown = cli_ok(&app, &["policies", "show", "business-hours"]).await;
    assert!(shown.contains("version 1") && shown.contains("forbid"), "{shown}");
    assert!(cli_ok(&app, &["policies", "schema", "get"]).await.contains("namespace Gatehouse"));

    // `test` evaluates locally, at a chosen time, with the explanation.
    cli_ok(&app, &["roles", "create", "approver"]).await;
    cli_ok(&app, &["permissions", "create", "invoice:approve"]).await;
    cli_ok(&app, &["permissions", "grant", "invoice:approve", "--role", "approver"]).await;
    cli_ok(&app, &["roles", "grant", "approver", "--user", "alice@example.com"]).await;
    let request = json!({ "subject": { "type": "user", "id": alice }, "action": { "name": "approve" },
                          "resource": { "type": "invoice", "id": "1" } })
    .to_string();
    // 2024-06-11 (a Tuesday) 10:00 UTC, and the same day at 20:00.
    let (day, night) = ("1718100000", "1718136000");
    let out = app.cli(&["policies", "test", "--at", day, "--json"], Some(&request)).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["decision"].as_bool(), v["basis"].as_str()), (Some(true), Some("rbac")), "{v}");
    let out = app.cli(&["policies", "test", "--at", night], Some(&request)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("decision: deny") && text.contains("business-hours"), "{text}");

    // Another process (the CLI, like another node) changes the policies: the server, whose
    // compiled copy is already warm, follows the store's revision within about a second.
    app.clock.advance(shift_to(app.clock_now(), 2, 20));
    let (_, ev) = client_token(&app, &["gatehouse:evaluate"]).await;
    let body: Value = serde_json::from_str(&request).unwrap();
    assert!(!decide(&app, &ev, body.clone()).await, "business hours apply at 20:00");
    let out = app.cli(&["policies", "delete", "business-hours"], None).await;
    assert!(out.status.success());
    let mut allowed = false;
    for _ in 0..30 {
        if decide(&app, &ev, body.clone()).await {
            allowed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(allowed, "the server did not pick up the deletion");
    let out = app.cli(&["policies", "delete", "business-hours"], None).await;
    assert!(!out.status.success(), "deleting twice fails");
    let out = app.cli(&["policies", "test", "--at", night, "--json"], Some(&request)).await;
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["decision"], true);
}

/// Asks until the decision is `want`, for at most ten seconds: the server compares the RBAC
/// revision about once a second, so this is eventual consistency, not a timing check.
async fn decide_until(app: &TestApp, token: &str, body: &Value, want: bool) -> bool {
    for _ in 0..100 {
        if decide(app, token, body.clone()).await == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn grants_from_another_process_reach_decisions(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, ev) = setup(&app).await;
    let (carol, _) = user_with_token(&app, "carol@example.com").await;
    cli_ok(&app, &["roles", "create", "viewer"]).await;
    cli_ok(&app, &["permissions", "create", "report:read"]).await;
    cli_ok(&app, &["permissions", "grant", "report:read", "--role", "viewer"]).await;
    let ask = req(user(&carol, json!({})), "read", json!({ "type": "report", "id": "q3" }));
    // The server now holds the grants in memory: carol has no role.
    assert!(!decide(&app, &ev, ask.clone()).await);
    // The command line is another process: nothing tells the server (no Redis here); the
    // revision its triggers moved does, at the server's next check.
    cli_ok(&app, &["roles", "grant", "viewer", "--user", "carol@example.com"]).await;
    assert!(decide_until(&app, &ev, &ask, true).await, "a grant by the command line is seen");
    cli_ok(&app, &["permissions", "revoke", "report:read", "--role", "viewer"]).await;
    assert!(decide_until(&app, &ev, &ask, false).await, "a revocation by the command line is seen");
}
