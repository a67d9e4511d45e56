//! `KeyService`: keeps the signing keys of every algorithm rotated, decrypted and parsed in
//! memory, answers "which key signs now" without touching the database, and renders the JWKS.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use super::lifecycle::{KeyPolicy, KeyState, StoredKey, rotation_due, states};
use super::material::{Algorithm, KeyError, KeyMaterial};
use super::sealed::{MasterKey, SealError};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::store::{AuditStore, KeyStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no active {0} signing key")]
    NoActiveKey(Algorithm),
}

/// A key as `gatehouse keys list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: Algorithm,
    pub state: &'static str,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    pub unpublish_at: Option<UnixTime>,
}

/// The published key set and how long it may be cached.
#[derive(Debug, Clone)]
pub struct Jwks {
    pub json: Arc<[u8]>,
    pub max_age: i64,
    /// Changes whenever the set of published keys changes.
    pub version: u64,
}

struct Ring {
    rows: Vec<StoredKey>,
    parsed: HashMap<String, Arc<KeyMaterial>>,
    jwks: Jwks,
}

pub struct KeyService {
    store: Arc<dyn KeyStore>,
    audit: Auditor,
    master: MasterKey,
    clock: Arc<dyn Clock>,
    policy: KeyPolicy,
    ring: RwLock<Arc<Ring>>,
}

impl KeyService {
    /// Loads and decrypts every stored key (a wrong master key fails here, before anything is
    /// served), then creates the first key of each algorithm if there is none.
    pub async fn start(
        store: Arc<dyn KeyStore>,
        audit: Arc<dyn AuditStore>,
        master: MasterKey,
        clock: Arc<dyn Clock>,
        policy: KeyPolicy,
    ) -> Result<Self, KeyServiceError> {
        let empty = Ring {
            rows: vec![],
            parsed: HashMap::new(),
            jwks: Jwks { json: Arc::from(&b"{\"keys\":[]}"[..]), max_age: 0, version: 0 },
        };
        let audit = Auditor::new(audit, clock.clone());
        let service = Self { store, audit, master, clock, policy, ring: RwLock::new(Arc::new(empty)) };
        service.maintain().await?;
        Ok(service)
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    fn ring(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rotates what is due, deletes expired keys and reloads the ring. Run at start-up and
    /// then every minute by the server; safe to run on every node at once.
    pub async fn maintain(&self) -> Result<(), KeyServiceError> {
        let now = self.clock.now();
        let rows = self.store.signing_keys().await?;
        for alg in Algorithm::ALL {
            if let Some((activates_at, slot)) = rotation_due(&rows, alg, now, &self.policy) {
                self.create_key(alg, activates_at, Some(slot), "scheduled").await?;
            }
        }
        let rows = self.store.signing_keys().await?;
        for (row, state) in rows.iter().zip(states(&rows, now, &self.policy)) {
            if state == KeyState::Expired {
                self.store.delete_signing_key(&row.kid).await?;
            }
        }
        self.reload().await
    }

    async fn create_key(
        &self,
        alg: Algorithm,
        activates_at: UnixTime,
        slot: Option<i64>,
        why: &str,
    ) -> Result<Option<String>, KeyServiceError> {
        let (material, der) = KeyMaterial::generate(alg)?;
        let row = StoredKey {
            kid: material.kid().to_owned(),
            alg,
            sealed_private_key: self.master.seal(material.kid(), &der)?,
            public_jwk: material.public_jwk(),
            created_at: self.clock.now(),
            activates_at,
            rotation_slot: slot,
        };
        if !self.store.insert_signing_key(&row).await? {
            return Ok(None); // another node scheduled the same rotation first
        }
        self.audit
            .record(
                AuditEventType::KeyRotated,
                Outcome::Success,
                Some("system".into()),
                Some(row.kid.clone()),
                &RequestContext::default(),
                json!({ "alg": alg.as_str(), "activates_at": activates_at, "reason": why }),
            )
            .await?;
        Ok(Some(row.kid))
    }

    /// Reloads rows from storage; decrypts and parses only keys not seen before.
    pub async fn reload(&self) -> Result<(), KeyServiceError> {
        let rows = self.store.signing_keys().await?;
        let old = self.ring();
        let mut parsed = HashMap::with_capacity(rows.len());
        for row in &rows {
            let material = match old.parsed.get(&row.kid) {
                Some(m) => m.clone(),
                None => {
                    let der = self.master.open(&row.kid, &row.sealed_private_key)?;
                    Arc::new(KeyMaterial::from_pkcs8(row.alg, &der)?)
                }
            };
            parsed.insert(row.kid.clone(), material);
        }
        let jwks = self.render_jwks(&rows, old.jwks.version);
        let ring = Arc::new(Ring { rows, parsed, jwks });
        match self.ring.write() {
            Ok(mut w) => *w = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }

    fn render_jwks(&self, rows: &[StoredKey], previous_version: u64) -> Jwks {
        let now = self.clock.now();
        let published: Vec<Value> = rows
            .iter()
            .zip(states(rows, now, &self.policy))
            .filter(|(_, s)| s.is_published())
            .map(|(r, _)| r.public_jwk.clone())
            .collect();
        let json: Arc<[u8]> = serde_json::to_vec(&json!({ "keys": published })).unwrap_or_default().into();
        let old = self.ring();
        let version = if *old.jwks.json == *json { previous_version } else { previous_version + 1 };
        // A cached JWKS must never outlive the publish delay, or a client could miss a key
        // that has started signing; an hour at most in any case.
        let max_age = (self.policy.publish_delay / 4).clamp(60, 3600);
        Jwks { json, max_age, version }
    }

    /// The key that signs with `alg` now (from memory; no database access).
    pub fn signing_key(&self, alg: Algorithm) -> Result<Arc<KeyMaterial>, KeyServiceError> {
        let now = self.clock.now();
        let ring = self.ring();
        let active = ring
            .rows
            .iter()
            .filter(|r| r.alg == alg && r.activates_at <= now)
            .max_by_key(|r| (r.activates_at, &r.kid))
            .and_then(|r| ring.parsed.get(&r.kid));
        active.cloned().ok_or(KeyServiceError::NoActiveKey(alg))
    }

    pub fn jwks(&self) -> Jwks {
        self.ring().jwks.clone()
    }

    pub fn list(&self) -> Vec<KeyInfo> {
        let ring = self.ring();
        let now = self.clock.now();
        ring.rows
            .iter()
            .zip(states(&ring.rows, now, &self.policy))
            .map(|(r, s)| KeyInfo {
                kid: r.kid.clone(),
                alg: r.alg,
                state: s.as_str(),
                created_at: r.created_at,
                activates_at: r.activates_at,
                unpublish_at: match s {
                    KeyState::Retired { unpublish_at } => Some(unpublish_at),
                    _ => None,
                },
            })
            .collect()
    }

    /// Manual rotation: a new key published now that signs after the publish delay, or at
    /// once with `immediately` (after a suspected compromise; caches may miss it briefly).
    pub async fn rotate(&self, alg: Algorithm, immediately: bool) -> Result<String, KeyServiceError> {
        let now = self.clock.now();
        // Strictly after every existing key of the algorithm, so "newest activated" is never a
        // tie between two keys created within the same second.
        let latest = self.store.signing_keys().await?.iter().filter(|k| k.alg == alg).map(|k| k.activates_at).max();
        let earliest = latest.map_or(now, |t| t + 1);
        let activates_at =
            if immediately { now.max(earliest) } else { (now + self.policy.publish_delay).max(earliest) };
        let reason = if immediately { "manual, immediate" } else { "manual" };
        let kid = self.create_key(alg, activates_at, None, reason).await?.unwrap_or_default();
        self.reload().await?;
        Ok(kid)
    }
}
