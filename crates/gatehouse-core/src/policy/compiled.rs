//! Cedar documents turned into what evaluation needs: the parsed schema, the validated policy
//! set with Gatehouse's policy ids, and the action entities (for `action in …` groups).
//! Parse and validation messages are Cedar's own, as the operator must see them.

use std::str::FromStr;

use cedar_policy::{Entities, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use super::diagnostics::{DocumentErrors, render};
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
            let parsed = parse_policies(&doc.name, body).and_then(|p| validate(&schema, &p, body).map(|()| p));
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
pub fn parse_schema(text: &str) -> Result<Schema, DocumentErrors> {
    Schema::from_cedarschema_str(text).map(|(s, _warnings)| s).map_err(|e| {
        let message = render(&e);
        DocumentErrors::located(text, message, [&e as &dyn miette::Diagnostic])
    })
}

/// Parses one named document into policies with ids `name` (one statement) or `name#0`,
/// `name#1`, … (several, in source order). Templates are refused.
pub fn parse_policies(name: &str, text: &str) -> Result<PolicySet, DocumentErrors> {
    let parsed = PolicySet::from_str(text).map_err(|e| {
        let message = render(&e);
        DocumentErrors::located(text, message, e.iter().map(|e| e as &dyn miette::Diagnostic))
    })?;
    if parsed.templates().next().is_some() {
        return Err(DocumentErrors::whole("policy templates (?principal, ?resource) are not supported"));
    }
    let mut policies: Vec<_> = parsed.policies().collect();
    if policies.is_empty() {
        return Err(DocumentErrors::whole("the document contains no policy"));
    }
    // `from_str` numbers statements policy0, policy1, … in source order.
    policies.sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX));
    let single = policies.len() == 1;
    let mut out = PolicySet::new();
    for (i, p) in policies.into_iter().enumerate() {
        let id = if single { name.to_owned() } else { format!("{name}#{i}") };
        out.add(p.new_id(PolicyId::new(id))).map_err(|e| DocumentErrors::whole(e.to_string()))?;
    }
    Ok(out)
}

/// Strict validation against `schema` of `policies`, parsed from `text` (where the errors are
/// placed); the message has every error, one per line.
pub fn validate(schema: &Schema, policies: &PolicySet, text: &str) -> Result<(), DocumentErrors> {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    if result.validation_passed() {
        return Ok(());
    }
    let errors: Vec<_> = result.validation_errors().collect();
    let message = errors.iter().map(|e| render(*e)).collect::<Vec<_>>().join("\n");
    Err(DocumentErrors::located(text, message, errors.into_iter().map(|e| e as &dyn miette::Diagnostic)))
}

fn merge(set: &mut PolicySet, more: PolicySet) -> Result<(), DocumentErrors> {
    for p in more.policies() {
        set.add(p.clone()).map_err(|e| DocumentErrors::whole(e.to_string()))?;
    }
    Ok(())
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
        validate(&parse_schema(DEFAULT_SCHEMA).unwrap(), &set, "").unwrap();
    }

    #[test]
    fn parse_and_validation_errors_carry_cedars_message() {
        let bad = "// a comment\npermit(principal, action, resource)\n  when { resource.owner == };";
        let e = parse_policies("bad", bad).unwrap_err();
        assert!(e.message.contains("unexpected token"), "{e}");
        let d = &e.diagnostics[0];
        assert_eq!((d.line, d.column), (Some(3), Some(28)), "{e:?}");
        assert!(d.message.contains("unexpected token"), "{d:?}");
        // An optional attribute read without `has` fails strict validation, placed at its line.
        let text = "permit(principal, action, resource)\n  when { resource.owner == \"a\" };";
        let set = parse_policies("nohas", text).unwrap();
        let e = validate(&parse_schema(DEFAULT_SCHEMA).unwrap(), &set, text).unwrap_err();
        assert!(e.message.contains("owner"), "{e}");
        assert_eq!(e.diagnostics.len(), 1, "{e:?}");
        assert_eq!(e.diagnostics[0].line, Some(2), "{e:?}");
        assert!(parse_schema("namespace {").unwrap_err().diagnostics[0].line.is_some());
        assert!(parse_policies("t", "permit(principal == ?principal, action, resource);").is_err());
        assert!(parse_policies("empty", "// nothing").is_err());
    }
}
