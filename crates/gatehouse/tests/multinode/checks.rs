//! The invariants checked after a node or the database went away under load, through the
//! balancer and on the database:
//!
//! - every acknowledged session still works (`/api/v1/me` answers 200 with its cookie);
//! - every acknowledged refresh token is stored; the newest token of every chain still rotates,
//!   except one whose rotation was cut off, which may instead have been consumed by exactly that
//!   rotation (then its family holds exactly one unused successor);
//! - no refresh family holds two unused tokens;
//! - no authorization code is redeemed twice: every acknowledged code, presented again, gets
//!   `invalid_grant`; a code whose redemption was cut off is redeemed at most once more; and no
//!   code row has more than one grant on the database;
//! - the audit trail has a `login.succeeded` event for every acknowledged sign-in.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cluster::Cluster;
use crate::load::{Chain, Ledger, REDIRECT, Redemption, Setup};

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

async fn count(db: &mut sqlx::PgConnection, sql: &str, arg: Vec<u8>) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(arg).fetch_one(db).await.unwrap()
}

/// Runs every check; returns the violations (empty: all held) and prints what was checked.
pub async fn invariants(cluster: &Cluster, setup: &Setup, ledger: &mut Ledger) -> Vec<String> {
    let mut bad = Vec::new();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut db = cluster.db().await;

    for (email, cookie) in &ledger.sessions {
        let r = http.get(setup.url("/api/v1/me")).header("cookie", cookie).send().await.unwrap();
        if r.status() != 200 {
            bad.push(format!("acknowledged session of {email} refused: {}", r.status()));
        }
    }

    for t in &ledger.refresh_tokens {
        if count(&mut db, "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", sha256(t)).await != 1 {
            bad.push("acknowledged refresh token not stored".into());
        }
    }
    let (rotated, consumed) = check_chains(&http, setup, &mut db, &mut ledger.chains, &mut bad).await;
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT family_id FROM refresh_tokens WHERE used_at IS NULL \
         GROUP BY family_id HAVING count(*) > 1) d",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    if doubled != 0 {
        bad.push(format!("{doubled} refresh families with two unused tokens"));
    }

    let (replayed, late) = check_codes(&http, setup, &ledger.codes, &mut bad).await;
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM authorization_codes c WHERE c.used_at IS NOT NULL AND \
         (SELECT count(*) FROM refresh_families f WHERE f.id = c.grant_id) > 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    if twice != 0 {
        bad.push(format!("{twice} authorization codes redeemed twice (database)"));
    }

    let mut audited = 0;
    for (email, acknowledged) in &ledger.sign_ins {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE event_type = 'login.succeeded' AND outcome = 'success' \
             AND subject = (SELECT id::text FROM users WHERE email_key = $1)",
        )
        .bind(email)
        .fetch_one(&mut db)
        .await
        .unwrap();
        audited += n;
        if (n as usize) < *acknowledged {
            bad.push(format!("{email}: {acknowledged} sign-ins acknowledged, {n} login.succeeded audit events"));
        }
    }
    eprintln!(
        "checked: {} sessions work; {} refresh tokens stored; {rotated} chains rotate, {consumed} consumed by a \
         cut-off rotation; 0 families with two unused tokens: {}; {replayed} acknowledged codes refused on replay, \
         {late} cut-off codes redeemed at most once; {} acknowledged sign-ins, {audited} login.succeeded events",
        ledger.sessions.len(),
        ledger.refresh_tokens.len(),
        doubled == 0,
        ledger.sign_ins.values().sum::<usize>(),
    );
    bad
}

/// `/api/v1/auth/refresh`: `Some(next)` on 200.
async fn rotate(http: &reqwest::Client, setup: &Setup, token: &str) -> Result<Option<String>, String> {
    let r = http
        .post(setup.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("{}", r.status()));
    }
    Ok(r.json::<Value>().await.map_err(|e| e.to_string())?["refresh_token"].as_str().map(str::to_owned))
}

/// Returns (chains rotated, chains legitimately consumed).
async fn check_chains(
    http: &reqwest::Client,
    setup: &Setup,
    db: &mut sqlx::PgConnection,
    chains: &mut [Chain],
    bad: &mut Vec<String>,
) -> (usize, usize) {
    let (mut rotated, mut consumed) = (0, 0);
    for chain in chains.iter_mut() {
        let hash = sha256(&chain.latest);
        let used = count(
            db,
            "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL",
            hash.clone(),
        )
        .await;
        if used == 1 {
            if !chain.in_doubt {
                bad.push("an acknowledged refresh token was used, but no rotation of it was sent".into());
                continue;
            }
            let successors = count(
                db,
                "SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND family_id = \
                 (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
                hash,
            )
            .await;
            if successors != 1 {
                bad.push(format!("a consumed refresh token has {successors} unused successors"));
            }
            consumed += 1;
            continue;
        }
        match rotate(http, setup, &chain.latest).await {
            Ok(Some(next)) => {
                *chain = Chain { latest: next, in_doubt: false };
                rotated += 1;
            }
            other => bad.push(format!("an unused acknowledged refresh token does not rotate: {other:?}")),
        }
    }
    (rotated, consumed)
}

async fn redeem(http: &reqwest::Client, setup: &Setup, code: &str, verifier: &str) -> (u16, Value) {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    let r = http
        .post(setup.url("/oauth2/token"))
        .basic_auth(&setup.client_id, Some(&setup.client_secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn is_invalid_grant(status: u16, body: &Value) -> bool {
    status == 400 && body["error"] == "invalid_grant"
}

/// Returns (acknowledged codes refused on replay, cut-off codes checked).
async fn check_codes(
    http: &reqwest::Client,
    setup: &Setup,
    codes: &[crate::load::Code],
    bad: &mut Vec<String>,
) -> (usize, usize) {
    let (mut replayed, mut late) = (0, 0);
    for c in codes {
        if c.redemption == Redemption::InDoubt {
            // Redeemed before the answer was lost, or not at all: at most one more success.
            let (status, body) = redeem(http, setup, &c.code, &c.verifier).await;
            if status != 200 && !is_invalid_grant(status, &body) {
                bad.push(format!("a cut-off code answered {status} {body}"));
            }
            late += 1;
        } else {
            replayed += 1;
        }
        let (status, body) = redeem(http, setup, &c.code, &c.verifier).await;
        if !is_invalid_grant(status, &body) {
            bad.push(format!("an authorization code was redeemed twice: {status} {body}"));
        }
    }
    (replayed, late)
}
