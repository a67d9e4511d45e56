//! A decision request's Cedar entities and context, built with Cedar's Rust API (no JSON
//! round trip per decision). The result is the same as Cedar's JSON entity format read
//! without a schema would give for [`super::request`]'s JSON forms — a test checks it.
//! JSON strings, booleans, integers, arrays and objects become Cedar strings, booleans, longs,
//! sets and records; anything else never passes [`super::DecisionRequest::check`], and is an
//! error here too.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{Context, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::{Map, Value};

use super::request::{DecisionRequest, NAMESPACE, SubjectFacts, SubjectKind};
use crate::clock::UnixTime;

struct TypeNames {
    user: Option<EntityTypeName>,
    client: Option<EntityTypeName>,
    resource: Option<EntityTypeName>,
    action: Option<EntityTypeName>,
}

/// Parsed once: the names are constants, so `None` (a parse failure) cannot happen in practice
/// and is an error of the decision, not a panic.
static TYPES: LazyLock<TypeNames> = LazyLock::new(|| {
    let name = |t: &str| EntityTypeName::from_str(&format!("{NAMESPACE}::{t}")).ok();
    TypeNames { user: name("User"), client: name("Client"), resource: name("Resource"), action: name("Action") }
});

fn uid(name: &Option<EntityTypeName>, id: &str) -> Result<EntityUid, String> {
    let name = name.clone().ok_or("entity id: an entity type name did not parse")?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

pub fn principal_uid(req: &DecisionRequest, kind: SubjectKind) -> Result<EntityUid, String> {
    let types = &*TYPES;
    let name = match kind {
        SubjectKind::User => &types.user,
        SubjectKind::Client => &types.client,
    };
    uid(name, &req.subject.id)
}

/// `Gatehouse::Resource::"<type>/<id>"`: ids are scoped to their type (AuthZEN §5.2).
pub fn resource_uid(req: &DecisionRequest) -> Result<EntityUid, String> {
    uid(&TYPES.resource, &format!("{}/{}", req.resource.kind, req.resource.id))
}

pub fn action_uid(req: &DecisionRequest) -> Result<EntityUid, String> {
    uid(&TYPES.action, &req.action.name)
}

/// A checked JSON value as a Cedar value.
fn expr(v: &Value) -> Result<RestrictedExpression, String> {
    Ok(match v {
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::Number(n) => RestrictedExpression::new_long(n.as_i64().ok_or("numbers must be integers")?),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Array(items) => RestrictedExpression::new_set(items.iter().map(expr).collect::<Result<Vec<_>, _>>()?),
        Value::Object(m) => RestrictedExpression::new_record(attrs(m)?).map_err(|e| e.to_string())?,
        Value::Null => return Err("null is not a value".to_owned()),
    })
}

fn attrs(map: &Map<String, Value>) -> Result<HashMap<String, RestrictedExpression>, String> {
    map.iter().map(|(k, v)| Ok((k.clone(), expr(v)?))).collect()
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(|s| RestrictedExpression::new_string(s.clone())))
}

/// The principal: the caller's subject properties plus `id`, `roles`, `permissions` and `mfa`,
/// which Gatehouse sets.
pub fn principal_entity(req: &DecisionRequest, kind: SubjectKind, facts: &SubjectFacts) -> Result<Entity, String> {
    let mut principal = attrs(&req.subject.properties).map_err(data)?;
    principal.insert("id".into(), RestrictedExpression::new_string(req.subject.id.clone()));
    principal.insert("roles".into(), strings(facts.roles.iter().map(|(r, _)| r)));
    principal.insert("permissions".into(), strings(&facts.permissions()));
    match req.subject_mfa {
        Some(mfa) => {
            principal.insert("mfa".into(), RestrictedExpression::new_bool(mfa));
        }
        None => {
            principal.entry("mfa".into()).or_insert_with(|| RestrictedExpression::new_bool(false));
        }
    }
    Entity::new(principal_uid(req, kind)?, principal, HashSet::new()).map_err(|e| data(e.to_string()))
}

/// The resource: its properties plus `kind` and `id`.
pub fn resource_entity(req: &DecisionRequest) -> Result<Entity, String> {
    let mut resource = attrs(&req.resource.properties).map_err(data)?;
    resource.insert("kind".into(), RestrictedExpression::new_string(req.resource.kind.clone()));
    resource.insert("id".into(), RestrictedExpression::new_string(req.resource.id.clone()));
    Entity::new(resource_uid(req)?, resource, HashSet::new()).map_err(|e| data(e.to_string()))
}

fn data(e: String) -> String {
    format!("entity data: {e}")
}

/// The request's context plus `time` (Unix seconds), `hour` (0-23) and `weekday` (1 = Monday
/// … 7 = Sunday), all UTC, from Gatehouse's clock (Gatehouse's values win).
pub fn context(req: &DecisionRequest, now: UnixTime) -> Result<Context, String> {
    let days = now.div_euclid(86_400);
    let clock = [
        ("time", now),
        ("hour", now.rem_euclid(86_400) / 3600),
        // 1970-01-01 was a Thursday (4).
        ("weekday", (days + 3).rem_euclid(7) + 1),
    ];
    let mut pairs = Vec::with_capacity(req.context.len() + clock.len());
    for (k, v) in &req.context {
        if !clock.iter().any(|(c, _)| c == k) {
            pairs.push((k.clone(), expr(v).map_err(|e| format!("context: {e}"))?));
        }
    }
    pairs.extend(clock.into_iter().map(|(k, v)| (k.to_owned(), RestrictedExpression::new_long(v))));
    Context::from_pairs(pairs).map_err(|e| format!("context: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cedar_policy::Entities;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::policy::request::{context_json, entities_json};

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z\"\\\\ é]{0,6}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn props() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-z]{1,5}", value(), 0..4).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        /// The Rust-API entities and context are exactly what Cedar reads from the JSON forms.
        #[test]
        fn same_as_the_json_forms(
            subject in props(), resource in props(), ctx in props(),
            client in any::<bool>(), mfa in prop::option::of(any::<bool>()), now in any::<i32>(),
            roles in prop::collection::vec(("[a-c]", prop::collection::vec("[a-c]:[a-c]", 0..3)), 0..3),
        ) {
            let mut req: DecisionRequest = serde_json::from_value(json!({
                "subject": { "type": if client { "client" } else { "user" }, "id": "s\"1", "properties": subject },
                "action": { "name": "read" },
                "resource": { "type": "doc", "id": "1/2", "properties": resource },
                "context": ctx,
            })).unwrap();
            req.subject_mfa = mfa;
            let kind = if client { SubjectKind::Client } else { SubjectKind::User };
            let facts = SubjectFacts { roles };
            let from_json = Entities::from_json_value(entities_json(&req, kind, &facts), None).unwrap();
            let built = [principal_entity(&req, kind, &facts).unwrap(), resource_entity(&req).unwrap()];
            let built = Entities::from_entities(built, None).unwrap();
            prop_assert_eq!(built, from_json);
            let now = i64::from(now) * 7;
            let from_json = Context::from_json_value(context_json(&req, now), None).unwrap();
            prop_assert_eq!(context(&req, now).unwrap(), from_json);
        }
    }
}
