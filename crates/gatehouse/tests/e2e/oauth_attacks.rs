//! The negative side of the OAuth 2.0 / OpenID Connect provider: redirect-URI tricks
//! (RFC 9700 §4.1), PKCE enforcement (RFC 7636, RFC 9700 §2.1.1), code replay and binding
//! (RFC 6749 §4.1.2, §10.5), `prompt` and consent errors (OIDC Core §3.1.2.6), token endpoint
//! errors (RFC 6749 §5.2), per-client rate limits, and cross-site POSTs from relying parties.

use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::{
    REDIRECT, authorize_as, authorize_url, create_client, location, pkce, query_of, setup, token_request, web_client,
};
use crate::on_both_backends;

on_both_backends!(
    redirect_uri_tricks_never_redirect,
    pkce_is_enforced,
    replayed_code_fails_and_revokes_its_tokens,
    parallel_redemptions_of_one_code_let_one_win,
    codes_are_bound_to_client_and_expire,
    prompt_none_and_denied_consent_redirect_with_errors,
    token_endpoint_errors_follow_rfc6749_5_2,
    token_endpoint_is_rate_limited_per_client,
    relying_parties_may_post_cross_site_to_authorize,
    a_consent_page_left_open_respects_max_age,
);

async fn redirect_uri_tricks_never_redirect(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    // RFC 9700 §4.1: every variation of the registered URI is refused with an error page.
    for bad in [
        "https://app.example.com/callback/extra",
        "https://app.example.com/callback/../callback",
        "https://app.example.com/CALLBACK",
        "https://APP.example.com/callback",
        "https://app.example.com:8443/callback",
        "https://evil.test@app.example.com/callback",
        "https://app.example.com/callbac%6B",
        "https://app.example.com/callback?extra=1",
        "https://app.example.com.evil.test/callback",
        "http://app.example.com/callback",
        "https://evil.test/callback",
    ] {
        let mut url = authorize_url(&app, id, Some(&challenge), &[]);
        url = url.replace(
            &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>(),
        );
        let r = browser().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad} redirected");
    }
    let r = browser().get(authorize_url(&app, "no-such-client", Some(&challenge), &[])).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

async fn pkce_is_enforced(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.tokens.require_pkce_for_confidential_clients = false).await else {
        return;
    };
    let confidential = setup(&app, &["--skip-consent"]).await;
    let public = web_client(&app, &["--public", "--skip-consent"]).await;
    let user = browser();
    // Public client without a challenge; `plain`; a malformed challenge → invalid_request.
    for (client, extra) in [
        (&public, vec![]),
        (
            &public,
            vec![("code_challenge", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"), ("code_challenge_method", "plain")],
        ),
        (&public, vec![("code_challenge", "short"), ("code_challenge_method", "S256")]),
        (&public, vec![("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")]),
    ] {
        let url = authorize_url(&app, client["client_id"].as_str().unwrap(), None, &extra);
        let callback = authorize_as(&app, &user, &url, "ada@example.com", "allow").await;
        let q = query_of(&callback);
        assert_eq!(q["error"], "invalid_request", "{extra:?}");
        assert_eq!(q["state"], "st&=ä");
        assert_eq!(q["iss"], app.base);
    }
    // Wrong verifier → invalid_grant.
    let (_, challenge) = pkce();
    let url = authorize_url(&app, public["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let (other_verifier, _) = pkce();
    let r = token_request(
        &app,
        &public,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &other_verifier),
        ],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Downgrade (RFC 9700 §2.1.1): no challenge at authorization, a verifier at the token endpoint.
    let url = authorize_url(&app, confidential["client_id"].as_str().unwrap(), None, &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let r = token_request(
        &app,
        &confidential,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &other_verifier),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn replayed_code_fails_and_revokes_its_tokens(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &browser(), &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let first: Value = token_request(&app, &client, &form).await.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(
        reqwest::Client::new().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap().status(),
        200
    );
    let r = token_request(&app, &client, &form).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Everything issued from the code is revoked (RFC 6749 §4.1.2).
    assert_eq!(
        reqwest::Client::new().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap().status(),
        401
    );
    let r = token_request(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

/// RFC 6749 §4.1.2 under concurrency: of parallel redemptions of one code exactly one wins and
/// the rest get `invalid_grant` (before the fix, a replay overtaking the winner made all of them
/// fail in about a third of trials). Five rounds, to make an interleaving bug show.
async fn parallel_redemptions_of_one_code_let_one_win(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let user = browser();
    for round in 0..5 {
        let (verifier, challenge) = pkce();
        let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
        let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", verifier.clone()),
        ];
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (url, id, secret, form) = (
                app.url("/oauth2/token"),
                client["client_id"].as_str().unwrap().to_owned(),
                client["client_secret"].as_str().unwrap().to_owned(),
                form.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let r = reqwest::Client::new().post(url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        let mut issued = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (200, body) => issued.push(body),
                (400, body) => assert_eq!(body["error"], "invalid_grant", "round {round}: {body}"),
                (status, body) => panic!("round {round}: {status} {body}"),
            }
        }
        assert_eq!(issued.len(), 1, "round {round}: exactly one redemption wins: {issued:?}");
        // The replays that raced the winner revoked what it was given once it was written
        // (RFC 6749 §4.1.2), and one more replay changes nothing.
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(token_request(&app, &client, &form).await.status(), 400);
        let access = issued[0]["access_token"].as_str().unwrap();
        let r = reqwest::Client::new().get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(r.status(), 401, "the replayed code's access token is revoked");
        let refresh = issued[0]["refresh_token"].as_str().unwrap();
        let r = token_request(&app, &client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
}

async fn codes_are_bound_to_client_and_expire(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &["--skip-consent"]).await;
    let other = web_client(&app, &["--skip-consent"]).await;
    let user = browser();
    let (verifier, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let r = token_request(&app, &other, &form).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant", "code of another client");
    // Another client presenting the code did not burn it: its own client still redeems it.
    assert_eq!(token_request(&app, &client, &form).await.status(), 200);
    // A wrong redirect_uri at the token endpoint.
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    let r = token_request(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // Expired after 60 seconds.
    let code = query_of(&authorize_as(&app, &user, &url, "ada@example.com", "allow").await)["code"].clone();
    app.clock.advance(61);
    let r = token_request(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

async fn prompt_none_and_denied_consent_redirect_with_errors(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let (_, challenge) = pkce();
    let id = client["client_id"].as_str().unwrap();
    let r = browser().get(authorize_url(&app, id, Some(&challenge), &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str(), q["iss"].as_str()),
        ("login_required", "st&=ä", app.base.as_str())
    );
    let user = browser();
    let callback =
        authorize_as(&app, &user, &authorize_url(&app, id, Some(&challenge), &[]), "ada@example.com", "deny").await;
    assert_eq!(query_of(&callback)["error"], "access_denied");
    // Signed in but without consent: prompt=none → consent_required.
    let r = user.get(authorize_url(&app, id, Some(&challenge), &[("prompt", "none")])).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "consent_required");
    // Implicit and hybrid flows are not supported.
    let url = authorize_url(&app, id, Some(&challenge), &[]).replace("response_type=code", "response_type=token");
    let r = user.get(&url).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "unsupported_response_type");
}

async fn token_endpoint_errors_follow_rfc6749_5_2(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let post = |form: Vec<(&'static str, &'static str)>, auth: Option<(&str, &str)>| {
        let mut req = reqwest::Client::new().post(app.url("/oauth2/token")).form(&form);
        if let Some((i, s)) = auth {
            req = req.basic_auth(i, Some(s));
        }
        req.send()
    };
    let check = |r: reqwest::Response, status: u16, error: &'static str| async move {
        assert_eq!(r.status(), status, "{error}");
        if status == 401 {
            assert!(r.headers().contains_key("www-authenticate"));
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error);
        assert!(body["error_description"].is_string());
    };
    check(post(vec![("grant_type", "client_credentials")], Some((id, "wrong"))).await.unwrap(), 401, "invalid_client")
        .await;
    check(
        post(vec![("grant_type", "client_credentials")], Some(("nobody", "x"))).await.unwrap(),
        401,
        "invalid_client",
    )
    .await;
    check(post(vec![("grant_type", "client_credentials")], None).await.unwrap(), 401, "invalid_client").await;
    check(post(vec![("grant_type", "password")], Some((id, secret))).await.unwrap(), 400, "unsupported_grant_type")
        .await;
    check(post(vec![], Some((id, secret))).await.unwrap(), 400, "invalid_request").await;
    check(
        post(vec![("grant_type", "client_credentials")], Some((id, secret))).await.unwrap(),
        400,
        "unauthorized_client",
    )
    .await;
    check(
        post(
            vec![("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", REDIRECT)],
            Some((id, secret)),
        )
        .await
        .unwrap(),
        400,
        "invalid_grant",
    )
    .await;
    check(
        post(vec![("grant_type", "authorization_code"), ("grant_type", "authorization_code")], Some((id, secret)))
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    // client_secret_basic client presenting its secret in the body: not its registered method.
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", id), ("client_secret", secret)])
        .send()
        .await
        .unwrap();
    check(r, 401, "invalid_client").await;
}

async fn token_endpoint_is_rate_limited_per_client(b: Backend) {
    let quota = gatehouse_core::abuse::Quota::new(2, 60);
    let Some(app) = TestApp::spawn_with(b, |s| s.rate_limits.token_client = quota).await else { return };
    let worker = create_client(&app, &["--grant-type", "client_credentials", "--scope", "jobs:run"]).await;
    let other = create_client(&app, &["--grant-type", "client_credentials", "--scope", "jobs:run"]).await;
    for _ in 0..2 {
        assert_eq!(token_request(&app, &worker, &[("grant_type", "client_credentials")]).await.status(), 200);
    }
    let r = token_request(&app, &worker, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Guessing the secret counts against the same client id.
    let r = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .basic_auth(worker["client_id"].as_str().unwrap(), Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        token_request(&app, &other, &[("grant_type", "client_credentials")]).await.status(),
        200,
        "other clients are unaffected"
    );
    app.clock.advance(31);
    assert_eq!(token_request(&app, &worker, &[("grant_type", "client_credentials")]).await.status(), 200, "refilled");
}

async fn relying_parties_may_post_cross_site_to_authorize(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[]);
    let query = url.split_once('?').unwrap().1.to_owned();
    // OpenID Connect Core §3.1.2.1: the authorization endpoint accepts POST, from the RP's site.
    let r = browser()
        .post(app.url("/oauth2/authorize"))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="), "{}", location(&r));
}

async fn a_consent_page_left_open_respects_max_age(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let client = setup(&app, &[]).await;
    let user = browser();
    assert_eq!(app.login_with(&user, "ada@example.com", PASSWORD).await.status(), 200);
    let (_, challenge) = pkce();
    let url = authorize_url(&app, client["client_id"].as_str().unwrap(), Some(&challenge), &[("max_age", "300")]);
    let page = user.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/oauth2/consent"));
    let mut form: Vec<(String, String)> = Vec::new();
    for chunk in page.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = chunk.split_once('"').unwrap();
        let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
        form.push((name.to_owned(), value.replace("&#38;", "&").replace("&amp;", "&")));
    }
    form.push(("decision".into(), "allow".into()));
    // The user leaves the page open past max_age: allowing now asks for a fresh sign-in
    // instead of issuing a code.
    app.clock.advance(400);
    let r = user.post(app.url("/oauth2/consent")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?next="), "{}", location(&r));
}
