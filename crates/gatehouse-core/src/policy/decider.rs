//! Decisions (docs/policies.md "How a decision is made"): the subject's facts from the
//! in-memory RBAC grants ([`RbacSnapshot`]) and its own status from the store, evaluated with
//! the compiled policies. A [`Decider`] holds what a batch (AuthZEN §7) shares: one policy
//! set, one copy of the grants, and each distinct subject's facts.

use std::sync::Arc;

use serde_json::json;

use super::PolicyError;
use super::compiled::Compiled;
use super::engine::{Decision, Explanation, Reuse, evaluate_reusing};
use super::request::{DecisionRequest, SubjectFacts, SubjectKind};
use super::service::PolicyService;
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::rbac::{Actor, RbacSnapshot};
use crate::user::UserId;

/// Decisions at one policy revision and one RBAC revision ([`PolicyService::decider`]).
pub struct Decider<'a> {
    service: &'a PolicyService,
    compiled: Arc<Compiled>,
    rbac: Arc<RbacSnapshot>,
    /// Facts of the subjects decided so far (`None`: disabled or deleted), with the Cedar inputs
    /// their decisions share; a batch names few.
    subjects: Vec<(SubjectKind, String, Option<SubjectFacts>, Reuse)>,
}

impl<'a> Decider<'a> {
    pub(super) fn new(service: &'a PolicyService, compiled: Arc<Compiled>, rbac: Arc<RbacSnapshot>) -> Self {
        Self { service, compiled, rbac, subjects: Vec::new() }
    }

    /// One decision for `caller`. Decisions on Gatehouse's own resources are audited; all
    /// are counted in `gatehouse_decisions_total`.
    pub async fn decide(
        &mut self,
        caller: &Actor,
        req: &DecisionRequest,
        ctx: &RequestContext,
    ) -> Result<Decision, PolicyError> {
        let kind = req.check().map_err(PolicyError::BadRequest)?;
        self.decide_checked(caller, kind, req, ctx).await
    }

    pub(super) async fn decide_checked(
        &mut self,
        caller: &Actor,
        kind: SubjectKind,
        req: &DecisionRequest,
        ctx: &RequestContext,
    ) -> Result<Decision, PolicyError> {
        let decision = self.judge(kind, req).await?;
        let verdict = if decision.allowed { "allow" } else { "deny" };
        metrics::counter!("gatehouse_decisions_total", "decision" => verdict, "basis" => decision.basis()).increment(1);
        if req.is_admin_relevant() {
            let outcome = if decision.allowed { Outcome::Success } else { Outcome::Failure };
            let details = json!({
                "action": req.action.name,
                "resource": { "type": req.resource.kind, "id": req.resource.id },
                "decision": decision.allowed,
                "basis": decision.basis(),
            });
            let subject = format!("{}:{}", req.subject.kind, req.subject.id);
            self.service.record(AuditEventType::AccessDecision, caller, subject, outcome, ctx, details).await?;
        }
        Ok(decision)
    }

    /// `req` (checked, of a subject of `kind`) evaluated, nothing recorded.
    pub(super) async fn judge(&mut self, kind: SubjectKind, req: &DecisionRequest) -> Result<Decision, PolicyError> {
        let id = req.subject.id.as_str();
        let at = match self.subjects.iter().position(|(k, i, _, _)| *k == kind && i == id) {
            Some(at) => at,
            None => {
                let facts = facts(self.service, &self.rbac, kind, id).await?;
                self.subjects.push((kind, id.to_owned(), facts, Reuse::default()));
                self.subjects.len() - 1
            }
        };
        let compiled = &self.compiled;
        let (_, _, facts, reuse) = &mut self.subjects[at];
        Ok(match facts {
            Some(facts) => evaluate_reusing(compiled, req, kind, facts, self.service.clock.now(), reuse),
            None => Decision {
                allowed: false,
                explanation: Explanation {
                    permission: req.permission(),
                    errors: vec!["the subject's account is disabled or deleted".to_owned()],
                    policy_revision: compiled.revision,
                    ..Explanation::default()
                },
            },
        })
    }
}

/// The subject's roles and their permissions; `None` for a disabled or deleted Gatehouse
/// user (or a disabled client). A subject that is not a Gatehouse account (an id that is no
/// user id, an unknown client) holds no roles (Cedar policies may still permit on
/// attributes). The status is read from the store, the grants from `rbac`.
async fn facts(
    service: &PolicyService,
    rbac: &RbacSnapshot,
    kind: SubjectKind,
    id: &str,
) -> Result<Option<SubjectFacts>, PolicyError> {
    let roles = match kind {
        SubjectKind::User => {
            let Some(uid) = UserId::parse(id) else { return Ok(Some(SubjectFacts::default())) };
            match service.users.user_by_id(uid).await? {
                // Deleted: denied like a disabled account, never more access than that.
                None => return Ok(None),
                Some(u) if !u.is_active() => return Ok(None),
                Some(_) => rbac.user_roles(uid),
            }
        }
        SubjectKind::Client => match service.clients.client_by_id(id).await? {
            None => return Ok(Some(SubjectFacts::default())),
            // Disabled by an admin: denied like a disabled account, whatever its roles.
            Some(c) if c.is_disabled() => return Ok(None),
            Some(_) => rbac.client_roles(id),
        },
    };
    let roles = roles.iter().map(|role| (role.clone(), rbac.role_permissions(role).to_vec())).collect();
    Ok(Some(SubjectFacts { roles }))
}
