//! `PasskeyStore`: a credential id belongs to one account; uses update the credential and the
//! time; removal keeps the account's last way to sign in; ceremonies are taken once, for their
//! purpose only, before they expire; user deletion leaves nothing.

use gatehouse_core::User;
use gatehouse_core::mfa::passkey::{Ceremony, CeremonyPurpose, PasskeyRecord, PasskeyRemoval};
use gatehouse_core::store::StoreError;
use gatehouse_store::Stores;
use uuid::Uuid;

use crate::fixtures::{T0, user};
use crate::harness::TestDb;

conformance_tests!(
    credentials_belong_to_one_account_and_record_their_use,
    the_last_way_to_sign_in_is_kept,
    ceremonies_are_taken_once_for_their_purpose_before_expiry,
);

async fn setup(s: &Stores, email: &str, password: bool) -> User {
    let mut u = user(email);
    if !password {
        u.password_hash = None;
    }
    s.users.insert_user(&u).await.unwrap();
    u
}

fn passkey(u: &User, cred: u8, name: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::now_v7(),
        user_id: u.id,
        credential_id: vec![cred; 16],
        name: name.into(),
        credential: format!("{{\"cred\":{cred}}}"),
        discoverable: cred.is_multiple_of(2),
        created_at: T0 + i64::from(cred),
        last_used_at: None,
    }
}

async fn credentials_belong_to_one_account_and_record_their_use(s: &TestDb) {
    let ann = setup(s, "ann@example.com", true).await;
    let bob = setup(s, "bob@example.com", true).await;
    let a = passkey(&ann, 1, "Laptop");
    s.passkeys.insert_passkey(&a).await.unwrap();
    s.passkeys.insert_passkey(&passkey(&ann, 2, "Phone")).await.unwrap();
    let clash = s.passkeys.insert_passkey(&passkey(&bob, 1, "Stolen")).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "a credential id belongs to one account: {clash:?}");
    let listed = s.passkeys.passkeys(ann.id).await.unwrap();
    assert_eq!(listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Laptop", "Phone"]);
    assert_eq!(listed[0], a);
    assert!(s.passkeys.passkeys(bob.id).await.unwrap().is_empty());
    s.passkeys.record_passkey_use(a.id, "{\"cred\":1,\"counter\":5}", T0 + 50).await.unwrap();
    let used = s.passkeys.passkey_by_credential_id(&[1; 16]).await.unwrap().unwrap();
    assert_eq!((used.credential.as_str(), used.last_used_at), ("{\"cred\":1,\"counter\":5}", Some(T0 + 50)));
    assert!(s.passkeys.passkey_by_credential_id(&[9; 16]).await.unwrap().is_none());
    s.rbac.change_user_guarded(ann.id, &gatehouse_core::rbac::GuardedChange::Delete, T0).await.unwrap();
    assert!(s.passkeys.passkey_by_credential_id(&[1; 16]).await.unwrap().is_none(), "gone with the user");
}

async fn the_last_way_to_sign_in_is_kept(s: &TestDb) {
    let cy = setup(s, "cy@example.com", false).await;
    let one = passkey(&cy, 3, "Only");
    s.passkeys.insert_passkey(&one).await.unwrap();
    assert_eq!(s.passkeys.delete_passkey(cy.id, one.id).await.unwrap(), PasskeyRemoval::LastMethod);
    assert_eq!(s.passkeys.delete_passkey(cy.id, Uuid::now_v7()).await.unwrap(), PasskeyRemoval::NotFound);
    let two = passkey(&cy, 4, "Second");
    s.passkeys.insert_passkey(&two).await.unwrap();
    assert_eq!(s.passkeys.delete_passkey(cy.id, one.id).await.unwrap(), PasskeyRemoval::Removed("Only".into()));
    assert_eq!(s.passkeys.delete_passkey(cy.id, two.id).await.unwrap(), PasskeyRemoval::LastMethod);
    let dee = setup(s, "dee@example.com", true).await;
    let hers = passkey(&dee, 5, "Key");
    s.passkeys.insert_passkey(&hers).await.unwrap();
    assert_eq!(
        s.passkeys.delete_passkey(cy.id, hers.id).await.unwrap(),
        PasskeyRemoval::NotFound,
        "another user's passkey"
    );
    assert_eq!(s.passkeys.delete_passkey(dee.id, hers.id).await.unwrap(), PasskeyRemoval::Removed("Key".into()));
    s.passkeys.insert_passkey(&passkey(&dee, 6, "A")).await.unwrap();
    s.passkeys.insert_passkey(&passkey(&dee, 7, "B")).await.unwrap();
    assert_eq!(s.passkeys.delete_passkeys(dee.id).await.unwrap(), 2, "the admin reset removes all");
}

async fn ceremonies_are_taken_once_for_their_purpose_before_expiry(s: &TestDb) {
    let ann = setup(s, "eve@example.com", true).await;
    let (handle, row) =
        Ceremony::issue(CeremonyPurpose::SecondFactor, Some(ann.id), Some(vec![1, 2]), "{\"s\":1}".into(), T0).unwrap();
    s.passkeys.insert_ceremony(&row).await.unwrap();
    let hash = gatehouse_core::mfa::passkey::hash_ceremony_handle(&handle);
    assert!(
        s.passkeys.take_ceremony(&hash, CeremonyPurpose::SignIn, T0 + 1).await.unwrap().is_none(),
        "another purpose"
    );
    let taken = s.passkeys.take_ceremony(&hash, CeremonyPurpose::SecondFactor, T0 + 1).await.unwrap().unwrap();
    assert_eq!(taken, row);
    assert!(s.passkeys.take_ceremony(&hash, CeremonyPurpose::SecondFactor, T0 + 2).await.unwrap().is_none(), "once");
    let (handle, row) = Ceremony::issue(CeremonyPurpose::SignIn, None, None, "{}".into(), T0).unwrap();
    s.passkeys.insert_ceremony(&row).await.unwrap();
    let hash = gatehouse_core::mfa::passkey::hash_ceremony_handle(&handle);
    assert!(
        s.passkeys.take_ceremony(&hash, CeremonyPurpose::SignIn, row.expires_at).await.unwrap().is_none(),
        "expired"
    );
    assert_eq!(s.passkeys.purge_ceremonies(row.expires_at).await.unwrap(), 1);
}
