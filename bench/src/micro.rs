//! In-process micro-benchmarks, the physical limits the HTTP figures are compared with: raw
//! Argon2id at the server's parameters, and raw aws-lc-rs signatures and verifications against
//! Gatehouse's own token signing (`KeyMaterial::sign_jws`) and `gatehouse_guard::verify`.
//!
//! Plain timing loops: a warm-up, then several runs timed by the thread's own CPU clock (so a
//! compiler running next door slows the wall clock but not the figure), and the median run;
//! raw and ours alternate run by run, and their ratio is the median of the per-pair ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argon2::{Argon2, Params, Version};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::HashParams;
use gatehouse_core::keys::{Algorithm, KeyMaterial};
use gatehouse_guard::{KeySet, Validation};
use serde::Serialize;

use crate::proc;
use crate::stats::median;

const RUNS: usize = 7;

/// Operations per CPU-second, median of [`RUNS`] runs.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub ops_per_s: f64,
    pub us_per_op: f64,
    pub runs: Vec<f64>,
}

fn now_cpu() -> (Instant, Option<u64>) {
    (Instant::now(), proc::thread_cpu_ns())
}

/// Seconds of this thread's CPU time since `start` (wall time where schedstat is missing).
fn cpu_since(start: (Instant, Option<u64>)) -> f64 {
    match (start.1, proc::thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => start.0.elapsed().as_secs_f64(),
    }
}

/// Warms `f` up for 0.1 s and returns how many calls take about `run` of CPU time.
fn calibrate(run: Duration, f: &mut impl FnMut()) -> u64 {
    let warm = Instant::now();
    let mut n = 0u64;
    let t = now_cpu();
    while warm.elapsed() < Duration::from_millis(100) || n == 0 {
        f();
        n += 1;
    }
    let per_op = cpu_since(t).max(1e-9) / n as f64;
    ((run.as_secs_f64() / per_op) as u64).max(1)
}

/// Calls per CPU-second over one run of `iters` calls.
fn one_run(iters: u64, f: &mut impl FnMut()) -> f64 {
    let t = now_cpu();
    for _ in 0..iters {
        f();
    }
    iters as f64 / cpu_since(t).max(1e-9)
}

impl Rate {
    fn from_runs(runs: Vec<f64>) -> Self {
        let ops_per_s = median(&runs).unwrap_or(0.0);
        Self { ops_per_s, us_per_op: 1e6 / ops_per_s.max(1e-9), runs }
    }
}

/// Times `f`: 0.1 s warm-up, then [`RUNS`] runs of about `run` CPU time each.
pub fn measure(run: Duration, mut f: impl FnMut()) -> Rate {
    let iters = calibrate(run, &mut f);
    Rate::from_runs((0..RUNS).map(|_| one_run(iters, &mut f)).collect())
}

/// Times `a` and `b` in alternating runs (A B A B …) so that drift on a shared machine hits both;
/// returns both rates and the median of the per-pair ratios `b ÷ a`.
pub fn measure_ab(run: Duration, mut a: impl FnMut(), mut b: impl FnMut()) -> (Rate, Rate, f64) {
    let (na, nb) = (calibrate(run, &mut a), calibrate(run, &mut b));
    let (mut ra, mut rb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let x = one_run(na, &mut a);
        let y = one_run(nb, &mut b);
        ratios.push(y / x);
        ra.push(x);
        rb.push(y);
    }
    (Rate::from_runs(ra), Rate::from_runs(rb), median(&ratios).unwrap_or(0.0))
}

#[derive(Debug, Clone, Serialize)]
pub struct Argon2Result {
    pub params: HashParams,
    /// One thread.
    pub single: Rate,
    /// All CPUs hashing at once: total hashes per wall-clock second, and per CPU.
    pub threads: usize,
    pub all_cpus_per_s: f64,
    pub per_cpu_per_s: f64,
    /// CPU time per hash while every CPU hashes: on CPUs that share a core (SMT) a hash takes
    /// more CPU time than alone, and a server under login load runs one hash per CPU.
    pub all_cpus_us_per_op: f64,
}

fn argon2id(p: HashParams) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).map_err(anyhow::Error::msg)?;
    Ok(Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params))
}

/// One raw Argon2id hash at `p` on one thread (the memory is allocated per hash, as in a login).
pub fn argon2_single(p: HashParams) -> anyhow::Result<Rate> {
    let a = argon2id(p)?;
    let salt = [7u8; 16];
    let mut out = [0u8; 32];
    let mut failed = false;
    let rate = measure(Duration::from_millis(400), || {
        failed |= a.hash_password_into(black_box(b"correct horse battery staple"), &salt, &mut out).is_err();
    });
    if failed {
        bail!("argon2 hashing failed");
    }
    Ok(rate)
}

/// Raw Argon2id at `p` (the server's parameters): single-thread, then one thread per CPU.
pub fn argon2(p: HashParams, threads: usize) -> anyhow::Result<Argon2Result> {
    let single = argon2_single(p)?;
    let a = argon2id(p)?;
    let salt = [7u8; 16];
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let (total, cpu_s): (u64, f64) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = [0u8; 32];
                    let mut n = 0u64;
                    let t = now_cpu();
                    while started.elapsed() < window {
                        let _ = a.hash_password_into(b"correct horse battery staple", &salt, &mut out);
                        n += 1;
                    }
                    (n, cpu_since(t))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or((0, 0.0))).fold((0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let all = total as f64 / started.elapsed().as_secs_f64();
    Ok(Argon2Result {
        params: p,
        single,
        threads,
        all_cpus_per_s: all,
        per_cpu_per_s: all / threads.max(1) as f64,
        all_cpus_us_per_op: cpu_s * 1e6 / total.max(1) as f64,
    })
}

/// RFC 9068 claims shaped like the server's (same members, same sizes).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: &'a str,
    client_id: &'a str,
    sid: &'a str,
    auth_time: i64,
}

const ISSUER: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone, Serialize)]
pub struct SignatureResult {
    pub alg: String,
    pub token_bytes: usize,
    pub raw_sign: Rate,
    /// `KeyMaterial::sign_jws`: claims to JSON, base64url, sign.
    pub ours_sign: Rate,
    pub raw_verify: Rate,
    /// `gatehouse_guard::verify`: parse, header checks, verify, claims checks.
    pub ours_verify: Rate,
    /// Median over alternating runs of (ours ÷ raw).
    pub sign_ratio: f64,
    pub verify_ratio: f64,
}

enum RawKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl RawKey {
    fn parse(alg: Algorithm, der: &[u8]) -> anyhow::Result<(Self, ParsedPublicKey)> {
        let e = |_| anyhow::anyhow!("parsing {alg} key");
        Ok(match alg {
            Algorithm::RS256 => {
                let k = RsaKeyPair::from_pkcs8(der).map_err(e)?;
                let p = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref()).map_err(e)?;
                (Self::Rsa(k), p)
            }
            Algorithm::ES256 => {
                let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(e)?;
                let p = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key().as_ref()).map_err(e)?;
                (Self::Ec(k), p)
            }
            Algorithm::EdDSA => {
                let k = Ed25519KeyPair::from_pkcs8(der).map_err(e)?;
                let p = ParsedPublicKey::new(&ED25519, k.public_key().as_ref()).map_err(e)?;
                (Self::Ed(k), p)
            }
        })
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Self::Rsa(k) => {
                out.resize(k.public_modulus_len(), 0);
                k.sign(&RSA_PKCS1_SHA256, rng, msg, out).is_ok()
            }
            Self::Ec(k) => k.sign(rng, msg).map(|s| out.extend_from_slice(s.as_ref())).is_ok(),
            Self::Ed(k) => {
                out.extend_from_slice(k.sign(msg).as_ref());
                true
            }
        }
    }
}

/// Sign and verify rates for `alg`: raw aws-lc-rs against Gatehouse's code paths.
pub fn signatures(alg: Algorithm) -> anyhow::Result<SignatureResult> {
    let (key, der) = KeyMaterial::generate(alg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (raw, public) = RawKey::parse(alg, &der)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = "0193b8f0-6c1e-7a55-9a3c-2f1d4e5b6a7c";
    let claims = Claims {
        iss: ISSUER,
        sub: id,
        aud: ISSUER,
        exp: now + 900,
        iat: now,
        jti: "0193b8f0-6c1e-7a55-9a3c-2f1d4e5b6a7d",
        client_id: "gatehouse",
        sid: "0193b8f0-6c1e-7a55-9a3c-2f1d4e5b6a7e",
        auth_time: now,
    };
    let token = key.sign_jws("at+jwt", &claims).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (input, sig_b64) = token.rsplit_once('.').context("token has no signature")?;
    let signature = URL_SAFE_NO_PAD.decode(sig_b64)?;

    let jwks = serde_json::json!({ "keys": [key.public_jwk()] }).to_string();
    let keys = KeySet::from_jwks(jwks.as_bytes()).map_err(|e| anyhow::anyhow!("JWKS: {e}"))?;
    let validation = Validation::new(ISSUER, [ISSUER]);
    if public.verify_sig(input.as_bytes(), &signature).is_err() {
        bail!("{alg}: raw verification of our own token failed");
    }
    if let Err(e) = gatehouse_guard::verify(&token, &keys, &validation, now) {
        bail!("{alg}: gatehouse_guard::verify refused our own token: {e}");
    }

    let run = Duration::from_millis(250);
    let rng = SystemRandom::new();
    let mut out = Vec::with_capacity(512);
    let ok = std::cell::Cell::new(true);
    let (raw_sign, ours_sign, sign_ratio) = measure_ab(
        run,
        || ok.set(ok.get() & raw.sign(&rng, black_box(input.as_bytes()), &mut out)),
        || ok.set(ok.get() & key.sign_jws("at+jwt", black_box(&claims)).is_ok()),
    );
    let (raw_verify, ours_verify, verify_ratio) = measure_ab(
        run,
        || ok.set(ok.get() & public.verify_sig(black_box(input.as_bytes()), &signature).is_ok()),
        || ok.set(ok.get() & gatehouse_guard::verify(black_box(&token), &keys, &validation, now).is_ok()),
    );
    if !ok.get() {
        bail!("{alg}: an operation failed while being timed");
    }
    Ok(SignatureResult {
        alg: alg.as_str().into(),
        token_bytes: token.len(),
        sign_ratio,
        verify_ratio,
        raw_sign,
        ours_sign,
        raw_verify,
        ours_verify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_reports_a_positive_median() {
        let mut x = 0u64;
        let r = measure(Duration::from_millis(5), || x = black_box(x.wrapping_add(1)));
        assert_eq!(r.runs.len(), RUNS);
        assert!(r.ops_per_s > 0.0 && r.us_per_op > 0.0);
    }
}
