//! Sessions and organization tokens of a person, and changes to identities and roles.

use super::S;
use crate::fixtures::{self, now, tenant};
use chrono::Duration;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::store::StoreError;

pub async fn sessions_of_identity_and_revoking_all_but_one(store: S) {
    let ada = fixtures::identity("ada@example.com");
    let bob = fixtures::identity("bob@example.com");
    let t0 = now() - Duration::days(30);
    let oldest = fixtures::session(ada.id, t0);
    let current = fixtures::session(ada.id, t0 + Duration::minutes(1));
    let mut revoked = fixtures::session(ada.id, t0 + Duration::minutes(2));
    revoked.revoked_at = Some(t0 + Duration::minutes(3));
    // Long expired, never revoked: still listed, still revoked below.
    let mut expired = fixtures::session(ada.id, t0 + Duration::minutes(4));
    expired.expires_at = t0 + Duration::minutes(5);
    let bobs = fixtures::session(bob.id, t0 + Duration::minutes(6));
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    for s in [&oldest, &current, &revoked, &expired, &bobs] {
        tx.insert_session(s).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.sessions_of_identity(ada.id).await.unwrap(),
        vec![expired.clone(), current.clone(), oldest.clone()],
        "not revoked, expired included, newest first"
    );
    assert!(r
        .sessions_of_identity(IdentityId::new())
        .await
        .unwrap()
        .is_empty());
    drop(r);

    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.revoke_sessions_of_identity(ada.id, Some(current.id), at)
            .await
            .unwrap(),
        2,
        "every other live session: the oldest and the expired one"
    );
    assert_eq!(
        tx.revoke_sessions_of_identity(ada.id, Some(current.id), at)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.sessions_of_identity(ada.id).await.unwrap(),
        vec![current.clone()],
        "the kept session survives"
    );
    assert_eq!(
        r.session_by_token(&revoked.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        revoked.revoked_at,
        "an already revoked session keeps when it was revoked"
    );
    assert_eq!(
        r.session_by_token(&oldest.token_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at)
    );
    assert_eq!(
        r.sessions_of_identity(bob.id).await.unwrap(),
        vec![bobs.clone()],
        "another person's sessions are untouched"
    );
    drop(r);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.revoke_sessions_of_identity(ada.id, None, at)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert!(r.sessions_of_identity(ada.id).await.unwrap().is_empty());
    assert_eq!(r.sessions_of_identity(bob.id).await.unwrap().len(), 1);
}

pub async fn api_tokens_keep_creator_permissions_and_last_use(store: S) {
    let t = tenant(&*store, "acme").await;
    let (mut token, secret) = fixtures::org_token(
        t.org.id,
        Some(t.identity.id),
        &[
            Permission::UsersRead,
            Permission::AuditRead,
            Permission::TasksWrite,
        ],
    );
    token.expires_at = Some(token.created_at + Duration::days(90));
    // Made by someone without a membership here (another organization's admin), and by
    // no one: neither comes with a membership.
    let other = tenant(&*store, "other").await;
    let (strangers, strangers_secret) =
        fixtures::org_token(t.org.id, Some(other.identity.id), &[Permission::UsersRead]);
    let (nobodys, nobodys_secret) = fixtures::org_token(t.org.id, None, &[]);
    let mut tx = store.begin().await.unwrap();
    for token in [&token, &strangers, &nobodys] {
        tx.insert_api_token(token).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.api_token_with_creator(&secret.hash()).await.unwrap(),
        Some((token.clone(), Some((t.membership.clone(), t.org.clone())))),
        "creator, permissions and expiry round-trip, with the creator's membership here"
    );
    assert_eq!(
        r.api_token_with_creator(&strangers_secret.hash())
            .await
            .unwrap(),
        Some((strangers, None))
    );
    assert_eq!(
        r.api_token_with_creator(&nobodys_secret.hash())
            .await
            .unwrap(),
        Some((nobodys, None))
    );
    assert_eq!(
        r.api_token_with_creator(&t.token.hash()).await.unwrap(),
        None
    );
    // Inside a write transaction SQLite reads on the writer's connection, through another
    // driver than a plain read (see store-sqlite's `inline`): the same answers.
    let mut tx = store.begin().await.unwrap();
    for hash in [
        secret.hash(),
        strangers_secret.hash(),
        nobodys_secret.hash(),
        t.token.hash(),
    ] {
        assert_eq!(
            tx.api_token_with_creator(&hash).await.unwrap(),
            r.api_token_with_creator(&hash).await.unwrap(),
        );
    }
    tx.rollback().await.unwrap();
    drop(r);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(
            t.org.id,
            t.membership.id,
            t.membership.status,
            MembershipStatus::Removed,
            now()
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.api_token_with_creator(&secret.hash()).await.unwrap(),
        Some((token.clone(), None)),
        "a removed creator's membership does not come along"
    );
    assert_eq!(
        r.api_token(t.org.id, token.id).await.unwrap(),
        Some(token.clone())
    );
    drop(r);

    let t1 = token.created_at + Duration::minutes(3);
    let mut tx = store.begin().await.unwrap();
    tx.touch_api_token(token.id, t1).await.unwrap();
    tx.touch_api_token(token.id, token.created_at)
        .await
        .unwrap(); // never moves back
    tx.touch_api_token(ApiTokenId::new(), t1).await.unwrap();
    tx.commit().await.unwrap();
    let used = store
        .reads()
        .await
        .unwrap()
        .api_token(t.org.id, token.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(t1));
    assert_eq!(
        used,
        ApiToken {
            last_used_at: Some(t1),
            ..token
        },
        "touching changes nothing else"
    );
}

pub async fn api_tokens_are_listed_and_revoked_per_organization(store: S) {
    let a = tenant(&*store, "tenant-a").await;
    let b = tenant(&*store, "tenant-b").await;
    let (mut first, _) =
        fixtures::org_token(a.org.id, Some(a.identity.id), &[Permission::UsersRead]);
    first.created_at -= Duration::minutes(5);
    let (second, _) = fixtures::org_token(a.org.id, None, &[Permission::TokensManage]);
    let (bs, _) = fixtures::org_token(b.org.id, Some(b.identity.id), &[Permission::UsersRead]);
    let operator = ApiToken {
        kind: ApiTokenKind::Operator,
        org_id: None,
        permissions: vec![],
        ..fixtures::org_token(a.org.id, None, &[]).0
    };
    let mut tx = store.begin().await.unwrap();
    for token in [&first, &second, &bs, &operator] {
        tx.insert_api_token(token).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.list_api_tokens(a.org.id).await.unwrap(),
        vec![second.clone(), first.clone()],
        "this organization's tokens, newest first; no operator token"
    );
    assert_eq!(r.list_api_tokens(b.org.id).await.unwrap(), vec![bs.clone()]);
    assert!(r.list_api_tokens(OrgId::new()).await.unwrap().is_empty());
    assert_eq!(
        r.api_token(b.org.id, first.id).await.unwrap(),
        None,
        "B cannot see A's token"
    );
    assert_eq!(r.api_token(a.org.id, operator.id).await.unwrap(), None);
    drop(r);

    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.revoke_api_token(b.org.id, first.id, at).await.unwrap(),
        "B cannot revoke A's token"
    );
    assert!(!tx
        .revoke_api_token(a.org.id, ApiTokenId::new(), at)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .reads()
            .await
            .unwrap()
            .api_token(a.org.id, first.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );

    let mut tx = store.begin().await.unwrap();
    assert!(tx.revoke_api_token(a.org.id, first.id, at).await.unwrap());
    assert!(
        !tx.revoke_api_token(a.org.id, first.id, at + Duration::seconds(1))
            .await
            .unwrap(),
        "already revoked"
    );
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let listed = r.list_api_tokens(a.org.id).await.unwrap();
    assert_eq!(listed.len(), 2, "revoked tokens stay listed");
    assert_eq!(listed[1].revoked_at, Some(at));
    assert_eq!(
        r.api_token(a.org.id, first.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at),
        "the first revocation is the one kept"
    );
    assert_eq!(r.api_token(b.org.id, bs.id).await.unwrap(), Some(bs));
}

pub async fn revoking_the_tokens_a_person_created(store: S) {
    let a = tenant(&*store, "tenant-a").await;
    let b = tenant(&*store, "tenant-b").await;
    let ada = a.identity.id;
    let (in_a, _) = fixtures::org_token(a.org.id, Some(ada), &[Permission::UsersRead]);
    // Ada is a member of B too and created a token there.
    let mut tx = store.begin().await.unwrap();
    tx.insert_membership(&Membership::new(
        b.org.id,
        ada,
        MembershipStatus::Active,
        [BuiltinRole::Admin],
        now(),
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (in_b, _) = fixtures::org_token(b.org.id, Some(ada), &[Permission::UsersRead]);
    let (mut already, _) = fixtures::org_token(a.org.id, Some(ada), &[Permission::UsersRead]);
    already.revoked_at = Some(already.created_at);
    let (others, _) = fixtures::org_token(a.org.id, Some(b.identity.id), &[Permission::UsersRead]);
    let (operators, _) = fixtures::org_token(a.org.id, None, &[Permission::UsersRead]);
    let mut tx = store.begin().await.unwrap();
    for token in [&in_a, &in_b, &already, &others, &operators] {
        tx.insert_api_token(token).await.unwrap();
    }
    tx.commit().await.unwrap();

    let at = now() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.revoke_api_tokens_of_identity(ada, Some(b.org.id), at)
            .await
            .unwrap(),
        1,
        "only her live token in B"
    );
    assert_eq!(
        tx.revoke_api_tokens_of_identity(ada, None, at)
            .await
            .unwrap(),
        1,
        "then her live tokens in every other organization"
    );
    assert_eq!(
        tx.revoke_api_tokens_of_identity(ada, None, at)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    for (what, org, id, expected) in [
        ("hers in A", a.org.id, in_a.id, Some(at)),
        ("hers in B", b.org.id, in_b.id, Some(at)),
        ("already revoked", a.org.id, already.id, already.revoked_at),
        ("another person's", a.org.id, others.id, None),
        ("an operator-made one", a.org.id, operators.id, None),
    ] {
        let token = r.api_token(org, id).await.unwrap().unwrap();
        assert_eq!(token.revoked_at, expected, "{what}");
    }
}

pub async fn identity_email_changes_keep_addresses_unique(store: S) {
    let ada = fixtures::identity("ada@example.com");
    let bob = fixtures::identity("bob@example.com");
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.commit().await.unwrap();

    let at = now() + Duration::minutes(1);
    let new = Email::parse("Ada.Lovelace@Example.com").unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.set_identity_email(ada.id, &new, at).await.unwrap());
    assert!(!tx
        .set_identity_email(
            IdentityId::new(),
            &Email::parse("x@example.com").unwrap(),
            at
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let changed = r.identity(ada.id).await.unwrap().unwrap();
    assert_eq!(changed.email.as_str(), "Ada.Lovelace@example.com");
    assert_eq!(changed.email_verified_at, Some(at), "confirmed by its link");
    assert_eq!(changed.updated_at, at);
    assert_eq!(
        r.identity_by_email(&Email::parse("ADA.LOVELACE@example.COM").unwrap())
            .await
            .unwrap()
            .map(|i| i.id),
        Some(ada.id),
        "found by the new address, case-insensitively"
    );
    assert_eq!(
        r.identity_by_email(&ada.email).await.unwrap(),
        None,
        "the old address is free"
    );
    drop(r);

    let mut tx = store.begin().await.unwrap();
    let err = tx
        .set_identity_email(
            bob.id,
            &Email::parse("ada.LOVELACE@example.com").unwrap(),
            at,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
    drop(tx);
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.identity(bob.id).await.unwrap(),
        Some(bob.clone()),
        "a refused change leaves the identity as it was"
    );
    assert_eq!(r.identity(ada.id).await.unwrap(), Some(changed.clone()));
    drop(r);

    // The freed address can be taken; an identity may change the case of its own.
    let later = at + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_identity_email(bob.id, &ada.email, later)
        .await
        .unwrap());
    let recased = Email::parse("ADA.lovelace@example.com").unwrap();
    assert!(tx
        .set_identity_email(ada.id, &recased, later)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.identity_by_email(&ada.email).await.unwrap().map(|i| i.id),
        Some(bob.id)
    );
    assert_eq!(
        r.identity(ada.id).await.unwrap().unwrap().email.as_str(),
        "ADA.lovelace@example.com"
    );
}

pub async fn identity_profile_updates(store: S) {
    let mut ada = fixtures::identity("ada@example.com");
    ada.password_hash = Some("$argon2id$fake".into());
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.commit().await.unwrap();

    let at = now() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .update_identity_profile(
            ada.id,
            Some("Ada Lovelace"),
            Some("Europe/London"),
            Some("en-GB"),
            at
        )
        .await
        .unwrap());
    assert!(!tx
        .update_identity_profile(IdentityId::new(), Some("Nobody"), None, None, at)
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
    assert_eq!(
        stored,
        Identity {
            name: Some(roster_core::names::DisplayName::parse("Ada Lovelace").unwrap()),
            timezone: Some("Europe/London".into()),
            locale: Some("en-GB".into()),
            updated_at: at,
            ..ada.clone()
        },
        "email, password and verification untouched"
    );

    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .update_identity_profile(ada.id, None, None, None, at + Duration::minutes(1))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let cleared = store
        .reads()
        .await
        .unwrap()
        .identity(ada.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleared.name, cleared.timezone, cleared.locale),
        (None, None, None),
        "every field is replaced, none kept"
    );
}

pub async fn membership_roles_are_replaced_within_their_organization(store: S) {
    let a = tenant(&*store, "tenant-a").await;
    let b = tenant(&*store, "tenant-b").await;
    let at = now() + Duration::minutes(1);

    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_roles(
            a.org.id,
            a.membership.id,
            &[
                BuiltinRole::Marketing,
                BuiltinRole::User,
                BuiltinRole::Marketing
            ],
            at
        )
        .await
        .unwrap());
    assert!(
        !tx.set_membership_roles(b.org.id, a.membership.id, &[BuiltinRole::User], at)
            .await
            .unwrap(),
        "B cannot change the roles of A's member"
    );
    assert!(!tx
        .set_membership_roles(a.org.id, MembershipId::new(), &[BuiltinRole::User], at)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let m = r
        .membership(a.org.id, a.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.roles,
        vec![BuiltinRole::User, BuiltinRole::Marketing],
        "replaced, not added to; duplicates collapse"
    );
    assert_eq!(m.updated_at, at);
    assert!(!m.is_admin());
    assert_eq!(
        r.membership(b.org.id, b.membership.id).await.unwrap(),
        Some(b.membership.clone()),
        "another organization's member is untouched"
    );
    drop(r);

    // A removed membership is a tombstone: its roles stay as they were.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(
            a.org.id,
            a.membership.id,
            MembershipStatus::Invited,
            MembershipStatus::Removed,
            at
        )
        .await
        .unwrap());
    assert!(!tx
        .set_membership_roles(a.org.id, a.membership.id, &[BuiltinRole::Admin], at)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let tomb = store
        .reads()
        .await
        .unwrap()
        .membership(a.org.id, a.membership.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.roles, vec![BuiltinRole::User, BuiltinRole::Marketing]);
}

pub async fn identity_for_update_serialises_read_modify_writes(store: S) {
    let mut ada = fixtures::identity("ada@example.com");
    ada.name = Some(roster_core::names::DisplayName::parse("Count 0").unwrap());
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    assert_eq!(
        tx.identity_for_update(ada.id).await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(
        tx.identity_for_update(IdentityId::new()).await.unwrap(),
        None
    );
    tx.commit().await.unwrap();

    // Each writer reads the counter under the lock, waits a little, and writes it plus
    // one. Without the lock two writers read the same value and one increment is lost.
    const WRITERS: u32 = 8;
    let mut handles = vec![];
    for _ in 0..WRITERS {
        let store = store.clone();
        let id = ada.id;
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let me = tx.identity_for_update(id).await.unwrap().unwrap();
            let n: u32 = me
                .name
                .unwrap()
                .as_str()
                .trim_start_matches("Count ")
                .parse()
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let name = format!("Count {}", n + 1);
            assert!(tx
                .update_identity_profile(id, Some(&name), None, None, now())
                .await
                .unwrap());
            tx.commit().await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let stored = store
        .reads()
        .await
        .unwrap()
        .identity(ada.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.name.unwrap().as_str(),
        format!("Count {WRITERS}"),
        "no increment was lost"
    );
}
