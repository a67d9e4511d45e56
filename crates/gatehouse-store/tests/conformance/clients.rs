//! `ClientStore`: every field's round trip (lists as JSON, a binary or absent secret hash),
//! id uniqueness, listing order, and deletion taking the client's codes and consents with it.

use gatehouse_core::StoreError;
use gatehouse_core::oauth::{AuthMethod, CodeOutcome, GrantType};

use crate::fixtures::{T0, client, code, family, public_client, refresh_token, user};
use crate::harness::TestDb;

conformance_tests!(
    clients_round_trip_every_field,
    a_duplicate_id_is_a_conflict_and_keeps_the_first,
    clients_list_oldest_first_then_by_id_bytes,
    deleting_a_client_deletes_its_codes_and_consents,
    an_unknown_grant_type_is_corrupt,
    updates_are_compare_and_set_on_the_revision,
    deleting_a_client_revokes_its_live_refresh_families,
);

async fn clients_round_trip_every_field(s: &TestDb) {
    assert_eq!(s.clients.client_by_id("app").await.unwrap(), None);
    let confidential = client("app", T0);
    let public = public_client("spa", T0 + 1);
    s.clients.insert_client(&confidential).await.unwrap();
    s.clients.insert_client(&public).await.unwrap();

    let stored = s.clients.client_by_id("app").await.unwrap().unwrap();
    assert_eq!(stored, confidential);
    assert_eq!(stored.secret_hash.as_deref(), Some(&[0, 0xff, 0x10, 0, 0x7f, 0x80][..]), "binary with NULs");
    assert_eq!(
        stored.grant_types,
        [GrantType::RefreshToken, GrantType::AuthorizationCode, GrantType::ClientCredentials],
        "grant types keep their order"
    );
    let stored = s.clients.client_by_id("spa").await.unwrap().unwrap();
    assert_eq!(stored, public);
    assert_eq!((stored.secret_hash, stored.auth_method, stored.access_token_lifetime), (None, AuthMethod::None, None));
    assert!(stored.skip_consent && stored.scopes.is_empty() && stored.cors_origins.is_empty());

    // Ids match exactly: no case folding, no prefix match.
    for other in ["APP", "ap", "app "] {
        assert_eq!(s.clients.client_by_id(other).await.unwrap(), None, "{other:?}");
    }
}

async fn a_duplicate_id_is_a_conflict_and_keeps_the_first(s: &TestDb) {
    let first = client("app", T0);
    s.clients.insert_client(&first).await.unwrap();
    let clash = public_client("app", T0 + 5);
    let err = s.clients.insert_client(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client id")), "{err:?}");
    assert_eq!(s.clients.client_by_id("app").await.unwrap(), Some(first.clone()));
    assert_eq!(s.clients.list_clients().await.unwrap(), [first]);
}

async fn clients_list_oldest_first_then_by_id_bytes(s: &TestDb) {
    assert!(s.clients.list_clients().await.unwrap().is_empty());
    // Inserted out of order. Ties on created_at go by the id's bytes ('-' < 'B' < '_' < 'a'),
    // whatever the database's locale would say about case and punctuation.
    let newest = client("0-newest", T0 + 200);
    let ids = ["a-client", "_client", "B-client", "-client"];
    let tied: Vec<_> = ids.iter().map(|id| public_client(id, T0 + 100)).collect();
    let oldest = client("z-oldest", T0);
    s.clients.insert_client(&newest).await.unwrap();
    for c in &tied {
        s.clients.insert_client(c).await.unwrap();
    }
    s.clients.insert_client(&oldest).await.unwrap();

    let listed: Vec<String> = s.clients.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, ["z-oldest", "-client", "B-client", "_client", "a-client", "0-newest"]);
    let all = s.clients.list_clients().await.unwrap();
    assert_eq!(all.first(), Some(&oldest));
    assert_eq!(all.last(), Some(&newest));
}

async fn deleting_a_client_deletes_its_codes_and_consents(s: &TestDb) {
    let owner = user("owner@example.com");
    s.users.insert_user(&owner).await.unwrap();
    let (gone, stays) = (client("gone", T0), client("stays", T0 + 1));
    s.clients.insert_client(&gone).await.unwrap();
    s.clients.insert_client(&stays).await.unwrap();
    let expires_at = T0 + 1_000;
    s.codes.insert_code(&code(1, "gone", owner.id, expires_at)).await.unwrap();
    let kept_code = code(2, "stays", owner.id, expires_at);
    s.codes.insert_code(&kept_code).await.unwrap();
    let scopes = ["openid".to_owned()];
    s.consents.grant_consent(owner.id, "gone", &scopes, T0).await.unwrap();
    s.consents.grant_consent(owner.id, "stays", &scopes, T0).await.unwrap();

    assert!(s.clients.delete_client("gone", T0).await.unwrap());
    assert!(!s.clients.delete_client("gone", T0).await.unwrap(), "already deleted");
    assert!(!s.clients.delete_client("unknown", T0).await.unwrap());

    assert_eq!(s.clients.client_by_id("gone").await.unwrap(), None);
    assert_eq!(s.clients.list_clients().await.unwrap(), [stays]);
    assert_eq!(s.codes.redeem_code(&[1; 32], "gone", T0).await.unwrap(), CodeOutcome::Invalid, "its code is gone");
    assert_eq!(s.consents.consent(owner.id, "gone").await.unwrap(), None, "its consent is gone");
    // The other client's code and consent are untouched.
    assert_eq!(s.codes.redeem_code(&[2; 32], "stays", T0).await.unwrap(), CodeOutcome::Redeemed(kept_code));
    let listed: Vec<String> =
        s.consents.consents_for_user(owner.id).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(listed, ["stays"]);
}

/// A grant type this build does not know (written by a newer version, or by hand) is reported
/// as a corrupt row, not silently dropped from the client's list.
async fn an_unknown_grant_type_is_corrupt(s: &TestDb) {
    s.clients.insert_client(&client("app", T0)).await.unwrap();
    let sql = r#"UPDATE oauth_clients SET grant_types = '["authorization_code", "implicit"]'"#;
    assert_eq!(s.raw_execute(sql, None).await.unwrap(), 1);
    let err = s.clients.client_by_id("app").await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt(msg) if msg.contains("app") && !msg.contains("implicit")), "{err:?}");
    assert!(matches!(s.clients.list_clients().await, Err(StoreError::Corrupt(_))));
}

/// Every setting and lifecycle column is written; a write from an older read (a stale
/// revision) or of an unknown client changes nothing.
async fn updates_are_compare_and_set_on_the_revision(s: &TestDb) {
    let original = client("app", T0);
    s.clients.insert_client(&original).await.unwrap();
    let mut changed = original.clone();
    changed.name = "Renamed".into();
    changed.redirect_uris = vec!["https://new.example.com/cb".into()];
    changed.secret_hash = Some(vec![9; 32]);
    changed.lifecycle.previous_secret_hash = Some(vec![0, 0xff, 0]);
    changed.lifecycle.previous_secret_expires_at = Some(T0 + 3600);
    changed.lifecycle.secret_rotated_at = Some(T0 + 1);
    changed.lifecycle.disabled_at = Some(T0 + 2);
    assert!(s.clients.update_client(&changed).await.unwrap());
    let stored = s.clients.client_by_id("app").await.unwrap().unwrap();
    assert_eq!(stored.lifecycle.revision, 1, "bumped");
    changed.lifecycle.revision = 1;
    assert_eq!(stored, changed);

    // A second writer that read revision 0 loses, and changes nothing.
    let mut stale = original.clone();
    stale.name = "Stale".into();
    assert!(!s.clients.update_client(&stale).await.unwrap());
    assert_eq!(s.clients.client_by_id("app").await.unwrap().unwrap(), changed);
    let mut unknown = changed.clone();
    unknown.id = "nobody".into();
    assert!(!s.clients.update_client(&unknown).await.unwrap());
    assert_eq!(s.clients.client_by_id("nobody").await.unwrap(), None);
}

async fn deleting_a_client_revokes_its_live_refresh_families(s: &TestDb) {
    let owner = user("owner@example.com");
    s.users.insert_user(&owner).await.unwrap();
    s.clients.insert_client(&client("gone", T0)).await.unwrap();
    s.clients.insert_client(&client("stays", T0)).await.unwrap();
    let of = |client_id: &str, tag: u8| {
        let mut f = family(owner.id, T0, T0 + 86_400);
        f.client_id = client_id.into();
        (f, refresh_token(tag, None, T0, T0 + 3600))
    };
    let (gone, stays) = (of("gone", 1), of("stays", 2));
    for (f, t) in [&gone, &stays] {
        let mut t = t.clone();
        t.family_id = f.id;
        s.refresh.create_refresh_family(f, &t).await.unwrap();
    }
    assert!(s.clients.delete_client("gone", T0 + 10).await.unwrap());
    let revoked = s.refresh.refresh_family(gone.0.id).await.unwrap().unwrap();
    assert_eq!((revoked.revoked_at, revoked.revoked_reason.as_deref()), (Some(T0 + 10), Some("client_deleted")));
    assert_eq!(s.refresh.refresh_family(stays.0.id).await.unwrap().unwrap().revoked_at, None, "other clients' stay");
}
