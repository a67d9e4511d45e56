//! Token exchange (RFC 8693, issue #20 item 5), end to end: a confidential service exchanges a
//! user's access token for one for another API, as the user (impersonation) or on the user's
//! behalf with `act` (delegation, §4.1, nested through a chain), within explicit per-client
//! rules managed by the admin API and `gatehouse clients exchange-rules`; everything outside
//! the rules is refused (the attacks of issue #20) and every exchange is audited.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, token as first_party_token, user_with_token};
use crate::helpers::{Backend, TestApp, browser};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, create_client, pkce, query_of, token_request, web_client};
use crate::on_both_backends;

on_both_backends!(
    rfc8693_s2_impersonation_and_delegation_with_nested_act,
    rfc8693_s5_exchanges_outside_the_rules_are_refused_and_audited,
    rfc8693_exchange_rules_through_the_admin_api_and_cli,
    rfc8693_s2_1_resource_names_a_registered_resource_server,
    authlib_token_exchange,
);

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn id(client: &Value) -> &str {
    client["client_id"].as_str().unwrap()
}

/// A confidential machine client (client credentials) and its own access token.
async fn service(app: &TestApp) -> (Value, String) {
    let client = create_client(app, &["--grant-type", "client_credentials", "--scope", "api:read"]).await;
    let r = token_request(app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    (client, token)
}

/// A user's token response from a web client (code flow, scope openid profile email
/// offline_access).
async fn user_tokens(app: &TestApp, web: &Value) -> Value {
    app.register("ada@example.com", crate::helpers::PASSWORD).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, id(web), Some(&challenge), &[]);
    let code = query_of(&authorize_as(app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let r = token_request(app, web, &form).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn add_rule(
    app: &TestApp,
    client: &Value,
    subjects: &[&str],
    audiences: &[&str],
    scopes: &[&str],
    modes: &[&str],
) {
    let mut args = vec!["clients", "exchange-rules", "add", id(client), "--json"];
    for s in subjects {
        args.extend_from_slice(&["--subject-client", s]);
    }
    for a in audiences {
        args.extend_from_slice(&["--audience", a]);
    }
    for s in scopes {
        args.extend_from_slice(&["--scope", s]);
    }
    args.extend_from_slice(modes);
    // The CLI checks audiences against the default audience of the configuration it reads:
    // the same issuer as the server (as in a deployment, where both read one configuration).
    let issuer = app.settings().issuer.clone();
    let out = app.cli_with_env(&args, &[("GATEHOUSE_ISSUER", &issuer)]).await;
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// One exchange by `client`; status and body.
async fn exchange(app: &TestApp, client: &Value, form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(form);
    let r = token_request(app, client, &all).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn assert_refused(app: &TestApp, client: &Value, form: &[(&str, &str)], error: &str) {
    let (status, body) = exchange(app, client, form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{form:?}: {body}");
}

async fn introspect(app: &TestApp, caller: &Value, token: &str) -> Value {
    let r = crate::oauth::client_post(app, "/oauth2/introspect", caller, &[("token", token)]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn rfc8693_s2_impersonation_and_delegation_with_nested_act(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let web = web_client(&app, &[]).await;
    let (api, _) = service(&app).await;
    let (svc, svc_token) = service(&app).await;
    let (svc2, svc2_token) = service(&app).await;
    let tokens = user_tokens(&app, &web).await;
    let subject = tokens["access_token"].as_str().unwrap();
    let subject_claims = claims(subject);
    let default_aud = subject_claims["aud"].as_str().unwrap().to_owned();
    add_rule(
        &app,
        &svc,
        &[id(&web)],
        &[id(&api), &default_aud],
        &["profile", "email"],
        &["--impersonation", "--delegation"],
    )
    .await;

    // §2.1 impersonation: the new token is the subject's, for the audience, narrowed (§5).
    let (status, body) =
        exchange(&app, &svc, &[("subject_token", subject), ("subject_token_type", AT), ("audience", id(&api))]).await;
    assert_eq!(status, 200, "{body}");
    // §2.2.1: issued_token_type, token_type, no refresh token.
    assert_eq!(body["issued_token_type"], AT);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "profile email", "the subject token's order");
    let t = claims(body["access_token"].as_str().unwrap());
    assert_eq!(t["sub"], subject_claims["sub"]);
    assert_eq!(t["client_id"], id(&svc));
    assert_eq!(t["aud"], id(&api));
    assert_eq!(t["sid"], subject_claims["sid"], "the subject's grant: revoking it ends this token");
    assert!(t["exp"].as_i64() <= subject_claims["exp"].as_i64(), "never outlives the subject token");
    assert!(t.get("act").is_none(), "impersonation names no actor");

    // A requested scope inside the allowed set is issued as asked.
    let form = [("subject_token", subject), ("subject_token_type", AT), ("scope", "email"), ("audience", id(&api))];
    let (status, body) = exchange(&app, &svc, &form).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("email")), "{body}");

    // §4.1 delegation: act names the actor (the service's own token).
    let form =
        [("subject_token", subject), ("subject_token_type", AT), ("actor_token", &svc_token), ("actor_token_type", AT)];
    let (status, body) = exchange(&app, &svc, &form).await;
    assert_eq!(status, 200, "{body}");
    let delegated = body["access_token"].as_str().unwrap().to_owned();
    let d = claims(&delegated);
    assert_eq!(d["sub"], subject_claims["sub"]);
    assert_eq!(d["aud"], default_aud.as_str(), "no audience: the default one");
    assert_eq!(d["act"], json!({ "sub": id(&svc), "client_id": id(&svc) }));

    // §4.1 nesting: svc2 exchanges svc's delegated token, acting itself; the prior actor nests.
    add_rule(&app, &svc2, &[id(&svc)], &[id(&api)], &["email"], &["--delegation"]).await;
    let form = [
        ("subject_token", delegated.as_str()),
        ("subject_token_type", AT),
        ("actor_token", &svc2_token),
        ("actor_token_type", AT),
        ("audience", id(&api)),
    ];
    let (status, body) = exchange(&app, &svc2, &form).await;
    assert_eq!(status, 200, "{body}");
    let nested = body["access_token"].as_str().unwrap().to_owned();
    let n = claims(&nested);
    let chain = json!({ "sub": id(&svc2), "client_id": id(&svc2), "act": { "sub": id(&svc), "client_id": id(&svc) } });
    assert_eq!(n["act"], chain);
    assert_eq!(n["scope"], "email", "never wider than the subject token (email profile) ∩ the rule (email)");

    // RFC 7662 + RFC 8693 §4.1: introspection returns act (the token's own client asks).
    let i = introspect(&app, &svc, &delegated).await;
    assert_eq!((i["active"].as_bool(), &i["act"]), (Some(true), &json!({ "sub": id(&svc), "client_id": id(&svc) })));

    // Revoking the subject's grant (its refresh token) ends every exchanged token of it.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = crate::oauth::client_post(&app, "/oauth2/revoke", &web, &[("token", refresh)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(&app, &svc, &delegated).await["active"], false);
    assert_eq!(introspect(&app, &svc2, &nested).await["active"], false);
    // ... and the subject token itself can no longer be exchanged.
    // §2.2.2: an invalid subject token MUST be answered with invalid_request.
    assert_refused(&app, &svc, &[("subject_token", subject), ("subject_token_type", AT)], "invalid_request").await;

    // Audited.
    let events = app.audit_events().await;
    let exchanged: Vec<_> = events.iter().filter(|e| e.0 == "token.exchanged").collect();
    assert_eq!(exchanged.len(), 4, "{exchanged:?}");
    let modes: Vec<String> = exchanged
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.3).unwrap()["mode"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(modes, ["impersonation", "impersonation", "delegation", "delegation"]);
}

async fn rfc8693_s5_exchanges_outside_the_rules_are_refused_and_audited(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let web = web_client(&app, &[]).await;
    let (api, _) = service(&app).await;
    let (other_api, _) = service(&app).await;
    let (svc, svc_token) = service(&app).await;
    let (stranger, stranger_token) = service(&app).await;
    let tokens = user_tokens(&app, &web).await;
    let subject = tokens["access_token"].as_str().unwrap();
    let base = [("subject_token", subject), ("subject_token_type", AT), ("audience", id(&api))];

    // No rule at all: the client may not use the grant (§2.2.2 via RFC 6749 §5.2).
    assert_refused(&app, &svc, &base, "unauthorized_client").await;

    add_rule(&app, &svc, &[id(&web)], &[id(&api)], &["profile", "email"], &["--impersonation"]).await;
    // Missing / malformed parameters (§2.1).
    assert_refused(&app, &svc, &[("subject_token_type", AT)], "invalid_request").await;
    assert_refused(&app, &svc, &[("subject_token", subject)], "invalid_request").await;
    assert_refused(&app, &svc, &[("subject_token", "a\0b"), ("subject_token_type", AT)], "invalid_request").await;
    let with_actor_no_type = [("subject_token", subject), ("subject_token_type", AT), ("actor_token", &svc_token)];
    assert_refused(&app, &svc, &with_actor_no_type, "invalid_request").await;
    // §2.2.2: token types we do not process; requested_token_type other than access_token.
    let refresh_type = "urn:ietf:params:oauth:token-type:refresh_token";
    assert_refused(
        &app,
        &svc,
        &[("subject_token", subject), ("subject_token_type", refresh_type)],
        "unsupported_token_type",
    )
    .await;
    let mut form = base.to_vec();
    form.push(("requested_token_type", refresh_type));
    assert_refused(&app, &svc, &form, "invalid_request").await;
    // §2.2.2: a subject or actor token "invalid for any reason, or … unacceptable based on
    // policy" MUST be answered with invalid_request. Not a token of ours (or forged):
    assert_refused(&app, &svc, &[("subject_token", "e30.e30.e30"), ("subject_token_type", AT)], "invalid_request")
        .await;
    // Wrong subject client: the stranger's own token is not covered by the rule.
    assert_refused(
        &app,
        &svc,
        &[("subject_token", &stranger_token), ("subject_token_type", AT), ("audience", id(&api))],
        "invalid_request",
    )
    .await;
    // Wrong (registered) audience, unknown audience: invalid_target (§2.2.2).
    assert_refused(
        &app,
        &svc,
        &[("subject_token", subject), ("subject_token_type", AT), ("audience", id(&other_api))],
        "invalid_target",
    )
    .await;
    assert_refused(
        &app,
        &svc,
        &[("subject_token", subject), ("subject_token_type", AT), ("audience", "https://nowhere.example")],
        "invalid_target",
    )
    .await;
    // Wider scope than the rule (openid is in the subject token, not in the rule): invalid_scope.
    let mut form = base.to_vec();
    form.push(("scope", "openid email"));
    assert_refused(&app, &svc, &form, "invalid_scope").await;
    // Delegation where the rule allows only impersonation.
    let mut form = base.to_vec();
    form.extend_from_slice(&[("actor_token", &svc_token), ("actor_token_type", AT)]);
    assert_refused(&app, &svc, &form, "invalid_request").await;
    // An actor token of another client: a client acts only as itself.
    add_rule(&app, &svc, &[id(&web)], &[id(&api)], &["email"], &["--delegation"]).await;
    let mut form = base.to_vec();
    form.extend_from_slice(&[("actor_token", &stranger_token), ("actor_token_type", AT)]);
    assert_refused(&app, &svc, &form, "invalid_request").await;
    // The rule covers svc only: the stranger (another confidential client) has none.
    assert_refused(&app, &stranger, &base, "unauthorized_client").await;
    // A public client may not exchange at all.
    let public =
        create_client(&app, &["--public", "--grant-type", "authorization_code", "--redirect-uri", REDIRECT]).await;
    assert_refused(&app, &public, &base, "unauthorized_client").await;
    // Within the rules it works (the refusals above changed nothing).
    let (status, body) = exchange(&app, &svc, &base).await;
    assert_eq!(status, 200, "{body}");

    // An expired subject token (server clock past its exp).
    let exp = crate::token_exchange::claims(subject)["exp"].as_i64().unwrap();
    app.clock.advance(exp - app.clock_now() + 1);
    assert_refused(&app, &svc, &base, "invalid_request").await;

    let events = app.audit_events().await;
    let refused = events.iter().filter(|e| e.0 == "token.exchange_refused").count();
    // 17 refusals above; the NUL byte is refused by the form parser before any grant runs.
    assert_eq!(refused, 16, "every refusal that reached the grant is audited");
    assert!(events.iter().any(|e| e.0 == "token.exchange_refused" && e.3.contains("invalid_target")));
}

/// RFC 8693 §2.1 `resource` (an RFC 8707 indicator) or `audience` naming a registered resource
/// server: the new token is for it alone (`aud`), with only the scopes it lists and its lifetime
/// and algorithm; `resource` and `audience` naming different targets, or an unregistered
/// resource, is `invalid_target` (§2.2.2).
async fn rfc8693_s2_1_resource_names_a_registered_resource_server(b: Backend) {
    const API: &str = "https://orders.example.com/";
    let Some(app) = TestApp::spawn(b).await else { return };
    let web = web_client(&app, &[]).await;
    let (svc, _) = service(&app).await;
    crate::admin::cli_ok(
        &app,
        &[
            "resources",
            "add",
            API,
            "--name",
            "Orders",
            "--scope",
            "email",
            "--access-token-lifetime",
            "120",
            "--signing-alg",
            "EdDSA",
        ],
    )
    .await;
    add_rule(&app, &svc, &[id(&web)], &[API], &["profile", "email"], &["--impersonation"]).await;
    let tokens = user_tokens(&app, &web).await;
    let subject = tokens["access_token"].as_str().unwrap();
    let base = [("subject_token", subject), ("subject_token_type", AT)];

    for named in [("resource", API), ("audience", API)] {
        let mut form = base.to_vec();
        form.push(named);
        let (status, body) = exchange(&app, &svc, &form).await;
        assert_eq!(status, 200, "{named:?}: {body}");
        assert_eq!(body["scope"], "email", "only the scopes the resource server lists");
        let token = body["access_token"].as_str().unwrap();
        let c = claims(token);
        assert_eq!(c["aud"], API, "{named:?}");
        assert_eq!(c["scope"], "email");
        assert!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap() <= 120, "the resource's lifetime");
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA", "the resource's algorithm");
    }
    let mut form = base.to_vec();
    form.extend_from_slice(&[("resource", API), ("audience", "https://elsewhere.example.com/")]);
    assert_refused(&app, &svc, &form, "invalid_target").await;
    let mut form = base.to_vec();
    form.push(("resource", "https://unregistered.example.com/"));
    assert_refused(&app, &svc, &form, "invalid_target").await;
    let mut form = base.to_vec();
    form.push(("resource", "https://orders.example.com/#frag"));
    assert_refused(&app, &svc, &form, "invalid_target").await;
}

async fn rfc8693_exchange_rules_through_the_admin_api_and_cli(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    user_with_token(&app, "root@example.com").await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let admin = first_party_token(&app, "root@example.com").await;
    let (svc, _) = service(&app).await;
    let (api, _) = service(&app).await;
    let public =
        create_client(&app, &["--public", "--grant-type", "authorization_code", "--redirect-uri", REDIRECT]).await;
    let path = format!("/admin/v1/clients/{}/exchange-rules", id(&svc));
    let send = |method: Method, path: String, body: Option<Value>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = call(app, Some(&admin), method, &path, body.as_ref()).await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let good =
        json!({ "subject_clients": ["*"], "audiences": [id(&api)], "scopes": ["email"], "allow_delegation": true });
    let (status, rule) = send(Method::POST, path.clone(), Some(good.clone())).await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!((&rule["allow_delegation"], &rule["allow_impersonation"]), (&json!(true), &json!(false)));
    let (status, list) = send(Method::GET, path.clone(), None).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (200, Some(1)), "{list}");

    // Refused, nothing stored: public client, unknown audience, no mode, empty list, unknown field.
    let public_path = format!("/admin/v1/clients/{}/exchange-rules", id(&public));
    assert_eq!(send(Method::POST, public_path, Some(good.clone())).await.0, 422);
    let mut bad = good.clone();
    bad["audiences"] = json!(["https://nowhere.example"]);
    assert_eq!(send(Method::POST, path.clone(), Some(bad)).await.0, 422);
    let mut bad = good.clone();
    bad["allow_delegation"] = json!(false);
    assert_eq!(send(Method::POST, path.clone(), Some(bad)).await.0, 422);
    let mut bad = good.clone();
    bad["scopes"] = json!([]);
    assert_eq!(send(Method::POST, path.clone(), Some(bad)).await.0, 422);
    let mut bad = good.clone();
    bad["client_id"] = json!("other");
    assert!(matches!(send(Method::POST, path.clone(), Some(bad)).await.0, 400 | 422));
    assert_eq!(send(Method::GET, "/admin/v1/clients/nope/exchange-rules".into(), None).await.0, 404);
    let (_, list) = send(Method::GET, path.clone(), None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "nothing stored by the refusals");

    // The CLI sees the rule and removes it; the API then reports it gone.
    let rule_id = rule["id"].as_str().unwrap();
    let listed: Value =
        serde_json::from_str(&cli_ok(&app, &["clients", "exchange-rules", "list", id(&svc), "--json"]).await).unwrap();
    assert_eq!(listed[0]["id"], rule_id);
    cli_ok(&app, &["clients", "exchange-rules", "remove", id(&svc), rule_id]).await;
    assert_eq!(send(Method::DELETE, format!("{path}/{rule_id}"), None).await.0, 404);
    assert_eq!(send(Method::DELETE, format!("{path}/not-a-uuid"), None).await.0, 404);
    let (_, list) = send(Method::GET, path.clone(), None).await;
    assert_eq!(list["items"], json!([]));

    // Added and removed, audited.
    let events = app.audit_events().await;
    assert!(events.iter().any(|e| e.0 == "client.exchange_rule_added"));
    assert_eq!(events.iter().filter(|e| e.0 == "client.exchange_rule_removed").count(), 1);
}

/// Python authlib (an independent client) exchanges a user's token with delegation: its own
/// metadata model accepts our RFC 8414 document, and `fetch_token` gets §2.2.1's answer.
async fn authlib_token_exchange(b: Backend) {
    use crate::interop::{INTEROP_DIR, available};
    if !available(
        "python3",
        &["-c", "import authlib, requests"],
        "Python authlib",
        "pip install 'authlib>=1.9,<2' requests",
    ) {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let web = web_client(&app, &[]).await;
    let (api, _) = service(&app).await;
    let (svc, svc_token) = service(&app).await;
    let subject = user_tokens(&app, &web).await["access_token"].as_str().unwrap().to_owned();
    add_rule(&app, &svc, &[id(&web)], &[id(&api)], &["email"], &["--delegation"]).await;
    let out = tokio::process::Command::new("python3")
        .arg(format!("{INTEROP_DIR}/authlib_token_exchange.py"))
        .current_dir(INTEROP_DIR)
        .args([
            format!("--issuer={}", app.base),
            format!("--client-id={}", id(&svc)),
            format!("--client-secret={}", svc["client_secret"].as_str().unwrap()),
            format!("--subject-token={subject}"),
            format!("--audience={}", id(&api)),
            format!("--actor-token={svc_token}"),
        ])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let summary: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["issued_token_type"], AT);
    assert_eq!((&summary["token_type"], &summary["scope"]), (&json!("Bearer"), &json!("email")));
    assert!(summary["refresh_token"].is_null());
    assert_eq!(summary["claims"]["act"], json!({ "sub": id(&svc), "client_id": id(&svc) }));
    assert_eq!(summary["claims"]["aud"], id(&api));
}
