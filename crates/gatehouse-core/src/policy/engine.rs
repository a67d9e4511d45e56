//! One decision: RBAC and Cedar combined (docs/policies.md "How a decision is made").
//!
//! Deny by default. Allow when RBAC grants the permission `<resource.type>:<action.name>` to
//! one of the subject's roles, or a Cedar `permit` matches; but never when a Cedar `forbid`
//! matches, and never when any policy failed to evaluate (Cedar itself would skip a policy
//! that errors; an authorization server must not let an error widen access).

use cedar_policy::{Authorizer, Context, Decision as CedarDecision, Entities, Request};
use serde::Serialize;
use serde_json::{Map, Value};

use super::compiled::Compiled;
use super::entities::{action_uid, context, principal_entity, principal_uid, resource_entity, resource_uid};
use super::request::{DecisionRequest, SubjectFacts, SubjectKind};
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

/// Cedar inputs that repeat between decisions for one subject (a batch, AuthZEN §7): the
/// subject's entity with the action entities, and the last context. Each is reused only for a
/// request whose subject properties and `mfa` (or context and time) are exactly those it was
/// built from, so a decision is the same with or without it.
#[derive(Default)]
pub struct Reuse {
    subject: Option<(Map<String, Value>, Option<bool>, Entities)>,
    context: Option<(Map<String, Value>, UnixTime, Context)>,
}

/// Evaluates `req` (already checked) for a subject with `facts` at `now`.
pub fn evaluate(
    compiled: &Compiled,
    req: &DecisionRequest,
    kind: SubjectKind,
    facts: &SubjectFacts,
    now: UnixTime,
) -> Decision {
    evaluate_reusing(compiled, req, kind, facts, now, &mut Reuse::default())
}

/// [`evaluate`], reusing (and keeping) what `reuse` holds for this subject: every call with one
/// `reuse` must be for the same subject (kind, id and `facts`).
pub fn evaluate_reusing(
    compiled: &Compiled,
    req: &DecisionRequest,
    kind: SubjectKind,
    facts: &SubjectFacts,
    now: UnixTime,
    reuse: &mut Reuse,
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
    // Without policies Cedar can only say "no permit, no forbid": RBAC alone decides.
    if compiled.policies.is_empty() {
        let allowed = !explanation.granted_by_roles.is_empty();
        return Decision { allowed, explanation };
    }
    match cedar(compiled, req, kind, facts, now, reuse) {
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
    reuse: &mut Reuse,
) -> Result<CedarOutcome, String> {
    let subject = match &reuse.subject {
        Some((properties, mfa, entities)) if *properties == req.subject.properties && *mfa == req.subject_mfa => {
            entities.clone()
        }
        _ => {
            // The action entities (for `action in …` groups) are in every decision's store;
            // cloning them shares each entity (an `Arc`), it does not copy it.
            let entities = compiled
                .actions
                .clone()
                .add_entities([principal_entity(req, kind, facts)?], None)
                .map_err(|e| format!("entity data: {e}"))?;
            reuse.subject = Some((req.subject.properties.clone(), req.subject_mfa, entities.clone()));
            entities
        }
    };
    let entities = subject.add_entities([resource_entity(req)?], None).map_err(|e| format!("entity data: {e}"))?;
    let context = match &reuse.context {
        Some((values, at, context)) if *values == req.context && *at == now => context.clone(),
        _ => {
            let built = context(req, now)?;
            reuse.context = Some((req.context.clone(), now, built.clone()));
            built
        }
    };
    let request = Request::new(principal_uid(req, kind)?, action_uid(req)?, resource_uid(req)?, context, None)
        .map_err(|e| format!("request: {e}"))?;
    let response = Authorizer::new().is_authorized(&request, &compiled.policies, &entities);
    let mut reasons: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
    reasons.sort();
    let errors = response.diagnostics().errors().map(ToString::to_string).collect();
    Ok((response.decision(), reasons, errors))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::{ActiveDocuments, DocumentKind, PolicyVersion};

    fn compiled(policies: &[(&str, &str)]) -> Compiled {
        let policies = policies
            .iter()
            .map(|(name, body)| PolicyVersion {
                revision: 1,
                kind: DocumentKind::Policy,
                name: (*name).into(),
                version: 1,
                body: Some((*body).into()),
                author: "test".into(),
                created_at: 0,
            })
            .collect();
        let c = Compiled::from_documents(&ActiveDocuments { revision: 1, schema: None, policies });
        assert!(c.broken.is_none(), "{:?}", c.broken);
        c
    }

    fn request(action: &str, resource: serde_json::Value) -> DecisionRequest {
        serde_json::from_value(json!({ "subject": { "type": "user", "id": "u1" }, "action": { "name": action },
                                       "resource": resource }))
        .unwrap()
    }

    proptest::proptest! {
        /// Within a batch, one subject's decisions reuse its entity and the last context: the
        /// decisions (and explanations) are those of evaluating each request afresh, whatever
        /// changes between them (subject properties, mfa, action, resource, context, time).
        #[test]
        fn reusing_decides_as_evaluating_afresh(items in proptest::collection::vec(
            (0..3u8, 0..3u8, proptest::option::of(proptest::bool::ANY), 0..3u8, 0..3i64), 1..10,
        )) {
            let c = compiled(&[("p", r#"
                permit(principal, action, resource)
                  when { principal has dept && resource has dept && principal.dept == resource.dept };
                forbid(principal, action, resource)
                  when { resource.id == "d1" && context has ip && context.ip == "203.0.113.9" };
                permit(principal, action, resource) when { principal.mfa && context.time > 1 };
            "#)]);
            let mut reuse = Reuse::default();
            for (dept, res, mfa, ctx, now) in items {
                let context = match ctx {
                    0 => json!({}),
                    1 => json!({ "ip": "203.0.113.9" }),
                    _ => json!({ "ip": "198.51.100.1" }),
                };
                let mut req: DecisionRequest = serde_json::from_value(json!({
                    "subject": { "type": "user", "id": "u1", "properties": { "dept": dept } },
                    "action": { "name": if res == 0 { "read" } else { "write" } },
                    "resource": { "type": "doc", "id": format!("d{res}"), "properties": { "dept": res } },
                    "context": context,
                })).unwrap();
                req.subject_mfa = mfa;
                let kind = SubjectKind::User;
                let afresh = evaluate(&c, &req, kind, &reader(), now);
                proptest::prop_assert_eq!(evaluate_reusing(&c, &req, kind, &reader(), now, &mut reuse), afresh);
            }
        }
    }

    fn reader() -> SubjectFacts {
        SubjectFacts { roles: vec![("reader".into(), vec!["doc:read".into()])] }
    }

    #[test]
    fn deny_by_default_rbac_or_permit_allows_forbid_wins() {
        let none = compiled(&[]);
        let doc = json!({ "type": "doc", "id": "1" });
        let d = evaluate(&none, &request("read", doc.clone()), SubjectKind::User, &SubjectFacts::default(), 0);
        assert_eq!((d.allowed, d.basis()), (false, "default"));
        let d = evaluate(&none, &request("read", doc.clone()), SubjectKind::User, &reader(), 0);
        assert_eq!((d.allowed, d.basis()), (true, "rbac"));
        assert_eq!(d.explanation.granted_by_roles, ["reader"]);

        let c = compiled(&[
            ("share", r#"permit(principal, action == Gatehouse::Action::"share", resource);"#),
            (
                "no-read",
                r#"forbid(principal, action == Gatehouse::Action::"read", resource) when { resource.kind == "doc" };"#,
            ),
        ]);
        let d = evaluate(&c, &request("share", doc.clone()), SubjectKind::User, &SubjectFacts::default(), 0);
        assert_eq!((d.allowed, d.explanation.permitted_by.clone()), (true, vec!["share".to_owned()]));
        let d = evaluate(&c, &request("read", doc), SubjectKind::User, &reader(), 0);
        assert_eq!((d.allowed, d.basis()), (false, "forbid"), "a forbid overrides RBAC");
        assert_eq!(d.explanation.forbidden_by, ["no-read"]);
    }

    #[test]
    fn an_evaluation_error_denies_even_what_rbac_allows() {
        let c = compiled(&[(
            "level",
            r#"permit(principal, action == Gatehouse::Action::"read", resource) when { resource has level && resource.level > 2 };"#,
        )]);
        let bad = request("read", json!({ "type": "doc", "id": "1", "properties": { "level": "high" } }));
        let d = evaluate(&c, &bad, SubjectKind::User, &reader(), 0);
        assert_eq!((d.allowed, d.basis()), (false, "error"));
        assert!(d.explanation.errors[0].contains("level"), "{:?}", d.explanation.errors);
    }

    #[test]
    fn a_store_that_no_longer_compiles_denies_everything() {
        let docs = ActiveDocuments {
            revision: 3,
            schema: Some(PolicyVersion {
                revision: 3,
                kind: DocumentKind::Schema,
                name: "schema".into(),
                version: 1,
                body: Some("namespace {".into()),
                author: "test".into(),
                created_at: 0,
            }),
            policies: Vec::new(),
        };
        let c = Compiled::from_documents(&docs);
        let d = evaluate(&c, &request("read", json!({ "type": "doc", "id": "1" })), SubjectKind::User, &reader(), 0);
        assert!(!d.allowed);
        assert!(d.explanation.errors[0].contains("schema"));
    }
}
