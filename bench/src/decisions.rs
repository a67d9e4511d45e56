//! Decision benchmarks (issue #5): one RBAC decision and one typical Cedar decision in-process
//! (`gatehouse_core::policy::evaluate`, RBAC facts given, no database), and the HTTP workload
//! `POST /access/v1/evaluation` against a seeded server (RBAC-decided and Cedar-decided
//! requests; each includes the RBAC store reads of a real decision), a batch of ten at
//! `POST /access/v1/evaluations`, and the baseline they are held to (issue #19): `GET /api/v1/me`
//! with a repeated bearer token, the floor plus a cached token check.
//!
//! `cargo run --release -p gatehouse-bench -- decisions [--connections 64] [--duration 5]`.

use std::hint::black_box;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use gatehouse_core::policy::{
    ActiveDocuments, Compiled, DecisionRequest, DocumentKind, PolicyVersion, SubjectFacts, SubjectKind, evaluate,
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::gatehouse::{self, Gatehouse, OAuthClient, Options};
use crate::load::{self, Limits, Req};
use crate::micro::{self, Rate};
use crate::workloads::{self, LoadResult, Step, Workload};

/// The example policies of docs/policies.md (a typical production set is a handful).
const POLICIES: [(&str, &str); 4] = [
    ("owner-only-edits", include_str!("../../docs/policies/owner-only-edits.cedar")),
    ("business-hours", include_str!("../../docs/policies/business-hours.cedar")),
    ("department-match", include_str!("../../docs/policies/department-match.cedar")),
    ("mfa-for-sensitive", include_str!("../../docs/policies/mfa-for-sensitive.cedar")),
];

#[derive(Debug, Clone, Serialize)]
pub struct DecisionMicro {
    /// Allowed by a role's permission, no policies stored (Cedar is not run).
    pub rbac_only: Rate,
    /// Allowed by a role's permission (the Cedar policies are evaluated too, none matches).
    pub rbac: Rate,
    /// Allowed by the department-match `permit`, with the four example policies loaded.
    pub cedar: Rate,
}

fn compiled() -> anyhow::Result<Compiled> {
    let policies = POLICIES
        .iter()
        .enumerate()
        .map(|(i, (name, body))| PolicyVersion {
            revision: i as i64 + 1,
            kind: DocumentKind::Policy,
            name: (*name).to_owned(),
            version: 1,
            body: Some((*body).to_owned()),
            author: "bench".into(),
            created_at: 0,
        })
        .collect();
    let c = Compiled::from_documents(&ActiveDocuments { revision: 4, schema: None, policies });
    if let Some(e) = &c.broken {
        bail!("the example policies do not compile: {e}");
    }
    Ok(c)
}

fn request(v: Value) -> anyhow::Result<DecisionRequest> {
    serde_json::from_value(v).context("decision request")
}

fn rbac_request(user: &str) -> Value {
    json!({ "subject": { "type": "user", "id": user }, "action": { "name": "read" },
            "resource": { "type": "document", "id": "d1" } })
}

/// No `mfa` property: for a Gatehouse account the server takes it from the account's token and
/// refuses the caller's word for it (400), and the department-match `permit` does not need it.
fn cedar_request(user: &str) -> Value {
    json!({ "subject": { "type": "user", "id": user, "properties": { "department": "sales" } },
            "action": { "name": "read" },
            "resource": { "type": "report", "id": "q3", "properties": { "department": "sales", "owner": "x" } },
            "context": { "ip_address": "203.0.113.9" } })
}

/// In-process decisions, timed like the other micro-benchmarks.
pub fn micro() -> anyhow::Result<DecisionMicro> {
    let c = compiled()?;
    let user = "0190a1b2-0000-7000-8000-000000000001";
    let facts = SubjectFacts { roles: vec![("reader".into(), vec!["document:read".into()])] };
    let (rbac, cedar) = (request(rbac_request(user))?, request(cedar_request(user))?);
    let now = 1_718_100_000;
    for (req, expect) in [(&rbac, "rbac"), (&cedar, "policy")] {
        let d = evaluate(&c, req, SubjectKind::User, &facts, now);
        if !d.allowed || d.basis() != expect {
            bail!("benchmark request decided {} by {}, expected an allow by {expect}", d.allowed, d.basis());
        }
    }
    let empty = Compiled::from_documents(&ActiveDocuments::default());
    let run = Duration::from_millis(300);
    let rbac_only = micro::measure(run, || {
        black_box(evaluate(&empty, black_box(&rbac), SubjectKind::User, &facts, now));
    });
    let rbac = micro::measure(run, || {
        black_box(evaluate(&c, black_box(&rbac), SubjectKind::User, &facts, now));
    });
    let cedar = micro::measure(run, || {
        black_box(evaluate(&c, black_box(&cedar), SubjectKind::User, &facts, now));
    });
    Ok(DecisionMicro { rbac_only, rbac, cedar })
}

/// Runs `gatehouse <args>` beside the server, with `stdin`; the parsed `--json` output.
async fn cli(g: &Gatehouse, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Value> {
    let mut cmd = g.command();
    cmd.args(args).env("GATEHOUSE_LOG", "error").stdin(Stdio::piped()).stdout(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().context("running gatehouse")?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!("gatehouse {args:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

/// A server seeded with a reader role, the example policies and an evaluator client; the two
/// decision workloads against it.
async fn workloads(g: &Gatehouse) -> anyhow::Result<Vec<Workload>> {
    let users = gatehouse::seed_users(g, 1).await?;
    let shown = cli(g, &["users", "show", &users[0].email, "--json"], None).await?;
    let user = shown["id"].as_str().context("user id")?.to_owned();
    for args in [
        &["roles", "create", "reader", "--json"][..],
        &["permissions", "create", "document:read", "--json"],
        &["permissions", "grant", "document:read", "--role", "reader", "--json"],
        &["roles", "grant", "reader", "--user", &users[0].email, "--json"],
    ] {
        cli(g, args, None).await?;
    }
    for (name, body) in POLICIES {
        cli(g, &["policies", "put", name, "--json"], Some(body)).await?;
    }
    let client = cli(
        g,
        &[
            "clients",
            "create",
            "--name",
            "pep",
            "--grant-type",
            "client_credentials",
            "--scope",
            "gatehouse:evaluate",
            "--json",
        ],
        None,
    )
    .await?;
    let client = OAuthClient {
        id: client["client_id"].as_str().context("client id")?.to_owned(),
        secret: client["client_secret"].as_str().context("client secret")?.to_owned(),
    };
    let mut c = g.client().await?;
    let resp = c
        .send(
            &Req::post_form("/oauth2/token", "grant_type=client_credentials")
                .header("authorization", &format!("Basic {}", base64_pair(&client.id, &client.secret))),
        )
        .await?;
    let token = resp.json().and_then(|j| j["access_token"].as_str().map(str::to_owned)).context("evaluator token")?;
    let bearer = format!("Bearer {token}");
    let on_server = |id: &str, title: &str, req: Req| Workload {
        id: id.into(),
        title: title.into(),
        server: format!("gatehouse {}", g.opts.alg),
        addr: g.addr,
        pid: g.pid(),
        factory: load::fixed(vec![req], 200),
    };
    // The baseline of the decision target: a route whose work is the floor plus verifying the
    // caller's repeated token from the verified-token cache (and one user read).
    let (user_token, _) = gatehouse::tokens(&mut c, &users[0]).await?;
    let me = Req::get("/api/v1/me").header("authorization", &format!("Bearer {user_token}"));
    let check = c.send(&me).await?;
    if check.status.as_u16() != 200 {
        bail!("GET /api/v1/me with a bearer answered {}", check.status);
    }
    let mut out = vec![on_server("decision.baseline", BASELINE_TITLE, me)];
    for (id, title, body) in [
        ("decision.rbac", "POST /access/v1/evaluation, allowed by RBAC", rbac_request(&user)),
        ("decision.cedar", "POST /access/v1/evaluation, allowed by a Cedar permit", cedar_request(&user)),
    ] {
        let req = Req::post_json("/access/v1/evaluation", &body).header("authorization", &bearer);
        let check = c.send(&req).await?;
        if check.json().map(|j| j["decision"] == json!(true)) != Some(true) {
            bail!("{title}: answered {} {}", check.status, String::from_utf8_lossy(&check.body));
        }
        out.push(on_server(id, title, req));
    }
    let req = Req::post_json("/access/v1/evaluations", &batch_request(&user)).header("authorization", &bearer);
    let check = c.send(&req).await?.json().unwrap_or_default();
    let allowed = check["evaluations"].as_array().map(|v| v.iter().filter(|e| e["decision"] == json!(true)).count());
    if allowed != Some(BATCH) {
        bail!("POST /access/v1/evaluations: expected {BATCH} allowed decisions, answered {check}");
    }
    out.push(on_server("decision.batch10", BATCH_TITLE, req));
    Ok(out)
}

/// Evaluations in the batched workload.
pub const BATCH: usize = 10;
const BATCH_TITLE: &str = "POST /access/v1/evaluations, 10 evaluations allowed by RBAC";
const BASELINE_TITLE: &str = "GET /api/v1/me with a repeated ES256 bearer (decision baseline)";

/// AuthZEN §7.1: one subject and action as defaults, ten documents, each allowed by the role.
fn batch_request(user: &str) -> Value {
    let items: Vec<Value> =
        (0..BATCH).map(|i| json!({ "resource": { "type": "document", "id": format!("d{i}") } })).collect();
    json!({ "subject": { "type": "user", "id": user }, "action": { "name": "read" }, "evaluations": items })
}

fn base64_pair(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// The HTTP decision workloads on a server of their own, at each connection count (for `all`):
/// the baseline, one evaluation by RBAC, one by Cedar and a batch of ten, alternated in `turns`.
pub async fn http(
    bin: &Path,
    connections: &[usize],
    limits: Limits,
    turns: usize,
    ticks: u64,
) -> anyhow::Result<Vec<LoadResult>> {
    let g = Gatehouse::start(bin, Options::new("decisions", "ES256")).await?;
    let steps = vec![Step::Alternate(workloads(&g).await?)];
    let mut out = Vec::new();
    for &conns in connections {
        eprintln!("HTTP decisions at {conns} connections");
        out.extend(workloads::run(&steps, conns, limits, turns, ticks).await?);
    }
    g.stop().await;
    Ok(out)
}

/// The micro-benchmarks, then the HTTP workloads at `conns` connections; prints both.
pub async fn run(
    bin: &Path,
    conns: usize,
    limits: Limits,
    ticks: u64,
) -> anyhow::Result<(DecisionMicro, Vec<LoadResult>)> {
    eprintln!("in-process decisions");
    let m = micro()?;
    eprintln!("  RBAC decision, no policies {:>8.2} µs ({:.0}/s)", m.rbac_only.us_per_op, m.rbac_only.ops_per_s);
    eprintln!("  RBAC decision  {:>8.2} µs ({:.0}/s)", m.rbac.us_per_op, m.rbac.ops_per_s);
    eprintln!("  Cedar decision {:>8.2} µs ({:.0}/s)", m.cedar.us_per_op, m.cedar.ops_per_s);
    Ok((m, http(bin, &[conns], limits, 2, ticks).await?))
}
