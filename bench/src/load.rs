//! The load generator: N keep-alive HTTP/1.1 connections (hyper's low-level client, no pool),
//! each sending its next request as soon as the previous answer is read, for a warm-up and then a
//! fixed measured window (or until a request count is reached). The server's CPU time and memory
//! are read from `/proc` at the edges of the measured window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::proc;
use crate::stats::Histogram;

/// One HTTP request, cheap to clone and send again.
#[derive(Clone)]
pub struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path, Bytes::new())
    }

    pub fn post_json(path: &str, body: &serde_json::Value) -> Self {
        Self::new(Method::POST, path, Bytes::from(body.to_string())).header(CONTENT_TYPE.as_str(), "application/json")
    }

    pub fn post_form(path: &str, body: &str) -> Self {
        Self::new(Method::POST, path, Bytes::from(body.to_owned()))
            .header(CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
    }

    fn new(method: Method, path: &str, body: Bytes) -> Self {
        let uri = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        Self { method, uri, headers: HeaderMap::new(), body }
    }

    /// Adds a header; an invalid name or value is dropped (all of ours are static ASCII).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }

    fn build(&self, host: &HeaderValue) -> Request<Full<Bytes>> {
        let mut r = Request::new(Full::new(self.body.clone()));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r.headers_mut().insert(HOST, host.clone());
        r
    }
}

/// An answer as a scenario sees it.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `name=value` of the first `Set-Cookie` whose cookie is called `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers.get_all(hyper::header::SET_COOKIE).iter().find_map(|v| {
            let pair = v.to_str().ok()?.split(';').next()?.trim();
            let (n, val) = pair.split_once('=')?;
            (n == name && !val.is_empty()).then(|| pair.to_owned())
        })
    }
}

/// What one connection sends, and whether an answer counts as a success. A scenario may keep
/// state between requests (a refresh-token chain).
pub trait Scenario: Send + 'static {
    fn request(&mut self) -> Req;
    fn response(&mut self, resp: &Resp) -> bool;
    /// `true` once the scenario has nothing left to send (pre-minted authorization codes used
    /// up): its connection stops, and the window ends early when every connection has stopped.
    fn done(&self) -> bool {
        false
    }
}

/// Something read at both edges of the measured window besides the server process, e.g. the
/// CPU time of PostgreSQL's backends (`crate::pg::CpuWatch`).
pub trait Edges: Sync {
    fn at_start(&self);
    fn at_end(&self);
}

/// Makes the scenario of connection `i`.
pub type Factory = Arc<dyn Fn(usize) -> Box<dyn Scenario> + Send + Sync>;

/// The same request again and again; connection `i` sends `reqs[i % len]`.
struct Fixed {
    req: Req,
    expect: StatusCode,
}

impl Scenario for Fixed {
    fn request(&mut self) -> Req {
        self.req.clone()
    }
    fn response(&mut self, resp: &Resp) -> bool {
        resp.status == self.expect
    }
}

pub fn fixed(reqs: Vec<Req>, expect: u16) -> Factory {
    let expect = StatusCode::from_u16(expect).unwrap_or(StatusCode::OK);
    Arc::new(move |i| {
        let req = reqs[i % reqs.len().max(1)].clone();
        Box::new(Fixed { req, expect }) as Box<dyn Scenario>
    })
}

/// Connection `i` of `n` sends `reqs[i]`, `reqs[i + n]`, `reqs[i + 2n]` … round and round: every
/// request differs from the last ones sent (distinct tokens, no cache can help).
struct Cycle {
    reqs: Arc<Vec<Req>>,
    next: usize,
    step: usize,
    expect: StatusCode,
}

impl Scenario for Cycle {
    fn request(&mut self) -> Req {
        let len = self.reqs.len().max(1);
        let req = self.reqs.get(self.next % len).cloned().unwrap_or_else(|| Req::get("/"));
        self.next = (self.next + self.step) % len;
        req
    }
    fn response(&mut self, resp: &Resp) -> bool {
        resp.status == self.expect
    }
}

pub fn cycle(reqs: Vec<Req>, connections: usize, expect: u16) -> Factory {
    let expect = StatusCode::from_u16(expect).unwrap_or(StatusCode::OK);
    let reqs = Arc::new(reqs);
    Arc::new(move |i| {
        Box::new(Cycle { reqs: reqs.clone(), next: i, step: connections.max(1), expect }) as Box<dyn Scenario>
    })
}

/// A single connection for setup requests (seeding users, minting tokens).
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let host = HeaderValue::try_from(addr.to_string())?;
        Ok(Self { sender, host })
    }

    pub async fn send(&mut self, req: &Req) -> anyhow::Result<Resp> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req.build(&self.host)).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Resp { status: parts.status, headers: parts.headers, body })
    }
}

#[derive(Clone, Copy)]
pub struct Limits {
    pub warmup: Duration,
    pub duration: Duration,
    /// The measured window ends early once this many requests completed.
    pub max_requests: u64,
}

/// What one run measured.
#[derive(Clone, Default)]
pub struct Measurement {
    pub connections: usize,
    pub elapsed: Duration,
    pub ok: u64,
    pub errors: u64,
    pub latency: Histogram,
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    pub server_end: proc::Sample,
    pub first_error: Option<String>,
}

impl Measurement {
    pub fn merge(&mut self, other: &Measurement) {
        self.connections = other.connections;
        self.elapsed += other.elapsed;
        self.ok += other.ok;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
        self.server_cpu_s += other.server_cpu_s;
        self.client_cpu_s += other.client_cpu_s;
        self.server_end.rss_kib = self.server_end.rss_kib.max(other.server_end.rss_kib);
        self.server_end.hwm_kib = self.server_end.hwm_kib.max(other.server_end.hwm_kib);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

struct Shared {
    phase: AtomicU8,
    completed: AtomicU64,
    /// Connections whose scenario still has requests to send.
    live: AtomicUsize,
}

struct ConnResult {
    ok: u64,
    errors: u64,
    latency: Histogram,
    first_error: Option<String>,
}

/// Drives `connections` connections to `addr` with `factory`'s scenarios; `server_pid`'s CPU
/// time is read at the start and end of the measured window.
pub async fn run(
    addr: SocketAddr,
    server_pid: u32,
    connections: usize,
    factory: &Factory,
    limits: Limits,
    ticks_per_s: u64,
) -> anyhow::Result<Measurement> {
    run_with(addr, server_pid, connections, factory, limits, ticks_per_s, None).await
}

/// [`run`], with `edges` read at the start and the end of the measured window too.
pub async fn run_with(
    addr: SocketAddr,
    server_pid: u32,
    connections: usize,
    factory: &Factory,
    limits: Limits,
    ticks_per_s: u64,
    edges: Option<&dyn Edges>,
) -> anyhow::Result<Measurement> {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARMUP),
        completed: AtomicU64::new(0),
        live: AtomicUsize::new(connections),
    });
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let scenario = factory(i);
        tasks.push(tokio::spawn(connection(addr, scenario, shared.clone())));
    }
    tokio::time::sleep(limits.warmup).await;
    if let Some(e) = edges {
        e.at_start();
    }
    let (server0, client0) = (proc::sample(Some(server_pid))?, proc::sample(None)?);
    let started = Instant::now();
    shared.phase.store(MEASURE, Ordering::SeqCst);
    while started.elapsed() < limits.duration
        && shared.completed.load(Ordering::Relaxed) < limits.max_requests
        && shared.live.load(Ordering::Relaxed) > 0
    {
        tokio::time::sleep(Duration::from_millis(20).min(limits.duration)).await;
    }
    shared.phase.store(STOP, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let (server1, client1) = (proc::sample(Some(server_pid))?, proc::sample(None)?);
    if let Some(e) = edges {
        e.at_end();
    }
    let mut m = Measurement {
        connections,
        elapsed,
        server_cpu_s: server1.cpu_ticks.saturating_sub(server0.cpu_ticks) as f64 / ticks_per_s as f64,
        client_cpu_s: client1.cpu_ticks.saturating_sub(client0.cpu_ticks) as f64 / ticks_per_s as f64,
        server_end: server1,
        ..Measurement::default()
    };
    for t in tasks {
        let r = t.await.context("a load connection panicked")?;
        m.ok += r.ok;
        m.errors += r.errors;
        m.latency.merge(&r.latency);
        if m.first_error.is_none() {
            m.first_error = r.first_error;
        }
    }
    Ok(m)
}

async fn connection(addr: SocketAddr, mut scenario: Box<dyn Scenario>, shared: Arc<Shared>) -> ConnResult {
    let mut r = ConnResult { ok: 0, errors: 0, latency: Histogram::default(), first_error: None };
    let mut client: Option<Client> = None;
    loop {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == STOP || scenario.done() {
            shared.live.fetch_sub(1, Ordering::SeqCst);
            return r;
        }
        let c = match client.as_mut() {
            Some(c) => c,
            None => match Client::connect(addr).await {
                Ok(c) => client.insert(c),
                Err(e) => {
                    note_error(&mut r, phase, format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = scenario.request();
        let t0 = Instant::now();
        let outcome = c.send(&req).await;
        let dt = t0.elapsed();
        // Only requests that complete inside the measured window count.
        let measuring = shared.phase.load(Ordering::Relaxed) == MEASURE;
        match outcome {
            Ok(resp) => {
                let good = scenario.response(&resp);
                if measuring {
                    r.latency.record(dt);
                    shared.completed.fetch_add(1, Ordering::Relaxed);
                    if good {
                        r.ok += 1;
                    }
                }
                if !good {
                    let body = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned();
                    note_error(&mut r, if measuring { MEASURE } else { WARMUP }, format!("{} {body}", resp.status));
                }
            }
            Err(e) => {
                client = None;
                note_error(&mut r, if measuring { MEASURE } else { WARMUP }, format!("request: {e}"));
            }
        }
    }
}

fn note_error(r: &mut ConnResult, phase: u8, what: String) {
    if phase == MEASURE {
        r.errors += 1;
    }
    if r.first_error.is_none() {
        r.first_error = Some(what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(hyper::header::SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        headers.append(hyper::header::SET_COOKIE, HeaderValue::from_static("gatehouse_session=abc; HttpOnly; Path=/"));
        headers.append(hyper::header::SET_COOKIE, HeaderValue::from_static("empty=; Max-Age=0"));
        let resp = Resp { status: StatusCode::OK, headers, body: Bytes::new() };
        assert_eq!(resp.cookie("gatehouse_session").as_deref(), Some("gatehouse_session=abc"));
        assert_eq!(resp.cookie("empty"), None);
        assert_eq!(resp.cookie("missing"), None);
    }

    #[test]
    fn fixed_scenarios_spread_requests_over_connections() {
        let f = fixed(vec![Req::get("/a"), Req::get("/b")], 204);
        let (mut a, mut b, mut c) = (f(0), f(1), f(2));
        assert_eq!(a.request().uri.path(), "/a");
        assert_eq!(b.request().uri.path(), "/b");
        assert_eq!(c.request().uri.path(), "/a");
        let resp = Resp { status: StatusCode::NO_CONTENT, headers: HeaderMap::new(), body: Bytes::new() };
        assert!(a.response(&resp));
    }
}
