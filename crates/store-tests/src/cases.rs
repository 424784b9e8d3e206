//! The conformance cases. Each takes a fresh, migrated store.

mod access;
mod accounts;
mod listing;
mod members;
mod sign_in;
mod sso;
mod tasks;

pub use access::*;
pub use accounts::*;
pub use listing::*;
pub use members::*;
pub use sign_in::*;
pub use sso::*;
pub use tasks::*;

use crate::failing::{FailOn, FailingStore};
use crate::fixtures::{self, now, tenant};
use chrono::Duration;
use roster_core::access::OperatorGrant;
use roster_core::clock::ManualClock;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{DisplayName, Slug};
use roster_core::secrets::Secret;
use roster_core::store::{MemberFilter, OutboxFilter, SessionHolder, Store, StoreError};
use roster_core::usecases::invitations::AcceptInput;
use roster_core::usecases::orgs::NewOrg;
use roster_core::usecases::setup::{SetupError, SetupInput};
use roster_core::{Links, Roster};
use std::collections::HashSet;
use std::sync::Arc;

pub(crate) type S = Arc<dyn Store>;

pub async fn orgs_create_and_read(store: S) {
    let org = fixtures::org("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(r.org(org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(r.org_by_slug(&org.slug).await.unwrap(), Some(org.clone()));
    assert_eq!(r.org(OrgId::new()).await.unwrap(), None);
    assert_eq!(
        r.org_by_slug(&Slug::parse("other").unwrap()).await.unwrap(),
        None
    );
}

pub async fn org_slug_is_unique(store: S) {
    let first = fixtures::org("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&first).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_org(&fixtures::org("acme")).await.unwrap_err();
    assert!(matches!(err, StoreError::SlugTaken), "{err:?}");
    drop(tx);
    let page = store
        .reads()
        .await
        .unwrap()
        .list_orgs(PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

pub async fn org_update_changes_name_and_settings_only(store: S) {
    let org = fixtures::org("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    let mut changed = org.clone();
    changed.name = DisplayName::parse("Acme Renamed").unwrap();
    changed.settings.invitation_lifetime_hours = 24;
    changed.slug = Slug::parse("sneaky").unwrap();
    changed.updated_at = org.updated_at + Duration::seconds(5);
    assert!(tx.update_org(&changed).await.unwrap());
    let mut ghost = org.clone();
    ghost.id = OrgId::new();
    assert!(!tx.update_org(&ghost).await.unwrap());
    tx.commit().await.unwrap();

    let stored = store
        .reads()
        .await
        .unwrap()
        .org(org.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name.as_str(), "Acme Renamed");
    assert_eq!(stored.settings.invitation_lifetime_hours, 24);
    assert_eq!(stored.slug, org.slug, "the slug never changes");
    assert_eq!(stored.updated_at, changed.updated_at);
}

pub async fn orgs_list_in_pages_with_total(store: S) {
    let mut ids = vec![];
    for i in 0..5 {
        let org = fixtures::org(&format!("org-{i}"));
        ids.push(org.id);
        let mut tx = store.begin().await.unwrap();
        tx.insert_org(&org).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut r = store.reads().await.unwrap();
    let first = r.list_orgs(PageRequest::new(Some(2), None)).await.unwrap();
    assert_eq!(first.total, 5);
    assert_eq!(
        first.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        ids[..2]
    );
    let second = r
        .list_orgs(PageRequest::new(Some(2), first.next_after))
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        ids[2..4]
    );
    let last = r
        .list_orgs(PageRequest::new(Some(2), second.next_after))
        .await
        .unwrap();
    assert_eq!(
        last.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        ids[4..]
    );
    assert_eq!(last.next_after, None);
}

pub async fn identity_email_is_unique_case_insensitive(store: S) {
    let ada = fixtures::identity("Ada@Example.com");
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let wrote = tx
        .insert_identity(&fixtures::identity("ada@EXAMPLE.com"))
        .await;
    let err = fixtures::settle(tx, wrote).await.unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err:?}");

    let mut r = store.reads().await.unwrap();
    let found = r
        .identity_by_email(&Email::parse("ADA@example.COM").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, ada);
    assert_eq!(found.email.as_str(), "Ada@example.com", "display case kept");
    assert_eq!(r.identity(ada.id).await.unwrap(), Some(ada));
    assert_eq!(
        r.identity_by_email(&Email::parse("bob@example.com").unwrap())
            .await
            .unwrap(),
        None
    );
}

pub async fn identity_password_and_verification(store: S) {
    let ada = fixtures::identity("ada@example.com");
    let at = now() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    assert!(tx
        .set_password_hash(ada.id, "$argon2id$fake", at)
        .await
        .unwrap());
    assert!(tx.mark_email_verified(ada.id, at).await.unwrap());
    assert!(!tx
        .set_password_hash(IdentityId::new(), "x", at)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let stored = store
        .reads()
        .await
        .unwrap()
        .identity(ada.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("$argon2id$fake"));
    assert_eq!(stored.email_verified_at, Some(at));
    assert_eq!(stored.updated_at, at);
}

pub async fn memberships_hold_roles_and_move_by_compare_and_set(store: S) {
    let t = tenant(&*store, "acme").await;
    let later = now() + Duration::seconds(1);
    let mut r = store.reads().await.unwrap();
    let m = r
        .membership(t.org.id, t.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, t.membership);
    assert_eq!(m.roles, vec![BuiltinRole::Admin]);
    assert_eq!(
        r.membership_of(t.org.id, t.identity.id).await.unwrap(),
        Some(m)
    );
    drop(r);

    let mut tx = store.begin().await.unwrap();
    use MembershipStatus::*;
    assert!(
        !tx.set_membership_status(t.org.id, t.membership.id, Active, Deactivated, later)
            .await
            .unwrap(),
        "not active yet"
    );
    assert!(tx
        .set_membership_status(t.org.id, t.membership.id, Invited, Active, later)
        .await
        .unwrap());
    assert!(
        !tx.set_membership_status(t.org.id, t.membership.id, Invited, Active, later)
            .await
            .unwrap(),
        "a second identical change does not apply"
    );
    assert!(
        !tx.set_membership_status(t.org.id, t.membership.id, Active, Invited, later)
            .await
            .unwrap(),
        "the state machine forbids going back to invited"
    );
    tx.commit().await.unwrap();
    let m = store
        .reads()
        .await
        .unwrap()
        .membership(t.org.id, t.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, Active);
    assert_eq!(m.updated_at, later);

    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(t.org.id, t.membership.id, Active, Removed, later)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let tomb = r
        .membership(t.org.id, t.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.status, Removed);
    assert_eq!(tomb.removed_at, Some(later), "the tombstone keeps when");
    assert_eq!(
        r.membership_of(t.org.id, t.identity.id).await.unwrap(),
        None
    );
    assert!(r
        .memberships_of_identity(t.identity.id)
        .await
        .unwrap()
        .is_empty());
}

/// A transaction reads its own writes, and a write that fails, wherever its failure is
/// reported (SQLite sends writes that return nothing with the next statement), leaves
/// nothing of the transaction behind.
pub async fn a_transaction_reads_its_writes_and_fails_whole(store: S) {
    let t = tenant(&*store, "acme").await;
    let bob = fixtures::identity("bob@example.com");
    let bobs = fixtures::membership(&t.org, &bob, &[BuiltinRole::User]);
    let event = AuditEvent::new(
        Some(t.org.id),
        Actor::System,
        "membership.granted",
        None,
        serde_json::json!({}),
        now(),
    );
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.insert_membership(&bobs).await.unwrap();
    tx.append_audit(&event).await.unwrap();
    assert_eq!(
        tx.identity_by_email(&bob.email).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(
        tx.membership_of(t.org.id, bob.id).await.unwrap(),
        Some(bobs.clone())
    );
    // Another person with the tenant's address: refused, from the write or the next read.
    let taken = fixtures::identity(t.identity.email.as_str());
    let outcome = match tx.insert_identity(&taken).await {
        Err(e) => Err(e),
        Ok(()) => tx.identity(bob.id).await.map(|_| ()),
    };
    assert!(
        matches!(outcome, Err(StoreError::EmailTaken)),
        "{outcome:?}"
    );
    drop(tx);

    // Written and then rolled back: nothing either.
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.enqueue_outbox(&OutboxMessage::new(
        Some(t.org.id),
        bob.email.clone(),
        fixtures::notice(),
        now(),
    ))
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(r.identity_by_email(&bob.email).await.unwrap(), None);
    assert_eq!(r.membership(t.org.id, bobs.id).await.unwrap(), None);
    assert_eq!(r.outbox_counts().await.unwrap().pending, 0);
    let events = r
        .list_audit(&AuditQuery {
            org_id: Some(t.org.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events.iter().all(|e| e.id != event.id));
    drop(r);

    // The same writes, committed, are all there.
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.insert_membership(&bobs).await.unwrap();
    tx.append_audit(&event).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.identity(bob.id).await.unwrap(), Some(bob));
    assert_eq!(r.membership(t.org.id, bobs.id).await.unwrap(), Some(bobs));
    assert!(r
        .list_audit(&AuditQuery {
            org_id: Some(t.org.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .any(|e| e.id == event.id));
}

pub async fn one_live_membership_per_identity_and_org(store: S) {
    let t = tenant(&*store, "acme").await;
    let mut tx = store.begin().await.unwrap();
    let again = fixtures::membership(&t.org, &t.identity, &[BuiltinRole::User]);
    let wrote = tx.insert_membership(&again).await;
    let err = fixtures::settle(tx, wrote).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyMember), "{err:?}");

    // After removal the person may be invited again; the tombstone stays.
    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(
            t.org.id,
            t.membership.id,
            MembershipStatus::Invited,
            MembershipStatus::Removed,
            at
        )
        .await
        .unwrap());
    tx.insert_membership(&again).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.membership_of(t.org.id, t.identity.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        again.id
    );
    assert!(r
        .membership(t.org.id, t.membership.id)
        .await
        .unwrap()
        .is_some());
}

pub async fn members_list_in_pages_without_removed(store: S) {
    let t = tenant(&*store, "acme").await;
    let mut tx = store.begin().await.unwrap();
    let mut ids = vec![t.membership.id];
    for i in 0..3 {
        let person = fixtures::identity(&format!("p{i}@acme.example"));
        tx.insert_identity(&person).await.unwrap();
        let m = fixtures::membership(
            &t.org,
            &person,
            &[BuiltinRole::User, BuiltinRole::Marketing],
        );
        tx.insert_membership(&m).await.unwrap();
        ids.push(m.id);
    }
    assert!(tx
        .set_membership_status(
            t.org.id,
            ids[1],
            MembershipStatus::Invited,
            MembershipStatus::Removed,
            now()
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let live = [ids[0], ids[2], ids[3]];

    let mut r = store.reads().await.unwrap();
    let p1 = r
        .list_members(
            t.org.id,
            &MemberFilter::default(),
            PageRequest::new(Some(2), None),
        )
        .await
        .unwrap();
    assert_eq!(p1.total, 3);
    assert_eq!(
        p1.items.iter().map(|m| m.membership.id).collect::<Vec<_>>(),
        live[..2]
    );
    assert_eq!(p1.items[0].email, t.identity.email);
    assert_eq!(
        p1.items[1].membership.roles,
        vec![BuiltinRole::User, BuiltinRole::Marketing]
    );
    let p2 = r
        .list_members(
            t.org.id,
            &MemberFilter::default(),
            PageRequest::new(Some(2), p1.next_after),
        )
        .await
        .unwrap();
    assert_eq!(
        p2.items.iter().map(|m| m.membership.id).collect::<Vec<_>>(),
        live[2..]
    );
    assert_eq!(p2.next_after, None);
}

pub async fn invitations_are_found_by_token_hash_and_used_once(store: S) {
    let t = tenant(&*store, "acme").await;
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.invitation_by_token(&t.token.hash()).await.unwrap(),
        Some(t.invitation.clone())
    );
    assert_eq!(
        r.invitation_by_token(&Secret::presented(t.token.expose().to_owned() + "x").hash())
            .await
            .unwrap(),
        None
    );
    drop(r);

    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .consume_invitation(t.org.id, t.invitation.id, at)
        .await
        .unwrap());
    assert!(
        !tx.consume_invitation(t.org.id, t.invitation.id, at)
            .await
            .unwrap(),
        "single use"
    );
    tx.commit().await.unwrap();
    let used = store
        .reads()
        .await
        .unwrap()
        .invitation_by_token(&t.token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.accepted_at, Some(at));
    assert_eq!(used.state(at), InvitationState::Accepted);
}

pub async fn concurrent_invitation_consumes_let_exactly_one_win(store: S) {
    let t = tenant(&*store, "acme").await;
    let mut handles = vec![];
    for _ in 0..8 {
        let store = store.clone();
        let (org, inv) = (t.org.id, t.invitation.id);
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let won = tx.consume_invitation(org, inv, now()).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(won)
        }));
    }
    let mut wins = 0;
    for h in handles {
        // A backend may refuse a racing writer (busy/serialization); it must never let two in.
        if let Ok(true) = h.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

pub async fn sessions_and_api_tokens_are_found_by_hash(store: S) {
    let mut ada = fixtures::identity("ada@example.com");
    // Every identity field set, so the joined read below shows each one comes back.
    ada.name = Some(DisplayName::parse("Ada Lovelace").unwrap());
    ada.timezone = Some("Europe/London".into());
    ada.locale = Some("en-GB".into());
    ada.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    ada.email_verified_at = Some(now());
    let bob = fixtures::identity("bob@example.com");
    let token = Secret::generate("").unwrap();
    let csrf = Secret::generate("").unwrap();
    let t0 = now();
    let session = Session {
        id: SessionId::new(),
        identity_id: ada.id,
        token_hash: token.hash(),
        csrf_hash: csrf.hash(),
        created_at: t0,
        last_seen_at: t0,
        expires_at: t0 + Duration::days(7),
        idle_timeout_minutes: 480,
        revoked_at: None,
    };
    let api_secret = Secret::generate("roster_op_").unwrap();
    let api = ApiToken {
        id: ApiTokenId::new(),
        kind: ApiTokenKind::Operator,
        org_id: None,
        name: "deploy".into(),
        token_hash: api_secret.hash(),
        created_by: None,
        permissions: vec![],
        created_at: t0,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.insert_session(&session).await.unwrap();
    tx.insert_api_token(&api).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.session_by_token(&token.hash()).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(r.session_by_token(&csrf.hash()).await.unwrap(), None);
    assert_eq!(
        r.session_with_holder(&token.hash()).await.unwrap(),
        Some(SessionHolder {
            session: session.clone(),
            identity: ada.clone(),
            memberships: vec![],
        }),
        "the session comes with its own holder, not another identity"
    );
    assert_eq!(r.session_with_holder(&csrf.hash()).await.unwrap(), None);
    assert_eq!(
        r.api_token_with_creator(&api_secret.hash()).await.unwrap(),
        Some((api, None))
    );
    drop(r);

    let t1 = t0 + Duration::minutes(5);
    let mut tx = store.begin().await.unwrap();
    tx.touch_session(session.id, t1).await.unwrap();
    tx.touch_session(session.id, t0).await.unwrap(); // never moves back
    assert!(tx.revoke_session(session.id, t1).await.unwrap());
    assert!(!tx.revoke_session(session.id, t1).await.unwrap());
    tx.commit().await.unwrap();
    let s = store
        .reads()
        .await
        .unwrap()
        .session_by_token(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.last_seen_at, t1);
    assert_eq!(s.revoked_at, Some(t1));
    assert!(!s.is_live(t1));
}

pub async fn audit_appends_and_filters(store: S) {
    let org = fixtures::org("acme");
    let person = IdentityId::new();
    let t0 = now();
    let target = uuid_target();
    let events = [
        AuditEvent::new(
            Some(org.id),
            Actor::Cli,
            "organization.created",
            None,
            serde_json::json!({"n": 1}),
            t0,
        ),
        AuditEvent::new(
            Some(org.id),
            Actor::Identity(person),
            "invitation.accepted",
            Some(target.clone()),
            serde_json::json!({}),
            t0 + Duration::seconds(1),
        ),
        AuditEvent::new(
            Some(org.id),
            Actor::Identity(person),
            "session.started",
            None,
            serde_json::json!({}),
            t0 + Duration::seconds(2),
        ),
        AuditEvent::new(
            None,
            Actor::Cli,
            "api_token.created",
            None,
            serde_json::json!({}),
            t0 + Duration::seconds(3),
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    for e in &events {
        tx.append_audit(e).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            org_id: Some(org.id),
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = r.list_audit(&q(|_| {})).await.unwrap();
    assert_eq!(
        all,
        vec![events[2].clone(), events[1].clone(), events[0].clone()],
        "newest first, this org only"
    );
    let by_actor = r
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            actor: Some(Actor::Identity(person)),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 2);
    let by_action = r
        .list_audit(&q(|q| q.action = Some("organization.created".into())))
        .await
        .unwrap();
    assert_eq!(by_action, vec![events[0].clone()]);
    let by_target = r
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            target_id: Some(target.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_target, vec![events[1].clone()]);
    let window = r
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            since: Some(t0 + Duration::seconds(1)),
            until: Some(t0 + Duration::seconds(2)),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        window,
        vec![events[1].clone()],
        "since inclusive, until exclusive"
    );
    let page = r
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            before: Some(events[2].id),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page, vec![events[1].clone()]);
    let deployment = r
        .list_audit(&AuditQuery {
            org_id: None,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deployment, vec![events[3].clone()]);
}

fn uuid_target() -> AuditTarget {
    AuditTarget {
        kind: "membership".into(),
        id: MembershipId::new().as_uuid(),
    }
}

pub async fn outbox_enqueue_claim_and_finish(store: S) {
    let t0 = now();
    let to = Email::parse("ada@example.com").unwrap();
    let a = OutboxMessage::new(None, to.clone(), fixtures::notice(), t0);
    let b = OutboxMessage::new(None, to.clone(), fixtures::notice(), t0);
    let mut later = OutboxMessage::new(None, to, fixtures::notice(), t0);
    later.next_attempt_at = t0 + Duration::minutes(10);
    let mut tx = store.begin().await.unwrap();
    for m in [&a, &b, &later] {
        tx.enqueue_outbox(m).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .reads()
            .await
            .unwrap()
            .outbox_message(a.id)
            .await
            .unwrap(),
        Some(a.clone())
    );

    let lease = t0 + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    let claimed = tx.claim_outbox(t0, lease, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![a.id, b.id],
        "due ones only"
    );
    assert!(claimed
        .iter()
        .all(|m| m.attempts == 1 && m.lease_until == Some(lease)));
    assert!(
        tx.claim_outbox(t0, lease, 10).await.unwrap().is_empty(),
        "leased ones are not claimed again"
    );
    assert!(tx.outbox_sent(a.id, lease, t0).await.unwrap());
    assert!(tx
        .outbox_failed(
            b.id,
            lease,
            "connection refused",
            Some(t0 + Duration::seconds(30)),
            true
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let sent = r.outbox_message(a.id).await.unwrap().unwrap();
    assert_eq!(sent.status, OutboxStatus::Sent);
    assert_eq!(sent.sent_at, Some(t0));
    assert_eq!(
        sent.notice, None,
        "content with its link is scrubbed once sent"
    );
    assert_eq!(sent.kind, "invitation");
    let retry = r.outbox_message(b.id).await.unwrap().unwrap();
    assert_eq!(retry.status, OutboxStatus::Pending);
    assert_eq!(retry.last_error.as_deref(), Some("connection refused"));
    assert_eq!(retry.lease_until, None);
    drop(r);

    // Not due before its next attempt; due after, and the attempt is counted.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .claim_outbox(t0 + Duration::seconds(29), lease, 10)
        .await
        .unwrap()
        .is_empty());
    let again = tx
        .claim_outbox(t0 + Duration::seconds(30), t0 + Duration::minutes(2), 1)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (b.id, 2));
    assert!(tx
        .outbox_failed(
            b.id,
            t0 + Duration::minutes(2),
            "mailbox unavailable",
            None,
            false
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();

    // A lease that runs out (a worker died) makes the message claimable again.
    let mut tx = store.begin().await.unwrap();
    let first = tx
        .claim_outbox(t0 + Duration::minutes(10), t0 + Duration::minutes(11), 10)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later.id]
    );
    let reclaimed = tx
        .claim_outbox(t0 + Duration::minutes(11), t0 + Duration::minutes(12), 10)
        .await
        .unwrap();
    assert_eq!(
        reclaimed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later.id]
    );
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let failed = r
        .list_outbox(&OutboxFilter {
            status: Some(OutboxStatus::Failed),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(failed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b.id]);
    assert_eq!(failed[0].last_error.as_deref(), Some("mailbox unavailable"));
    assert!(
        failed[0].notice.is_some(),
        "a failed message keeps its content for `roster mail retry`"
    );
    assert_eq!(
        r.list_outbox(&OutboxFilter {
            status: None,
            limit: 10
        })
        .await
        .unwrap()
        .len(),
        3
    );
    assert_eq!(
        r.outbox_counts().await.unwrap(),
        roster_core::store::OutboxCounts {
            pending: 1,
            failed: 1,
            oldest_pending_at: Some(t0),
        }
    );
    drop(r);

    // A retry makes the failed message due now with its attempts counted afresh; only a
    // failed one can be retried.
    let t1 = t0 + Duration::hours(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.retry_outbox(b.id, t1).await.unwrap());
    assert!(!tx.retry_outbox(b.id, t1).await.unwrap(), "pending now");
    assert!(!tx.retry_outbox(a.id, t1).await.unwrap(), "sent");
    assert!(!tx.retry_outbox(OutboxId::new(), t1).await.unwrap());
    tx.commit().await.unwrap();
    let retried = store
        .reads()
        .await
        .unwrap()
        .outbox_message(b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (retried.status, retried.attempts, retried.next_attempt_at),
        (OutboxStatus::Pending, 0, t1)
    );
    assert_eq!(retried.notice, b.notice);
    let mut tx = store.begin().await.unwrap();
    let claimed = tx
        .claim_outbox(t1, t1 + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|m| m.id == b.id));
    tx.rollback().await.unwrap();
    let counts = store.reads().await.unwrap().outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.failed), (2, 0));

    // A message whose content holds a live link is scrubbed when it fails for good, and
    // then cannot be retried: its person gets a new link instead.
    let mut tx = store.begin().await.unwrap();
    let lease = t1 + Duration::minutes(5);
    let claimed = tx
        .claim_outbox(t1 + Duration::minutes(2), lease, 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|m| m.id == later.id));
    assert!(tx
        .outbox_failed(later.id, lease, "550 no such user", None, true)
        .await
        .unwrap());
    assert!(!tx.retry_outbox(later.id, lease).await.unwrap());
    tx.commit().await.unwrap();
    let dead = store
        .reads()
        .await
        .unwrap()
        .outbox_message(later.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((dead.status, dead.notice), (OutboxStatus::Failed, None));
}

pub async fn outbox_results_need_the_current_lease(store: S) {
    let t0 = now();
    let m = OutboxMessage::new(
        None,
        Email::parse("ada@example.com").unwrap(),
        fixtures::notice(),
        t0,
    );
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_outbox(&m).await.unwrap();
    // Worker A claims, stalls past its lease; worker B claims the message again and sends it.
    let lease_a = t0 + Duration::minutes(1);
    assert_eq!(tx.claim_outbox(t0, lease_a, 1).await.unwrap().len(), 1);
    let lease_b = t0 + Duration::minutes(3);
    let b = tx.claim_outbox(lease_a, lease_b, 1).await.unwrap();
    assert_eq!(b[0].lease_until, Some(lease_b));
    assert!(tx.outbox_sent(m.id, lease_b, lease_a).await.unwrap());
    // A's late reports change nothing: no resend, no false failure.
    assert!(!tx
        .outbox_failed(m.id, lease_a, "timeout", Some(lease_b), false)
        .await
        .unwrap());
    assert!(!tx
        .outbox_failed(m.id, lease_a, "timeout", None, false)
        .await
        .unwrap());
    assert!(!tx.outbox_sent(m.id, lease_a, lease_b).await.unwrap());
    tx.commit().await.unwrap();
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.sent_at, Some(lease_a));
    assert_eq!(row.last_error, None);
}

/// A worker that stops gives back what it claimed and did not reach: due again at once,
/// with the attempt it never made uncounted.
pub async fn released_outbox_messages_are_due_at_once(store: S) {
    let t0 = now();
    let to = Email::parse("ada@example.com").unwrap();
    let m = OutboxMessage::new(None, to.clone(), fixtures::notice(), t0);
    let sent = OutboxMessage::new(None, to, fixtures::notice(), t0);
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_outbox(&m).await.unwrap();
    tx.enqueue_outbox(&sent).await.unwrap();
    tx.commit().await.unwrap();

    let lease = t0 + Duration::minutes(5);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.claim_outbox(t0, lease, 10).await.unwrap().len(), 2);
    assert!(tx.outbox_sent(sent.id, lease, t0).await.unwrap());
    assert!(
        !tx.release_outbox(m.id, t0 + Duration::minutes(1))
            .await
            .unwrap(),
        "only the lease holder gives a message back"
    );
    assert!(tx.release_outbox(m.id, lease).await.unwrap());
    assert!(
        !tx.release_outbox(m.id, lease).await.unwrap(),
        "given back once"
    );
    assert!(
        !tx.release_outbox(sent.id, lease).await.unwrap(),
        "a sent message stays sent"
    );
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let again = tx
        .claim_outbox(t0, t0 + Duration::minutes(6), 10)
        .await
        .unwrap();
    assert_eq!(
        again
            .iter()
            .map(|c| (c.id, c.attempts, c.lease_until))
            .collect::<Vec<_>>(),
        vec![(m.id, 1, Some(t0 + Duration::minutes(6)))],
        "claimable before the first lease ran out, as its first attempt"
    );
    tx.commit().await.unwrap();
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(sent.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Sent);
}

pub async fn concurrent_outbox_claims_never_overlap(store: S) {
    let t0 = now();
    let mut tx = store.begin().await.unwrap();
    for i in 0..40 {
        let to = Email::parse(&format!("p{i}@example.com")).unwrap();
        tx.enqueue_outbox(&OutboxMessage::new(None, to, fixtures::notice(), t0))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut handles = vec![];
    for _ in 0..4 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = vec![];
            loop {
                let mut tx = store.begin().await.unwrap();
                let batch = tx
                    .claim_outbox(t0, t0 + Duration::minutes(5), 3)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut count = 0;
    for h in handles {
        for id in h.await.unwrap() {
            count += 1;
            assert!(seen.insert(id), "message {id} claimed twice");
        }
    }
    assert_eq!(count, 40);
}

pub async fn tenant_isolation(store: S) {
    let a = tenant(&*store, "tenant-a").await;
    let b = tenant(&*store, "tenant-b").await;
    let at = now();

    let mut r = store.reads().await.unwrap();
    // Reads with B's id never return A's rows.
    assert_eq!(r.membership(b.org.id, a.membership.id).await.unwrap(), None);
    assert_eq!(
        r.membership_of(b.org.id, a.identity.id).await.unwrap(),
        None
    );
    let members = r
        .list_members(b.org.id, &MemberFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(members.total, 1);
    assert!(members
        .items
        .iter()
        .all(|m| m.membership.org_id == b.org.id));
    let audit = r
        .list_audit(&AuditQuery {
            org_id: Some(b.org.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!audit.is_empty());
    assert!(audit.iter().all(|e| e.org_id == Some(b.org.id)));
    drop(r);

    // Changes with B's id never touch A's rows.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx
        .set_membership_status(
            b.org.id,
            a.membership.id,
            MembershipStatus::Invited,
            MembershipStatus::Active,
            at
        )
        .await
        .unwrap());
    assert!(!tx
        .consume_invitation(b.org.id, a.invitation.id, at)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.membership(a.org.id, a.membership.id).await.unwrap(),
        Some(a.membership.clone())
    );
    assert_eq!(
        r.invitation_by_token(&a.token.hash()).await.unwrap(),
        Some(a.invitation.clone())
    );
}

pub async fn dropped_transaction_leaves_nothing(store: S) {
    let org = fixtures::org("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    tx.append_audit(&fixtures::audit(Some(org.id), "organization.created"))
        .await
        .unwrap();
    assert!(
        tx.org(org.id).await.unwrap().is_some(),
        "visible inside the transaction"
    );
    drop(tx);

    let mut r = store.reads().await.unwrap();
    assert_eq!(r.org(org.id).await.unwrap(), None);
    let audit = r
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.is_empty());
    drop(r);
    // And the store is still usable afterwards.
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    tx.commit().await.unwrap();
}

fn roster(store: S) -> Roster {
    Roster::new(
        store,
        Arc::new(ManualClock::starting_now()),
        Links::new("https://roster.test"),
    )
}

fn setup_input(name: &str, email: &str) -> SetupInput {
    SetupInput {
        org: NewOrg {
            name: DisplayName::parse(name).unwrap(),
            slug: None,
            kind: OrgKind::Vendor,
        },
        admin_email: Email::parse(email).unwrap(),
    }
}

/// Counts every row a setup writes, to compare before and after.
async fn footprint(store: &S, slug: &str, email: &str) -> (bool, bool, usize, usize) {
    let mut r = store.reads().await.unwrap();
    let org = r.org_by_slug(&Slug::parse(slug).unwrap()).await.unwrap();
    let identity = r
        .identity_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap();
    let audit = match &org {
        Some(o) => r
            .list_audit(&AuditQuery {
                org_id: Some(o.id),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        None => 0,
    };
    let outbox = r
        .list_outbox(&OutboxFilter {
            status: None,
            limit: 100,
        })
        .await
        .unwrap()
        .len();
    (org.is_some(), identity.is_some(), audit, outbox)
}

pub async fn use_case_failure_leaves_no_partial_rows(store: S) {
    for fail_on in [
        FailOn::AppendAudit,
        FailOn::InsertInvitation,
        FailOn::EnqueueOutbox,
    ] {
        let failing: S = Arc::new(FailingStore::new(store.clone(), fail_on));
        let err = roster(failing)
            .setup(
                &OperatorGrant::command_line(),
                setup_input("Acme", "admin@acme.example"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, SetupError::Store(_) | SetupError::Issue(_)),
            "{fail_on:?}: {err:?}"
        );
        assert_eq!(
            footprint(&store, "acme", "admin@acme.example").await,
            (false, false, 0, 0),
            "a setup failing at {fail_on:?} left rows behind"
        );
    }
}

pub async fn setup_writes_every_row_in_one_transaction(store: S) {
    let roster = roster(store.clone());
    let out = roster
        .setup(
            &OperatorGrant::command_line(),
            setup_input("Acme", "admin@acme.example"),
        )
        .await
        .unwrap();
    let link = out.invitation_link.unwrap();
    assert!(link.starts_with("https://roster.test/invitations/inv_"));
    assert_eq!(out.membership.status, MembershipStatus::Invited);
    assert_eq!(out.membership.roles, vec![BuiltinRole::Admin]);
    assert_eq!(
        footprint(&store, "acme", "admin@acme.example").await,
        (true, true, 2, 1)
    );

    let mut r = store.reads().await.unwrap();
    let queued = r
        .list_outbox(&OutboxFilter {
            status: None,
            limit: 10,
        })
        .await
        .unwrap();
    match &queued[0].notice {
        Some(Notice::Invitation {
            link: queued_link,
            org_name,
            ..
        }) => {
            assert_eq!(queued_link, &link);
            assert_eq!(org_name, "Acme");
        }
        other => panic!("expected an invitation, got {other:?}"),
    }
    let token = link.rsplit('/').next().unwrap();
    let inv = r
        .invitation_by_token(&Secret::presented(token).hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.membership_id, out.membership.id);
    drop(r);

    let again = roster
        .setup(
            &OperatorGrant::command_line(),
            setup_input("Acme", "admin@acme.example"),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, SetupError::AlreadySetUp(_)), "{again:?}");
    assert_eq!(
        footprint(&store, "acme", "admin@acme.example").await,
        (true, true, 2, 1)
    );
}

pub async fn setup_grants_access_to_an_identity_that_can_sign_in(store: S) {
    let mut ada = fixtures::identity("ada@acme.example");
    ada.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into());
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.commit().await.unwrap();

    let out = roster(store.clone())
        .setup(
            &OperatorGrant::command_line(),
            setup_input("Acme", "ADA@acme.example"),
        )
        .await
        .unwrap();
    assert_eq!(
        out.invitation_link, None,
        "no invitation for someone who can sign in"
    );
    assert_eq!(out.membership.status, MembershipStatus::Active);
    assert_eq!(
        out.membership.identity_id, ada.id,
        "the existing identity, not a new one"
    );
    let mut r = store.reads().await.unwrap();
    let queued = r
        .list_outbox(&OutboxFilter {
            status: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert!(
        matches!(queued[0].notice, Some(Notice::AccessGranted { .. })),
        "{:?}",
        queued[0]
    );
    assert_eq!(queued[0].recipient.as_str(), "ada@acme.example");
}

pub async fn concurrent_accepts_let_exactly_one_in(store: S) {
    let roster = roster(store.clone());
    let out = roster
        .setup(
            &OperatorGrant::command_line(),
            setup_input("Acme", "admin@acme.example"),
        )
        .await
        .unwrap();
    let token = Secret::presented(out.invitation_link.unwrap().rsplit('/').next().unwrap());
    let mut handles = vec![];
    for i in 0..4 {
        let (roster, token) = (roster.clone(), token.clone());
        handles.push(tokio::spawn(async move {
            let pw = format!("correct horse battery {i}");
            roster
                .accept_invitation(
                    &token,
                    AcceptInput {
                        password: Some(pw.clone()),
                        password_confirmation: Some(pw),
                    },
                    None,
                )
                .await
                .map(|a| a.identity.password_hash)
        }));
    }
    let mut wins = vec![];
    for h in handles {
        if let Ok(hash) = h.await.unwrap() {
            wins.push(hash);
        }
    }
    assert_eq!(wins.len(), 1, "exactly one accept may win");
    let mut r = store.reads().await.unwrap();
    let identity = r
        .identity_by_email(&Email::parse("admin@acme.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        identity.password_hash, wins[0],
        "the winner's password is the one stored"
    );
    let m = r
        .membership(out.org.id, out.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, MembershipStatus::Active);
}

pub async fn concurrent_settings_changes_are_all_kept(store: S) {
    let roster = roster(store.clone());
    let operator = roster_core::access::Caller::Operator {
        token_id: ApiTokenId::new(),
    };
    for round in 0..10u32 {
        let org = roster
            .create_org(
                &OperatorGrant::command_line(),
                NewOrg {
                    name: DisplayName::parse(&format!("Org {round}")).unwrap(),
                    slug: None,
                    kind: OrgKind::Company,
                },
            )
            .await
            .unwrap();
        let change = |key: &'static str, value: u32| {
            let (roster, operator) = (roster.clone(), operator.clone());
            tokio::spawn(async move {
                let grant = {
                    let mut r = roster.store.reads().await.unwrap();
                    roster_core::access::require(
                        &roster.catalog,
                        &roster.definitions,
                        &mut *r,
                        &operator,
                        org.id,
                        Permission::OrgSettings,
                    )
                    .await
                    .unwrap()
                };
                let mut settings = serde_json::Map::new();
                settings.insert(key.to_owned(), value.into());
                roster
                    .update_org(
                        &grant,
                        roster_core::usecases::orgs::OrgPatch {
                            name: None,
                            settings: Some(settings),
                        },
                    )
                    .await
                    .unwrap();
            })
        };
        let a = change("invitation_lifetime_hours", 24 + round);
        let b = change("password_min_length", 14 + round);
        a.await.unwrap();
        b.await.unwrap();
        let stored = store
            .reads()
            .await
            .unwrap()
            .org(org.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                stored.settings.invitation_lifetime_hours,
                stored.settings.password_min_length
            ),
            (24 + round, 14 + round),
            "round {round}: a concurrent change was lost"
        );
    }
}

pub async fn concurrent_first_accepts_of_one_person_set_one_password(store: S) {
    use roster_core::usecases::invitations::AcceptError;
    let roster = roster(store.clone());
    for round in 0..6 {
        let email = format!("p{round}@example.com");
        let mut tokens = vec![];
        for org in ["acme", "globex"] {
            let out = roster
                .setup(
                    &OperatorGrant::command_line(),
                    setup_input(&format!("{org} {round}"), &email),
                )
                .await
                .unwrap();
            tokens.push(Secret::presented(
                out.invitation_link.unwrap().rsplit('/').next().unwrap(),
            ));
        }
        let mut handles = vec![];
        for (i, token) in tokens.into_iter().enumerate() {
            let roster = roster.clone();
            handles.push(tokio::spawn(async move {
                let pw = format!("a long passphrase number {i}");
                let r = roster
                    .accept_invitation(
                        &token,
                        AcceptInput {
                            password: Some(pw.clone()),
                            password_confirmation: Some(pw.clone()),
                        },
                        None,
                    )
                    .await;
                (pw, r)
            }));
        }
        let mut winners = vec![];
        for h in handles {
            match h.await.unwrap() {
                (pw, Ok(_)) => winners.push(pw),
                (_, Err(AcceptError::SignInRequired)) => {}
                (_, Err(e)) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one first password"
        );
        let identity = store
            .reads()
            .await
            .unwrap()
            .identity_by_email(&Email::parse(&email).unwrap())
            .await
            .unwrap()
            .unwrap();
        let hash = identity.password_hash.unwrap();
        assert!(
            roster.passwords.verify(&winners[0], &hash).await.unwrap(),
            "round {round}: the winner's password is stored"
        );
    }
}

pub async fn concurrent_writers_all_commit(store: S) {
    let roster = roster(store.clone());
    let mut handles = vec![];
    for i in 0..12 {
        let roster = roster.clone();
        handles.push(tokio::spawn(async move {
            roster
                .create_org(
                    &OperatorGrant::command_line(),
                    NewOrg {
                        name: DisplayName::parse(&format!("Org {i}")).unwrap(),
                        slug: None,
                        kind: OrgKind::Company,
                    },
                )
                .await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let page = store
        .reads()
        .await
        .unwrap()
        .list_orgs(PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 12);
}

pub async fn readiness_after_migration(store: S) {
    let r = store.readiness().await.unwrap();
    assert!(r.is_ready(), "{r:?}");
    assert!(
        ["sqlite", "postgres"].contains(&store.backend()),
        "{}",
        store.backend()
    );
}
