//! Token exchange rules (RFC 8693, migration 0023): the `ExchangeRuleStore` contract — a rule
//! round-trips with its lists, a client's rules come oldest first and only its own, deletion is
//! per client, and a deleted client's rules go with it.

use gatehouse_core::oauth::ExchangeRule;
use uuid::Uuid;

use crate::fixtures::{T0, client};
use crate::harness::TestDb;

conformance_tests!(exchange_rules_round_trip_per_client_and_go_with_the_client);

fn rule(client_id: &str, created_at: i64) -> ExchangeRule {
    ExchangeRule {
        id: Uuid::new_v4(),
        client_id: client_id.to_owned(),
        subject_clients: vec!["*".into(), "web".into()],
        audiences: vec!["api".into()],
        scopes: vec!["email".into(), "orders:read".into()],
        allow_impersonation: false,
        allow_delegation: true,
        created_at,
    }
}

async fn exchange_rules_round_trip_per_client_and_go_with_the_client(s: &TestDb) {
    s.clients.insert_client(&client("svc", T0)).await.unwrap();
    s.clients.insert_client(&client("other", T0)).await.unwrap();
    let (first, second, others) = (rule("svc", T0 + 1), rule("svc", T0), rule("other", T0));
    for r in [&first, &second, &others] {
        s.exchange_rules.insert_exchange_rule(r).await.unwrap();
    }
    assert_eq!(s.exchange_rules.exchange_rules("svc").await.unwrap(), vec![second.clone(), first.clone()]);
    // A rule of an unknown client cannot be stored (foreign key).
    assert!(s.exchange_rules.insert_exchange_rule(&rule("nobody", T0)).await.is_err());
    // Deletion is per client: another client's rule id does not match.
    assert!(!s.exchange_rules.delete_exchange_rule("other", first.id).await.unwrap());
    assert!(s.exchange_rules.delete_exchange_rule("svc", first.id).await.unwrap());
    assert!(!s.exchange_rules.delete_exchange_rule("svc", first.id).await.unwrap(), "already gone");
    assert_eq!(s.exchange_rules.exchange_rules("svc").await.unwrap(), vec![second]);
    // Deleting the client deletes its rules.
    assert!(s.clients.delete_client("svc", T0).await.unwrap());
    assert!(s.exchange_rules.exchange_rules("svc").await.unwrap().is_empty());
    assert_eq!(s.exchange_rules.exchange_rules("other").await.unwrap(), vec![others]);
}
