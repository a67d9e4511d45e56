//! Resource servers (RFC 8707): unique identifiers, lists in identifier order, compare-and-set
//! updates on the revision, delete; and the resources of a grant, written once, read back,
//! purged only when old and held by no refresh family.

use gatehouse_core::StoreError;
use gatehouse_core::keys::Algorithm;
use gatehouse_core::oauth::ResourceServer;
use uuid::Uuid;

use crate::fixtures::T0;
use crate::harness::TestDb;

conformance_tests!(
    resource_servers_are_unique_by_identifier_and_listed_in_order,
    a_resource_server_update_is_compare_and_set,
    grant_resources_are_kept_until_purged,
);

fn rs(identifier: &str) -> ResourceServer {
    ResourceServer {
        id: Uuid::now_v7(),
        identifier: identifier.to_owned(),
        name: "API \u{e9}".to_owned(),
        scopes: vec!["read".to_owned(), "write".to_owned()],
        access_token_lifetime: Some(300),
        signing_alg: Algorithm::EdDSA,
        allow_permissions: true,
        created_at: T0,
        updated_at: T0,
        revision: 0,
    }
}

async fn resource_servers_are_unique_by_identifier_and_listed_in_order(s: &TestDb) {
    let b = rs("https://b.example/");
    let a = rs("https://a.example/api");
    s.resources.insert_resource_server(&b).await.unwrap();
    s.resources.insert_resource_server(&a).await.unwrap();
    let err = s.resources.insert_resource_server(&rs("https://b.example/")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("resource server")), "{err:?}");
    let all = s.resources.list_resource_servers().await.unwrap();
    assert_eq!(all, vec![a.clone(), b.clone()]);
    assert_eq!(s.resources.resource_server(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(s.resources.resource_server_by_identifier("https://a.example/api").await.unwrap(), Some(a.clone()));
    assert_eq!(s.resources.resource_server_by_identifier("https://a.example/API").await.unwrap(), None, "exact");
    assert!(s.resources.delete_resource_server(a.id).await.unwrap());
    assert!(!s.resources.delete_resource_server(a.id).await.unwrap());
    assert_eq!(s.resources.list_resource_servers().await.unwrap(), vec![b]);
}

async fn a_resource_server_update_is_compare_and_set(s: &TestDb) {
    let before = rs("https://api.example/");
    s.resources.insert_resource_server(&before).await.unwrap();
    let mut after = before.clone();
    after.scopes = vec!["admin".to_owned()];
    after.allow_permissions = false;
    after.access_token_lifetime = None;
    after.signing_alg = Algorithm::RS256;
    after.updated_at = T0 + 5;
    assert!(s.resources.update_resource_server(&after).await.unwrap());
    // The same read again: its revision is stale now.
    assert!(!s.resources.update_resource_server(&after).await.unwrap());
    let stored = s.resources.resource_server(before.id).await.unwrap().unwrap();
    assert_eq!(stored, ResourceServer { revision: 1, ..after });
}

async fn grant_resources_are_kept_until_purged(s: &TestDb) {
    let (old, new) = (Uuid::now_v7(), Uuid::now_v7());
    let list = vec!["https://a.example/".to_owned(), "https://b.example/".to_owned()];
    s.resources.set_grant_resources(old, &list, T0).await.unwrap();
    s.resources.set_grant_resources(new, &list[..1], T0 + 100).await.unwrap();
    assert_eq!(s.resources.grant_resources(old).await.unwrap(), list);
    assert!(s.resources.grant_resources(Uuid::now_v7()).await.unwrap().is_empty(), "unknown: none");
    assert_eq!(s.resources.purge_grant_resources(T0 + 50).await.unwrap(), 1);
    assert!(s.resources.grant_resources(old).await.unwrap().is_empty());
    assert_eq!(s.resources.grant_resources(new).await.unwrap(), list[..1]);
}
