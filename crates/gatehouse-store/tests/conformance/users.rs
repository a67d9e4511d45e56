//! `UserStore`: insert and look-up, email uniqueness, literal round-trips, paging, updates.

use gatehouse_core::{Email, StoreError, UserId, UserStatus};
use uuid::Uuid;

use crate::fixtures::{BCRYPT_HASH, T0, assert_same_user, user};
use crate::harness::TestDb;

conformance_tests!(
    insert_and_get_user,
    duplicate_email_key_is_a_conflict,
    sql_metacharacters_and_unicode_round_trip,
    list_users_pages_in_id_order,
    updates_report_unknown_ids,
);

async fn insert_and_get_user(s: &TestDb) {
    let alice = user("Alice@Example.com");
    s.users.insert_user(&alice).await.unwrap();

    let by_id = s.users.user_by_id(alice.id).await.unwrap().expect("found by id");
    assert_same_user(&by_id, &alice);
    let by_key = s.users.user_by_email("alice@example.com").await.unwrap().expect("found by email key");
    assert_same_user(&by_key, &alice);

    // Look-up is by the normalised key only.
    assert!(s.users.user_by_email("Alice@Example.com").await.unwrap().is_none());
    assert!(s.users.user_by_email("bob@example.com").await.unwrap().is_none());
    assert!(s.users.user_by_id(UserId::generate()).await.unwrap().is_none());

    // Optional fields stay absent; `false` and a disabled status survive.
    let mut bare = user("bare@example.com");
    bare.display_name = None;
    bare.password_hash = None;
    bare.status = UserStatus::Disabled;
    bare.email_verified = false;
    bare.updated_at = T0 + 5;
    s.users.insert_user(&bare).await.unwrap();
    assert_same_user(&s.users.user_by_id(bare.id).await.unwrap().expect("bare user"), &bare);
}

async fn duplicate_email_key_is_a_conflict(s: &TestDb) {
    let first = user("carol@example.com");
    s.users.insert_user(&first).await.unwrap();

    let mut second = user("CAROL@Example.COM");
    second.display_name = Some("Impostor".into());
    second.password_hash = Some(BCRYPT_HASH.into());
    assert_eq!(second.email.key(), first.email.key());
    let err = s.users.insert_user(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");

    // The first row is untouched and the second left nothing behind.
    assert_same_user(&s.users.user_by_email("carol@example.com").await.unwrap().expect("first user"), &first);
    assert!(s.users.user_by_id(second.id).await.unwrap().is_none());

    // Reusing an id is a conflict too, and says so.
    let mut same_id = user("dave@example.com");
    same_id.id = first.id;
    let err = s.users.insert_user(&same_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user id")), "{err:?}");
    assert!(s.users.user_by_email("dave@example.com").await.unwrap().is_none());
}

async fn sql_metacharacters_and_unicode_round_trip(s: &TestDb) {
    let mut tricky = user(r#"o'brien";--@exämple.com"#);
    tricky.display_name = Some("Robert'); DROP TABLE users;-- Zoë 🦀 \\ %_".into());
    tricky.password_hash = Some(BCRYPT_HASH.into());
    s.users.insert_user(&tricky).await.unwrap();

    let stored = s.users.user_by_email(r#"o'brien";--@exämple.com"#).await.unwrap().expect("found by key");
    assert_same_user(&stored, &tricky);
    assert_eq!(stored.email.as_str(), r#"o'brien";--@exämple.com"#);
    assert_eq!(stored.password_hash.as_deref(), Some(BCRYPT_HASH));

    // Injection and wildcard probes match nothing: keys are compared literally.
    for probe in ["' OR '1'='1", "%", "_%", r#"o'brien";--@ex_mple.com"#, "*"] {
        assert!(s.users.user_by_email(probe).await.unwrap().is_none(), "{probe:?} matched");
    }

    let odd_hash = "$argon2id$v=19$m=1,t=1,p=1$'; DELETE FROM users; --$\u{1F980}";
    assert!(s.users.set_password_hash(tricky.id, odd_hash, T0 + 1).await.unwrap());
    let updated = s.users.user_by_id(tricky.id).await.unwrap().expect("still there");
    assert_eq!(updated.password_hash.as_deref(), Some(odd_hash));
    assert_eq!(s.users.list_users(None, 10).await.unwrap().len(), 1);
}

async fn list_users_pages_in_id_order(s: &TestDb) {
    // UUIDv7 ids (creation order), random v4 ids, and ids either side of the sign bit of the
    // first byte: both backends must compare ids as unsigned bytes, like `Uuid`'s `Ord`.
    let mut ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    ids.extend((0..3).map(|_| Uuid::new_v4()));
    ids.push(Uuid::from_bytes([0x7f; 16]));
    ids.push(Uuid::from_bytes([0x80; 16]));
    ids.push(Uuid::from_bytes([0xff; 16]));
    ids.push(Uuid::from_bytes([0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));

    // Insert in an order unrelated to the ids.
    for (n, id) in ids.iter().rev().enumerate() {
        let mut u = user(&format!("user{n}@example.com"));
        u.id = UserId(*id);
        s.users.insert_user(&u).await.unwrap();
    }
    let mut expected = ids.clone();
    expected.sort();

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = s.users.list_users(after, 5).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        listed.extend(page.iter().map(|u| u.id.0));
    }
    assert_eq!(listed, expected);

    assert!(s.users.list_users(None, 0).await.unwrap().is_empty());
    let all = s.users.list_users(None, 100).await.unwrap();
    assert_eq!(all.iter().map(|u| u.id.0).collect::<Vec<_>>(), expected);
    let tail = s.users.list_users(Some(UserId(expected[9])), 100).await.unwrap();
    assert_eq!(tail.iter().map(|u| u.id.0).collect::<Vec<_>>(), expected[10..]);
}

async fn updates_report_unknown_ids(s: &TestDb) {
    let unknown = UserId::generate();
    assert!(!s.users.set_password_hash(unknown, BCRYPT_HASH, T0 + 10).await.unwrap());
    assert!(!s.users.set_user_status(unknown, UserStatus::Disabled, T0 + 10).await.unwrap());
    assert!(s.users.list_users(None, 10).await.unwrap().is_empty());

    let erin = user("erin@example.com");
    let bystander = user("frank@example.com");
    s.users.insert_user(&erin).await.unwrap();
    s.users.insert_user(&bystander).await.unwrap();

    assert!(s.users.set_password_hash(erin.id, BCRYPT_HASH, T0 + 10).await.unwrap());
    assert!(s.users.set_user_status(erin.id, UserStatus::Disabled, T0 + 20).await.unwrap());
    // Setting the same status again still finds the row.
    assert!(s.users.set_user_status(erin.id, UserStatus::Disabled, T0 + 30).await.unwrap());

    let mut expected = erin.clone();
    expected.password_hash = Some(BCRYPT_HASH.into());
    expected.status = UserStatus::Disabled;
    expected.updated_at = T0 + 30;
    assert_same_user(&s.users.user_by_id(erin.id).await.unwrap().expect("erin"), &expected);
    assert_same_user(&s.users.user_by_id(bystander.id).await.unwrap().expect("frank"), &bystander);

    assert!(s.users.set_user_status(erin.id, UserStatus::Active, T0 + 40).await.unwrap());
    let erin_now = s.users.user_by_id(erin.id).await.unwrap().expect("erin");
    assert!(erin_now.is_active());
    assert_eq!(erin_now.email, Email::parse("erin@example.com").unwrap());
}
