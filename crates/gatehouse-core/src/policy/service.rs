//! `PolicyService`: the policy documents (admin operations, each audited with its actor) and
//! decisions (the compiled policy set and the RBAC grants from in-memory copies that follow the
//! store's revisions, checked at most once per `reload_interval` and dropped at once by
//! invalidations; the subject's own status read per decision).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use super::compiled::{Compiled, parse_policies, parse_schema, validate};
use super::decider::Decider;
use super::engine::Decision;
use super::request::DecisionRequest;
use super::schema::DEFAULT_SCHEMA;
use super::store::{ActiveDocuments, DocumentKind, NewPolicyVersion, PolicyStore, PolicyVersion, SCHEMA_NAME};
use super::{EVALUATE_SCOPE, MAX_DOCUMENT, PolicyError, check_name};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::rbac::{Actor, AdminCapability, Principal, RbacSnapshots, RbacStore};
use crate::scale_out::{Invalidation, InvalidationListener, Invalidations};
use crate::store::{AuditStore, ClientStore, UserStore};

/// How often a node asks the store whether the policies changed (other nodes' writes).
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Appends retried when another change slips in between validation and write.
const WRITE_ATTEMPTS: usize = 3;

/// The schema in force: the stored one, or the built-in default (`version` `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDocument {
    pub text: String,
    pub version: Option<PolicyVersion>,
}

pub struct PolicyService {
    store: Arc<dyn PolicyStore>,
    rbac_store: Arc<dyn RbacStore>,
    /// The RBAC grants decisions read (registered with the hub through this service's
    /// listener, which passes [`Invalidation::Rbac`] on).
    rbac: Arc<RbacSnapshots>,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) clients: Arc<dyn ClientStore>,
    audit: Auditor,
    pub(super) clock: Arc<dyn Clock>,
    cache: RwLock<Option<Arc<Compiled>>>,
    checked_at: Mutex<Option<Instant>>,
    reload_interval: Duration,
    invalidations: Option<Arc<Invalidations>>,
}

/// The stores the policy service reads besides its own.
pub struct PolicyStores {
    pub policies: Arc<dyn PolicyStore>,
    pub rbac: Arc<dyn RbacStore>,
    pub users: Arc<dyn UserStore>,
    pub clients: Arc<dyn ClientStore>,
    pub audit: Arc<dyn AuditStore>,
}

fn schema_text(docs: &ActiveDocuments) -> &str {
    docs.schema.as_ref().and_then(|s| s.body.as_deref()).unwrap_or(DEFAULT_SCHEMA)
}

fn document_size(body: &str) -> Result<(), PolicyError> {
    if body.len() > MAX_DOCUMENT {
        return Err(PolicyError::Invalid(format!("documents are at most {MAX_DOCUMENT} bytes")));
    }
    Ok(())
}

impl PolicyService {
    pub fn new(stores: PolicyStores, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: stores.policies,
            rbac: Arc::new(RbacSnapshots::new(stores.rbac.clone(), DEFAULT_RELOAD_INTERVAL)),
            rbac_store: stores.rbac,
            users: stores.users,
            clients: stores.clients,
            audit: Auditor::new(stores.audit, clock.clone()),
            clock,
            cache: RwLock::new(None),
            checked_at: Mutex::new(None),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            invalidations: None,
        }
    }

    /// Publishes every policy change on `hub`; register the service with
    /// [`Invalidations::listen`] so other nodes' changes drop the compiled set at once (without
    /// it they are seen within the reload interval).
    pub fn publishing_to(mut self, hub: Arc<Invalidations>) -> Self {
        self.invalidations = Some(hub);
        self
    }

    /// How often the store's policy and RBAC revisions are compared with the copies in memory.
    pub fn with_reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self.rbac = Arc::new(RbacSnapshots::new(self.rbac_store.clone(), interval));
        self
    }

    /// The compiled documents, reloaded when the store's revision moved.
    pub async fn current(&self) -> Result<Arc<Compiled>, PolicyError> {
        let cached = self.cache.read().ok().and_then(|c| c.clone());
        let fresh = self.checked_at.lock().ok().and_then(|t| *t).is_some_and(|t| t.elapsed() < self.reload_interval);
        if let Some(c) = &cached {
            if fresh {
                return Ok(c.clone());
            }
            if self.store.policy_revision().await? == c.revision {
                self.mark_checked();
                return Ok(c.clone());
            }
        }
        let compiled = Arc::new(Compiled::from_documents(&self.store.active_policy_documents().await?));
        if let Ok(mut slot) = self.cache.write() {
            *slot = Some(compiled.clone());
        }
        self.mark_checked();
        Ok(compiled)
    }

    fn mark_checked(&self) {
        if let Ok(mut t) = self.checked_at.lock() {
            *t = Some(Instant::now());
        }
    }

    /// After a write: the next decision reloads at once.
    fn invalidate(&self) {
        if let Ok(mut slot) = self.cache.write() {
            *slot = None;
        }
    }

    /// After a committed write on this node: drop the cache here and tell the other nodes.
    async fn changed(&self) {
        self.invalidate();
        if let Some(hub) = &self.invalidations {
            hub.publish(Invalidation::Policies).await;
        }
    }

    pub(super) async fn record(
        &self,
        event: AuditEventType,
        actor: &Actor,
        subject: String,
        outcome: Outcome,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), PolicyError> {
        Ok(self.audit.record(event, outcome, Some(actor.to_string()), Some(subject), ctx, details).await?)
    }

    // Documents.

    /// The active policies (latest version of each, deleted ones left out), by name.
    pub async fn list(&self, _: &AdminCapability) -> Result<Vec<PolicyVersion>, PolicyError> {
        Ok(self.store.active_policy_documents().await?.policies)
    }

    /// Every version of the policy, oldest first, deletions included.
    pub async fn versions(&self, _: &AdminCapability, name: &str) -> Result<Vec<PolicyVersion>, PolicyError> {
        check_name(name)?;
        let versions = self.store.policy_versions(DocumentKind::Policy, name).await?;
        if versions.is_empty() {
            return Err(PolicyError::NotFound("policy"));
        }
        Ok(versions)
    }

    /// Stores `body` as the next version of `name` if it parses and validates against the
    /// schema in force; otherwise nothing is stored and the error carries Cedar's message.
    pub async fn put(
        &self,
        cap: &AdminCapability,
        name: &str,
        body: &str,
        ctx: &RequestContext,
    ) -> Result<PolicyVersion, PolicyError> {
        check_name(name)?;
        document_size(body)?;
        let set = parse_policies(name, body)?;
        for _ in 0..WRITE_ATTEMPTS {
            let docs = self.store.active_policy_documents().await?;
            let schema = parse_schema(schema_text(&docs))?;
            validate(&schema, &set, body)?;
            let author = cap.actor().to_string();
            let doc = NewPolicyVersion {
                kind: DocumentKind::Policy,
                name,
                body: Some(body),
                author: &author,
                created_at: self.clock.now(),
            };
            if let Some(v) = self.store.append_policy_version(&doc, docs.revision).await? {
                self.changed().await;
                let details = json!({ "version": v.version });
                self.record(AuditEventType::PolicyPut, cap.actor(), name.to_owned(), Outcome::Success, ctx, details)
                    .await?;
                return Ok(v);
            }
        }
        Err(PolicyError::Conflict)
    }

    pub async fn delete(&self, cap: &AdminCapability, name: &str, ctx: &RequestContext) -> Result<(), PolicyError> {
        check_name(name)?;
        for _ in 0..WRITE_ATTEMPTS {
            let docs = self.store.active_policy_documents().await?;
            if !docs.policies.iter().any(|p| p.name == name) {
                return Err(PolicyError::NotFound("policy"));
            }
            let author = cap.actor().to_string();
            let doc = NewPolicyVersion {
                kind: DocumentKind::Policy,
                name,
                body: None,
                author: &author,
                created_at: self.clock.now(),
            };
            if let Some(v) = self.store.append_policy_version(&doc, docs.revision).await? {
                self.changed().await;
                let details = json!({ "version": v.version });
                return self
                    .record(AuditEventType::PolicyDeleted, cap.actor(), name.to_owned(), Outcome::Success, ctx, details)
                    .await;
            }
        }
        Err(PolicyError::Conflict)
    }

    pub async fn schema(&self, _: &AdminCapability) -> Result<SchemaDocument, PolicyError> {
        let docs = self.store.active_policy_documents().await?;
        Ok(SchemaDocument { text: schema_text(&docs).to_owned(), version: docs.schema })
    }

    /// Replaces the schema, unless it does not parse or a stored policy would no longer
    /// validate against it (each such policy is named in the error).
    pub async fn put_schema(
        &self,
        cap: &AdminCapability,
        body: &str,
        ctx: &RequestContext,
    ) -> Result<PolicyVersion, PolicyError> {
        document_size(body)?;
        let schema = parse_schema(body)?;
        for _ in 0..WRITE_ATTEMPTS {
            let docs = self.store.active_policy_documents().await?;
            let broken: Vec<String> = docs
                .policies
                .iter()
                .filter_map(|p| {
                    let body = p.body.as_deref()?;
                    let checked = parse_policies(&p.name, body).and_then(|set| validate(&schema, &set, body));
                    checked.err().map(|e| format!("policy {}: {e}", p.name))
                })
                .collect();
            if !broken.is_empty() {
                return Err(PolicyError::Invalid(format!(
                    "the schema would invalidate stored policies:\n{}",
                    broken.join("\n")
                )));
            }
            let author = cap.actor().to_string();
            let doc = NewPolicyVersion {
                kind: DocumentKind::Schema,
                name: SCHEMA_NAME,
                body: Some(body),
                author: &author,
                created_at: self.clock.now(),
            };
            if let Some(v) = self.store.append_policy_version(&doc, docs.revision).await? {
                self.changed().await;
                let details = json!({ "version": v.version });
                self.record(
                    AuditEventType::PolicySchemaPut,
                    cap.actor(),
                    SCHEMA_NAME.into(),
                    Outcome::Success,
                    ctx,
                    details,
                )
                .await?;
                return Ok(v);
            }
        }
        Err(PolicyError::Conflict)
    }

    // Decisions.

    /// Who may ask for decisions: a client acting for itself (client credentials) with the
    /// `gatehouse:evaluate` scope, still registered and not disabled.
    pub async fn authorize_evaluator(&self, principal: &Principal) -> Result<Actor, PolicyError> {
        const DENIED: PolicyError = PolicyError::Forbidden("this token does not grant access to the decision API");
        match principal {
            Principal::Client { id, scopes } if scopes.iter().any(|s| s == EVALUATE_SCOPE) => {
                match self.clients.client_by_id(id).await? {
                    Some(c) if !c.is_disabled() => Ok(Actor::Client(id.clone())),
                    _ => Err(DENIED),
                }
            }
            _ => Err(DENIED),
        }
    }

    /// One decision for `caller` (see [`Decider::decide`]).
    pub async fn decide(
        &self,
        caller: &Actor,
        req: &DecisionRequest,
        ctx: &RequestContext,
    ) -> Result<Decision, PolicyError> {
        let kind = req.check().map_err(PolicyError::BadRequest)?;
        self.decider().await?.decide_checked(caller, kind, req, ctx).await
    }

    /// Decisions that share one policy set, one copy of the RBAC grants and each subject's
    /// facts (a batch, AuthZEN §7): what is the same for every item is done once.
    pub async fn decider(&self) -> Result<Decider<'_>, PolicyError> {
        Ok(Decider::new(self, self.current().await?, self.rbac.current().await?))
    }

    /// The decision `req` would get if `body` were the next version of policy `name`: the
    /// stored documents with this one replaced, and the subject's roles as stored. Nothing is
    /// stored, audited or counted (a dry run for the console's editor); a draft that does not
    /// parse or validate is refused as [`Self::put`] would refuse it.
    pub async fn decide_with_draft(
        &self,
        cap: &AdminCapability,
        name: &str,
        body: &str,
        req: &DecisionRequest,
    ) -> Result<Decision, PolicyError> {
        check_name(name)?;
        document_size(body)?;
        let set = parse_policies(name, body)?;
        let kind = req.check().map_err(PolicyError::BadRequest)?;
        let mut docs = self.store.active_policy_documents().await?;
        validate(&parse_schema(schema_text(&docs))?, &set, body)?;
        docs.policies.retain(|p| p.name != name);
        docs.policies.push(PolicyVersion {
            revision: docs.revision,
            kind: DocumentKind::Policy,
            name: name.to_owned(),
            version: 0,
            body: Some(body.to_owned()),
            author: cap.actor().to_string(),
            created_at: self.clock.now(),
        });
        let compiled = Arc::new(Compiled::from_documents(&docs));
        Decider::new(self, compiled, self.rbac.current().await?).judge(kind, req).await
    }
}

impl InvalidationListener for PolicyService {
    fn invalidate(&self, what: &Invalidation) {
        if matches!(what, Invalidation::Policies | Invalidation::All) {
            PolicyService::invalidate(self);
        }
        InvalidationListener::invalidate(self.rbac.as_ref(), what);
    }
}
