//! Cedar documents turned into what evaluation needs: the parsed schema, the validated policy
//! set with Gatehouse's policy ids, and the action entities (for `action in …` groups).
//! Parse and validation messages are Cedar's own, as the operator must see them.

use std::fmt::Write as _;
use std::str::FromStr;

use cedar_policy::{Entities, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use super::schema::DEFAULT_SCHEMA;
use super::store::ActiveDocuments;

/// A compiled, validated snapshot of the stored documents.
pub struct Compiled {
    pub revision: i64,
    /// `None` only when [`Self::broken`] is set.
    pub schema: Option<Schema>,
    pub policies: PolicySet,
    pub actions: Entities,
    /// Set when the stored documents no longer compile (e.g. after a Cedar upgrade): every
    /// decision then denies with this message, rather than silently ignoring policies.
    pub broken: Option<String>,
}

impl Compiled {
    /// Compiles `docs`; never fails: a broken store yields a deny-everything snapshot.
    pub fn from_documents(docs: &ActiveDocuments) -> Self {
        let schema_text = docs.schema.as_ref().and_then(|s| s.body.as_deref()).unwrap_or(DEFAULT_SCHEMA);
        let schema = match parse_schema(schema_text) {
            Ok(s) => s,
            Err(e) => return Self::broken(docs.revision, format!("the stored schema does not parse: {e}")),
        };
        let mut set = PolicySet::new();
        for doc in &docs.policies {
            let Some(body) = doc.body.as_deref() else { continue };
            let parsed = parse_policies(&doc.name, body).and_then(|p| validate(&schema, &p).map(|()| p));
            match parsed.and_then(|p| merge(&mut set, p)) {
                Ok(()) => {}
                Err(e) => return Self::broken(docs.revision, format!("stored policy {}: {e}", doc.name)),
            }
        }
        let actions = match schema.action_entities() {
            Ok(a) => a,
            Err(e) => return Self::broken(docs.revision, format!("the schema's actions: {e}")),
        };
        Self { revision: docs.revision, schema: Some(schema), policies: set, actions, broken: None }
    }

    fn broken(revision: i64, message: String) -> Self {
        tracing::error!(revision, message = %message, "the stored policies do not compile; every decision denies");
        Self { revision, schema: None, policies: PolicySet::new(), actions: Entities::empty(), broken: Some(message) }
    }
}

/// Parses a Cedar schema (the human-readable format).
pub fn parse_schema(text: &str) -> Result<Schema, String> {
    Schema::from_cedarschema_str(text).map(|(s, _warnings)| s).map_err(|e| render(&e))
}

/// Parses one named document into policies with ids `name` (one statement) or `name#0`,
/// `name#1`, … (several, in source order). Templates are refused.
pub fn parse_policies(name: &str, text: &str) -> Result<PolicySet, String> {
    let parsed = PolicySet::from_str(text).map_err(|e| render(&e))?;
    if parsed.templates().next().is_some() {
        return Err("policy templates (?principal, ?resource) are not supported".to_owned());
    }
    let mut policies: Vec<_> = parsed.policies().collect();
    if policies.is_empty() {
        return Err("the document contains no policy".to_owned());
    }
    // `from_str` numbers statements policy0, policy1, … in source order.
    policies.sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX));
    let single = policies.len() == 1;
    let mut out = PolicySet::new();
    for (i, p) in policies.into_iter().enumerate() {
        let id = if single { name.to_owned() } else { format!("{name}#{i}") };
        out.add(p.new_id(PolicyId::new(id))).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Strict validation against `schema`; every error's message, one per line.
pub fn validate(schema: &Schema, policies: &PolicySet) -> Result<(), String> {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    if result.validation_passed() {
        return Ok(());
    }
    let mut out = String::new();
    for e in result.validation_errors() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&render(e));
    }
    Err(out)
}

fn merge(set: &mut PolicySet, more: PolicySet) -> Result<(), String> {
    for p in more.policies() {
        set.add(p.clone()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// An error with its causes and Cedar's help text, on one line each.
fn render(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schema_parses() {
        parse_schema(DEFAULT_SCHEMA).unwrap();
    }

    #[test]
    fn several_statements_get_numbered_ids() {
        let set = parse_policies(
            "pair",
            r#"permit(principal, action == Gatehouse::Action::"read", resource);
               forbid(principal, action == Gatehouse::Action::"delete", resource);"#,
        )
        .unwrap();
        let mut ids: Vec<String> = set.policies().map(|p| p.id().to_string()).collect();
        ids.sort();
        assert_eq!(ids, ["pair#0", "pair#1"]);
        validate(&parse_schema(DEFAULT_SCHEMA).unwrap(), &set).unwrap();
    }

    #[test]
    fn parse_and_validation_errors_carry_cedars_message() {
        let e = parse_policies("bad", "permit(principal, action, resource) when { resource.owner == };").unwrap_err();
        assert!(e.contains("unexpected token"), "{e}");
        // An optional attribute read without `has` fails strict validation.
        let set =
            parse_policies("nohas", "permit(principal, action, resource) when { resource.owner == \"a\" };").unwrap();
        let e = validate(&parse_schema(DEFAULT_SCHEMA).unwrap(), &set).unwrap_err();
        assert!(e.contains("owner"), "{e}");
        assert!(parse_policies("t", "permit(principal == ?principal, action, resource);").is_err());
        assert!(parse_policies("empty", "// nothing").is_err());
    }
}
