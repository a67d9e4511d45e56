//! One decision: RBAC and Cedar combined (docs/policies.md "How a decision is made").
//!
//! Deny by default. Allow when RBAC grants the permission `<resource.type>:<action.name>` to
//! one of the subject's roles, or a Cedar `permit` matches; but never when a Cedar `forbid`
//! matches, and never when any policy failed to evaluate (Cedar itself would skip a policy
//! that errors; an authorization server must not let an error widen access).

use cedar_policy::{Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, Request};
use serde::Serialize;

use super::compiled::Compiled;
use super::request::{
    DecisionRequest, SubjectFacts, SubjectKind, action_uid, context_json, entities_json, principal_uid, resource_uid,
};
use crate::clock::UnixTime;

/// Why a decision came out as it did (`?explain=true`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The RBAC permission the request needs.
    pub permission: String,
    /// The subject's roles that grant it (empty: RBAC does not allow).
    pub granted_by_roles: Vec<String>,
    /// Cedar `permit` policies that matched (known when no `forbid` did).
    pub permitted_by: Vec<String>,
    /// Cedar `forbid` policies that matched.
    pub forbidden_by: Vec<String>,
    /// Evaluation errors (any error denies).
    pub errors: Vec<String>,
    /// The policy store revision the decision was made at.
    pub policy_revision: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub explanation: Explanation,
}

impl Decision {
    /// What decided, for metrics: `rbac`, `policy`, `forbid`, `error` or `default`.
    pub fn basis(&self) -> &'static str {
        let e = &self.explanation;
        if !e.errors.is_empty() {
            "error"
        } else if !e.forbidden_by.is_empty() {
            "forbid"
        } else if !e.granted_by_roles.is_empty() {
            "rbac"
        } else if !e.permitted_by.is_empty() {
            "policy"
        } else {
            "default"
        }
    }
}

/// Evaluates `req` (already checked) for a subject with `facts` at `now`.
pub fn evaluate(
    compiled: &Compiled,
    req: &DecisionRequest,
    kind: SubjectKind,
    facts: &SubjectFacts,
    now: UnixTime,
) -> Decision {
    let permission = req.permission();
    let mut explanation = Explanation {
        granted_by_roles: facts.roles_granting(&permission),
        permission,
        policy_revision: compiled.revision,
        ..Explanation::default()
    };
    if let Some(broken) = &compiled.broken {
        explanation.errors.push(broken.clone());
        return Decision { allowed: false, explanation };
    }
    match cedar(compiled, req, kind, facts, now) {
        Ok((decision, reasons, errors)) => {
            explanation.errors = errors;
            match decision {
                CedarDecision::Allow => explanation.permitted_by = reasons,
                CedarDecision::Deny => explanation.forbidden_by = reasons,
            }
        }
        Err(e) => explanation.errors.push(e),
    }
    let e = &explanation;
    let allowed = e.errors.is_empty()
        && e.forbidden_by.is_empty()
        && (!e.granted_by_roles.is_empty() || !e.permitted_by.is_empty());
    Decision { allowed, explanation }
}

type CedarOutcome = (CedarDecision, Vec<String>, Vec<String>);

fn cedar(
    compiled: &Compiled,
    req: &DecisionRequest,
    kind: SubjectKind,
    facts: &SubjectFacts,
    now: UnixTime,
) -> Result<CedarOutcome, String> {
    let uid = |v: serde_json::Value| EntityUid::from_json(v).map_err(|e| format!("entity id: {e}"));
    let entities =
        Entities::from_json_value(entities_json(req, kind, facts), None).map_err(|e| format!("entity data: {e}"))?;
    let entities = compiled.actions.clone().add_entities(entities, None).map_err(|e| format!("entity data: {e}"))?;
    let context = Context::from_json_value(context_json(req, now), None).map_err(|e| format!("context: {e}"))?;
    let request =
        Request::new(uid(principal_uid(req, kind))?, uid(action_uid(req))?, uid(resource_uid(req))?, context, None)
            .map_err(|e| format!("request: {e}"))?;
    let response = Authorizer::new().is_authorized(&request, &compiled.policies, &entities);
    let mut reasons: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
    reasons.sort();
    let errors = response.diagnostics().errors().map(ToString::to_string).collect();
    Ok((response.decision(), reasons, errors))
}
