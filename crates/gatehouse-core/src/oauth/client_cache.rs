//! A read-through cache of registered clients in front of a [`ClientStore`].
//!
//! Every token, revocation and introspection request authenticates a client, and the lookup was
//! the only database round trip of a `client_credentials` grant: a profile of that workload
//! (bench/README.md, "Profiles") showed about half of the server's CPU time in the kernel,
//! switching between the runtime's workers and the SQLite connection thread. Clients change
//! rarely, so they are kept in memory for a few seconds.
//!
//! Consistency: a change made through this node (the admin API or console) takes effect at
//! once, because the cache forgets the client on every update and delete. Every change is also
//! published as [`Invalidation::Client`] on the invalidation bus, so with Redis configured
//! another node or the `gatehouse clients` command reaches this node's cache within
//! milliseconds; without it (or when a message is lost) within [`CLIENT_CACHE_TTL`] seconds. Unknown ids
//! are never cached (a later registration is seen at once), and the cache holds at most
//! [`MAX_ENTRIES`] clients, so made-up ids cannot grow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::Client;
use crate::clock::{Clock, UnixTime};
use crate::scale_out::{Invalidation, InvalidationListener, Invalidations};
use crate::store::{ClientStore, StoreError};

/// Seconds a cached client is served before it is read again.
pub const CLIENT_CACHE_TTL: i64 = 5;
/// Upper bound of cached clients; when full, expired entries go, or else all of them.
pub const MAX_ENTRIES: usize = 10_000;

pub struct CachedClientStore {
    inner: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries>,
    invalidations: Option<Arc<Invalidations>>,
}

#[derive(Default)]
struct Entries {
    clients: HashMap<String, (UnixTime, Client)>,
    /// Bumped by every delete and update: a lookup that read the database before the change
    /// finished must not put what it read back into the cache afterwards.
    deletions: u64,
}

impl CachedClientStore {
    pub fn new(inner: Arc<dyn ClientStore>, clock: Arc<dyn Clock>) -> Self {
        Self { inner, clock, entries: Mutex::new(Entries::default()), invalidations: None }
    }

    /// Publishes every change made through this store on `hub` (which drops this node's
    /// entry too); register the cache with [`Invalidations::listen`] to hear other nodes.
    pub fn publishing_to(mut self, hub: Arc<Invalidations>) -> Self {
        self.invalidations = Some(hub);
        self
    }

    /// Tells the other nodes once a change is committed.
    async fn publish(&self, id: &str) {
        if let Some(hub) = &self.invalidations {
            hub.publish(Invalidation::Client(id.to_owned())).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached client (if fresh), and the deletion count to hand to [`Self::remember`].
    fn cached(&self, id: &str, now: UnixTime) -> (Option<Client>, u64) {
        let entries = self.lock();
        let hit = entries.clients.get(id).filter(|(at, _)| now - at < CLIENT_CACHE_TTL && now >= *at);
        (hit.map(|(_, c)| c.clone()), entries.deletions)
    }

    /// Caches `client`, read from the store when the deletion count was `seen`; skipped when a
    /// delete happened in between.
    fn remember(&self, client: &Client, now: UnixTime, seen: u64) {
        let mut entries = self.lock();
        if entries.deletions != seen {
            return;
        }
        if entries.clients.len() >= MAX_ENTRIES && !entries.clients.contains_key(&client.id) {
            entries.clients.retain(|_, (at, _)| now - *at < CLIENT_CACHE_TTL);
            if entries.clients.len() >= MAX_ENTRIES {
                entries.clients.clear();
            }
        }
        entries.clients.insert(client.id.clone(), (now, client.clone()));
    }

    fn forget(&self, id: &str) {
        let mut entries = self.lock();
        entries.clients.remove(id);
        entries.deletions = entries.deletions.wrapping_add(1);
    }
}

#[async_trait]
impl ClientStore for CachedClientStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.forget(&client.id);
        self.inner.insert_client(client).await?;
        // A registration is seen at once anyway (unknown ids are not cached); the message still
        // matters when an id is re-registered after a delete.
        self.publish(&client.id).await;
        Ok(())
    }

    async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let now = self.clock.now();
        let (hit, seen) = self.cached(id, now);
        if hit.is_some() {
            return Ok(hit);
        }
        let found = self.inner.client_by_id(id).await?;
        if let Some(client) = &found {
            self.remember(client, now, seen);
        }
        Ok(found)
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }

    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        // As a delete: a lookup racing the change does not cache the old settings.
        self.forget(&client.id);
        let updated = self.inner.update_client(client).await;
        self.forget(&client.id);
        if matches!(updated, Ok(true)) {
            self.publish(&client.id).await;
        }
        updated
    }

    async fn delete_client(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        // Forget before and after, each time bumping the deletion count: a lookup that read the
        // client before the delete committed does not cache it once the delete is done.
        self.forget(id);
        let deleted = self.inner.delete_client(id, now).await;
        self.forget(id);
        if matches!(deleted, Ok(true)) {
            self.publish(id).await;
        }
        deleted
    }
}

impl InvalidationListener for CachedClientStore {
    fn invalidate(&self, what: &Invalidation) {
        match what {
            Invalidation::Client(id) => self.forget(id),
            Invalidation::All => {
                let mut entries = self.lock();
                entries.clients.clear();
                entries.deletions = entries.deletions.wrapping_add(1);
            }
            Invalidation::Policies | Invalidation::Rbac | Invalidation::User(_) | Invalidation::Revocation => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::oauth::{ClientRegistration, generate_client_id};

    /// Counts reads, so the tests see which lookups reached the store.
    #[derive(Default)]
    struct Counting {
        clients: Mutex<HashMap<String, Client>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl ClientStore for Counting {
        async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
            self.clients.lock().unwrap().insert(client.id.clone(), client.clone());
            Ok(())
        }
        async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.clients.lock().unwrap().get(id).cloned())
        }
        async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
            Ok(self.clients.lock().unwrap().values().cloned().collect())
        }
        async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
            Ok(self.clients.lock().unwrap().insert(client.id.clone(), client.clone()).is_some())
        }
        async fn delete_client(&self, id: &str, _: UnixTime) -> Result<bool, StoreError> {
            Ok(self.clients.lock().unwrap().remove(id).is_some())
        }
    }

    fn client() -> Client {
        let reg = ClientRegistration {
            name: "svc".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api".into()],
            ..ClientRegistration::default()
        };
        reg.validate(generate_client_id().unwrap(), 0).unwrap().0
    }

    fn setup() -> (Arc<Counting>, Arc<ManualClock>, CachedClientStore) {
        let store = Arc::new(Counting::default());
        let clock = ManualClock::new(1_000);
        let cache = CachedClientStore::new(store.clone(), clock.clone());
        (store, clock, cache)
    }

    #[tokio::test]
    async fn serves_from_memory_until_the_ttl_passes() {
        let (store, clock, cache) = setup();
        let c = client();
        store.insert_client(&c).await.unwrap();
        assert_eq!(cache.client_by_id(&c.id).await.unwrap().unwrap().id, c.id);
        assert_eq!(cache.client_by_id(&c.id).await.unwrap().unwrap().id, c.id);
        assert_eq!(store.reads.load(Ordering::SeqCst), 1, "the second lookup came from memory");
        // Deleted elsewhere (another node, the CLI): seen once the entry expires.
        store.delete_client(&c.id, 0).await.unwrap();
        clock.advance(CLIENT_CACHE_TTL - 1);
        assert!(cache.client_by_id(&c.id).await.unwrap().is_some());
        clock.advance(1);
        assert!(cache.client_by_id(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_delete_through_the_cache_takes_effect_at_once() {
        let (store, _clock, cache) = setup();
        let c = client();
        store.insert_client(&c).await.unwrap();
        assert!(cache.client_by_id(&c.id).await.unwrap().is_some());
        assert!(cache.delete_client(&c.id, 0).await.unwrap());
        assert!(cache.client_by_id(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_update_through_the_cache_takes_effect_at_once() {
        let (store, _clock, cache) = setup();
        let c = client();
        store.insert_client(&c).await.unwrap();
        assert!(!cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled());
        let mut disabled = c.clone();
        disabled.lifecycle.disabled_at = Some(1_000);
        assert!(cache.update_client(&disabled).await.unwrap());
        assert!(cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled(), "not the cached copy");
        // And a lookup that read the old row before the update does not cache it afterwards.
        let (_, seen) = cache.cached(&c.id, 1_000);
        assert!(cache.update_client(&c).await.unwrap());
        cache.remember(&disabled, 1_000, seen);
        assert!(!cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled());
    }

    #[tokio::test]
    async fn a_lookup_racing_a_delete_does_not_cache_the_deleted_client() {
        let (store, _clock, cache) = setup();
        let c = client();
        store.insert_client(&c).await.unwrap();
        // The lookup has read the row (deletion count `seen`) when the delete runs…
        let (_, seen) = cache.cached(&c.id, 1_000);
        assert!(cache.delete_client(&c.id, 0).await.unwrap());
        // …and only then tries to cache what it read.
        cache.remember(&c, 1_000, seen);
        assert!(cache.client_by_id(&c.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn unknown_ids_are_not_cached_and_cannot_grow_it() {
        let (store, _clock, cache) = setup();
        assert!(cache.client_by_id("nobody").await.unwrap().is_none());
        let c = client();
        store.insert_client(&c).await.unwrap();
        assert!(cache.client_by_id(&c.id).await.unwrap().is_some(), "registered later: seen at once");
        for i in 0..MAX_ENTRIES + 10 {
            cache.client_by_id(&format!("made-up-{i}")).await.unwrap();
        }
        assert_eq!(cache.entries.lock().unwrap().clients.len(), 1);
    }

    #[tokio::test]
    async fn a_change_on_another_node_is_dropped_when_its_message_arrives() {
        let (store, _clock, cache) = setup();
        let hub = Arc::new(Invalidations::default());
        let cache = Arc::new(cache.publishing_to(hub.clone()));
        hub.listen(cache.clone());
        let c = client();
        store.insert_client(&c).await.unwrap();
        let other = client();
        store.insert_client(&other).await.unwrap();
        assert!(!cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled());
        cache.client_by_id(&other.id).await.unwrap();
        // Disabled behind this node's back (another node, the CLI)…
        let mut disabled = c.clone();
        disabled.lifecycle.disabled_at = Some(1_000);
        store.update_client(&disabled).await.unwrap();
        assert!(!cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled(), "still the cached copy");
        // …and the bus says so: the next lookup reads the store, other clients stay cached.
        hub.received(&Invalidation::Client(c.id.clone()));
        assert!(cache.client_by_id(&c.id).await.unwrap().unwrap().is_disabled());
        let reads = store.reads.load(Ordering::SeqCst);
        cache.client_by_id(&other.id).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), reads);
        // A reconnect drops everything.
        hub.received(&Invalidation::All);
        cache.client_by_id(&other.id).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), reads + 1);
    }

    #[tokio::test]
    async fn a_clock_moving_back_does_not_extend_an_entry() {
        let (store, clock, cache) = setup();
        let c = client();
        store.insert_client(&c).await.unwrap();
        cache.client_by_id(&c.id).await.unwrap();
        clock.advance(-60);
        cache.client_by_id(&c.id).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }
}
