//! `SealedStore`: every sealed value of each kind is listed in id order in pages, failed mail
//! (no body) is left out, and a replace is a compare-and-set that loses to a newer write.

use gatehouse_core::keys::{Algorithm, SealedKind, SealedValue};
use gatehouse_core::mail::QueuedMail;
use uuid::Uuid;

use crate::fixtures::{T0, key, user};
use crate::harness::TestDb;

conformance_tests!(sealed_values_page_in_id_order_and_replace_by_compare_and_set);

async fn all(s: &TestDb, kind: SealedKind) -> Vec<SealedValue> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.sealed.sealed_values(kind, after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        out.extend(page);
    }
    out
}

async fn sealed_values_page_in_id_order_and_replace_by_compare_and_set(s: &TestDb) {
    for kid in ["k-c", "k-a", "k-b"] {
        let mut k = key(kid, Algorithm::ES256, T0, None);
        k.sealed_private_key = format!("sealed-{kid}").into_bytes();
        assert!(s.keys.insert_signing_key(&k).await.unwrap());
    }
    let keys = all(s, SealedKind::SigningKey).await;
    assert_eq!(keys.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["k-a", "k-b", "k-c"]);
    assert_eq!(keys[0].sealed, b"sealed-k-a");

    let mut users = Vec::new();
    for n in 0..3 {
        let u = user(&format!("sealed{n}@example.com"));
        s.users.insert_user(&u).await.unwrap();
        assert!(s.mfa.begin_totp(u.id, format!("totp-{n}").as_bytes(), T0).await.unwrap());
        users.push(u.id.0.to_string());
    }
    users.sort();
    let totp = all(s, SealedKind::Totp).await;
    assert_eq!(totp.iter().map(|v| v.id.clone()).collect::<Vec<_>>(), users);

    let mut mails = Vec::new();
    for n in 0..3u8 {
        let m = QueuedMail {
            id: Uuid::new_v4(),
            kind: "reset_password".into(),
            sealed_body: vec![n; 4],
            attempts: 0,
            next_attempt_at: T0,
            created_at: T0,
            locked_until: None,
        };
        s.mail_queue.enqueue_mail(&m).await.unwrap();
        mails.push(m.id);
    }
    // A failed message has lost its body: nothing to rewrap.
    let claimed = s.mail_queue.claim_due_mail(T0, T0 + 60).await.unwrap().unwrap();
    assert!(s.mail_queue.fail_mail(claimed.id, T0 + 60, 1, "gone", T0).await.unwrap());
    let mut waiting: Vec<Uuid> = mails.into_iter().filter(|id| *id != claimed.id).collect();
    waiting.sort();
    let listed = all(s, SealedKind::Mail).await;
    assert_eq!(
        listed.iter().map(|v| v.id.clone()).collect::<Vec<_>>(),
        waiting.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );

    // Compare-and-set: only over the value read; a stale read changes nothing.
    for (kind, v) in [(SealedKind::SigningKey, &keys[1]), (SealedKind::Totp, &totp[2]), (SealedKind::Mail, &listed[0])]
    {
        assert!(s.sealed.replace_sealed(kind, &v.id, &v.sealed, b"new").await.unwrap());
        assert!(!s.sealed.replace_sealed(kind, &v.id, &v.sealed, b"newer").await.unwrap(), "stale: {kind:?}");
        let now = all(s, kind).await;
        assert_eq!(now.iter().find(|x| x.id == v.id).unwrap().sealed, b"new");
    }
    assert!(!s.sealed.replace_sealed(SealedKind::SigningKey, "missing", b"x", b"y").await.unwrap());
    assert!(s.sealed.replace_sealed(SealedKind::Totp, "not-a-uuid", b"x", b"y").await.is_err());
}
