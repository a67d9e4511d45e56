//! Cache invalidation across nodes: after a successful change, the service that made it
//! publishes an [`Invalidation`]; every node (this one at once, others through the bus) drops
//! the affected cache entries instead of waiting for them to expire.
//!
//! The bus is best-effort by design: a lost message costs at most the cache's own expiry (the
//! caches keep their TTLs), and a subscriber that reconnects drops everything
//! ([`Invalidation::All`]) because it may have missed messages. Without Redis the bus is
//! [`NoopBus`] and only this node's caches are dropped, as before.

use std::sync::{Arc, PoisonError, RwLock, Weak};

use async_trait::async_trait;

use super::SharedStateHealth;

/// What changed. Only what an in-process cache holds is worth a message: today clients
/// ([`crate::oauth::CachedClientStore`]), the compiled policies and the RBAC grants decisions
/// use ([`crate::policy::PolicyService`], [`crate::rbac::RbacSnapshots`]). Users and
/// revocations are read from the database on every request (a disabled user's sessions and
/// refresh tokens are deleted there), so nothing publishes those variants yet; they are part
/// of the wire format so that a cache added later has its message ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A client was registered, changed (secret rotated, disabled, redirect URIs) or deleted.
    Client(String),
    /// A policy document or the schema changed.
    Policies,
    /// Roles, permissions or grants changed.
    Rbac,
    /// A user's status, password or profile changed.
    User(String),
    /// Tokens or sessions were revoked.
    Revocation,
    /// Everything (sent after a reconnect, when messages may have been missed).
    All,
}

impl Invalidation {
    /// Longest id carried in a message; longer ones are refused when decoding.
    const MAX_ID: usize = 256;

    /// The wire form: `client:<id>`, `policies`, `rbac`, `user:<id>`, `revocation`, `all`.
    pub fn encode(&self) -> String {
        match self {
            Self::Client(id) => format!("client:{id}"),
            Self::Policies => "policies".into(),
            Self::Rbac => "rbac".into(),
            Self::User(id) => format!("user:{id}"),
            Self::Revocation => "revocation".into(),
            Self::All => "all".into(),
        }
    }

    /// Parses [`Self::encode`]'s form; anything else (another version's message) is `None`.
    pub fn decode(text: &str) -> Option<Self> {
        let id = |s: &str| (!s.is_empty() && s.len() <= Self::MAX_ID).then(|| s.to_owned());
        match text.split_once(':') {
            Some(("client", rest)) => id(rest).map(Self::Client),
            Some(("user", rest)) => id(rest).map(Self::User),
            Some(_) => None,
            None => match text {
                "policies" => Some(Self::Policies),
                "rbac" => Some(Self::Rbac),
                "revocation" => Some(Self::Revocation),
                "all" => Some(Self::All),
                _ => None,
            },
        }
    }
}

/// A cache that drops entries when told.
pub trait InvalidationListener: Send + Sync {
    fn invalidate(&self, what: &Invalidation);
}

/// Carries invalidations to the other nodes. Publishing never fails the change that caused it
/// (the change is committed already): implementations log and give up quickly.
#[async_trait]
pub trait InvalidationBus: Send + Sync {
    async fn publish(&self, what: &Invalidation);
}

/// No other nodes to tell (single node, or no Redis configured).
pub struct NoopBus;

#[async_trait]
impl InvalidationBus for NoopBus {
    async fn publish(&self, _what: &Invalidation) {}
}

/// This node's caches and the bus to the others. Services hold an `Arc<Invalidations>` and call
/// [`Self::publish`] after a change; caches register with [`Self::listen`].
pub struct Invalidations {
    listeners: RwLock<Vec<Weak<dyn InvalidationListener>>>,
    bus: Arc<dyn InvalidationBus>,
    health: Arc<SharedStateHealth>,
}

impl Default for Invalidations {
    fn default() -> Self {
        Self::new(Arc::new(NoopBus), Arc::new(SharedStateHealth::new(false)))
    }
}

impl Invalidations {
    pub fn new(bus: Arc<dyn InvalidationBus>, health: Arc<SharedStateHealth>) -> Self {
        Self { listeners: RwLock::new(Vec::new()), bus, health }
    }

    /// Registers a cache (held weakly: a dropped cache simply stops listening).
    pub fn listen(&self, listener: Arc<dyn InvalidationListener>) {
        let mut all = self.listeners.write().unwrap_or_else(PoisonError::into_inner);
        all.retain(|l| l.strong_count() > 0);
        all.push(Arc::downgrade(&listener));
    }

    /// After a committed change: drops this node's entries, then tells the other nodes.
    pub async fn publish(&self, what: Invalidation) {
        self.apply(&what);
        self.bus.publish(&what).await;
    }

    /// A message from the bus (another node, the CLI, or a reconnect's [`Invalidation::All`]).
    pub fn received(&self, what: &Invalidation) {
        self.health.count_invalidation();
        self.apply(what);
    }

    /// Drops the entries of `what` in this node's caches.
    pub fn apply(&self, what: &Invalidation) {
        let listeners: Vec<_> =
            self.listeners.read().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
        for l in listeners {
            l.invalidate(what);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Invalidation>>);

    impl InvalidationListener for Recorder {
        fn invalidate(&self, what: &Invalidation) {
            self.0.lock().unwrap().push(what.clone());
        }
    }

    #[derive(Default)]
    struct Sent(Mutex<Vec<String>>);

    #[async_trait]
    impl InvalidationBus for Sent {
        async fn publish(&self, what: &Invalidation) {
            self.0.lock().unwrap().push(what.encode());
        }
    }

    #[test]
    fn wire_form_round_trips_and_refuses_junk() {
        for v in [
            Invalidation::Client("c1".into()),
            Invalidation::Policies,
            Invalidation::Rbac,
            Invalidation::User("u:1".into()),
            Invalidation::Revocation,
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&v.encode()), Some(v));
        }
        for junk in ["", "client:", "session:x", "ALL", &format!("client:{}", "x".repeat(300))] {
            assert_eq!(Invalidation::decode(junk), None, "{junk}");
        }
    }

    #[tokio::test]
    async fn publish_drops_locally_then_tells_the_bus() {
        let sent = Arc::new(Sent::default());
        let health = Arc::new(SharedStateHealth::new(true));
        let hub = Invalidations::new(sent.clone(), health.clone());
        let rec = Arc::new(Recorder::default());
        hub.listen(rec.clone());
        hub.publish(Invalidation::Client("c1".into())).await;
        assert_eq!(*rec.0.lock().unwrap(), vec![Invalidation::Client("c1".into())]);
        assert_eq!(*sent.0.lock().unwrap(), vec!["client:c1".to_owned()]);
        assert_eq!(health.invalidations_received(), 0, "our own publish is not a received message");
        hub.received(&Invalidation::All);
        assert_eq!(health.invalidations_received(), 1);
        assert_eq!(rec.0.lock().unwrap().len(), 2);
        // A dropped cache stops listening.
        drop(rec);
        hub.received(&Invalidation::Policies);
        assert_eq!(hub.listeners.read().unwrap().iter().filter(|l| l.strong_count() > 0).count(), 0);
    }
}
