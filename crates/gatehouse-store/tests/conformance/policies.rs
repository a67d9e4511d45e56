//! `PolicyStore`: versions per document, deletions as versions, the active set and its
//! revision, the optimistic revision check on append, and concurrent appends.

use gatehouse_core::policy::{DocumentKind, NewPolicyVersion, SCHEMA_NAME};

use crate::fixtures::T0;
use crate::harness::TestDb;

conformance_tests!(versions_and_active_set, stale_revision_writes_nothing);
conformance_tests!(multi_thread: concurrent_appends_get_one_revision_each);

fn doc<'a>(kind: DocumentKind, name: &'a str, body: Option<&'a str>) -> NewPolicyVersion<'a> {
    NewPolicyVersion { kind, name, body, author: "cli", created_at: T0 }
}

async fn versions_and_active_set(s: &TestDb) {
    let p = &s.policies;
    assert_eq!(p.policy_revision().await.unwrap(), 0);
    let empty = p.active_policy_documents().await.unwrap();
    assert_eq!((empty.revision, empty.schema.is_none(), empty.policies.len()), (0, true, 0));

    let a1 = p.append_policy_version(&doc(DocumentKind::Policy, "alpha", Some("one")), 0).await.unwrap().unwrap();
    assert_eq!((a1.version, a1.name.as_str(), a1.body.as_deref()), (1, "alpha", Some("one")));
    let a2 =
        p.append_policy_version(&doc(DocumentKind::Policy, "alpha", Some("two")), a1.revision).await.unwrap().unwrap();
    assert_eq!(a2.version, 2);
    assert!(a2.revision > a1.revision);
    let b1 =
        p.append_policy_version(&doc(DocumentKind::Policy, "beta", Some("b")), a2.revision).await.unwrap().unwrap();
    let s1 = p
        .append_policy_version(&doc(DocumentKind::Schema, SCHEMA_NAME, Some("s")), b1.revision)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s1.version, 1, "versions count per (kind, name)");

    let active = p.active_policy_documents().await.unwrap();
    assert_eq!(active.revision, s1.revision);
    assert_eq!(p.policy_revision().await.unwrap(), s1.revision);
    assert_eq!(active.schema.as_ref().and_then(|d| d.body.as_deref()), Some("s"));
    let names: Vec<(&str, i64)> = active.policies.iter().map(|d| (d.name.as_str(), d.version)).collect();
    assert_eq!(names, [("alpha", 2), ("beta", 1)]);

    // A deletion is a version without a body: gone from the active set, kept in the history.
    let del = p.append_policy_version(&doc(DocumentKind::Policy, "alpha", None), s1.revision).await.unwrap().unwrap();
    assert_eq!(del.version, 3);
    let active = p.active_policy_documents().await.unwrap();
    assert_eq!(active.revision, del.revision, "the revision moves with a deletion too");
    assert_eq!(active.policies.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["beta"]);
    let history = p.policy_versions(DocumentKind::Policy, "alpha").await.unwrap();
    let bodies: Vec<Option<&str>> = history.iter().map(|d| d.body.as_deref()).collect();
    assert_eq!(bodies, [Some("one"), Some("two"), None]);
    assert!(history.iter().all(|d| d.author == "cli" && d.created_at == T0));
    assert!(p.policy_versions(DocumentKind::Policy, "nope").await.unwrap().is_empty());
    assert!(p.policy_versions(DocumentKind::Schema, "alpha").await.unwrap().is_empty(), "kinds are separate");

    // Put again after a deletion: the numbering continues.
    let again =
        p.append_policy_version(&doc(DocumentKind::Policy, "alpha", Some("x")), del.revision).await.unwrap().unwrap();
    assert_eq!(again.version, 4);
}

async fn stale_revision_writes_nothing(s: &TestDb) {
    let p = &s.policies;
    let first = p.append_policy_version(&doc(DocumentKind::Policy, "alpha", Some("one")), 0).await.unwrap().unwrap();
    // The caller validated against revision 0, but a write came in since.
    let stale = p.append_policy_version(&doc(DocumentKind::Policy, "beta", Some("b")), 0).await.unwrap();
    assert!(stale.is_none());
    assert_eq!(p.policy_revision().await.unwrap(), first.revision);
    assert!(p.policy_versions(DocumentKind::Policy, "beta").await.unwrap().is_empty());
}

async fn concurrent_appends_get_one_revision_each(s: &TestDb) {
    // Ten writers validated against the same revision: exactly one may write.
    let start = s.policies.policy_revision().await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let p = s.policies.clone();
            tokio::spawn(async move {
                let name = format!("p{i}");
                p.append_policy_version(&doc(DocumentKind::Policy, &name, Some("body")), start).await.unwrap()
            })
        })
        .collect();
    let mut written = 0;
    for t in tasks {
        written += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(written, 1);
    assert_eq!(s.policies.active_policy_documents().await.unwrap().policies.len(), 1);
}
