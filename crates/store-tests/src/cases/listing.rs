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

/// A search answers the same whether the deployment holds few or many other identities
/// that match it. On SQLite a search of three characters or more goes through the trigram
/// index when the deployment's matches are no more than four for each of the
/// organization's membership rows, and reads the organization's members otherwise; here
/// the small organization (three rows, one removed: worth twelve matches) is searched both
/// ways, beside ten identities in no organization.
pub async fn a_search_finds_the_same_members_however_many_match_elsewhere(store: S) {
    use MembershipStatus::*;
    let big = fixtures::org("tenant-big");
    let small = fixtures::org("tenant-small");
    let people: [(&Organization, &str, &str, MembershipStatus); 10] = [
        (&big, "ada@example.com", "Ada Lovelace", Active),
        (&big, "bob@example.com", "Bob Love", Invited),
        (&big, "cy@example.com", "Cy Love", Removed),
        (&big, "dee@example.com", "Dee", Active),
        (&big, "eli@example.com", "Eli", Active),
        (&big, "fox@example.com", "Fox", Active),
        (&big, "gus@example.com", "Gus", Active),
        (&small, "zoe@example.com", "Zoe Lovelace", Active),
        (&small, "yan@example.com", "Yan Love", Removed),
        (&small, "xan@example.com", "Xan", Deactivated),
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&big).await.unwrap();
    tx.insert_org(&small).await.unwrap();
    for (org, email, name, status) in people {
        let mut person = fixtures::identity(email);
        person.name = Some(DisplayName::parse(name).unwrap());
        tx.insert_identity(&person).await.unwrap();
        let m = Membership::new(org.id, person.id, status, [BuiltinRole::User], now());
        tx.insert_membership(&m).await.unwrap();
    }
    for n in 0..10 {
        let mut outsider = fixtures::identity(&format!("outsider{n}@example.com"));
        outsider.name = Some(DisplayName::parse("Outsider Love").unwrap());
        tx.insert_identity(&outsider).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let all = PageRequest::default();
    let mut found = async |org: OrgId, filter: &MemberFilter, page: PageRequest| {
        let page = r.list_members(org, filter, page).await.unwrap();
        (emails(&page), page.total, page.next_after)
    };
    // Twenty identities match `example.com` and fifteen `love`: more than the small
    // organization's rows are worth.
    assert_eq!(
        found(small.id, &q("example.com"), all).await,
        (
            vec!["zoe@example.com".into(), "xan@example.com".into()],
            2,
            None
        )
    );
    assert_eq!(
        found(small.id, &q("LOVE"), all).await,
        (vec!["zoe@example.com".into()], 1, None),
        "a removed member is not found"
    );
    let deactivated = MemberFilter {
        status: Some(Deactivated),
        ..q("example.com")
    };
    assert_eq!(
        found(small.id, &deactivated, all).await,
        (vec!["xan@example.com".into()], 1, None)
    );
    let first = found(small.id, &q("example.com"), PageRequest::new(Some(1), None)).await;
    assert_eq!(
        (first.0.clone(), first.1),
        (vec!["zoe@example.com".into()], 2)
    );
    assert!(first.2.is_some());
    assert_eq!(
        found(
            small.id,
            &q("example.com"),
            PageRequest::new(Some(1), first.2)
        )
        .await,
        (vec!["xan@example.com".into()], 2, None)
    );
    // One identity matches `zoe`, two `lovelace`, fifteen `love` and twenty
    // `example.com`: no more than the rows of the organization searched are worth.
    assert_eq!(
        found(small.id, &q("zoe"), all).await,
        (vec!["zoe@example.com".into()], 1, None)
    );
    assert_eq!(
        found(big.id, &q("lovelace"), all).await,
        (vec!["ada@example.com".into()], 1, None)
    );
    assert_eq!(
        found(big.id, &q("love"), all).await,
        (
            vec!["ada@example.com".into(), "bob@example.com".into()],
            2,
            None
        )
    );
    let first = found(big.id, &q("love"), PageRequest::new(Some(1), None)).await;
    assert_eq!(
        (first.0.clone(), first.1),
        (vec!["ada@example.com".into()], 2)
    );
    assert_eq!(
        found(big.id, &q("love"), PageRequest::new(Some(1), first.2)).await,
        (vec!["bob@example.com".into()], 2, None)
    );
    assert_eq!(found(big.id, &q("xan"), all).await, (vec![], 0, None));
    let everyone: Vec<String> = ["ada", "bob", "dee", "eli", "fox", "gus"]
        .iter()
        .map(|n| format!("{n}@example.com"))
        .collect();
    assert_eq!(
        found(big.id, &q("example.com"), all).await,
        (everyone, 6, None)
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

/// Totals of an organization's list: everyone, then invited, active and deactivated. Each is
/// checked against the items listed, so a kept count that drifts fails here.
async fn totals(r: &mut dyn roster_core::store::Reads, org: OrgId) -> Vec<u64> {
    let mut out = Vec::new();
    for status in [
        None,
        Some(MembershipStatus::Invited),
        Some(MembershipStatus::Active),
        Some(MembershipStatus::Deactivated),
    ] {
        let filter = MemberFilter {
            status,
            ..MemberFilter::default()
        };
        let page = r
            .list_members(org, &filter, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.total, page.items.len() as u64, "{status:?}");
        assert!(!page.total_capped);
        out.push(page.total);
    }
    out
}

/// The kept member counts answer unfiltered lists exactly through every status change, and
/// the search index follows every new identity, email change and rename.
pub async fn member_counts_and_search_index_follow_every_change(store: S) {
    use MembershipStatus::*;
    let a = fixtures::org("tenant-a");
    let b = fixtures::org("tenant-b");
    let empty = fixtures::org("tenant-empty");
    let mut tx = store.begin().await.unwrap();
    for org in [&a, &b, &empty] {
        tx.insert_org(org).await.unwrap();
    }
    let mut members = Vec::new();
    for (i, email) in ["ann@acme.example", "axb@acme.example", "cy@acme.example"]
        .iter()
        .enumerate()
    {
        let mut person = fixtures::identity(email);
        person.name = Some(DisplayName::parse(&format!("O\"Neil {i}")).unwrap());
        tx.insert_identity(&person).await.unwrap();
        let m = fixtures::membership(&a, &person, &[BuiltinRole::User]);
        tx.insert_membership(&m).await.unwrap();
        members.push((person, m));
    }
    let outsider = fixtures::identity("ann@other.example");
    tx.insert_identity(&outsider).await.unwrap();
    tx.insert_membership(&Membership::new(
        b.id,
        outsider.id,
        Active,
        [BuiltinRole::User],
        now(),
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let all = PageRequest::default();
    let mut r = store.reads().await.unwrap();
    assert_eq!(totals(&mut *r, a.id).await, [3, 3, 0, 0]);
    assert_eq!(totals(&mut *r, b.id).await, [1, 0, 1, 0]);
    assert_eq!(totals(&mut *r, empty.id).await, [0, 0, 0, 0]);
    drop(r);

    // Every status change moves one member from one count to another; removal drops it.
    let steps = [
        (0, Invited, Active),
        (1, Invited, Active),
        (1, Active, Deactivated),
        (1, Deactivated, Active),
        (2, Invited, Removed),
    ];
    let expected = [
        [3, 2, 1, 0],
        [3, 1, 2, 0],
        [3, 1, 1, 1],
        [3, 1, 2, 0],
        [2, 0, 2, 0],
    ];
    for ((who, from, to), want) in steps.into_iter().zip(expected) {
        let mut tx = store.begin().await.unwrap();
        assert!(tx
            .set_membership_status(a.id, members[who].1.id, from, to, now())
            .await
            .unwrap());
        tx.commit().await.unwrap();
        let mut r = store.reads().await.unwrap();
        assert_eq!(totals(&mut *r, a.id).await, want, "after {from:?} → {to:?}");
    }
    // A change that did not happen (wrong `from`) and a rolled-back one count for nothing.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx
        .set_membership_status(a.id, members[0].1.id, Invited, Deactivated, now())
        .await
        .unwrap());
    assert!(tx
        .set_membership_status(a.id, members[0].1.id, Active, Deactivated, now())
        .await
        .unwrap());
    drop(tx);
    let mut r = store.reads().await.unwrap();
    assert_eq!(totals(&mut *r, a.id).await, [2, 0, 2, 0]);
    assert_eq!(totals(&mut *r, b.id).await, [1, 0, 1, 0]);

    // Search: three characters or more go through the index, fewer through a scan, and
    // the text's own quotes and wildcards are plain characters on both paths.
    let found = |page: Page<roster_core::store::MemberView>| emails(&page);
    assert_eq!(
        found(r.list_members(a.id, &q("ann"), all).await.unwrap()),
        ["ann@acme.example"],
        "another organization's ann is not listed"
    );
    assert_eq!(
        found(r.list_members(a.id, &q("an"), all).await.unwrap()),
        ["ann@acme.example"]
    );
    assert_eq!(
        found(r.list_members(a.id, &q("o\"neil 1"), all).await.unwrap()),
        ["axb@acme.example"]
    );
    assert_eq!(
        r.list_members(a.id, &q("a_b"), all).await.unwrap().total,
        0,
        "_ matches only itself"
    );
    assert_eq!(r.list_members(a.id, &q("\""), all).await.unwrap().total, 2);
    assert_eq!(
        r.list_members(a.id, &q("cy@"), all).await.unwrap().total,
        0,
        "a removed member is not found"
    );
    drop(r);

    // An email change and a rename are searchable at once; the old text is not.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_identity_email(
            members[0].0.id,
            &Email::parse("zoe.quill@acme.example").unwrap(),
            now()
        )
        .await
        .unwrap());
    assert!(tx
        .update_identity_profile(members[1].0.id, Some("Xavier Quill"), None, None, now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        found(r.list_members(a.id, &q("quill"), all).await.unwrap()),
        ["zoe.quill@acme.example", "axb@acme.example"]
    );
    assert_eq!(
        r.list_members(a.id, &q("ann@"), all).await.unwrap().total,
        0
    );
    assert_eq!(
        r.list_members(a.id, &q("o\"neil 1"), all)
            .await
            .unwrap()
            .total,
        0
    );
}

/// A search or filter stops counting at the cap and says so; the unfiltered list is exact.
pub async fn filtered_member_counts_stop_at_the_cap(store: S) {
    let org = fixtures::org("big");
    let cap = MemberFilter::COUNT_CAP;
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    for i in 0..cap + 2 {
        let person = fixtures::identity(&format!("member{i:05}@big.example"));
        tx.insert_identity(&person).await.unwrap();
        tx.insert_membership(&fixtures::membership(&org, &person, &[BuiltinRole::User]))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let page = PageRequest::new(Some(10), None);
    let everyone = r
        .list_members(org.id, &MemberFilter::default(), page)
        .await
        .unwrap();
    assert_eq!((everyone.total, everyone.total_capped), (cap + 2, false));
    let searched = r
        .list_members(org.id, &q("big.example"), page)
        .await
        .unwrap();
    assert_eq!((searched.total, searched.total_capped), (cap, true));
    assert_eq!(searched.items.len(), 10);
    let by_role = MemberFilter {
        role: Some(BuiltinRole::User),
        ..MemberFilter::default()
    };
    let by_role = r.list_members(org.id, &by_role, page).await.unwrap();
    assert_eq!((by_role.total, by_role.total_capped), (cap, true));
    // Just under the cap is exact.
    let few = r
        .list_members(org.id, &q("member0099"), page)
        .await
        .unwrap();
    assert_eq!((few.total, few.total_capped), (10, false));
}
