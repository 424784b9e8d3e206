//! Single-use identity links, throttling counters and the sign-in attempt log.

use super::S;
use crate::fixtures::{self, now};
use chrono::Duration;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::secrets::Secret;
use roster_core::store::StoreError;

/// Two people, committed; links need an identity to belong to.
async fn people(store: &S) -> (Identity, Identity) {
    let ada = fixtures::identity("ada@example.com");
    let bob = fixtures::identity("bob@example.com");
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    tx.commit().await.unwrap();
    (ada, bob)
}

async fn insert_tokens(store: &S, tokens: &[&IdentityToken]) {
    let mut tx = store.begin().await.unwrap();
    for t in tokens {
        tx.insert_identity_token(t).await.unwrap();
    }
    tx.commit().await.unwrap();
}

pub async fn identity_tokens_are_found_by_hash_and_purpose(store: S) {
    let (ada, _) = people(&store).await;
    let org = fixtures::org("acme");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    tx.commit().await.unwrap();
    let (mut reset, reset_secret) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    // Sent by an admin of an organization: both the organization and the actor round-trip.
    reset.org_id = Some(org.id);
    reset.requested_by = Actor::Identity(IdentityId::new());
    let (change, change_secret) = fixtures::identity_token(&ada, TokenPurpose::EmailChange);
    insert_tokens(&store, &[&reset, &change]).await;

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.identity_token_by_hash(&reset_secret.hash(), TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        Some(reset.clone())
    );
    let found = r
        .identity_token_by_hash(&change_secret.hash(), TokenPurpose::EmailChange)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, change);
    assert_eq!(
        found.new_email.as_ref().map(Email::as_str),
        Some("New.Address@example.com"),
        "the new address keeps its display case"
    );
    assert_eq!(
        r.identity_token_by_hash(&reset_secret.hash(), TokenPurpose::EmailChange)
            .await
            .unwrap(),
        None,
        "a reset link never confirms an email change"
    );
    assert_eq!(
        r.identity_token_by_hash(&change_secret.hash(), TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        None,
        "an email-change link never resets a password"
    );
    assert_eq!(
        r.identity_token_by_hash(
            &Secret::presented(format!("{}x", reset_secret.expose())).hash(),
            TokenPurpose::PasswordReset
        )
        .await
        .unwrap(),
        None
    );
    drop(r);

    // The hash is unique across purposes.
    let (mut clash, _) = fixtures::identity_token(&ada, TokenPurpose::EmailChange);
    clash.token_hash = reset_secret.hash();
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_identity_token(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err:?}");
}

pub async fn identity_tokens_are_used_once(store: S) {
    let (ada, _) = people(&store).await;
    let (link, secret) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    insert_tokens(&store, &[&link]).await;

    let at = link.created_at + Duration::minutes(5);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.consume_identity_token(link.id, at).await.unwrap());
    assert!(
        !tx.consume_identity_token(link.id, at).await.unwrap(),
        "single use"
    );
    assert!(!tx
        .consume_identity_token(IdentityTokenId::new(), at)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.consume_identity_token(link.id, at + Duration::seconds(1))
            .await
            .unwrap(),
        "still used in a later transaction"
    );
    drop(tx);
    let used = store
        .reads()
        .await
        .unwrap()
        .identity_token_by_hash(&secret.hash(), TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.used_at, Some(at), "the first use is the one kept");
    assert!(!used.is_usable(at));
}

pub async fn identity_tokens_refuse_expired_and_revoked(store: S) {
    let (ada, _) = people(&store).await;
    let (expiring, expiring_secret) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    let (mut revoked, revoked_secret) = fixtures::identity_token(&ada, TokenPurpose::EmailChange);
    revoked.revoked_at = Some(revoked.created_at);
    insert_tokens(&store, &[&expiring, &revoked]).await;

    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.consume_identity_token(expiring.id, expiring.expires_at)
            .await
            .unwrap(),
        "a link is dead at its expiry instant"
    );
    assert!(!tx
        .consume_identity_token(expiring.id, expiring.expires_at + Duration::hours(1))
        .await
        .unwrap());
    assert!(
        !tx.consume_identity_token(revoked.id, revoked.created_at + Duration::seconds(1))
            .await
            .unwrap(),
        "a revoked link is dead"
    );
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let e = r
        .identity_token_by_hash(&expiring_secret.hash(), TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.used_at, None, "a refused redeem writes nothing");
    let v = r
        .identity_token_by_hash(&revoked_secret.hash(), TokenPurpose::EmailChange)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.used_at, None);
    drop(r);

    // Just before expiry it still works.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .consume_identity_token(expiring.id, expiring.expires_at - Duration::milliseconds(1))
        .await
        .unwrap());
    tx.commit().await.unwrap();
}

pub async fn revoking_identity_tokens_spares_other_people_purposes_and_used_links(store: S) {
    let (ada, bob) = people(&store).await;
    let (old, old_secret) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    let (mut older, _) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    older.created_at -= Duration::minutes(10);
    let (mut used, used_secret) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    used.used_at = Some(used.created_at);
    let (change, change_secret) = fixtures::identity_token(&ada, TokenPurpose::EmailChange);
    let (bobs, bobs_secret) = fixtures::identity_token(&bob, TokenPurpose::PasswordReset);
    insert_tokens(&store, &[&old, &older, &used, &change, &bobs]).await;

    let at = now() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.revoke_identity_tokens(ada.id, TokenPurpose::PasswordReset, at)
            .await
            .unwrap(),
        2,
        "the two unused reset links"
    );
    assert_eq!(
        tx.revoke_identity_tokens(
            ada.id,
            TokenPurpose::PasswordReset,
            at + Duration::seconds(1)
        )
        .await
        .unwrap(),
        0,
        "already revoked ones are not counted again"
    );
    assert!(!tx.consume_identity_token(old.id, at).await.unwrap());
    assert!(!tx.consume_identity_token(older.id, at).await.unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let latest = r
        .latest_identity_token(ada.id, TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, used.id);
    let kept = r
        .identity_token_by_hash(&used_secret.hash(), TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, used, "a used link keeps its record untouched");
    let change_now = r
        .identity_token_by_hash(&change_secret.hash(), TokenPurpose::EmailChange)
        .await
        .unwrap()
        .unwrap();
    assert!(change_now.is_usable(at), "another purpose is not revoked");
    let bob_now = r
        .identity_token_by_hash(&bobs_secret.hash(), TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert!(
        bob_now.is_usable(at),
        "another person's link is not revoked"
    );
    drop(r);

    let mut tx = store.begin().await.unwrap();
    assert!(tx.consume_identity_token(change.id, at).await.unwrap());
    assert!(tx.consume_identity_token(bobs.id, at).await.unwrap());
    tx.commit().await.unwrap();
    let revoked = store
        .reads()
        .await
        .unwrap()
        .identity_token_by_hash(&old_secret.hash(), TokenPurpose::PasswordReset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (revoked.revoked_at, revoked.used_at),
        (Some(at), None),
        "the first revocation is the one kept"
    );
}

pub async fn latest_identity_token_is_the_newest_of_its_purpose(store: S) {
    let (ada, bob) = people(&store).await;
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.latest_identity_token(ada.id, TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        None
    );
    drop(r);
    let t0 = now();
    let mut made = vec![];
    // Inserted out of creation order: the newest by creation time wins, not the last row.
    for minutes in [2, 5, 1] {
        let (mut t, _) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
        t.created_at = t0 + Duration::minutes(minutes);
        t.expires_at = t.created_at + Duration::hours(1);
        made.push(t);
    }
    made[1].used_at = Some(t0 + Duration::minutes(6));
    let (mut change, _) = fixtures::identity_token(&ada, TokenPurpose::EmailChange);
    change.created_at = t0 + Duration::minutes(9);
    let (mut bobs, _) = fixtures::identity_token(&bob, TokenPurpose::PasswordReset);
    bobs.created_at = t0 + Duration::minutes(8);
    insert_tokens(&store, &[&made[0], &made[1], &made[2], &change, &bobs]).await;

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.latest_identity_token(ada.id, TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        Some(made[1].clone()),
        "the newest reset link, used or not"
    );
    assert_eq!(
        r.latest_identity_token(ada.id, TokenPurpose::EmailChange)
            .await
            .unwrap(),
        Some(change)
    );
    assert_eq!(
        r.latest_identity_token(bob.id, TokenPurpose::PasswordReset)
            .await
            .unwrap(),
        Some(bobs)
    );
    assert_eq!(
        r.latest_identity_token(bob.id, TokenPurpose::EmailChange)
            .await
            .unwrap(),
        None
    );
}

pub async fn concurrent_identity_token_consumes_let_exactly_one_win(store: S) {
    let (ada, _) = people(&store).await;
    let (link, _) = fixtures::identity_token(&ada, TokenPurpose::PasswordReset);
    insert_tokens(&store, &[&link]).await;
    let mut handles = vec![];
    for _ in 0..20 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let won = tx.consume_identity_token(link.id, now()).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(won)
        }));
    }
    let mut wins = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(true) => wins += 1,
            Ok(false) => {}
            // A backend may refuse a racing writer as busy; it must never let two in.
            Err(StoreError::Busy) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one redeem of a single-use link");
}

pub async fn throttle_counts_restarts_releases_and_clears(store: S) {
    const SCOPE: &str = "sign_in.email";
    let window = Duration::minutes(15);
    let t0 = now();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.throttle(SCOPE, "ada").await.unwrap(), None);
    drop(r);

    let mut tx = store.begin().await.unwrap();
    let hit = |at: Timestamp| (at, at - window);
    let (a, b) = hit(t0);
    let first = tx.hit_throttle(SCOPE, "ada", a, b).await.unwrap();
    assert_eq!((first.count, first.window_started_at), (1, t0));
    let (a, b) = hit(t0 + Duration::minutes(1));
    let second = tx.hit_throttle(SCOPE, "ada", a, b).await.unwrap();
    assert_eq!(
        (second.count, second.window_started_at),
        (2, t0),
        "the window keeps its start"
    );
    // Other keys and scopes count on their own.
    let other_key = tx.hit_throttle(SCOPE, "bob", a, b).await.unwrap();
    assert_eq!(other_key.count, 1);
    let other_scope = tx.hit_throttle("sign_in.ip", "ada", a, b).await.unwrap();
    assert_eq!(other_scope.count, 1);
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.release_throttle(SCOPE, "ada").await.unwrap();
    assert_eq!(tx.throttle(SCOPE, "ada").await.unwrap().unwrap().count, 1);
    tx.release_throttle(SCOPE, "ada").await.unwrap();
    tx.release_throttle(SCOPE, "ada").await.unwrap();
    assert_eq!(
        tx.throttle(SCOPE, "ada").await.unwrap(),
        Some(ThrottleState {
            count: 0,
            window_started_at: t0
        }),
        "never below zero, and the window is kept"
    );
    let (a, b) = hit(t0 + Duration::minutes(2));
    assert_eq!(tx.hit_throttle(SCOPE, "ada", a, b).await.unwrap().count, 1);
    let (a, b) = hit(t0 + Duration::minutes(3));
    assert_eq!(tx.hit_throttle(SCOPE, "ada", a, b).await.unwrap().count, 2);
    tx.commit().await.unwrap();

    // A window still counts up to just before the cut-off; one that started at the
    // cut-off or earlier is over and restarts.
    let mut tx = store.begin().await.unwrap();
    let at = t0 + Duration::minutes(15) - Duration::milliseconds(1);
    let same = tx
        .hit_throttle(SCOPE, "ada", at, at - window)
        .await
        .unwrap();
    assert_eq!((same.count, same.window_started_at), (3, t0));
    let later = t0 + Duration::minutes(15);
    let restarted = tx
        .hit_throttle(SCOPE, "ada", later, later - window)
        .await
        .unwrap();
    assert_eq!(
        (restarted.count, restarted.window_started_at),
        (1, later),
        "an old window restarts at now with one attempt"
    );
    let again = tx
        .hit_throttle(SCOPE, "ada", later + Duration::seconds(1), later - window)
        .await
        .unwrap();
    assert_eq!((again.count, again.window_started_at), (2, later));
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.clear_throttle(SCOPE, "ada").await.unwrap();
    tx.clear_throttle(SCOPE, "nobody").await.unwrap();
    tx.release_throttle(SCOPE, "nobody").await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.throttle(SCOPE, "ada").await.unwrap(), None, "forgotten");
    assert_eq!(
        r.throttle(SCOPE, "nobody").await.unwrap(),
        None,
        "releasing an unknown key creates nothing"
    );
    assert_eq!(
        r.throttle(SCOPE, "bob").await.unwrap().map(|s| s.count),
        Some(1),
        "clearing one key leaves the others"
    );
    assert_eq!(
        r.throttle("sign_in.ip", "ada")
            .await
            .unwrap()
            .map(|s| s.count),
        Some(1)
    );
}

pub async fn concurrent_throttle_hits_are_all_counted(store: S) {
    const HITS: u32 = 50;
    let t0 = now();
    let mut handles = vec![];
    for _ in 0..HITS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let state = tx
                .hit_throttle("sign_in.ip", "192.0.2.7", t0, t0 - Duration::minutes(15))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            state
        }));
    }
    let mut counts = vec![];
    for h in handles {
        let state = h.await.unwrap();
        assert_eq!(state.window_started_at, t0);
        counts.push(state.count);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=HITS).collect::<Vec<_>>(),
        "each concurrent hit sees its own count"
    );
    let stored = store
        .reads()
        .await
        .unwrap()
        .throttle("sign_in.ip", "192.0.2.7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.count, HITS, "no hit was lost");
}

pub async fn sign_in_attempts_list_newest_first_per_identity(store: S) {
    let (ada, bob) = people(&store).await;
    let t0 = now();
    let codes = [
        SignInCode::WrongPassword,
        SignInCode::WrongPassword,
        SignInCode::Throttled,
        SignInCode::NotificationsOnly,
        SignInCode::Succeeded,
    ];
    let mut adas = vec![];
    for (i, code) in codes.into_iter().enumerate() {
        let minutes = i64::try_from(i).unwrap();
        adas.push(fixtures::sign_in_attempt(
            Some(ada.id),
            "ADA@example.com",
            code,
            t0 + Duration::minutes(minutes),
        ));
    }
    adas[1].client_ip = None;
    let bobs = fixtures::sign_in_attempt(
        Some(bob.id),
        "bob@example.com",
        SignInCode::MembershipDeactivated,
        t0,
    );
    let unknown = fixtures::sign_in_attempt(None, "who@example.com", SignInCode::UnknownEmail, t0);
    let mut tx = store.begin().await.unwrap();
    for a in adas.iter().chain([&bobs, &unknown]) {
        tx.insert_sign_in_attempt(a).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let newest = r.sign_in_attempts_of(ada.id, 3).await.unwrap();
    assert_eq!(
        newest,
        vec![adas[4].clone(), adas[3].clone(), adas[2].clone()],
        "newest first, at most the limit"
    );
    let all = r.sign_in_attempts_of(ada.id, 100).await.unwrap();
    assert_eq!(all.len(), 5, "this identity's attempts only");
    assert_eq!(all[3], adas[1], "an attempt without address round-trips");
    assert_eq!(
        r.sign_in_attempts_of(bob.id, 100).await.unwrap(),
        vec![bobs]
    );
    assert!(r
        .sign_in_attempts_of(IdentityId::new(), 100)
        .await
        .unwrap()
        .is_empty());
}
