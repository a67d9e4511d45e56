//! Sign in with an upstream provider (issue #8), end to end against real upstreams nobody here
//! wrote: the Node `oidc-provider` (OpenID-certified) as "the Google", and a second Gatehouse.
//! Covered: the happy path with a just-in-time account; the returning user matched by `sub`
//! after the upstream email changed; linking refused for an unverified upstream email and for a
//! verified one without proof of the local account, and allowed with proof (signed in);
//! `state` missing, reused, expired and from another browser (RFC 9700 §4.7, RFC 6749 §10.12);
//! `access_denied` (RFC 6749 §4.1.2.1) shown escaped; no open redirect through `return_to`; the
//! downstream application sees the user with `amr: ["fed"]`, and `prompt=login` forces a fresh
//! upstream sign-in (OIDC Core §3.1.2.1). Attacks that need a lying upstream are in
//! `federation_attacks.rs`.

use serde_json::{Value, json};

use crate::federation_harness::{
    Browser, Landed, NodeOp, OP_CLIENT_ID, OP_CLIENT_SECRET, bind, downstream, event_types, failure_reasons,
    oidc_provider,
};
use crate::helpers::{Backend, PASSWORD, TestApp, csrf_from};
use crate::oauth::{REDIRECT, authorize_url, create_client, pkce, query_of, token_request, web_client};
use crate::on_both_backends;
use crate::tokens::decode_part;

on_both_backends!(
    jit_account_and_returning_user_through_oidc_provider,
    downstream_app_sees_federated_user_and_prompt_login_is_fresh_upstream,
    second_gatehouse_upstream_and_linking_with_proof,
    linking_refused_for_unverified_email_and_without_proof,
    linking_with_the_local_password,
    upstream_access_denied_is_a_friendly_escaped_page,
    wrong_password_keeps_prompt_login_on_provider_buttons,
    state_missing_reused_expired_or_from_another_browser,
    return_to_never_leaves_our_origin,
);

/// Gatehouse with the Node oidc-provider as upstream `op`; `None` when either is skipped.
async fn with_op(b: Backend) -> Option<(NodeOp, TestApp)> {
    let (listener, base) = bind().await;
    let op = NodeOp::start(&format!("{base}/login/op/callback")).await?;
    let entry = oidc_provider("op", &op.issuer, OP_CLIENT_ID, OP_CLIENT_SECRET);
    let app = downstream(b, listener, vec![entry], |_| {}).await?;
    Some((op, app))
}

fn assert_signed_in(landed: &Landed) {
    assert_eq!(landed.status, 200, "{} {:?}\n{}", landed.url, landed.visited, landed.body);
    assert!(landed.url.ends_with("/account"), "{}", landed.url);
}

async fn jit_account_and_returning_user_through_oidc_provider(b: Backend) {
    let Some((op, app)) = with_op(b).await else { return };
    let page = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("href=\"/login/op\"") && page.contains("Sign in with Upstream op"), "{page}");

    let browser = Browser::new();
    let landed = browser.follow(&app.url("/login/op")).await;
    assert_signed_in(&landed);
    // RFC 6749 §4.1.1 + RFC 7636 §4.3 + OIDC Core §3.1.2.1: state, nonce, PKCE S256.
    let auth = landed.visited.iter().find(|u| u.starts_with(&format!("{}/auth?", op.issuer))).unwrap();
    let q = query_of(auth);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], app.url("/login/op/callback"));
    for p in ["state", "nonce", "code_challenge"] {
        assert!(q.get(p).is_some_and(|v| v.len() >= 43), "{p}: {q:?}");
    }
    // RFC 9207: the upstream named itself in the response, and that was checked.
    let callback = landed.visited.iter().find(|u| u.contains("/login/op/callback")).unwrap();
    assert_eq!(query_of(callback)["iss"], op.issuer);

    let (status, me) = browser.me(&app).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "alice@upstream.example");
    assert_eq!(me["email_verified"], true);
    let events = event_types(&app).await;
    for e in ["federation.account_created", "federation.login_succeeded", "login.succeeded"] {
        assert!(events.iter().any(|t| t == e), "{e}: {events:?}");
    }

    // The upstream email changes; the identity is (provider, sub), so it is the same account.
    op.set_user(json!({ "email": "alice.renamed@upstream.example" })).await;
    let again = Browser::new();
    assert_signed_in(&again.follow(&app.url("/login/op")).await);
    let (_, me2) = again.me(&app).await;
    assert_eq!(me2["id"], me["id"], "matched by sub, not email");
    assert_eq!(event_types(&app).await.iter().filter(|t| *t == "federation.account_created").count(), 1);

    // The account page lists the provider; it is the only way in, so it cannot be unlinked.
    let page = browser.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Upstream op") && page.contains("Connected"), "{page}");
    let r = browser
        .client
        .post(app.url("/account/providers/op/unlink"))
        .form(&[("csrf_token", csrf_from(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

/// The authorization code flow of a downstream app, signing in with the button of the login
/// page; returns the decoded ID token.
async fn downstream_login(app: &TestApp, browser: &Browser, client: &Value, extra: &[(&str, &str)]) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, client["client_id"].as_str().unwrap(), Some(&challenge), extra);
    let login = browser.follow(&url).await;
    assert_eq!(login.status, 200, "{}", login.url);
    assert!(login.url.contains("/login?"), "{}", login.url);
    let start = login
        .body
        .split("href=\"/login/op")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let done = browser.walk(&app.url(&format!("/login/op{start}")), |u| u.starts_with("http://127.0.0.1:")).await;
    assert!(done.url.starts_with(REDIRECT), "{} {:?}", done.url, done.visited);
    let code = query_of(&done.url)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let r = token_request(app, client, &form).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    decode_part(body["id_token"].as_str().unwrap().split('.').nth(1).unwrap())
}

async fn downstream_app_sees_federated_user_and_prompt_login_is_fresh_upstream(b: Backend) {
    let Some((op, app)) = with_op(b).await else { return };
    let client = web_client(&app, &["--skip-consent"]).await;
    let browser = Browser::new();
    let id_token = downstream_login(&app, &browser, &client, &[]).await;
    let (_, me) = browser.me(&app).await;
    assert_eq!(id_token["sub"], me["id"], "the same sub as any other user");
    assert_eq!(id_token["amr"], json!(["fed"]), "OIDC Core §2 amr: federated sign-in");
    assert_eq!(op.logins().await, 1);

    // Without prompt=login the upstream session is reused: no new upstream login.
    assert_signed_in(&browser.follow(&app.url("/login/op")).await);
    assert_eq!(op.logins().await, 1);

    // prompt=login: our login page passes it on, and the upstream must authenticate again
    // (prompt=login and max_age=0 upstream; its auth_time is checked).
    let before = now();
    let id_token = downstream_login(&app, &browser, &client, &[("prompt", "login")]).await;
    assert_eq!(op.logins().await, 2, "a fresh upstream sign-in");
    assert_eq!(id_token["sub"], me["id"]);
    // auth_time is the upstream's (fresh) authentication, OIDC Core §2.
    let auth_time = id_token["auth_time"].as_i64().unwrap();
    assert!(auth_time >= before - 60 && auth_time <= now(), "{auth_time} vs {before}");

    // max_age=N (§3.1.2.1) also asks the upstream for a fresh sign-in (prompt=login): an older
    // upstream session would give a session too old for the request.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[("max_age", "3600")]);
    let login = Browser::new().follow(&url).await;
    assert!(login.url.contains("/login?") && login.url.contains("prompt=login"), "{}", login.url);
    let button = login.body.split("href=\"/login/op").nth(1).unwrap().split('"').next().unwrap();
    assert!(button.contains("prompt=login"), "{button}");
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The login page rebuilt after a wrong password keeps `prompt=login` on the provider buttons,
/// or the next click would reuse an old upstream session (OIDC Core §3.1.2.1).
async fn wrong_password_keeps_prompt_login_on_provider_buttons(b: Backend) {
    let Some((_op, app)) = with_op(b).await else { return };
    let next = "/oauth2/authorize?client_id=x&prompt=login";
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .append_pair("prompt", "login")
        .finish();
    let browser = Browser::new();
    let page = browser.client.get(app.url(&format!("/login?{q}"))).send().await.unwrap().text().await.unwrap();
    let button = |page: &str| page.split("href=\"/login/op").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(button(&page).contains("prompt=login"), "{page}");
    assert!(page.contains("name=\"prompt\" value=\"login\""), "{page}");
    let form = [
        ("csrf_token", csrf_from(&page)),
        ("email", "nobody@example.com".into()),
        ("password", "wrong password, long enough".into()),
        ("next", next.into()),
        ("prompt", "login".into()),
    ];
    let r = browser.client.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(page.contains("Invalid email or password."), "{page}");
    assert!(button(&page).contains("prompt=login"), "{page}");
    assert!(button(&page).contains("return_to="), "{page}");
}

/// Signs in on the upstream Gatehouse's login page the walk stopped at, then follows on.
async fn upstream_password_login(browser: &Browser, upstream: &TestApp, at: &Landed, email: &str) -> Landed {
    assert!(at.url.starts_with(&upstream.url("/login?")), "{} {:?}", at.url, at.visited);
    let next = query_of(&at.url)["next"].clone();
    let form =
        [("csrf_token", csrf_from(&at.body)), ("email", email.into()), ("password", PASSWORD.into()), ("next", next)];
    let r = browser.client.post(upstream.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    browser.follow(&upstream.url(&to)).await
}

async fn second_gatehouse_upstream_and_linking_with_proof(b: Backend) {
    let Some(upstream) = TestApp::spawn(b).await else { return };
    let (listener, base) = bind().await;
    let callback = format!("{base}/login/gh/callback");
    let args = ["--redirect-uri", &callback, "--scope", "openid", "--scope", "email", "--scope", "profile"];
    let registered = create_client(&upstream, &[&args[..], &["--skip-consent"]].concat()).await;
    let (id, secret) = (registered["client_id"].as_str().unwrap(), registered["client_secret"].as_str().unwrap());
    let email = "carol@example.com";
    assert_eq!(upstream.register(email, PASSWORD).await.status(), 202);
    // Gatehouse has no email verification flow yet: mark the upstream address verified.
    upstream.execute_sql("UPDATE users SET email_verified = true WHERE email_key = $1", email).await;
    let entry = oidc_provider("gh", &upstream.base, id, secret);
    let Some(app) = downstream(b, listener, vec![entry], |_| {}).await else { return };
    // A local account with the same email and a password.
    let local: Value = app.register_user(email, PASSWORD).await;

    // Verified upstream email, but no proof of the local account: refused, nothing linked.
    let browser = Browser::new();
    let at_upstream = browser.follow(&app.url("/login/gh")).await;
    let refused = upstream_password_login(&browser, &upstream, &at_upstream, email).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("sign in with your password"), "{}", refused.body);
    assert_eq!(browser.me(&app).await.0, 401);
    assert_eq!(failure_reasons(&app).await, ["link_requires_sign_in"]);

    // Proof: signed in with the local password, the user connects the provider.
    assert_eq!(app.login_with(&browser.client, email, PASSWORD).await.status(), 200);
    let page = browser.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Not connected"), "{page}");
    let r = browser
        .client
        .post(app.url("/account/providers/gh/link"))
        .form(&[("csrf_token", csrf_from(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let linked = browser.follow(&to).await;
    assert_eq!(linked.status, 200, "{} {:?}", linked.url, linked.visited);
    assert!(linked.url.ends_with("/account?notice=provider_linked"), "{}", linked.url);
    assert!(linked.body.contains("Connected"));
    assert!(event_types(&app).await.iter().any(|t| t == "federation.linked"));

    // From now on the upstream sign-in reaches the same local account.
    let other = Browser::new();
    let at_upstream = other.follow(&app.url("/login/gh")).await;
    assert_signed_in(&upstream_password_login(&other, &upstream, &at_upstream, email).await);
    assert_eq!(other.me(&app).await.1["id"], local["id"]);

    // The account keeps its password, so the link may go.
    let page = other.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let r = other
        .client
        .post(app.url("/account/providers/gh/unlink"))
        .form(&[("csrf_token", csrf_from(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(event_types(&app).await.iter().any(|t| t == "federation.unlinked"));
}

async fn linking_refused_for_unverified_email_and_without_proof(b: Backend) {
    let Some((op, app)) = with_op(b).await else { return };
    let victim = "victim@example.com";
    assert_eq!(app.register(victim, PASSWORD).await.status(), 202);
    let mut texts = Vec::new();
    // An attacker's upstream account claims the victim's address: unverified, then verified.
    for verified in [false, true] {
        op.set_user(json!({ "sub": format!("attacker-{verified}"), "email": victim, "email_verified": verified }))
            .await;
        let browser = Browser::new();
        let landed = browser.follow(&app.url("/login/op")).await;
        assert_eq!(landed.status, 403, "{}", landed.body);
        assert_eq!(browser.me(&app).await.0, 401, "not signed in to the victim's account");
        texts.push(landed.body.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_owned());
        // The password form is offered only when the upstream verified the address.
        assert_eq!(landed.body.contains("name=\"pending\""), verified);
    }
    assert_eq!(texts[0], texts[1], "one message: the page does not tell whether the address is verified");
    assert_eq!(failure_reasons(&app).await, ["email_not_verified", "link_requires_sign_in"]);
    // Nothing was linked to the victim's account.
    let browser = Browser::new();
    assert_eq!(app.login_with(&browser.client, victim, PASSWORD).await.status(), 200);
    let page = browser.client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Not connected") && !page.contains(">Connected<"), "{page}");
}

/// The password form on the refusal page: only for a verified upstream email, single use, bound
/// to the browser; a wrong password spends it; the right one links and signs in.
async fn linking_with_the_local_password(b: Backend) {
    let Some((op, app)) = with_op(b).await else { return };
    let email = "dora@example.com";
    let local: Value = app.register_user(email, PASSWORD).await;
    op.set_user(json!({ "sub": "dora-upstream", "email": email, "email_verified": true })).await;
    let form_of = |body: &str| {
        let pending = body.split("name=\"pending\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        (csrf_from(body), pending)
    };

    let browser = Browser::new();
    let refused = browser.follow(&app.url("/login/op")).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("action=\"/login/op/link\""), "{}", refused.body);
    let (_, pending) = form_of(&refused.body);
    let post = |b: &Browser, csrf: String, pending: String, password: &'static str| {
        let c = b.client.clone();
        let url = app.url("/login/op/link");
        async move {
            let form = [("csrf_token", csrf), ("pending", pending), ("password", password.to_owned())];
            c.post(url).form(&form).send().await.unwrap().status().as_u16()
        }
    };
    // Another browser cannot use the form (bound to the browser that came back from upstream).
    let other = Browser::new();
    let other_page = other.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert_eq!(post(&other, csrf_from(&other_page), pending.clone(), PASSWORD).await, 400);

    // That spent the pending link; a fresh one, and a wrong password: 401, spent again.
    let refused = browser.follow(&app.url("/login/op")).await;
    let (csrf, pending) = form_of(&refused.body);
    assert_eq!(post(&browser, csrf.clone(), pending.clone(), "not the password at all").await, 401);
    assert_eq!(post(&browser, csrf, pending, PASSWORD).await, 400, "single use");
    assert_eq!(browser.me(&app).await.0, 401);

    // The right password links and signs in.
    let refused = browser.follow(&app.url("/login/op")).await;
    let (csrf, pending) = form_of(&refused.body);
    assert_eq!(post(&browser, csrf, pending, PASSWORD).await, 303);
    assert_eq!(browser.me(&app).await.1["id"], local["id"]);
    assert!(event_types(&app).await.iter().any(|t| t == "federation.linked"));
    // From now on the upstream alone signs in to that account.
    let fresh = Browser::new();
    assert_signed_in(&fresh.follow(&app.url("/login/op")).await);
    assert_eq!(fresh.me(&app).await.1["id"], local["id"]);
}

async fn upstream_access_denied_is_a_friendly_escaped_page(b: Backend) {
    let Some((op, app)) = with_op(b).await else { return };
    op.set_user(json!({ "deny": true })).await;
    let browser = Browser::new();
    let landed = browser.follow(&app.url("/login/op")).await;
    // RFC 6749 §4.1.2.1 error response: a page, not a crash; the description escaped.
    assert_eq!(landed.status, 403);
    assert!(landed.body.contains("cancelled or refused"), "{}", landed.body);
    let escaped = landed.body.contains("&#60;script&#62;") || landed.body.contains("&lt;script&gt;");
    assert!(escaped && !landed.body.contains("<script>alert"), "{}", landed.body);
    assert_eq!(browser.me(&app).await.0, 401);
    assert_eq!(failure_reasons(&app).await, ["upstream_error"]);
}

/// Starts a login and stops before the callback: returns the callback URL the upstream sent.
async fn callback_url(app: &TestApp, browser: &Browser) -> String {
    let stopped = browser.walk(&app.url("/login/op"), |u| !u.contains("/login/op/callback")).await;
    assert!(stopped.url.contains("/login/op/callback?"), "{}", stopped.url);
    stopped.url
}

async fn state_missing_reused_expired_or_from_another_browser(b: Backend) {
    let Some((_op, app)) = with_op(b).await else { return };
    let status = |b: &Browser, url: String| {
        let c = b.client.clone();
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    // Missing state (RFC 6749 §10.12: a callback without state is a CSRF attempt).
    let browser = Browser::new();
    assert_eq!(status(&browser, app.url("/login/op/callback?code=abc")).await, 400);

    // From another browser (RFC 9700 §4.7.1: state bound to the browser that started).
    let (victim, attacker) = (Browser::new(), Browser::new());
    let url = callback_url(&app, &attacker).await;
    assert_eq!(status(&victim, url.clone()).await, 400, "login CSRF: the attacker's callback in the victim's browser");
    assert_eq!(status(&attacker, url).await, 400, "and the state is spent");
    assert_eq!(victim.me(&app).await.0, 401);

    // Reused: a completed callback replayed.
    let browser = Browser::new();
    let url = callback_url(&app, &browser).await;
    let r = browser.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303, "the first use signs in");
    assert_eq!(status(&browser, url).await, 400, "single use");

    // Expired: a login left at the upstream for longer than ten minutes.
    let browser = Browser::new();
    let url = callback_url(&app, &browser).await;
    app.clock.advance(601);
    assert_eq!(status(&browser, url).await, 400);
    assert_eq!(failure_reasons(&app).await, ["invalid_state"; 5]);
}

async fn return_to_never_leaves_our_origin(b: Backend) {
    let Some((_op, app)) = with_op(b).await else { return };
    for evil in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "https:evil.example"] {
        let browser = Browser::new();
        let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", evil).finish();
        let landed = browser.follow(&app.url(&format!("/login/op?{q}"))).await;
        assert_signed_in(&landed);
        assert!(!landed.visited.iter().any(|u| u.contains("evil.example") && !u.contains("return_to")), "{evil}");
    }
    // A relative path on our origin is honoured.
    let browser = Browser::new();
    let landed = browser.follow(&app.url("/login/op?return_to=%2Faccount%3Fnotice%3Dprovider_linked")).await;
    assert!(landed.url.ends_with("/account?notice=provider_linked"), "{}", landed.url);
    // The login page never passes a foreign `next` on to the provider buttons.
    let page = app.client.get(app.url("/login?next=https%3A%2F%2Fevil.example%2F")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("href=\"/login/op\""), "{page}");
}
