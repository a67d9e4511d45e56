//! A decision request in the AuthZEN information model (Authorization API 1.0 §5: Subject,
//! Resource, Action, Context), its input limits, and its translation into Cedar entities.
//!
//! What the caller may not say: a subject's `id`, `roles` and `permissions` (Gatehouse reads
//! them from its own RBAC store), a resource's `kind` and `id` (they are the resource's `type`
//! and `id`), and the context's `time`, `hour` and `weekday` (Gatehouse's clock). Nor may it
//! say `mfa` of a Gatehouse account (a user id, or any client): `principal.mfa` is then true
//! only when the decision API read a token of the subject whose `amr` has `mfa`
//! ([`DecisionRequest::subject_mfa`]). For a subject that is no Gatehouse account the caller
//! still attests it. Property
//! values are JSON strings, booleans, integers, arrays (Cedar sets) and objects (records);
//! fractional numbers and Cedar's `__entity`/`__extn` escapes are refused.

use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::json;
use serde_json::{Map, Value};

#[cfg(test)]
use crate::clock::UnixTime;
use crate::user::UserId;

/// The Cedar namespace of the entity types and actions Gatehouse builds.
pub const NAMESPACE: &str = "Gatehouse";

const MAX_ID: usize = 256;
const MAX_STRING: usize = 4096;
const MAX_PROPERTIES: usize = 64;
const MAX_ELEMENTS: usize = 256;
const SUBJECT_RESERVED: [&str; 3] = ["id", "roles", "permissions"];
const RESOURCE_RESERVED: [&str; 2] = ["kind", "id"];
const CONTEXT_RESERVED: [&str; 3] = ["time", "hour", "weekday"];

/// AuthZEN §5.1. `type` is `user` (the id is a Gatehouse user id) or `client` (a client id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

/// AuthZEN §5.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

/// AuthZEN §5.3. Properties are accepted and not used (Cedar actions carry no attributes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
}

/// AuthZEN §6.1: the 4-tuple.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub subject: Subject,
    pub action: Action,
    pub resource: Resource,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
    /// Whether the subject signed in with more than one factor, as Gatehouse read it from the
    /// subject's own access token (its RFC 8176 `amr` has `mfa`); never from the request body.
    #[serde(skip)]
    pub subject_mfa: Option<bool>,
}

/// The subject property that carries the subject's access token (read by the decision API,
/// never passed to Cedar).
pub const SUBJECT_TOKEN: &str = "token";

/// The kinds of subject Gatehouse knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    User,
    Client,
}

impl DecisionRequest {
    /// The RBAC permission this request asks for: `<resource.type>:<action.name>`.
    pub fn permission(&self) -> String {
        format!("{}:{}", self.resource.kind, self.action.name)
    }

    /// Actions on Gatehouse's own resources (`resource.type` `gatehouse` or `gatehouse.*`):
    /// their decisions are audited, not only counted.
    pub fn is_admin_relevant(&self) -> bool {
        self.resource.kind == "gatehouse" || self.resource.kind.starts_with("gatehouse.")
    }

    /// Checks the limits and reserved names; the message is safe to show the caller.
    pub fn check(&self) -> Result<SubjectKind, String> {
        let kind = match self.subject.kind.as_str() {
            "user" => SubjectKind::User,
            "client" => SubjectKind::Client,
            _ => return Err("subject.type must be \"user\" or \"client\"".to_owned()),
        };
        for (field, v) in [
            ("subject.id", &self.subject.id),
            ("resource.type", &self.resource.kind),
            ("resource.id", &self.resource.id),
            ("action.name", &self.action.name),
        ] {
            if v.is_empty() || v.len() > MAX_ID {
                return Err(format!("{field} must be 1-{MAX_ID} bytes"));
            }
        }
        // Cedar compares entity ids as strings: a user id has exactly one spelling, or a
        // `forbid` naming a user could be dodged by spelling the same UUID differently (upper
        // case, no hyphens, braces) while Gatehouse still finds the user's roles.
        if kind == SubjectKind::User
            && UserId::parse(&self.subject.id).is_some_and(|id| id.to_string() != self.subject.id)
        {
            return Err("subject.id: a user id is written in lower case with hyphens".to_owned());
        }
        // The resource's entity id is `<type>/<id>`: a `/` in the type would make two
        // different resources one entity.
        if self.resource.kind.contains('/') {
            return Err("resource.type must not contain '/'".to_owned());
        }
        if self.subject.properties.contains_key(SUBJECT_TOKEN) {
            return Err("subject.properties.token is read by the decision API only".to_owned());
        }
        // Gatehouse can check a second factor of its own accounts (from their token); the
        // caller's word for it would let any evaluator lift a `principal.mfa` condition.
        let own_account = kind == SubjectKind::Client || UserId::parse(&self.subject.id).is_some();
        if own_account && self.subject.properties.contains_key("mfa") {
            return Err("subject.properties.mfa of a Gatehouse account is set by Gatehouse: \
                        pass the subject's access token as subject.properties.token instead"
                .to_owned());
        }
        properties("subject.properties", &self.subject.properties, &SUBJECT_RESERVED)?;
        properties("resource.properties", &self.resource.properties, &RESOURCE_RESERVED)?;
        properties("action.properties", &self.action.properties, &[])?;
        properties("context", &self.context, &CONTEXT_RESERVED)?;
        Ok(kind)
    }
}

fn properties(field: &str, map: &Map<String, Value>, reserved: &[&str]) -> Result<(), String> {
    if map.len() > MAX_PROPERTIES {
        return Err(format!("{field} has more than {MAX_PROPERTIES} entries"));
    }
    if let Some(k) = map.keys().find(|k| reserved.contains(&k.as_str())) {
        return Err(format!("{field}.{k} is set by Gatehouse and cannot be given"));
    }
    map.iter().try_for_each(|(k, v)| value(&format!("{field}.{k}"), k, v))
}

fn value(path: &str, key: &str, v: &Value) -> Result<(), String> {
    if key.starts_with("__") || key.len() > MAX_ID {
        return Err(format!("{path}: property names must not start with \"__\" and are at most {MAX_ID} bytes"));
    }
    match v {
        Value::Null => Err(format!("{path}: null is not a value (omit the property)")),
        Value::Bool(_) => Ok(()),
        Value::Number(n) if n.is_i64() => Ok(()),
        Value::Number(_) => Err(format!("{path}: numbers must be integers (-2^63..2^63)")),
        Value::String(s) if s.len() <= MAX_STRING => Ok(()),
        Value::String(_) => Err(format!("{path}: strings are at most {MAX_STRING} bytes")),
        Value::Array(items) if items.len() <= MAX_ELEMENTS => items.iter().try_for_each(|i| value(path, "", i)),
        Value::Array(_) => Err(format!("{path}: arrays have at most {MAX_ELEMENTS} elements")),
        Value::Object(m) if m.len() <= MAX_PROPERTIES => {
            m.iter().try_for_each(|(k, i)| value(&format!("{path}.{k}"), k, i))
        }
        Value::Object(_) => Err(format!("{path}: objects have at most {MAX_PROPERTIES} entries")),
    }
}

/// What Gatehouse knows about the subject (never from the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFacts {
    /// Each role the subject holds, with that role's permissions.
    pub roles: Vec<(String, Vec<String>)>,
}

impl SubjectFacts {
    pub fn permissions(&self) -> Vec<String> {
        let mut all: Vec<String> = self.roles.iter().flat_map(|(_, p)| p.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The roles that grant `permission`.
    pub fn roles_granting(&self, permission: &str) -> Vec<String> {
        self.roles.iter().filter(|(_, p)| p.iter().any(|x| x == permission)).map(|(r, _)| r.clone()).collect()
    }
}

// The JSON forms below are the reference the decisions' Rust-API entities are tested against
// (`super::entities`).

#[cfg(test)]
/// The principal's and resource's entity type names.
pub fn entity_type(kind: SubjectKind) -> String {
    match kind {
        SubjectKind::User => format!("{NAMESPACE}::User"),
        SubjectKind::Client => format!("{NAMESPACE}::Client"),
    }
}

#[cfg(test)]
/// The Cedar entities (JSON form) of the principal and the resource.
pub fn entities_json(req: &DecisionRequest, kind: SubjectKind, facts: &SubjectFacts) -> Value {
    let mut principal = req.subject.properties.clone();
    principal.insert("id".into(), json!(req.subject.id));
    principal.insert("roles".into(), json!(facts.roles.iter().map(|(r, _)| r).collect::<Vec<_>>()));
    principal.insert("permissions".into(), json!(facts.permissions()));
    match req.subject_mfa {
        Some(mfa) => {
            principal.insert("mfa".into(), json!(mfa));
        }
        None => {
            principal.entry("mfa").or_insert(json!(false));
        }
    }
    let mut resource = req.resource.properties.clone();
    resource.insert("kind".into(), json!(req.resource.kind));
    resource.insert("id".into(), json!(req.resource.id));
    json!([
        { "uid": principal_uid(req, kind), "attrs": principal, "parents": [] },
        { "uid": resource_uid(req), "attrs": resource, "parents": [] },
    ])
}

#[cfg(test)]
pub fn principal_uid(req: &DecisionRequest, kind: SubjectKind) -> Value {
    json!({ "type": entity_type(kind), "id": req.subject.id })
}

#[cfg(test)]
/// `Gatehouse::Resource::"<type>/<id>"`: ids are scoped to their type (AuthZEN §5.2).
pub fn resource_uid(req: &DecisionRequest) -> Value {
    json!({ "type": format!("{NAMESPACE}::Resource"), "id": format!("{}/{}", req.resource.kind, req.resource.id) })
}

#[cfg(test)]
/// The request's context plus `time` (Unix seconds), `hour` (0-23) and `weekday` (1 = Monday
/// … 7 = Sunday), all UTC, from Gatehouse's clock.
pub fn context_json(req: &DecisionRequest, now: UnixTime) -> Value {
    let mut ctx = req.context.clone();
    let days = now.div_euclid(86_400);
    ctx.insert("time".into(), json!(now));
    ctx.insert("hour".into(), json!(now.rem_euclid(86_400) / 3600));
    // 1970-01-01 was a Thursday (4).
    ctx.insert("weekday".into(), json!((days + 3).rem_euclid(7) + 1));
    Value::Object(ctx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(v: Value) -> DecisionRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reserved_and_malformed_inputs_are_refused() {
        let base = json!({ "subject": { "type": "user", "id": "u" }, "action": { "name": "read" },
                           "resource": { "type": "doc", "id": "1" } });
        assert_eq!(req(base.clone()).check(), Ok(SubjectKind::User));
        let mut r = req(base.clone());
        r.subject.properties.insert("roles".into(), json!(["admin"]));
        assert!(r.check().unwrap_err().contains("subject.properties.roles"));
        let mut r = req(base.clone());
        r.context.insert("hour".into(), json!(10));
        assert!(r.check().unwrap_err().contains("context.hour"));
        let mut r = req(base.clone());
        r.resource.properties.insert("score".into(), json!(1.5));
        assert!(r.check().unwrap_err().contains("integers"));
        let mut r = req(base.clone());
        r.resource.properties.insert("owner".into(), json!({ "__entity": { "type": "X", "id": "y" } }));
        assert!(r.check().unwrap_err().contains("__"));
        let mut r = req(base.clone());
        r.subject.kind = "group".into();
        assert!(r.check().is_err());
        // One spelling per user id (a forbid naming the user must not be dodged).
        let id = "0190a1b2-0000-7000-8000-00000000000a";
        for other in [id.to_uppercase(), id.replace('-', ""), format!("{{{id}}}"), format!("urn:uuid:{id}")] {
            let mut r = req(base.clone());
            r.subject.id = other.clone();
            assert!(r.check().unwrap_err().contains("lower case"), "{other}");
        }
        let mut r = req(base.clone());
        r.subject.id = id.into();
        assert_eq!(r.check(), Ok(SubjectKind::User));
        let mut r = req(base.clone());
        r.resource.kind = "a/b".into();
        assert!(r.check().unwrap_err().contains("'/'"));
        // `mfa` of a Gatehouse account comes from its token, never from the caller.
        let mut r = req(base.clone());
        r.subject.id = id.into();
        r.subject.properties.insert("mfa".into(), json!(true));
        assert!(r.check().unwrap_err().contains("subject.properties.mfa"));
        let mut r = req(base.clone());
        r.subject.kind = "client".into();
        r.subject.properties.insert("mfa".into(), json!(true));
        assert!(r.check().unwrap_err().contains("subject.properties.mfa"));
        let mut r = req(base.clone());
        r.subject.properties.insert("mfa".into(), json!(true));
        assert_eq!(r.check(), Ok(SubjectKind::User), "no Gatehouse account: the caller attests");
        let mut r = req(base);
        r.subject.properties.insert("token".into(), json!("t"));
        assert!(r.check().unwrap_err().contains("token"));
    }

    #[test]
    fn principal_mfa_is_what_gatehouse_read() {
        let mut r = req(json!({ "subject": { "type": "user", "id": "0190a1b2-0000-7000-8000-00000000000a" },
                                "action": { "name": "read" }, "resource": { "type": "doc", "id": "1" } }));
        let mfa = |r: &DecisionRequest| {
            entities_json(r, SubjectKind::User, &SubjectFacts::default())[0]["attrs"]["mfa"].clone()
        };
        assert_eq!(mfa(&r), json!(false), "no evidence");
        r.subject_mfa = Some(true);
        assert_eq!(mfa(&r), json!(true));
        r.subject_mfa = Some(false);
        assert_eq!(mfa(&r), json!(false));
    }

    #[test]
    fn clock_facts_are_utc() {
        // 2024-06-11 16:30:00 UTC, a Tuesday.
        let ctx = context_json(
            &req(json!({ "subject": { "type": "user", "id": "u" }, "action": { "name": "read" },
                         "resource": { "type": "doc", "id": "1" } })),
            1_718_123_400,
        );
        assert_eq!(ctx["hour"], 16);
        assert_eq!(ctx["weekday"], 2);
    }
}
