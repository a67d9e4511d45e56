//! Every RBAC grant in memory, for decisions (docs/policies.md "Where the facts come from"):
//! user → roles, client → roles, role → permissions, read in one store call and replaced
//! whole when the store changes.
//!
//! Fresh how: a committed RBAC write publishes [`Invalidation::Rbac`] (the admin service,
//! [`super::RbacService::publishing_to`]), which drops this node's copy before the write's
//! caller hears back — so the very next decision sees it — and other nodes' copies when the
//! bus carries it; and as a safety net (a lost
//! message, the command line, a write outside any service) the store's RBAC revision — a
//! counter its triggers move on every write — is compared at most once per reload interval.
//! A user's or client's own status (disabled, deleted) is not part of the copy: decisions
//! read it per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{RbacGrants, RbacStore};
use crate::scale_out::{Invalidation, InvalidationListener};
use crate::store::StoreError;
use crate::user::UserId;

/// One consistent copy of every grant, at one RBAC revision. Names are kept as plain strings,
/// each list sorted in byte order as the store's own lists are.
#[derive(Debug, Default)]
pub struct RbacSnapshot {
    revision: i64,
    users: HashMap<UserId, Vec<String>>,
    clients: HashMap<String, Vec<String>>,
    permissions: HashMap<String, Vec<String>>,
}

impl RbacSnapshot {
    pub fn from_grants(grants: RbacGrants) -> Self {
        let mut out = Self { revision: grants.revision, ..Self::default() };
        for (user, role) in grants.user_roles {
            out.users.entry(user).or_default().push(role.as_str().to_owned());
        }
        for (client, role) in grants.client_roles {
            out.clients.entry(client).or_default().push(role.as_str().to_owned());
        }
        for (role, permission) in grants.role_permissions {
            out.permissions.entry(role.as_str().to_owned()).or_default().push(permission.as_str().to_owned());
        }
        for list in out.users.values_mut().chain(out.clients.values_mut()).chain(out.permissions.values_mut()) {
            list.sort();
            list.dedup();
        }
        out
    }

    /// The RBAC revision the grants were read at.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The user's roles, by name (empty for an unknown user).
    pub fn user_roles(&self, user: UserId) -> &[String] {
        self.users.get(&user).map_or(&[], Vec::as_slice)
    }

    /// The client's roles, by name (empty for an unknown client).
    pub fn client_roles(&self, client_id: &str) -> &[String] {
        self.clients.get(client_id).map_or(&[], Vec::as_slice)
    }

    /// The role's permissions, by name (empty for an unknown role or one without any).
    pub fn role_permissions(&self, role: &str) -> &[String] {
        self.permissions.get(role).map_or(&[], Vec::as_slice)
    }
}

/// The node's current [`RbacSnapshot`], reloaded when it may be stale.
pub struct RbacSnapshots {
    store: Arc<dyn RbacStore>,
    current: RwLock<Option<Arc<RbacSnapshot>>>,
    checked_at: Mutex<Option<Instant>>,
    /// Moved by every invalidation: a load that started before one is not installed (it may
    /// have read the store before the write it was told about).
    generation: AtomicU64,
    /// One full load at a time: after an invalidation, concurrent decisions wait for one load
    /// instead of each reading every grant.
    loading: tokio::sync::Mutex<()>,
    reload_interval: Duration,
}

impl RbacSnapshots {
    pub fn new(store: Arc<dyn RbacStore>, reload_interval: Duration) -> Self {
        Self {
            store,
            current: RwLock::new(None),
            checked_at: Mutex::new(None),
            generation: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
            reload_interval,
        }
    }

    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    fn cached(&self) -> Option<Arc<RbacSnapshot>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn fresh(&self) -> bool {
        self.checked_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() < self.reload_interval)
    }

    fn mark_checked(&self) {
        *self.checked_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// The current grants: the copy in memory, its revision compared with the store's at most
    /// once per reload interval, reloaded when dropped or behind.
    pub async fn current(&self) -> Result<Arc<RbacSnapshot>, StoreError> {
        if let Some(s) = self.cached() {
            if self.fresh() {
                return Ok(s);
            }
            if self.store.rbac_revision().await? == s.revision {
                self.mark_checked();
                return Ok(s);
            }
        }
        self.load().await
    }

    async fn load(&self) -> Result<Arc<RbacSnapshot>, StoreError> {
        let _one = self.loading.lock().await;
        let generation = self.generation.load(Ordering::Acquire);
        // Loaded by another decision while this one waited.
        if let Some(s) = self.cached().filter(|_| self.fresh()) {
            return Ok(s);
        }
        let snapshot = Arc::new(RbacSnapshot::from_grants(self.store.rbac_grants().await?));
        let mut slot = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            *slot = Some(snapshot.clone());
            drop(slot);
            self.mark_checked();
        }
        Ok(snapshot)
    }

    /// Drops the copy: the next decision reloads.
    pub fn invalidate(&self) {
        let mut slot = self.current.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *slot = None;
    }
}

impl InvalidationListener for RbacSnapshots {
    fn invalidate(&self, what: &Invalidation) {
        if matches!(what, Invalidation::Rbac | Invalidation::All) {
            RbacSnapshots::invalidate(self);
        }
    }
}
