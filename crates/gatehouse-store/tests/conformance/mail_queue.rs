//! `MailQueueStore`: queue order, the lease that makes a claim exclusive (also across racing
//! workers), writes that need the claim's lease, retries, failure wiping the body, counts and
//! the purge of old failures.

use std::sync::Arc;

use gatehouse_core::mail::{MailQueueCounts, QueuedMail};
use uuid::Uuid;

use crate::fixtures::T0;
use crate::harness::TestDb;

conformance_tests!(
    claims_take_the_oldest_due_message_once,
    writes_need_the_claims_lease,
    a_retry_waits_and_keeps_the_error,
    a_failed_message_loses_its_body_and_is_purged_later,
);
conformance_tests!(multi_thread: racing_claims_never_share_a_message);

fn queued(kind: &str, at: i64) -> QueuedMail {
    QueuedMail {
        id: Uuid::now_v7(),
        kind: kind.into(),
        sealed_body: vec![1, 2, 3, kind.len() as u8],
        attempts: 0,
        next_attempt_at: at,
        created_at: at,
        locked_until: None,
    }
}

async fn claims_take_the_oldest_due_message_once(s: &TestDb) {
    let q = &s.mail_queue;
    assert_eq!(q.claim_due_mail(T0, T0 + 300).await.unwrap(), None);
    let later = queued("later", T0 + 10);
    let first = queued("first", T0);
    let second = queued("second", T0 + 1);
    for m in [&later, &first, &second] {
        q.enqueue_mail(m).await.unwrap();
    }
    assert_eq!(q.mail_queue_counts().await.unwrap(), MailQueueCounts { pending: 3, failed: 0 });
    let got = q.claim_due_mail(T0 + 5, T0 + 305).await.unwrap().unwrap();
    assert_eq!(got, QueuedMail { locked_until: Some(T0 + 305), ..first.clone() });
    let got = q.claim_due_mail(T0 + 5, T0 + 305).await.unwrap().unwrap();
    assert_eq!(got.id, second.id, "a leased message is skipped");
    assert_eq!(q.claim_due_mail(T0 + 5, T0 + 305).await.unwrap(), None, "`later` is not due yet");
    // The first lease ran out (its worker died): the message is claimed again, with a new lease.
    let again = q.claim_due_mail(T0 + 305, T0 + 605).await.unwrap().unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.locked_until, Some(T0 + 605));
}

async fn writes_need_the_claims_lease(s: &TestDb) {
    let q = &s.mail_queue;
    let m = queued("reset_password", T0);
    q.enqueue_mail(&m).await.unwrap();
    let old = q.claim_due_mail(T0, T0 + 300).await.unwrap().unwrap().locked_until.unwrap();
    let new = q.claim_due_mail(T0 + 300, T0 + 600).await.unwrap().unwrap().locked_until.unwrap();
    // The worker that lost its lease can neither delete, retry nor fail the message.
    assert!(!q.delete_mail(m.id, old).await.unwrap());
    assert!(!q.retry_mail(m.id, old, 1, T0 + 400, "x").await.unwrap());
    assert!(!q.fail_mail(m.id, old, 1, "x", T0 + 400).await.unwrap());
    assert_eq!(q.mail_status(m.id).await.unwrap().unwrap().status, "pending");
    assert!(q.delete_mail(m.id, new).await.unwrap());
    assert_eq!(q.mail_status(m.id).await.unwrap(), None, "delivered messages are deleted");
    assert_eq!(q.mail_queue_counts().await.unwrap(), MailQueueCounts::default());
}

async fn a_retry_waits_and_keeps_the_error(s: &TestDb) {
    let q = &s.mail_queue;
    let m = queued("verify_email", T0);
    q.enqueue_mail(&m).await.unwrap();
    let lease = q.claim_due_mail(T0, T0 + 300).await.unwrap().unwrap().locked_until.unwrap();
    assert!(q.retry_mail(m.id, lease, 1, T0 + 15, "connection refused").await.unwrap());
    let status = q.mail_status(m.id).await.unwrap().unwrap();
    assert_eq!((status.attempts, status.next_attempt_at), (1, T0 + 15));
    assert_eq!(status.last_error.as_deref(), Some("connection refused"));
    assert_eq!(q.claim_due_mail(T0 + 14, T0 + 314).await.unwrap(), None, "not before its time");
    let got = q.claim_due_mail(T0 + 15, T0 + 315).await.unwrap().unwrap();
    assert_eq!((got.id, got.attempts, got.sealed_body), (m.id, 1, m.sealed_body));
}

async fn a_failed_message_loses_its_body_and_is_purged_later(s: &TestDb) {
    let q = &s.mail_queue;
    let m = queued("invitation", T0);
    let kept = queued("account_deleted", T0);
    q.enqueue_mail(&m).await.unwrap();
    q.enqueue_mail(&kept).await.unwrap();
    let lease = q.claim_due_mail(T0, T0 + 300).await.unwrap().unwrap().locked_until.unwrap();
    assert!(q.fail_mail(m.id, lease, 3, "550 5.1.1", T0 + 10).await.unwrap());
    let status = q.mail_status(m.id).await.unwrap().unwrap();
    assert_eq!((status.status.as_str(), status.attempts), ("failed", 3));
    assert_eq!(status.kind, "invitation");
    assert_eq!(q.mail_queue_counts().await.unwrap(), MailQueueCounts { pending: 1, failed: 1 });
    // A failed message is never claimed again; its body is gone.
    let next = q.claim_due_mail(T0 + 1000, T0 + 1300).await.unwrap().unwrap();
    assert_eq!(next.id, kept.id);
    assert_eq!(q.claim_due_mail(T0 + 1100, T0 + 1400).await.unwrap(), None, "`kept` is leased, `m` failed");
    let with_body = "UPDATE mail_queue SET kind = kind WHERE id = $1 AND sealed_body IS NOT NULL";
    assert_eq!(s.raw_execute(with_body, Some(m.id)).await.unwrap(), 0, "the body is wiped");
    assert_eq!(s.raw_execute(with_body, Some(kept.id)).await.unwrap(), 1);
    assert_eq!(q.purge_failed_mail(T0 + 10).await.unwrap(), 0, "not older than the cut-off");
    assert_eq!(q.purge_failed_mail(T0 + 11).await.unwrap(), 1);
    assert_eq!(q.mail_status(m.id).await.unwrap(), None);
    assert!(q.mail_status(kept.id).await.unwrap().is_some(), "pending messages are never purged");
}

async fn racing_claims_never_share_a_message(s: &TestDb) {
    let q = s.mail_queue.clone();
    let ids: Vec<Uuid> = {
        let mut ids = Vec::new();
        for i in 0..10 {
            let m = queued("verify_email", T0 + i);
            q.enqueue_mail(&m).await.unwrap();
            ids.push(m.id);
        }
        ids
    };
    let claimed = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (q, claimed) = (q.clone(), claimed.clone());
        tasks.push(tokio::spawn(async move {
            // A claim that lost a race may find nothing while messages remain: keep asking.
            for _ in 0..40 {
                if let Some(m) = q.claim_due_mail(T0 + 100, T0 + 400).await.unwrap() {
                    claimed.lock().await.push(m.id);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut claimed = claimed.lock().await.clone();
    claimed.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(claimed, expected, "every message claimed exactly once");
}
