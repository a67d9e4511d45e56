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
        discoverable: true,
        sign_count: 0,
        created_at: T0 + i64::from(cred),
        last_used_at: None,
    }
}

async fn credentials_belong_to_one_account_and_record_their_use(s: &TestDb) {
    let ann = setup(s, "ann@example.com", true).await;
    let bob = setup(s, "bob@example.com", true).await;
    let a = passkey(&ann, 1, "Laptop");
    let codes: Vec<Vec<u8>> = (0..10).map(|i| vec![i; 8]).collect();
    assert!(s.passkeys.insert_passkey(&a, &codes, T0).await.unwrap(), "the first factor brings the codes");
    assert!(!s.passkeys.insert_passkey(&passkey(&ann, 2, "Phone"), &codes[..1], T0).await.unwrap(), "codes exist");
    assert_eq!(s.mfa.recovery_code_hashes(ann.id).await.unwrap().len(), 10);
    let clash = s.passkeys.insert_passkey(&passkey(&bob, 1, "Stolen"), &codes, T0).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "a credential id belongs to one account: {clash:?}");
    assert!(s.mfa.recovery_code_hashes(bob.id).await.unwrap().is_empty(), "nothing half-written");
    let listed = s.passkeys.passkeys(ann.id).await.unwrap();
    assert_eq!(listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Laptop", "Phone"]);
    assert_eq!(listed[0], a);
    assert!(s.passkeys.passkeys(bob.id).await.unwrap().is_empty());
    assert!(s.passkeys.record_passkey_use(a.id, "{\"cred\":1,\"counter\":5}", 5, T0 + 50).await.unwrap());
    let used = s.passkeys.passkey_by_credential_id(&[1; 16]).await.unwrap().unwrap();
    assert_eq!(
        (used.credential.as_str(), used.sign_count, used.last_used_at),
        ("{\"cred\":1,\"counter\":5}", 5, Some(T0 + 50))
    );
    assert!(!s.passkeys.record_passkey_use(a.id, "{}", 5, T0 + 60).await.unwrap(), "the counter must go up");
    assert!(!s.passkeys.record_passkey_use(a.id, "{}", 0, T0 + 60).await.unwrap(), "nor fall to 0");
    let b = passkey(&ann, 8, "No counter");
    s.passkeys.insert_passkey(&b, &[], T0).await.unwrap();
    assert!(s.passkeys.record_passkey_use(b.id, "{}", 0, T0 + 1).await.unwrap(), "an authenticator without a counter");
    assert!(s.passkeys.record_passkey_use(b.id, "{}", 0, T0 + 2).await.unwrap());
    assert!(s.passkeys.passkey_by_credential_id(&[9; 16]).await.unwrap().is_none());
    s.rbac.change_user_guarded(ann.id, &gatehouse_core::rbac::GuardedChange::Delete, T0).await.unwrap();
    assert!(s.passkeys.passkey_by_credential_id(&[1; 16]).await.unwrap().is_none(), "gone with the user");
}

async fn the_last_way_to_sign_in_is_kept(s: &TestDb) {
    let cy = setup(s, "cy@example.com", false).await;
    let one = passkey(&cy, 3, "Only");
    s.passkeys.insert_passkey(&one, &[], T0).await.unwrap();
    let plain = PasskeyRecord { discoverable: false, ..passkey(&cy, 9, "Security key") };
    s.passkeys.insert_passkey(&plain, &[], T0).await.unwrap();
    assert_eq!(s.passkeys.delete_passkey(cy.id, one.id).await.unwrap(), PasskeyRemoval::LastMethod);
    assert_eq!(s.passkeys.delete_passkey(cy.id, Uuid::now_v7()).await.unwrap(), PasskeyRemoval::NotFound);
    assert_eq!(
        s.passkeys.delete_passkey(cy.id, plain.id).await.unwrap(),
        PasskeyRemoval::Removed("Security key".into()),
        "a key that is not discoverable signs nobody in alone"
    );
    let two = passkey(&cy, 4, "Second");
    s.passkeys.insert_passkey(&two, &[], T0).await.unwrap();
    assert_eq!(s.passkeys.delete_passkey(cy.id, one.id).await.unwrap(), PasskeyRemoval::Removed("Only".into()));
    assert_eq!(s.passkeys.delete_passkey(cy.id, two.id).await.unwrap(), PasskeyRemoval::LastMethod);
    let dee = setup(s, "dee@example.com", true).await;
    let hers = passkey(&dee, 5, "Key");
    s.passkeys.insert_passkey(&hers, &[], T0).await.unwrap();
    assert_eq!(
        s.passkeys.delete_passkey(cy.id, hers.id).await.unwrap(),
        PasskeyRemoval::NotFound,
        "another user's passkey"
    );
    assert_eq!(s.passkeys.delete_passkey(dee.id, hers.id).await.unwrap(), PasskeyRemoval::Removed("Key".into()));
    s.passkeys.insert_passkey(&passkey(&dee, 6, "A"), &[vec![1]], T0).await.unwrap();
    s.passkeys.insert_passkey(&passkey(&dee, 7, "B"), &[], T0).await.unwrap();
    assert!(s.mfa.begin_totp(dee.id, b"sealed", T0).await.unwrap());
    assert_eq!(s.passkeys.delete_all_factors(dee.id).await.unwrap(), (true, 2), "the admin reset removes all");
    assert!(s.passkeys.passkeys(dee.id).await.unwrap().is_empty());
    assert!(
        s.mfa.recovery_code_hashes(dee.id).await.unwrap().is_empty()
            && s.mfa.totp_factor(dee.id).await.unwrap().is_none()
    );
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
