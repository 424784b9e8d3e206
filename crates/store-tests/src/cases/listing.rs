//! Member listings with search and filters, invitations per membership, and last sign-in.

use super::S;
use crate::fixtures::{self, now};
use chrono::Duration;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{search_key, DisplayName};
use roster_core::secrets::Secret;
use roster_core::store::MemberFilter;

fn q(text: &str) -> MemberFilter {
    MemberFilter {
        q: Some(search_key(text)),
        ..MemberFilter::default()
    }
}

/// Emails of one page, in order.
fn emails(page: &Page<roster_core::store::MemberView>) -> Vec<String> {
    page.items.iter().map(|m| m.email.to_string()).collect()
}

pub async fn members_are_searched_and_filtered(store: S) {
    use BuiltinRole::*;
    use MembershipStatus::*;
    let a = fixtures::org("tenant-a");
    let b = fixtures::org("tenant-b");
    let people: [(&str, Option<&str>, MembershipStatus, &[BuiltinRole]); 6] = [
        ("ada@example.com", Some("Ada Lovelace"), Active, &[Admin]),
        ("Bob.Stone@Example.com", None, Invited, &[User]),
        (
            "carol@other.example",
            Some("Émile Zola"),
            Deactivated,
            &[User, Marketing],
        ),
        (
            "dan@example.com",
            Some("Dan LOVE"),
            Active,
            &[Notifications],
        ),
        ("eve@example.com", Some("Eve"), Removed, &[User]),
        ("fay@example.com", Some("Fay"), Active, &[User]),
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&a).await.unwrap();
    tx.insert_org(&b).await.unwrap();
    for (email, name, status, roles) in people {
        let mut person = fixtures::identity(email);
        person.name = name.map(|n| DisplayName::parse(n).unwrap());
        tx.insert_identity(&person).await.unwrap();
        let m = Membership::new(a.id, person.id, status, roles.iter().copied(), now());
        tx.insert_membership(&m).await.unwrap();
    }
    // Another organization's member matches every search and is never listed in A.
    let mut stranger = fixtures::identity("love@example.com");
    stranger.name = Some(DisplayName::parse("Ada Love").unwrap());
    tx.insert_identity(&stranger).await.unwrap();
    tx.insert_membership(&Membership::new(b.id, stranger.id, Active, [Admin], now()))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let all = PageRequest::default();
    let page = r
        .list_members(a.id, &MemberFilter::default(), all)
        .await
        .unwrap();
    assert_eq!(page.total, 5, "removed members are never listed");

    // q: a part of the email or of the name, whatever the case, also beyond ASCII.
    let page = r.list_members(a.id, &q("LOVE"), all).await.unwrap();
    assert_eq!(emails(&page), ["ada@example.com", "dan@example.com"]);
    assert_eq!(page.total, 2);
    let page = r
        .list_members(a.id, &q("bob.stone@example"), all)
        .await
        .unwrap();
    assert_eq!(emails(&page), ["Bob.Stone@example.com"]);
    let page = r.list_members(a.id, &q("émile"), all).await.unwrap();
    assert_eq!(
        emails(&page),
        ["carol@other.example"],
        "non-ASCII names fold too"
    );
    let page = r.list_members(a.id, &q("ÉMILE"), all).await.unwrap();
    assert_eq!(page.total, 1);
    let page = r.list_members(a.id, &q("%"), all).await.unwrap();
    assert_eq!(page.total, 0, "no wildcard: % is a plain character");
    let page = r.list_members(a.id, &q("eve"), all).await.unwrap();
    assert_eq!(
        page.total, 0,
        "a removed member is not found by name either"
    );

    // status and role, alone and together with q.
    let status = |s| MemberFilter {
        status: Some(s),
        ..MemberFilter::default()
    };
    let role = |r| MemberFilter {
        role: Some(r),
        ..MemberFilter::default()
    };
    assert_eq!(
        emails(&r.list_members(a.id, &status(Active), all).await.unwrap()),
        ["ada@example.com", "dan@example.com", "fay@example.com"]
    );
    assert_eq!(
        emails(&r.list_members(a.id, &status(Invited), all).await.unwrap()),
        ["Bob.Stone@example.com"]
    );
    assert_eq!(
        emails(&r.list_members(a.id, &role(User), all).await.unwrap()),
        [
            "Bob.Stone@example.com",
            "carol@other.example",
            "fay@example.com"
        ]
    );
    assert_eq!(
        emails(&r.list_members(a.id, &role(Marketing), all).await.unwrap()),
        ["carol@other.example"]
    );
    let both = MemberFilter {
        q: Some(search_key("example.com")),
        status: Some(Active),
        role: Some(User),
        ..Default::default()
    };
    assert_eq!(
        emails(&r.list_members(a.id, &both, all).await.unwrap()),
        ["fay@example.com"]
    );

    // Keyset pages keep the filter and its total.
    let active = status(Active);
    let p1 = r
        .list_members(a.id, &active, PageRequest::new(Some(2), None))
        .await
        .unwrap();
    assert_eq!(emails(&p1), ["ada@example.com", "dan@example.com"]);
    assert_eq!(p1.total, 3);
    assert!(p1.next_after.is_some());
    let p2 = r
        .list_members(a.id, &active, PageRequest::new(Some(2), p1.next_after))
        .await
        .unwrap();
    assert_eq!(emails(&p2), ["fay@example.com"]);
    assert_eq!(p2.total, 3);
    assert_eq!(p2.next_after, None);

    // A renamed identity is found by its new name only.
    drop(r);
    let ada = store
        .reads()
        .await
        .unwrap()
        .identity_by_email(&Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .update_identity_profile(ada.id, Some("Ångström"), None, None, now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        emails(&r.list_members(a.id, &q("ångström"), all).await.unwrap()),
        ["ada@example.com"]
    );
    assert_eq!(
        emails(&r.list_members(a.id, &q("lovelace"), all).await.unwrap()),
        Vec::<String>::new()
    );
}

pub async fn invitations_of_a_membership_are_found_and_revoked(store: S) {
    let a = fixtures::org("tenant-a");
    let b = fixtures::org("tenant-b");
    let person = fixtures::identity("new@example.com");
    let m = fixtures::membership(&a, &person, &[BuiltinRole::User]);
    let other = fixtures::identity("other@example.com");
    let n = fixtures::membership(&a, &other, &[BuiltinRole::User]);
    let mut first = fixtures::invitation(&m, &Secret::generate("inv_").unwrap());
    first.created_at = now() - Duration::minutes(5);
    let second = fixtures::invitation(&m, &Secret::generate("inv_").unwrap());
    let others = fixtures::invitation(&n, &Secret::generate("inv_").unwrap());
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&a).await.unwrap();
    tx.insert_org(&b).await.unwrap();
    for i in [&person, &other] {
        tx.insert_identity(i).await.unwrap();
    }
    tx.insert_membership(&m).await.unwrap();
    tx.insert_membership(&n).await.unwrap();
    for inv in [&first, &second, &others] {
        tx.insert_invitation(inv).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.latest_invitation_of(a.id, m.id).await.unwrap(),
        Some(second.clone()),
        "the newest one"
    );
    assert_eq!(
        r.latest_invitation_of(b.id, m.id).await.unwrap(),
        None,
        "per organization"
    );
    assert_eq!(
        r.latest_invitation_of(a.id, MembershipId::new())
            .await
            .unwrap(),
        None
    );
    drop(r);

    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.revoke_invitations_of(b.id, m.id, at).await.unwrap(),
        0,
        "wrong organization"
    );
    assert!(tx.consume_invitation(a.id, first.id, at).await.unwrap());
    assert_eq!(
        tx.revoke_invitations_of(a.id, m.id, at).await.unwrap(),
        1,
        "only the open one: the used one stays used"
    );
    assert_eq!(tx.revoke_invitations_of(a.id, m.id, at).await.unwrap(), 0);
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let found = r
        .invitation_by_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.state(at), InvitationState::Revoked);
    let used = r
        .invitation_by_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.state(at), InvitationState::Accepted);
    let untouched = r
        .invitation_by_token(&others.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        untouched.state(at),
        InvitationState::Open,
        "another member's link lives"
    );
}

pub async fn last_sign_in_is_the_newest_success(store: S) {
    let ada = fixtures::identity("ada@example.com");
    let bob = fixtures::identity("bob@example.com");
    let t0 = now();
    let attempts = [
        fixtures::sign_in_attempt(Some(ada.id), "ada@example.com", SignInCode::Succeeded, t0),
        fixtures::sign_in_attempt(
            Some(ada.id),
            "ada@example.com",
            SignInCode::Succeeded,
            t0 + Duration::minutes(5),
        ),
        fixtures::sign_in_attempt(
            Some(ada.id),
            "ada@example.com",
            SignInCode::WrongPassword,
            t0 + Duration::minutes(9),
        ),
        fixtures::sign_in_attempt(
            Some(bob.id),
            "bob@example.com",
            SignInCode::WrongPassword,
            t0,
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_identity(&bob).await.unwrap();
    for a in &attempts {
        tx.insert_sign_in_attempt(a).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.last_sign_in_at(ada.id).await.unwrap(),
        Some(t0 + Duration::minutes(5)),
        "the newest success, not the newest attempt"
    );
    assert_eq!(
        r.last_sign_in_at(bob.id).await.unwrap(),
        None,
        "failures only"
    );
    assert_eq!(r.last_sign_in_at(IdentityId::new()).await.unwrap(), None);
}
