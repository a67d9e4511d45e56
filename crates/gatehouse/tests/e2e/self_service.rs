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
    a_new_password_cancels_a_pending_change_of_address,
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
        me.post(app.url("/api/v1/account/password")).header("x-gatehouse-csrf", "1").json(&body).send()
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
    let delete = |password: Value| {
        c.delete(app.url("/api/v1/account"))
            .header("x-gatehouse-csrf", "1")
            .json(&json!({ "password": password }))
            .send()
    };

    // A cookie-authenticated change needs the CSRF header, like every account API call.
    let r = c.delete(app.url("/api/v1/account")).json(&json!({ "password": PASSWORD })).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_header_missing");
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
    // The verification link of the registration, then the goodbye.
    app.wait_for_mail("bob@example.com", 2).await;
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
    let r =
        root.delete(app.url("/api/v1/account")).header("x-gatehouse-csrf", "1").json(&json!({ "password": PASSWORD }));
    let r = r.send().await.unwrap();
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

/// Review finding (issue #14): an intruder who knew the password asks to move the account to
/// their address; the owner, warned by mail, changes the password (or resets it). The pending
/// change of address must die with the old password, or the intruder confirms it later and
/// takes the account over through "Forgot password?".
async fn a_new_password_cancels_a_pending_change_of_address(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register_user("owner@example.com", PASSWORD).await;
    let intruder = browser();
    assert_eq!(app.login_with(&intruder, "owner@example.com", PASSWORD).await.status(), 200);
    let move_to = |to: &'static str, password: &'static str| {
        let body = json!({ "new_email": to, "password": password });
        intruder.post(app.url("/api/v1/account/email")).header("x-gatehouse-csrf", "1").json(&body).send()
    };
    let confirm =
        |token: String| app.client.post(app.url("/api/v1/auth/verify-email")).json(&json!({ "token": token })).send();

    // 1. The owner changes the password.
    assert_eq!(move_to("intruder@example.com", PASSWORD).await.unwrap().status(), 202);
    let link = app.wait_for_mail("intruder@example.com", 1).await.token().unwrap();
    let owner = browser();
    assert_eq!(app.login_with(&owner, "owner@example.com", PASSWORD).await.status(), 200);
    let body = json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" });
    let r = owner.post(app.url("/api/v1/account/password")).header("x-gatehouse-csrf", "1").json(&body).send();
    assert_eq!(r.await.unwrap().status(), 204);
    let r = confirm(link).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_link");

    // 2. The owner resets the password through the mail.
    let intruder_again = browser();
    assert_eq!(app.login_with(&intruder_again, "owner@example.com", "a brand new passphrase").await.status(), 200);
    let body = json!({ "new_email": "intruder2@example.com", "password": "a brand new passphrase" });
    let r = intruder_again.post(app.url("/api/v1/account/email")).header("x-gatehouse-csrf", "1").json(&body).send();
    assert_eq!(r.await.unwrap().status(), 202);
    let link = app.wait_for_mail("intruder2@example.com", 1).await.token().unwrap();
    let r = app.client.post(app.url("/api/v1/auth/password/forgot")).json(&json!({ "email": "owner@example.com" }));
    assert_eq!(r.send().await.unwrap().status(), 202);
    let mut reset = None;
    for _ in 0..300 {
        let mails = app.mails_to("owner@example.com");
        reset = mails.iter().find(|m| m.subject.starts_with("Reset your")).and_then(|m| m.token());
        if reset.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reset = reset.expect("a reset mail");
    let body = json!({ "token": reset, "password": "the owner's third passphrase" });
    let r = app.client.post(app.url("/api/v1/auth/password/reset")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(confirm(link).await.unwrap().status(), 400);
    let b = browser();
    assert_eq!(app.login_with(&b, "owner@example.com", "the owner's third passphrase").await.status(), 200);
    assert_eq!(app.me(&b).await.json::<Value>().await.unwrap()["email"], "owner@example.com");
}
