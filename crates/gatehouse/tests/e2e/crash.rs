//! Crash safety on one node (issue #18), SQLite only: the point is SQLite WAL durability.
//!
//! The real `gatehouse serve` binary runs as a child process on a scratch data directory and a
//! fixed loopback port. Each cycle puts a short mixed load on it from several tasks —
//! registrations (`/api/v1/auth/register`), password logins (`/api/v1/auth/login`), first-party
//! token logins (`/api/v1/auth/token` with `token_delivery: body`) and refresh rotations
//! (`/api/v1/auth/refresh`) — records every acknowledged (2xx) result, and SIGKILLs the server at
//! a random moment (200–800 ms into the load). The server is restarted on the same directory and,
//! once `/readyz` answers, these are checked on its database and over HTTP:
//!
//! - `PRAGMA integrity_check` is `ok`;
//! - every acknowledged registration is in `users`, with its `user.registered` audit event;
//! - every acknowledged session (the cookie of a 200 login) is in `sessions`;
//! - every refresh token acknowledged since the last restart, and a sample of 64 older ones, is
//!   in `refresh_tokens`; the newest token of a chain whose rotation was in flight at the kill
//!   either still rotates over HTTP or was legitimately consumed (used, with exactly one unused
//!   successor); the newest token of 64 other chains (a sample) is unused and still rotates;
//! - no refresh family holds two unused tokens;
//! - no authorization code row was redeemed twice (`used_at` set on a code whose grant has more
//!   than one refresh family). No OAuth code flow runs in the load, so this only checks the
//!   table stays consistent;
//! - an acknowledged user can still log in (one per cycle: Argon2 is slow).
//!
//! `GATEHOUSE_CRASH_CYCLES` sets the number of kill/restart cycles (default 50);
//! `GATEHOUSE_CRASH_SEED` replays a run (the seed is printed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::helpers::PASSWORD;

/// How many older refresh tokens, and untroubled chains, each check samples.
const SAMPLE: usize = 64;

/// A small xorshift generator: the test needs no cryptographic randomness, only a replayable one.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A refresh-token chain: one token login, then its rotations.
#[derive(Debug, Clone)]
struct Chain {
    latest: String,
    /// A rotation of `latest` was sent and not acknowledged (the kill came first).
    in_doubt: bool,
}

/// Everything the server acknowledged.
#[derive(Default)]
struct Ledger {
    /// (email, user id)
    users: Vec<(String, String)>,
    sessions: Vec<String>,
    /// Every refresh token ever acknowledged.
    refresh_tokens: Vec<String>,
    /// `refresh_tokens[..verified]` were found after an earlier restart: later checks sample them.
    verified: usize,
    /// Chains no task is rotating right now.
    chains: Vec<Chain>,
    /// Unexpected answers (a 4xx/5xx where 2xx was due), reported at the end of the cycle.
    anomalies: Vec<String>,
}

struct Server {
    child: tokio::process::Child,
    base: String,
}

fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gatehouse-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // Every request comes from 127.0.0.1: the rate limits are set out of reach.
    let roomy = "{ requests = 1000000, period = 60 }";
    std::fs::write(
        d.join("gatehouse.toml"),
        format!(
            "[password]\npool_size = 2\nqueue_size = 1024\n[rate_limits]\nlogin_ip = {roomy}\nlogin_account = {roomy}\n\
             register_ip = {roomy}\nrefresh_ip = {roomy}\n"
        ),
    )
    .unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(dir: &Path, port: u16) -> Server {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return Server { child, base };
        }
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("gatehouse exited during start-up ({status}):\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gatehouse not ready after 12 s");
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let v = c.strip_prefix("gatehouse_session=")?;
        Some(v.split(';').next()?.to_owned())
    })
}

/// One task of the load: random operations until the server goes away.
async fn load(base: String, ledger: Arc<Mutex<Ledger>>, mut rng: Rng, tag: String) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for n in 0.. {
        let op = rng.below(10);
        let known_user = {
            let l = ledger.lock().unwrap();
            (!l.users.is_empty()).then(|| l.users[rng.below(l.users.len() as u64) as usize].0.clone())
        };
        let result = match (op, known_user) {
            (0..=1, _) | (_, None) => {
                let email = format!("{tag}-{n}@example.com");
                let r = client
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                match r {
                    // 202 is the acknowledgement (the body is the same for a taken address,
                    // and none is taken here).
                    Ok(r) if r.status() == 202 => match r.bytes().await {
                        Ok(_) => {
                            ledger.lock().unwrap().users.push((email, String::new()));
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    Ok(r) => {
                        ledger.lock().unwrap().anomalies.push(format!("register: {}", r.status()));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            (2..=3, Some(email)) => {
                let r = client
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                match r {
                    // The cookie is in the headers: the 200 is acknowledged once they arrived.
                    Ok(r) if r.status() == 200 => {
                        let cookie = session_cookie(&r).expect("a login sets the session cookie");
                        ledger.lock().unwrap().sessions.push(cookie);
                        Ok(())
                    }
                    Ok(r) => {
                        ledger.lock().unwrap().anomalies.push(format!("login: {}", r.status()));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            (4..=5, Some(email)) => {
                let r = client
                    .post(format!("{base}/api/v1/auth/token"))
                    .json(&json!({ "email": email, "password": PASSWORD, "token_delivery": "body" }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(v) => {
                            let token = v["refresh_token"].as_str().unwrap().to_owned();
                            let mut l = ledger.lock().unwrap();
                            l.refresh_tokens.push(token.clone());
                            l.chains.push(Chain { latest: token, in_doubt: false });
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    Ok(r) => {
                        ledger.lock().unwrap().anomalies.push(format!("token: {}", r.status()));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                // Take a chain out, so that no other task rotates it at the same time.
                let chain = {
                    let mut l = ledger.lock().unwrap();
                    let ready: Vec<usize> = (0..l.chains.len()).filter(|i| !l.chains[*i].in_doubt).collect();
                    (!ready.is_empty()).then(|| l.chains.swap_remove(ready[rng.below(ready.len() as u64) as usize]))
                };
                let Some(mut chain) = chain else { continue };
                match rotate(&client, &base, &chain.latest).await {
                    Ok(Some(next)) => {
                        let mut l = ledger.lock().unwrap();
                        l.refresh_tokens.push(next.clone());
                        chain.latest = next;
                        l.chains.push(chain);
                        Ok(())
                    }
                    Ok(None) => {
                        let mut l = ledger.lock().unwrap();
                        l.anomalies.push("refresh of an unused, acknowledged token refused".into());
                        l.chains.push(chain);
                        Ok(())
                    }
                    Err(e) => {
                        chain.in_doubt = true;
                        ledger.lock().unwrap().chains.push(chain);
                        Err(e)
                    }
                }
            }
        };
        if result.is_err() {
            return; // the server is gone
        }
    }
}

/// `Ok(Some(next))` on 200, `Ok(None)` on a refusal, `Err` when no answer arrived.
async fn rotate(client: &reqwest::Client, base: &str, token: &str) -> Result<Option<String>, reqwest::Error> {
    let r = client.post(format!("{base}/api/v1/auth/refresh")).json(&json!({ "refresh_token": token })).send().await?;
    if r.status() != 200 {
        return Ok(None);
    }
    let v: Value = r.json().await?;
    Ok(v["refresh_token"].as_str().map(str::to_owned))
}

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

async fn count(db: &mut sqlx::SqliteConnection, sql: &str, arg: Vec<u8>) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(arg).fetch_one(db).await.unwrap()
}

/// The checks of the module doc, after a restart. Returns the violations found.
async fn check(server: &Server, db_url: &str, ledger: &mut Ledger, rng: &mut Rng) -> Vec<String> {
    let mut bad = Vec::new();
    let mut db = sqlx::SqliteConnection::connect(db_url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut db).await.unwrap();
    if integrity != "ok" {
        bad.push(format!("integrity_check: {integrity}"));
    }
    for (email, _) in &ledger.users {
        let id: Option<Vec<u8>> = sqlx::query_scalar("SELECT id FROM users WHERE email_key = $1")
            .bind(email)
            .fetch_optional(&mut db)
            .await
            .unwrap();
        let Some(id) = id else {
            bad.push(format!("acknowledged registration lost: {email}"));
            continue;
        };
        let id = uuid::Uuid::from_slice(&id).unwrap().to_string();
        let audit = "SELECT count(*) FROM audit_events WHERE event_type = 'user.registered' AND subject = $1";
        let n: i64 = sqlx::query_scalar(audit).bind(&id).fetch_one(&mut db).await.unwrap();
        if n != 1 {
            bad.push(format!("user.registered audit event lost: {email}"));
        }
    }
    for s in &ledger.sessions {
        if count(&mut db, "SELECT count(*) FROM sessions WHERE token_hash = $1", sha256(s)).await != 1 {
            bad.push("acknowledged session lost".into());
        }
    }
    // Tokens acknowledged since the last check, all of them, and a sample of the older ones (so
    // that the checks stay linear in the number of cycles).
    let older: Vec<usize> = match ledger.verified {
        0 => Vec::new(),
        n => (0..SAMPLE).map(|_| rng.below(n as u64) as usize).collect(),
    };
    for t in older.into_iter().map(|i| &ledger.refresh_tokens[i]).chain(&ledger.refresh_tokens[ledger.verified..]) {
        if count(&mut db, "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", sha256(t)).await != 1 {
            bad.push("acknowledged refresh token lost".into());
        }
    }
    let doubled: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT family_id FROM refresh_tokens WHERE used_at IS NULL GROUP BY family_id HAVING count(*) > 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    if !doubled.is_empty() {
        bad.push(format!("{} refresh families with two unused tokens", doubled.len()));
    }
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM authorization_codes c WHERE c.used_at IS NOT NULL AND \
         (SELECT count(*) FROM refresh_families f WHERE f.id = c.grant_id) > 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    if twice != 0 {
        bad.push(format!("{twice} authorization codes redeemed twice"));
    }

    // The newest token of every chain still rotates; one whose rotation was cut off may instead
    // have been consumed, by exactly that rotation.
    let client = reqwest::Client::new();
    let mut kept = Vec::new();
    let mut chains = std::mem::take(&mut ledger.chains);
    // Chains cut off by the kill, and a sample of the others, are tried.
    chains.sort_by_key(|c| !c.in_doubt);
    let doubtful = chains.iter().filter(|c| c.in_doubt).count();
    for i in doubtful..chains.len() {
        let j = i + rng.below((chains.len() - i) as u64) as usize;
        chains.swap(i, j);
    }
    let untried = chains.split_off(chains.len().min(doubtful + SAMPLE));
    kept.extend(untried);
    for mut chain in chains {
        let hash = sha256(&chain.latest);
        let used = count(
            &mut db,
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
                &mut db,
                "SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND family_id = \
                 (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
                hash,
            )
            .await;
            if successors != 1 {
                bad.push(format!("a consumed refresh token has {successors} unused successors"));
            }
            continue; // legitimately consumed; the successor was never acknowledged
        }
        match rotate(&client, &server.base, &chain.latest).await {
            Ok(Some(next)) => {
                ledger.refresh_tokens.push(next.clone());
                chain = Chain { latest: next, in_doubt: false };
                kept.push(chain);
            }
            other => bad.push(format!("an unused acknowledged refresh token does not rotate: {other:?}")),
        }
    }
    ledger.chains = kept;
    ledger.verified = ledger.refresh_tokens.len();

    // One acknowledged user logs in (Argon2 is slow: one per cycle).
    if !ledger.users.is_empty() {
        let (email, _) = &ledger.users[rng.below(ledger.users.len() as u64) as usize];
        let r = client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            bad.push(format!("acknowledged user {email} cannot log in: {}", r.status()));
        }
    }
    db.close().await.unwrap();
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill_under_load() {
    let cycles: u32 = std::env::var("GATEHOUSE_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed: u64 = std::env::var("GATEHOUSE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash test: {cycles} cycles, GATEHOUSE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = scratch_dir();
    let db_url = format!("sqlite://{}", dir.join("gatehouse-data/gatehouse.db").display());
    let port = free_port();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = start(&dir, port).await;
    let mut violations = Vec::new();
    for cycle in 0..cycles {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let task_rng = Rng(rng.next() | 1);
                tokio::spawn(load(server.base.clone(), ledger.clone(), task_rng, format!("c{cycle}t{t}")))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200 + rng.below(600))).await;
        server.child.start_kill().unwrap(); // SIGKILL
        let status = server.child.wait().await.unwrap();
        assert!(!status.success(), "the server was killed, not stopped: {status}");
        for t in tasks {
            t.await.unwrap();
        }
        server = start(&dir, port).await;
        let mut l = std::mem::take(&mut *ledger.lock().unwrap());
        violations.extend(l.anomalies.drain(..).map(|a| format!("cycle {cycle}: unexpected answer: {a}")));
        let found = check(&server, &db_url, &mut l, &mut rng).await;
        violations.extend(found.into_iter().map(|v| format!("cycle {cycle}: {v}")));
        *ledger.lock().unwrap() = l;
        assert!(violations.is_empty(), "seed {seed}:\n{}", violations.join("\n"));
    }
    let (users, sessions, tokens) = {
        let l = ledger.lock().unwrap();
        (l.users.len(), l.sessions.len(), l.refresh_tokens.len())
    };
    eprintln!(
        "crash test: {users} users, {sessions} sessions, {tokens} refresh tokens acknowledged across {cycles} kills"
    );
    // The load must have done something, or the checks above checked nothing.
    assert!(users > 0 && sessions > 0 && tokens > 0, "the load acknowledged too little");
    server.child.start_kill().unwrap();
    let _ = server.child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
}
