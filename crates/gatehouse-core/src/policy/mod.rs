//! Attribute policies: Cedar policies and schema stored in versions, validated on upload, and
//! evaluated in-process together with RBAC (docs/policies.md). No HTTP, no SQL: the AuthZEN
//! endpoints (gatehouse-http) and the `policies` command call [`PolicyService`].

mod compiled;
mod decider;
mod diagnostics;
mod engine;
mod entities;
mod request;
mod schema;
mod service;
mod store;

use crate::store::StoreError;

pub use compiled::{Compiled, parse_policies, parse_schema, validate};
pub use decider::Decider;
pub use diagnostics::{Diagnostic, DocumentErrors};
pub use engine::{Decision, Explanation, evaluate};
pub use request::{Action, DecisionRequest, NAMESPACE, Resource, SUBJECT_TOKEN, Subject, SubjectFacts, SubjectKind};
pub use schema::DEFAULT_SCHEMA;
pub use service::{DEFAULT_RELOAD_INTERVAL, PolicyService, PolicyStores, SchemaDocument};
pub use store::{ActiveDocuments, DocumentKind, NewPolicyVersion, PolicyStore, PolicyVersion, SCHEMA_NAME};

/// The scope a client's access token needs for the AuthZEN decision endpoints.
pub const EVALUATE_SCOPE: &str = "gatehouse:evaluate";

/// Largest policy or schema document accepted (bytes).
pub const MAX_DOCUMENT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A document that does not parse or validate (Cedar's message), or a bad name.
    #[error("{0}")]
    Invalid(String),
    /// A document that does not parse or validate: Cedar's message and its diagnostics, each
    /// at its place in the text.
    #[error(transparent)]
    Document(#[from] DocumentErrors),
    /// A decision request outside the accepted shape or limits.
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not ask for decisions.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Concurrent changes kept this one from applying; try again.
    #[error("the policies changed while this change was validated; try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Policy names: 1-64 characters of `a-z 0-9 _ . -`, starting with a letter or digit (as role
/// names; `#` is left for the ids of a document's several statements).
pub fn check_name(name: &str) -> Result<(), PolicyError> {
    let mut bytes = name.bytes();
    let ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && name.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(PolicyError::Invalid(
            "policy names are 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit".to_owned(),
        ))
    }
}
