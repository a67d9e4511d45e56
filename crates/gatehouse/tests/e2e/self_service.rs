//! Self-service (issue #14 part 4): changing one's password and deleting one's account, on the
//! account pages and through the JSON API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::on_both_backends;

on_both_backends!(
    change_password_keeps_this_session_and_ends_the_others,
    delete_account_removes_everything,
    delete_account_page_and_last_admin,
);

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn change_password_keeps_this_session_and_ends_the_others(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("alice@example.com", PASSWORD).await;
    let (me, other) = (browser(), browser());
    assert_eq!(app.login_with(&me, "alice@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login_with(&other, "alice@example.com", PASSWORD).await.status(), 200);
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "alice@example.com", "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap();
    let refresh = r.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();

    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        me.post(app.url("/api/v1/account/password")).json(&body).send()
    };
    let r = change("wrong password!", NEW_PASSWORD).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_password");
    assert_eq!(change(PASSWORD, "short").await.unwrap().status(), 422);
    assert_eq!(
        browser().post(app.url("/api/v1/account/password")).json(&json!({})).send().await.unwrap().status(),
        422
    );
    let anonymous = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    let r = browser().post(app.url("/api/v1/account/password")).json(&anonymous).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A cookie-authenticated call from another site is refused (Origin check).
    let r = me
        .post(app.url("/api/v1/account/password"))
        .header("origin", "https://evil.example")
        .json(&anonymous)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200, "unchanged so far");

    assert_eq!(change(PASSWORD, NEW_PASSWORD).await.unwrap().status(), 204);
    assert_eq!(app.me(&me).await.status(), 200, "this session stays");
    assert_eq!(app.me(&other).await.status(), 401, "the other session ended");
    let r = browser().post(app.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": refresh })).send().await;
    assert_eq!(r.unwrap().status(), 401, "refresh family revoked");
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("alice@example.com", NEW_PASSWORD).await.status(), 200);
    let mails = app.mails_to("alice@example.com");
    assert!(mails.iter().any(|m| m.subject.to_lowercase().contains("password")), "{mails:?}");

    // The page: a form with CSRF token, then back to the account page with a notice.
    let page = me.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("href=\"/account/password\"") && page.contains("href=\"/account/delete\""));
    let page = me.get(app.url("/account/password")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let form = [("csrf_token", csrf.as_str()), ("current_password", "nope"), ("new_password", PASSWORD)];
    let r = me.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("The password is wrong."));
    let form = [("csrf_token", csrf.as_str()), ("current_password", NEW_PASSWORD), ("new_password", PASSWORD)];
    let r = me.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account?notice=password_changed");
    let r = me.post(app.url("/account/password")).form(&[("current_password", "x"), ("new_password", "y")]).send();
    assert_eq!(r.await.unwrap().status(), 403, "no CSRF token");
    let changed: Vec<Value> = app
        .audit_events()
        .await
        .into_iter()
        .filter(|(t, ..)| t == "password.changed")
        .map(|(.., d)| serde_json::from_str(&d).unwrap())
        .collect();
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0]["by"], "self");
    // register_user's browser, `other` and the "unchanged so far" sign-in.
    assert_eq!(changed[0]["sessions_ended"], 3);
}

async fn delete_account_removes_everything(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("admin@example.com", PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "admin@example.com"]).await;
    let admin = crate::admin::token(&app, "admin@example.com").await;
    let bob = app.register_user("bob@example.com", PASSWORD).await;
    let id = bob["id"].as_str().unwrap();
    let c = browser();
    assert_eq!(app.login_with(&c, "bob@example.com", PASSWORD).await.status(), 200);
    let delete = |password: Value| c.delete(app.url("/api/v1/account")).json(&json!({ "password": password })).send();

    let r = delete(json!("wrong password!")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(delete(Value::Null).await.unwrap().status(), 422);
    assert_eq!(app.me(&c).await.status(), 200, "still there");

    let r = delete(json!(PASSWORD)).await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().contains("Max-Age=0")));
    assert_eq!(app.me(&c).await.status(), 401);
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 401);
    let r = crate::admin::call(&app, Some(&admin), Method::GET, &format!("/admin/v1/users/{id}"), None).await;
    assert_eq!(r.status(), 404);
    let goodbye = app.mails_to("bob@example.com");
    assert!(goodbye.iter().any(|m| m.subject.to_lowercase().contains("deleted")), "{goodbye:?}");

    let deleted: Vec<_> = app.audit_events().await.into_iter().filter(|(t, ..)| t == "user.deleted").collect();
    assert_eq!(deleted.len(), 1);
    let details: Value = serde_json::from_str(&deleted[0].3).unwrap();
    assert_eq!(details, json!({ "by": "self" }));
    assert!(!deleted[0].3.contains("bob@"), "no personal data in the event");
    // The address is free again.
    assert_eq!(app.register("bob@example.com", PASSWORD).await.status(), 202);
}

async fn delete_account_page_and_last_admin(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("root@example.com", PASSWORD).await;
    crate::admin::cli_ok(&app, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let root = browser();
    assert_eq!(app.login_with(&root, "root@example.com", PASSWORD).await.status(), 200);
    let r = root.delete(app.url("/api/v1/account")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "last_admin");
    assert_eq!(app.me(&root).await.status(), 200);

    // The page: CSRF, the typed confirmation, then the password.
    app.register_user("carol@example.com", PASSWORD).await;
    let c = browser();
    assert_eq!(app.login_with(&c, "carol@example.com", PASSWORD).await.status(), 200);
    let page = c.get(app.url("/account/delete")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    let post = |form: Vec<(&'static str, String)>| c.post(app.url("/account/delete")).form(&form).send();
    let r = post(vec![("password", PASSWORD.into()), ("confirm", "DELETE".into())]).await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    let r = post(vec![("csrf_token", csrf.clone()), ("password", PASSWORD.into()), ("confirm", "yes".into())]).await;
    let r = r.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("type DELETE to confirm"));
    let r = post(vec![("csrf_token", csrf.clone()), ("password", "wrong!".into()), ("confirm", "DELETE".into())]);
    assert_eq!(r.await.unwrap().status(), 403);
    let r = post(vec![("csrf_token", csrf.clone()), ("password", PASSWORD.into()), ("confirm", "DELETE".into())]);
    let r = r.await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?notice=account_deleted");
    assert_eq!(app.me(&c).await.status(), 401);
    assert_eq!(app.login("carol@example.com", PASSWORD).await.status(), 401);
    // Signed out: the pages send you to sign in.
    let r = c.get(app.url("/account/delete")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}
