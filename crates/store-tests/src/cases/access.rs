//! The access model's tables: custom roles, groups, customers, entities, and a
//! membership's links to them — written, read back, replaced, counted, deleted, and never
//! crossing organizations.

use super::S;
use crate::fixtures::{self, now};
use roster_core::access::PermissionCode;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::DisplayName;
use roster_core::secrets::SecretHash;
use roster_core::store::{
    CustomerAssignment, MemberFilter, Reads, RoleUsage, StoreError, TokenCheck, Tx,
};

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

fn custom_role(org: &Organization, n: &str, codes: &[&str]) -> CustomRole {
    CustomRole {
        id: RoleId::new(),
        org_id: org.id,
        name: name(n),
        description: Some("what it is for".into()),
        permissions: codes
            .iter()
            .map(|c| PermissionCode::parse(c).unwrap())
            .collect(),
        customer_scoped: true,
        created_at: now(),
        updated_at: now(),
    }
}

fn group(org: &Organization, n: &str, roles: &[BuiltinRole], custom: &[RoleId]) -> Group {
    Group {
        id: GroupId::new(),
        org_id: org.id,
        name: name(n),
        description: None,
        roles: roles.to_vec(),
        custom_roles: custom.to_vec(),
        members: 0,
        created_at: now(),
        updated_at: now(),
    }
}

fn customer(org: &Organization, n: &str, external: Option<&str>) -> Customer {
    Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: name(n),
        external_id: external.map(str::to_owned),
        assigned: 0,
        created_at: now(),
        updated_at: now(),
    }
}

fn entity(org: &Organization, n: &str) -> Entity {
    Entity {
        id: EntityId::new(),
        org_id: org.id,
        name: name(n),
        members: 0,
        created_at: now(),
        updated_at: now(),
    }
}

async fn two_orgs(store: &S) -> (Organization, Organization) {
    let a = fixtures::org("tenant-a");
    let b = fixtures::org("tenant-b");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&a).await.unwrap();
    tx.insert_org(&b).await.unwrap();
    tx.commit().await.unwrap();
    (a, b)
}

/// A member of `org` with `roles`, in the given status, written in `tx`.
async fn member(
    tx: &mut dyn Tx,
    org: &Organization,
    email: &str,
    status: MembershipStatus,
    roles: &[BuiltinRole],
) -> Membership {
    let identity = fixtures::identity(email);
    tx.insert_identity(&identity).await.unwrap();
    let mut m = fixtures::membership(org, &identity, roles);
    m.status = status;
    tx.insert_membership(&m).await.unwrap();
    m
}

pub async fn custom_roles_are_kept_per_organization(store: S) {
    let (a, b) = two_orgs(&store).await;
    let editor = custom_role(&a, "Catalog editor", &["catalog.edit", "users.read"]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&editor).await.unwrap();
    tx.insert_custom_role(&custom_role(&a, "Auditor", &[]))
        .await
        .unwrap();
    tx.insert_custom_role(&custom_role(&b, "Catalog editor", &[]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Names are unique per organization, ignoring case; another organization may reuse it.
    // (A refused statement ends a PostgreSQL transaction, so it gets its own.)
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_custom_role(&custom_role(&a, "CATALOG EDITOR", &[]))
            .await,
        Err(StoreError::NameTaken)
    ));
    drop(tx);

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.custom_role(a.id, editor.id).await.unwrap(),
        Some(editor.clone())
    );
    assert_eq!(r.custom_role(b.id, editor.id).await.unwrap(), None);
    let names: Vec<String> = r
        .custom_roles(a.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["Auditor", "Catalog editor"]);
    drop(r);

    let mut changed = editor.clone();
    changed.name = name("Catalog lead");
    changed.permissions = [PermissionCode::parse("catalog.edit").unwrap()].into();
    changed.customer_scoped = false;
    changed.updated_at = now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_custom_role(&changed).await.unwrap());
    let mut foreign = changed.clone();
    foreign.org_id = b.id;
    assert!(!tx.update_custom_role(&foreign).await.unwrap());
    assert!(!tx.delete_custom_role(b.id, editor.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.custom_role(a.id, editor.id).await.unwrap(), Some(changed));
    drop(r);

    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_custom_role(a.id, editor.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.custom_role(a.id, editor.id).await.unwrap(), None);
}

/// A permission check reads only what the membership refers to, in full: its own custom
/// roles, its groups with their roles, and the custom roles those groups hold; nothing of
/// another organization even when its ids are asked for.
pub async fn access_sources_are_what_a_membership_refers_to(store: S) {
    let (a, b) = two_orgs(&store).await;
    let direct = custom_role(&a, "Direct", &["catalog.edit"]);
    let through = custom_role(&a, "Through a group", &["users.read"]);
    let unused = custom_role(&a, "Unused", &["catalog.edit"]);
    let sales = group(
        &a,
        "Sales",
        &[BuiltinRole::User, BuiltinRole::Marketing],
        &[through.id],
    );
    let ops = group(&a, "Ops", &[], &[]);
    let idle = group(&a, "Idle", &[BuiltinRole::User], &[unused.id]);
    let foreign_role = custom_role(&b, "Direct", &["catalog.edit"]);
    let foreign_group = group(&b, "Sales", &[BuiltinRole::User], &[foreign_role.id]);
    let mut tx = store.begin().await.unwrap();
    for role in [&direct, &through, &unused, &foreign_role] {
        tx.insert_custom_role(role).await.unwrap();
    }
    for g in [&sales, &ops, &idle, &foreign_group] {
        tx.insert_group(g).await.unwrap();
    }
    let ada = fixtures::identity("ada@example.com");
    tx.insert_identity(&ada).await.unwrap();
    let mut m = fixtures::membership(&a, &ada, &[BuiltinRole::User]);
    m.custom_roles = vec![direct.id];
    m.groups = vec![sales.id, ops.id];
    tx.insert_membership(&m).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let as_listed = |g: &Group| Group {
        members: 0,
        ..g.clone()
    };
    let all_groups = r.groups(a.id).await.unwrap();
    let listed = |id: GroupId| as_listed(all_groups.iter().find(|g| g.id == id).unwrap());
    let sources = r
        .access_sources(a.id, &m.custom_roles, &m.groups)
        .await
        .unwrap();
    // By name, as the organization's lists are; groups as listed but without counts.
    assert_eq!(sources.custom_roles, vec![direct.clone(), through.clone()]);
    assert_eq!(sources.groups, vec![listed(ops.id), listed(sales.id)]);
    assert_eq!(
        (
            sources.groups[1].roles.clone(),
            sources.groups[1].custom_roles.clone()
        ),
        (
            vec![BuiltinRole::User, BuiltinRole::Marketing],
            vec![through.id]
        )
    );

    // Another organization's ids name nothing here, and this organization's nothing there.
    let crossed = r
        .access_sources(a.id, &[foreign_role.id], &[foreign_group.id])
        .await
        .unwrap();
    assert_eq!(crossed, Default::default());
    let crossed = r
        .access_sources(b.id, &m.custom_roles, &m.groups)
        .await
        .unwrap();
    assert_eq!(crossed, Default::default());
    assert_eq!(
        r.access_sources(a.id, &[], &[]).await.unwrap(),
        Default::default()
    );
    // A role held only through a group comes with the group alone.
    let via_group = r.access_sources(a.id, &[], &[idle.id]).await.unwrap();
    assert_eq!(via_group.custom_roles, vec![unused]);
    assert_eq!(via_group.groups, vec![listed(idle.id)]);
}

/// `token_check` as its two reads one after the other.
async fn one_by_one(
    r: &mut dyn Reads,
    hash: &SecretHash,
    who: IdentityId,
    customer: Option<CustomerId>,
) -> Option<TokenCheck> {
    let (token, creator) = r.api_token_with_creator(hash).await.unwrap()?;
    let member = match token.org_id {
        Some(org) => r.member_access(org, who, customer).await.unwrap(),
        None => None,
    };
    Some(TokenCheck {
        token,
        creator,
        member,
    })
}

/// The customer as `token_check` reads it for `who`, a member.
async fn assignment(
    r: &mut dyn Reads,
    hash: SecretHash,
    who: IdentityId,
    customer: CustomerId,
) -> CustomerAssignment {
    let read = r.token_check(&hash, who, Some(customer)).await.unwrap();
    read.and_then(|t| t.member)
        .and_then(|m| m.customer)
        .expect("a member, and a customer of the organization")
}

/// `token_check` answers what `api_token_with_creator`, then `member_access` in the token's
/// organization, answer one by one: for a token with a creator, without one, an operator's
/// and none; about a member with and without a customer, another organization's member and
/// a stranger. The creator and the member each hold custom roles, a group, an entity and
/// an admin scope of their own, so a column read from the wrong one shows. Read again on
/// the same handle after a change, it sees the change: however a store reads it together,
/// nothing of an earlier read stays.
pub async fn token_check_is_the_token_and_the_member_together(store: S) {
    let (a, b) = two_orgs(&store).await;
    let acme = customer(&a, "Acme", None);
    let (direct, other) = (
        custom_role(&a, "Direct", &["catalog.edit"]),
        custom_role(&a, "Other", &["users.read"]),
    );
    let (sales, support) = (
        group(&a, "Sales", &[BuiltinRole::Marketing], &[]),
        group(&a, "Support", &[], &[other.id]),
    );
    let (paris, lyon) = (entity(&a, "Paris"), entity(&a, "Lyon"));
    let foreign = customer(&b, "Acme", None);
    let [ann, ada, dee, stranger, rae] = ["ann", "ada", "dee", "sam", "rae"]
        .map(|n| fixtures::identity(&format!("{n}@example.com")));
    let (by_ann, anns_secret) = fixtures::org_token(a.id, Some(ann.id), &[Permission::AccessCheck]);
    let (by_nobody, nobodys_secret) = fixtures::org_token(a.id, None, &[Permission::AccessCheck]);
    let (mut operators, operators_secret) = fixtures::org_token(a.id, None, &[]);
    operators.kind = ApiTokenKind::Operator;
    operators.org_id = None;
    let mut tx = store.begin().await.unwrap();
    tx.insert_customer(&acme).await.unwrap();
    tx.insert_customer(&foreign).await.unwrap();
    for r in [&direct, &other] {
        tx.insert_custom_role(r).await.unwrap();
    }
    for g in [&sales, &support] {
        tx.insert_group(g).await.unwrap();
    }
    for e in [&paris, &lyon] {
        tx.insert_entity(e).await.unwrap();
    }
    for i in [&ann, &ada, &dee, &stranger, &rae] {
        tx.insert_identity(i).await.unwrap();
    }
    // Removed memberships stay as tombstones: Rae's only one, and one of Ada's before her
    // live one. Neither is a member's.
    for who in [&rae, &ada] {
        let gone = fixtures::membership(&a, who, &[BuiltinRole::Admin]);
        tx.insert_membership(&gone).await.unwrap();
        assert!(tx
            .set_membership_status(a.id, gone.id, gone.status, MembershipStatus::Removed, now())
            .await
            .unwrap());
    }
    let mut anns = fixtures::membership(&a, &ann, &[BuiltinRole::Admin]);
    (anns.custom_roles, anns.groups) = (vec![other.id], vec![support.id]);
    (anns.entity, anns.admin_scope) = (Some(lyon.id), vec![lyon.id]);
    tx.insert_membership(&anns).await.unwrap();
    let mut adas = fixtures::membership(&a, &ada, &[BuiltinRole::User]);
    (adas.custom_roles, adas.groups) = (vec![direct.id], vec![sales.id]);
    (adas.entity, adas.admin_scope) = (Some(paris.id), vec![paris.id]);
    tx.insert_membership(&adas).await.unwrap();
    tx.insert_membership(&fixtures::membership(&b, &dee, &[BuiltinRole::User]))
        .await
        .unwrap();
    for t in [&by_ann, &by_nobody, &operators] {
        tx.insert_api_token(t).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let secrets = [
        &anns_secret,
        &nobodys_secret,
        &operators_secret,
        &fixtures::org_token(a.id, None, &[]).1,
    ];
    let askings = [
        (&ada, Some(acme.id)),
        (&ada, Some(CustomerId::new())),
        (&ada, Some(foreign.id)),
        (&ada, None),
        (&rae, None),
        (&ann, None),
        (&dee, None),
        (&stranger, Some(acme.id)),
    ];
    for secret in secrets {
        for (who, customer) in askings {
            let expected = one_by_one(&mut *r, &secret.hash(), who.id, customer).await;
            assert_eq!(
                r.token_check(&secret.hash(), who.id, customer)
                    .await
                    .unwrap(),
                expected,
                "{} about {customer:?}",
                who.email.as_str()
            );
        }
    }
    assert!(
        !assignment(&mut *r, anns_secret.hash(), ada.id, acme.id)
            .await
            .assigned
    );
    let read = r
        .token_check(&anns_secret.hash(), ada.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.member.unwrap().membership, adas);
    assert_eq!(read.creator.unwrap().0, anns);
    let removed = r.token_check(&anns_secret.hash(), rae.id, None).await;
    assert_eq!(removed.unwrap().unwrap().member, None);
    let elsewhere = r
        .token_check(&anns_secret.hash(), ada.id, Some(foreign.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(elsewhere.member.unwrap().customer, None);
    // A change between two reads on the same handle: the second sees it.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_customer_assignments(a.id, adas.id, &[acme.id], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let assigned = assignment(&mut *r, anns_secret.hash(), ada.id, acme.id).await;
    assert!(assigned.assigned);
    assert_eq!(assigned.assigned_total, 1);
    // Inside a write transaction (on SQLite, another driver): the same answers.
    let mut tx = store.begin().await.unwrap();
    for secret in secrets {
        for (who, customer) in askings {
            assert_eq!(
                tx.token_check(&secret.hash(), who.id, customer)
                    .await
                    .unwrap(),
                r.token_check(&secret.hash(), who.id, customer)
                    .await
                    .unwrap(),
            );
        }
    }
    tx.rollback().await.unwrap();
}

/// `org_for_update_with_access` answers what `org_for_update`, then `member_access` without
/// a customer, answer in the same transaction: for a member with custom roles and groups,
/// a plain member, a removed one, another organization's member, a member added by the
/// transaction itself, no identity, and an organization that does not exist.
pub async fn org_for_update_with_access_is_the_two_reads_together(store: S) {
    let (a, b) = two_orgs(&store).await;
    let direct = custom_role(&a, "Direct", &["catalog.edit"]);
    let sales = group(&a, "Sales", &[BuiltinRole::Marketing], &[]);
    let [ada, bob, cy, dee, eve] =
        ["ada", "bob", "cy", "dee", "eve"].map(|n| fixtures::identity(&format!("{n}@example.com")));
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&direct).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    for i in [&ada, &bob, &cy, &dee, &eve] {
        tx.insert_identity(i).await.unwrap();
    }
    let mut adas = fixtures::membership(&a, &ada, &[BuiltinRole::Admin]);
    adas.custom_roles = vec![direct.id];
    adas.groups = vec![sales.id];
    tx.insert_membership(&adas).await.unwrap();
    tx.insert_membership(&fixtures::membership(&a, &bob, &[BuiltinRole::User]))
        .await
        .unwrap();
    let cys = fixtures::membership(&a, &cy, &[BuiltinRole::User]);
    tx.insert_membership(&cys).await.unwrap();
    assert!(tx
        .set_membership_status(a.id, cys.id, cys.status, MembershipStatus::Removed, now())
        .await
        .unwrap());
    tx.insert_membership(&fixtures::membership(&b, &dee, &[BuiltinRole::User]))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    // Written by this transaction, not yet committed, and read right after: a backend that
    // queues writes (SQLite) still holds it when the read comes.
    let eves = fixtures::membership(&a, &eve, &[BuiltinRole::User]);
    tx.insert_membership(&eves).await.unwrap();
    let (_, access) = tx
        .org_for_update_with_access(a.id, Some(eve.id))
        .await
        .unwrap();
    assert_eq!(access.map(|a| a.membership.id), Some(eves.id));
    let who = [ada.id, bob.id, cy.id, dee.id, eve.id, IdentityId::new()].map(Some);
    for org in [a.id, b.id, OrgId::new()] {
        for identity in who.iter().copied().chain([None]) {
            let together = tx.org_for_update_with_access(org, identity).await.unwrap();
            let org_alone = tx.org_for_update(org).await.unwrap();
            let access_alone = match identity {
                Some(i) => tx.member_access(org, i, None).await.unwrap(),
                None => None,
            };
            assert_eq!(together, (org_alone, access_alone), "{org} {identity:?}");
        }
    }
    // Spelled out, so the comparisons above cannot pass on empty answers.
    let (org, access) = tx
        .org_for_update_with_access(a.id, Some(ada.id))
        .await
        .unwrap();
    assert_eq!(org.map(|o| o.slug), Some(a.slug.clone()));
    let access = access.unwrap();
    assert_eq!(access.membership.id, adas.id);
    assert_eq!(access.membership.custom_roles, vec![direct.id]);
    assert_eq!(access.membership.groups, vec![sales.id]);
    assert_eq!(access.customer, None);
    let (org, access) = tx
        .org_for_update_with_access(a.id, Some(cy.id))
        .await
        .unwrap();
    assert!(
        org.is_some() && access.is_none(),
        "a removed member has no access"
    );
    let (org, access) = tx
        .org_for_update_with_access(OrgId::new(), Some(ada.id))
        .await
        .unwrap();
    assert!(org.is_none() && access.is_none());
    tx.rollback().await.unwrap();
}

/// `member_access` answers what `membership_of`, the organization's `access_version` and
/// `customer_assignment` answer one by one, for members with and without roles and
/// groups, customers assigned, not assigned and another organization's, and people who
/// are not (or no longer) members.
pub async fn member_access_is_the_three_reads_together(store: S) {
    let (a, b) = two_orgs(&store).await;
    let direct = custom_role(&a, "Direct", &["catalog.edit"]);
    let through = custom_role(&a, "Through a group", &["users.read"]);
    let sales = group(&a, "Sales", &[BuiltinRole::Marketing], &[through.id]);
    let (acme, globex) = (customer(&a, "Acme", None), customer(&a, "Globex", None));
    let foreign = customer(&b, "Acme", None);
    let [ada, bob, cy, dee] =
        ["ada", "bob", "cy", "dee"].map(|n| fixtures::identity(&format!("{n}@example.com")));
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&direct).await.unwrap();
    tx.insert_custom_role(&through).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    for c in [&acme, &globex, &foreign] {
        tx.insert_customer(c).await.unwrap();
    }
    for i in [&ada, &bob, &cy, &dee] {
        tx.insert_identity(i).await.unwrap();
    }
    let mut adas = fixtures::membership(&a, &ada, &[BuiltinRole::User]);
    adas.custom_roles = vec![direct.id];
    adas.groups = vec![sales.id];
    tx.insert_membership(&adas).await.unwrap();
    let bobs = fixtures::membership(&a, &bob, &[BuiltinRole::User]);
    tx.insert_membership(&bobs).await.unwrap();
    let cys = fixtures::membership(&a, &cy, &[BuiltinRole::User]);
    tx.insert_membership(&cys).await.unwrap();
    tx.insert_membership(&fixtures::membership(&b, &dee, &[BuiltinRole::User]))
        .await
        .unwrap();
    assert!(tx
        .set_customer_assignments(a.id, adas.id, &[acme.id], now())
        .await
        .unwrap());
    assert!(tx
        .set_membership_status(a.id, cys.id, cys.status, MembershipStatus::Removed, now())
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    for (who, customer) in [
        (&ada, Some(acme.id)),
        (&ada, Some(globex.id)),
        (&ada, Some(foreign.id)),
        (&ada, Some(CustomerId::new())),
        (&ada, None),
        (&bob, Some(acme.id)),
        (&bob, None),
    ] {
        let m = r.membership_of(a.id, who.id).await.unwrap().unwrap();
        let expected = roster_core::store::MemberAccess {
            access_version: r.org(a.id).await.unwrap().unwrap().access_version,
            customer: match customer {
                Some(c) => r.customer_assignment(a.id, m.id, c).await.unwrap(),
                None => None,
            },
            membership: m,
        };
        assert_eq!(
            r.member_access(a.id, who.id, customer).await.unwrap(),
            Some(expected),
            "{} about {customer:?}",
            who.email.as_str()
        );
    }
    // Inside a write transaction SQLite reads on the writer's connection, through another
    // driver than a plain read (see store-sqlite's `inline`): the same answers.
    let mut tx = store.begin().await.unwrap();
    for (who, customer) in [
        (&ada, Some(acme.id)),
        (&ada, Some(globex.id)),
        (&ada, None),
        (&bob, Some(acme.id)),
        (&cy, None),
        (&dee, None),
    ] {
        assert_eq!(
            tx.member_access(a.id, who.id, customer).await.unwrap(),
            r.member_access(a.id, who.id, customer).await.unwrap(),
        );
    }
    assert_eq!(
        tx.access_sources(a.id, &adas.custom_roles, &adas.groups)
            .await
            .unwrap(),
        r.access_sources(a.id, &adas.custom_roles, &adas.groups)
            .await
            .unwrap(),
    );
    tx.rollback().await.unwrap();
    // Spelled out, so the comparisons above cannot pass on two empty answers.
    let full = r
        .member_access(a.id, ada.id, Some(acme.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.membership.id, adas.id);
    assert_eq!(full.membership.groups, vec![sales.id]);
    // Two roles and a group written: the version moved from its start.
    assert_ne!(full.access_version, 0);
    assert_eq!(
        full.customer,
        Some(roster_core::store::CustomerAssignment {
            assigned: true,
            assigned_total: 1
        })
    );
    let unassigned = r
        .member_access(a.id, ada.id, Some(globex.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unassigned.customer.map(|c| (c.assigned, c.assigned_total)),
        Some((false, 1))
    );
    let other_orgs = r
        .member_access(a.id, ada.id, Some(foreign.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other_orgs.customer, None);
    // Not a member, removed, or a member elsewhere only.
    assert_eq!(
        r.member_access(a.id, cy.id, Some(acme.id)).await.unwrap(),
        None
    );
    assert_eq!(r.member_access(a.id, dee.id, None).await.unwrap(), None);
    assert_eq!(
        r.member_access(b.id, ada.id, Some(foreign.id))
            .await
            .unwrap(),
        None
    );
    assert!(r.member_access(b.id, dee.id, None).await.unwrap().is_some());
}

/// The organization's `access_version` takes a new value (never one it had) with every
/// committed insert, update and delete of its custom roles, its groups and the roles its
/// groups hold, and with nothing else: not a member joining a group, not another
/// organization's change, not a change rolled back. A transaction sees its own change's
/// version before it commits.
pub async fn access_version_moves_with_every_change_to_roles_and_groups(store: S) {
    let (a, b) = two_orgs(&store).await;
    let version = |org: OrgId| {
        let store = store.clone();
        async move {
            let mut r = store.reads().await.unwrap();
            assert!(!r.in_transaction());
            r.org(org).await.unwrap().unwrap().access_version
        }
    };
    assert_eq!((version(a.id).await, version(b.id).await), (0, 0));
    let role = custom_role(&a, "Editor", &["catalog.edit"]);
    let other = custom_role(&a, "Viewer", &["users.read"]);
    let sales = group(&a, "Sales", &[BuiltinRole::User], &[role.id]);
    let mut seen = 0;
    let mut all = std::collections::BTreeSet::from([0]);
    for (what, step) in [
        ("insert a role", 0),
        ("insert another role", 1),
        ("insert a group holding the first", 2),
        ("rename the first role", 3),
        ("change the group's roles", 4),
        ("rename the group", 5),
        ("delete the group", 6),
        ("delete the second role", 7),
    ] {
        let mut tx = store.begin().await.unwrap();
        assert!(tx.in_transaction());
        match step {
            0 => tx.insert_custom_role(&role).await.unwrap(),
            1 => tx.insert_custom_role(&other).await.unwrap(),
            2 => tx.insert_group(&sales).await.unwrap(),
            3 => assert!(tx
                .update_custom_role(&CustomRole {
                    name: name("Editors"),
                    ..role.clone()
                })
                .await
                .unwrap()),
            4 => assert!(tx
                .update_group(&Group {
                    roles: vec![BuiltinRole::Marketing],
                    custom_roles: vec![role.id, other.id],
                    ..sales.clone()
                })
                .await
                .unwrap()),
            5 => assert!(tx
                .update_group(&Group {
                    name: name("Sellers"),
                    ..sales.clone()
                })
                .await
                .unwrap()),
            6 => assert!(tx.delete_group(a.id, sales.id).await.unwrap()),
            _ => assert!(tx.delete_custom_role(a.id, other.id).await.unwrap()),
        }
        // The transaction sees its own bump before it commits.
        let inside = tx.org(a.id).await.unwrap().unwrap().access_version;
        assert!(all.insert(inside), "{what}: {inside} again, after {seen}");
        tx.commit().await.unwrap();
        let now_at = version(a.id).await;
        assert_eq!(now_at, inside, "{what}");
        assert_eq!(
            version(b.id).await,
            0,
            "{what}: the other organization's moved"
        );
        seen = now_at;
    }

    // A change rolled back leaves the version where it was.
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&custom_role(&a, "Gone", &[]))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(version(a.id).await, seen);

    // Memberships, their groups and customers are read with the membership itself, so
    // they leave the version alone.
    let again = group(&a, "Again", &[BuiltinRole::User], &[]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_group(&again).await.unwrap();
    tx.commit().await.unwrap();
    seen = version(a.id).await;
    let ada = fixtures::identity("ada@example.com");
    let acme = customer(&a, "Acme", None);
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    let mut m = fixtures::membership(&a, &ada, &[BuiltinRole::User]);
    m.custom_roles = vec![role.id];
    m.groups = vec![again.id];
    tx.insert_membership(&m).await.unwrap();
    tx.insert_customer(&acme).await.unwrap();
    assert!(tx
        .set_customer_assignments(a.id, m.id, &[acme.id], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(version(a.id).await, seen);
}

/// `access_definitions` is every custom role and group of the organization (as
/// `access_sources` reads them: by name, groups without counts) at the version it names,
/// and nothing of another organization.
pub async fn access_definitions_are_the_whole_organization_at_its_version(store: S) {
    let (a, b) = two_orgs(&store).await;
    let direct = custom_role(&a, "Direct", &["catalog.edit"]);
    let through = custom_role(&a, "Through a group", &["users.read"]);
    let sales = group(&a, "Sales", &[BuiltinRole::Marketing], &[through.id]);
    let idle = group(&a, "Idle", &[], &[]);
    let foreign = custom_role(&b, "Foreign", &["catalog.edit"]);
    let mut tx = store.begin().await.unwrap();
    for role in [&direct, &through, &foreign] {
        tx.insert_custom_role(role).await.unwrap();
    }
    tx.insert_group(&sales).await.unwrap();
    tx.insert_group(&idle).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let defs = r.access_definitions(a.id).await.unwrap();
    let everything = r
        .access_sources(a.id, &[direct.id, through.id], &[sales.id, idle.id])
        .await
        .unwrap();
    assert_eq!(defs.custom_roles, everything.custom_roles);
    assert_eq!(defs.groups, everything.groups);
    assert_eq!(
        defs.groups.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![idle.id, sales.id]
    );
    assert_eq!(
        defs.custom_roles.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![direct.id, through.id]
    );
    let at = r.org(a.id).await.unwrap().unwrap().access_version;
    assert_ne!(at, 0);
    assert_eq!(defs.version, at);
    // Inside a transaction the same.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.access_definitions(a.id).await.unwrap(), defs);
    tx.rollback().await.unwrap();

    let theirs = r.access_definitions(b.id).await.unwrap();
    assert_eq!(
        theirs.custom_roles.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![foreign.id]
    );
    assert!(theirs.groups.is_empty());
    assert_eq!(
        r.access_definitions(OrgId::new()).await.unwrap(),
        roster_core::store::AccessDefinitions::default()
    );
}

/// The in-memory copy of an organization's definitions keeps only what reads outside a
/// transaction returned: a transaction's own uncommitted role is never kept, and a copy at
/// an older version is read again.
pub async fn the_definitions_cache_keeps_only_committed_definitions(store: S) {
    use roster_core::access::DefinitionsCache;
    let (a, _) = two_orgs(&store).await;
    let cache = DefinitionsCache::new();
    let draft = custom_role(&a, "Draft", &["catalog.edit"]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&draft).await.unwrap();
    let inside = tx.org(a.id).await.unwrap().unwrap().access_version;
    let seen = cache.at(&mut *tx, a.id, inside).await.unwrap();
    assert_eq!(
        seen.custom_roles,
        vec![draft.clone()],
        "the transaction sees its role"
    );
    assert!(cache.is_empty(), "kept from inside a transaction");
    tx.rollback().await.unwrap();

    // Outside, the committed state is read and kept under its version.
    let mut r = store.reads().await.unwrap();
    let committed = cache.at(&mut *r, a.id, 0).await.unwrap();
    assert_eq!((committed.version, committed.custom_roles.len()), (0, 0));
    assert_eq!(cache.len(), 1);
    drop(r);
    let kept = custom_role(&a, "Kept", &["users.read"]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&kept).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let now_at = r.org(a.id).await.unwrap().unwrap().access_version;
    assert_ne!(now_at, 0);
    let fresh = cache.at(&mut *r, a.id, now_at).await.unwrap();
    assert_eq!(
        (fresh.version, fresh.custom_roles.clone()),
        (now_at, vec![kept])
    );
    // Asked again at that version, the kept copy answers.
    let again = cache.at(&mut *r, a.id, now_at).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&fresh, &again));
}

pub async fn membership_links_round_trip_and_stay_in_their_organization(store: S) {
    let (a, b) = two_orgs(&store).await;
    let role = custom_role(&a, "Editor", &["catalog.edit"]);
    let sales = group(&a, "Sales", &[BuiltinRole::Marketing], &[role.id]);
    let (paris, lyon) = (entity(&a, "Paris"), entity(&a, "Lyon"));
    let acme = customer(&a, "Acme", Some("ext-1"));
    let foreign_group = group(&b, "Sales", &[], &[]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&role).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    tx.insert_group(&foreign_group).await.unwrap();
    tx.insert_entity(&paris).await.unwrap();
    tx.insert_entity(&lyon).await.unwrap();
    tx.insert_customer(&acme).await.unwrap();
    let identity = fixtures::identity("ada@example.com");
    tx.insert_identity(&identity).await.unwrap();
    let mut m = fixtures::membership(&a, &identity, &[BuiltinRole::Admin]);
    m.custom_roles = vec![role.id];
    m.groups = vec![sales.id];
    m.entity = Some(paris.id);
    m.admin_scope = {
        let mut s = vec![paris.id, lyon.id];
        s.sort();
        s
    };
    tx.insert_membership(&m).await.unwrap();
    assert!(tx
        .set_customer_assignments(a.id, m.id, &[acme.id], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let read = r.membership(a.id, m.id).await.unwrap().unwrap();
    assert_eq!(
        read,
        Membership {
            updated_at: read.updated_at,
            ..m.clone()
        }
    );
    assert_eq!(
        r.customer_assignments(a.id, m.id).await.unwrap(),
        vec![acme.id]
    );
    assert!(r.customer_assignments(b.id, m.id).await.unwrap().is_empty());
    let g = r.group(a.id, sales.id).await.unwrap().unwrap();
    assert_eq!(
        (g.roles, g.custom_roles, g.members),
        (vec![BuiltinRole::Marketing], vec![role.id], 1)
    );
    assert_eq!(
        r.role_usage(a.id, role.id).await.unwrap(),
        RoleUsage {
            members: 1,
            groups: 1
        }
    );
    assert_eq!(r.entity(a.id, paris.id).await.unwrap().unwrap().members, 1);
    assert_eq!(r.entity_in_scopes(a.id, lyon.id).await.unwrap(), 1);
    assert_eq!(
        r.customer(a.id, acme.id).await.unwrap().unwrap().assigned,
        1
    );
    drop(r);

    // Replacing, with another organization's id refused and nothing changed.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx
        .set_membership_groups(b.id, m.id, &[], now())
        .await
        .unwrap());
    assert!(!tx
        .set_membership_entity(b.id, m.id, None, now())
        .await
        .unwrap());
    assert!(!tx.set_admin_scope(b.id, m.id, &[], now()).await.unwrap());
    assert!(!tx
        .set_membership_custom_roles(b.id, m.id, &[], now())
        .await
        .unwrap());
    assert!(!tx
        .set_customer_assignments(b.id, m.id, &[], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    // A link to another organization's row is refused by the database itself.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_groups(a.id, m.id, &[foreign_group.id], now())
        .await
        .is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_groups(a.id, m.id, &[], now())
        .await
        .unwrap());
    assert!(tx
        .set_membership_entity(a.id, m.id, Some(lyon.id), now())
        .await
        .unwrap());
    assert!(tx.set_admin_scope(a.id, m.id, &[], now()).await.unwrap());
    assert!(tx
        .set_membership_custom_roles(a.id, m.id, &[], now())
        .await
        .unwrap());
    assert!(tx
        .set_customer_assignments(a.id, m.id, &[], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let after = r.membership(a.id, m.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.groups.len(),
            after.entity,
            after.admin_scope.len(),
            after.custom_roles.len()
        ),
        (0, Some(lyon.id), 0, 0)
    );
    assert!(r.customer_assignments(a.id, m.id).await.unwrap().is_empty());
    assert_eq!(r.group(a.id, sales.id).await.unwrap().unwrap().members, 0);
}

pub async fn removed_members_count_for_nothing_and_deletes_take_their_links(store: S) {
    let (a, _) = two_orgs(&store).await;
    let role = custom_role(&a, "Editor", &[]);
    let acme = customer(&a, "Acme", None);
    let paris = entity(&a, "Paris");
    let sales = group(&a, "Sales", &[BuiltinRole::User], &[]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&role).await.unwrap();
    tx.insert_customer(&acme).await.unwrap();
    tx.insert_entity(&paris).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    let m = member(
        &mut *tx,
        &a,
        "gone@example.com",
        MembershipStatus::Active,
        &[BuiltinRole::Admin],
    )
    .await;
    tx.set_membership_custom_roles(a.id, m.id, &[role.id], now())
        .await
        .unwrap();
    tx.set_customer_assignments(a.id, m.id, &[acme.id], now())
        .await
        .unwrap();
    tx.set_membership_entity(a.id, m.id, Some(paris.id), now())
        .await
        .unwrap();
    tx.set_admin_scope(a.id, m.id, &[paris.id], now())
        .await
        .unwrap();
    tx.set_membership_groups(a.id, m.id, &[sales.id], now())
        .await
        .unwrap();
    assert!(tx
        .set_membership_status(
            a.id,
            m.id,
            MembershipStatus::Active,
            MembershipStatus::Removed,
            now()
        )
        .await
        .unwrap());
    // A removed membership's links cannot be changed any more.
    assert!(!tx
        .set_membership_groups(a.id, m.id, &[], now())
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.role_usage(a.id, role.id).await.unwrap(),
        RoleUsage::default()
    );
    assert_eq!(
        r.customer(a.id, acme.id).await.unwrap().unwrap().assigned,
        0
    );
    assert_eq!(r.entity(a.id, paris.id).await.unwrap().unwrap().members, 0);
    assert_eq!(r.entity_in_scopes(a.id, paris.id).await.unwrap(), 0);
    assert_eq!(r.group(a.id, sales.id).await.unwrap().unwrap().members, 0);
    drop(r);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_custom_role(a.id, role.id).await.unwrap());
    assert!(tx.delete_customer(a.id, acme.id).await.unwrap());
    assert!(tx.delete_entity(a.id, paris.id).await.unwrap());
    assert!(tx.delete_group(a.id, sales.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let tomb = r.membership(a.id, m.id).await.unwrap().unwrap();
    assert!(tomb.custom_roles.is_empty() && tomb.groups.is_empty() && tomb.entity.is_none());
    assert!(r.groups(a.id).await.unwrap().is_empty());
    assert!(r.entities(a.id).await.unwrap().is_empty());
}

pub async fn groups_customers_and_entities_are_listed_and_updated(store: S) {
    let (a, b) = two_orgs(&store).await;
    let role = custom_role(&a, "Editor", &[]);
    let mut sales = group(&a, "Sales", &[BuiltinRole::User], &[]);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&role).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    tx.insert_group(&group(&a, "Admins of nothing", &[], &[]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_group(&group(&a, "sales", &[], &[])).await,
        Err(StoreError::NameTaken)
    ));
    drop(tx);
    sales.roles = vec![BuiltinRole::User, BuiltinRole::Marketing];
    sales.custom_roles = vec![role.id];
    sales.name = name("Sales EMEA");
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_group(&sales).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let groups = r.groups(a.id).await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[1],
        Group {
            members: 0,
            ..sales.clone()
        }
    );
    assert!(r.groups(b.id).await.unwrap().is_empty());
    drop(r);

    // Customers: pages in creation order with a total; external ids unique per org.
    let mut tx = store.begin().await.unwrap();
    let mut made = Vec::new();
    for i in 0..5 {
        let c = customer(&a, &format!("Customer {i}"), Some(&format!("ext-{i}")));
        tx.insert_customer(&c).await.unwrap();
        made.push(c);
    }

    tx.insert_customer(&customer(&b, "Theirs", Some("ext-1")))
        .await
        .unwrap();
    let m = member(
        &mut *tx,
        &a,
        "u@example.com",
        MembershipStatus::Active,
        &[BuiltinRole::User],
    )
    .await;
    tx.set_customer_assignments(a.id, m.id, &[made[3].id, made[1].id], now())
        .await
        .unwrap();
    let mut renamed = made[0].clone();
    renamed.name = name("Acme");
    renamed.external_id = None;
    assert!(tx.update_customer(&renamed).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_customer(&customer(&a, "Dup", Some("ext-1")))
            .await,
        Err(StoreError::NameTaken)
    ));
    drop(tx);
    let mut r = store.reads().await.unwrap();
    let first = r
        .list_customers(a.id, None, PageRequest::new(Some(2), None))
        .await
        .unwrap();
    assert_eq!(first.total, 5);
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].name.as_str(), "Acme");
    assert_eq!(first.items[0].external_id, None);
    let rest = r
        .list_customers(a.id, None, PageRequest::new(Some(10), first.next_after))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.next_after.is_none());
    let mine = r
        .list_customers(a.id, Some(m.id), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(mine.total, 2);
    assert_eq!(
        mine.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[1].id, made[3].id]
    );
    assert_eq!(r.customer(b.id, made[1].id).await.unwrap(), None);
    // What a check asks, in one query.
    use roster_core::store::CustomerAssignment;
    assert_eq!(
        r.customer_assignment(a.id, m.id, made[1].id).await.unwrap(),
        Some(CustomerAssignment {
            assigned: true,
            assigned_total: 2
        })
    );
    assert_eq!(
        r.customer_assignment(a.id, m.id, made[0].id).await.unwrap(),
        Some(CustomerAssignment {
            assigned: false,
            assigned_total: 2
        })
    );
    assert_eq!(
        r.customer_assignment(b.id, m.id, made[1].id).await.unwrap(),
        None
    );
    assert_eq!(
        r.customer_assignment(a.id, m.id, CustomerId::new())
            .await
            .unwrap(),
        None
    );
    drop(r);

    // Entities: names unique per organization, renamed in place.
    let mut paris = entity(&a, "Paris");
    let mut tx = store.begin().await.unwrap();
    tx.insert_entity(&paris).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_entity(&entity(&a, "PARIS")).await,
        Err(StoreError::NameTaken)
    ));
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    paris.name = name("Paris HQ");
    assert!(tx.update_entity(&paris).await.unwrap());
    let mut foreign = paris.clone();
    foreign.org_id = b.id;
    assert!(!tx.update_entity(&foreign).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.entities(a.id).await.unwrap(), vec![paris.clone()]);
    assert_eq!(r.entity(b.id, paris.id).await.unwrap(), None);
}

pub async fn members_are_filtered_by_group_entity_customer_and_scope(store: S) {
    use MembershipStatus::Active;
    let (a, _) = two_orgs(&store).await;
    let role = custom_role(&a, "Editor", &[]);
    let sales = group(&a, "Sales", &[], &[]);
    let (paris, lyon) = (entity(&a, "Paris"), entity(&a, "Lyon"));
    let acme = customer(&a, "Acme", None);
    let mut tx = store.begin().await.unwrap();
    tx.insert_custom_role(&role).await.unwrap();
    tx.insert_group(&sales).await.unwrap();
    tx.insert_entity(&paris).await.unwrap();
    tx.insert_entity(&lyon).await.unwrap();
    tx.insert_customer(&acme).await.unwrap();
    let p1 = member(&mut *tx, &a, "p1@example.com", Active, &[BuiltinRole::User]).await;
    let p2 = member(&mut *tx, &a, "p2@example.com", Active, &[BuiltinRole::User]).await;
    let l1 = member(&mut *tx, &a, "l1@example.com", Active, &[BuiltinRole::User]).await;
    let none = member(
        &mut *tx,
        &a,
        "none@example.com",
        Active,
        &[BuiltinRole::Admin],
    )
    .await;
    for (m, e) in [(&p1, &paris), (&p2, &paris), (&l1, &lyon)] {
        tx.set_membership_entity(a.id, m.id, Some(e.id), now())
            .await
            .unwrap();
    }
    tx.set_membership_groups(a.id, p2.id, &[sales.id], now())
        .await
        .unwrap();
    tx.set_customer_assignments(a.id, l1.id, &[acme.id], now())
        .await
        .unwrap();
    tx.set_membership_custom_roles(a.id, none.id, &[role.id], now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    let list = |page: Page<roster_core::store::MemberView>| -> Vec<MembershipId> {
        page.items.iter().map(|v| v.membership.id).collect()
    };
    let all = PageRequest::default();
    let f = MemberFilter {
        group: Some(sales.id),
        ..Default::default()
    };
    assert_eq!(
        list(r.list_members(a.id, &f, all).await.unwrap()),
        vec![p2.id]
    );
    let f = MemberFilter {
        entity: Some(paris.id),
        ..Default::default()
    };
    assert_eq!(
        list(r.list_members(a.id, &f, all).await.unwrap()),
        vec![p1.id, p2.id]
    );
    let f = MemberFilter {
        customer: Some(acme.id),
        ..Default::default()
    };
    assert_eq!(
        list(r.list_members(a.id, &f, all).await.unwrap()),
        vec![l1.id]
    );
    let f = MemberFilter {
        custom_role: Some(role.id),
        ..Default::default()
    };
    assert_eq!(
        list(r.list_members(a.id, &f, all).await.unwrap()),
        vec![none.id]
    );
    // A scoped admin's reach: members of these entities only, totals included; a member
    // without an entity is outside every scope.
    let f = MemberFilter {
        within: Some(vec![lyon.id]),
        ..Default::default()
    };
    let page = r.list_members(a.id, &f, all).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(list(page), vec![l1.id]);
    let f = MemberFilter {
        within: Some(vec![lyon.id, paris.id]),
        entity: Some(paris.id),
        ..Default::default()
    };
    assert_eq!(
        list(r.list_members(a.id, &f, all).await.unwrap()),
        vec![p1.id, p2.id]
    );
}

pub async fn scoped_admins_are_not_counted_as_admins_of_the_organization(store: S) {
    let (a, _) = two_orgs(&store).await;
    let paris = entity(&a, "Paris");
    let mut tx = store.begin().await.unwrap();
    tx.insert_entity(&paris).await.unwrap();
    let whole = member(
        &mut *tx,
        &a,
        "whole@example.com",
        MembershipStatus::Active,
        &[BuiltinRole::Admin],
    )
    .await;
    let scoped = member(
        &mut *tx,
        &a,
        "scoped@example.com",
        MembershipStatus::Active,
        &[BuiltinRole::Admin],
    )
    .await;
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 2);
    tx.set_admin_scope(a.id, scoped.id, &[paris.id], now())
        .await
        .unwrap();
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 1);
    tx.set_admin_scope(a.id, whole.id, &[paris.id], now())
        .await
        .unwrap();
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 0);
    tx.commit().await.unwrap();
}

pub async fn memberships_come_with_their_organizations(store: S) {
    let (a, b) = two_orgs(&store).await;
    let c = fixtures::org("tenant-c");
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&c).await.unwrap();
    let identity = fixtures::identity("many@example.com");
    tx.insert_identity(&identity).await.unwrap();
    let mut ids = Vec::new();
    for org in [&a, &b, &c] {
        let mut m = fixtures::membership(org, &identity, &[BuiltinRole::User]);
        m.status = MembershipStatus::Active;
        tx.insert_membership(&m).await.unwrap();
        ids.push(m.id);
    }
    assert!(tx
        .set_membership_status(
            b.id,
            ids[1],
            MembershipStatus::Active,
            MembershipStatus::Removed,
            now()
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    let pairs = r.memberships_with_orgs(identity.id).await.unwrap();
    assert_eq!(pairs.len(), 2, "the removed one is left out");
    assert_eq!((pairs[0].0.id, &pairs[0].1), (ids[0], &a));
    assert_eq!((pairs[1].0.id, &pairs[1].1), (ids[2], &c));
    assert_eq!(
        pairs.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>(),
        r.memberships_of_identity(identity.id).await.unwrap()
    );
    drop(r);

    // A session comes with the same memberships, its own holder's only: another member of
    // `a` with a custom role and a group, and a person with no membership at all.
    let other = fixtures::identity("other@example.com");
    let loner = fixtures::identity("loner@example.com");
    let role = custom_role(&a, "Auditor", &["users.read"]);
    let group = group(&a, "Finance", &[], &[role.id]);
    let mut theirs = fixtures::membership(&a, &other, &[BuiltinRole::Marketing]);
    theirs.status = MembershipStatus::Active;
    theirs.custom_roles = vec![role.id];
    let sessions = [&identity, &other, &loner].map(|i| fixtures::session(i.id, now()));
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&other).await.unwrap();
    tx.insert_identity(&loner).await.unwrap();
    tx.insert_custom_role(&role).await.unwrap();
    tx.insert_group(&group).await.unwrap();
    tx.insert_membership(&theirs).await.unwrap();
    let at = now();
    assert!(tx
        .set_membership_groups(a.id, theirs.id, &[group.id], at)
        .await
        .unwrap());
    theirs.groups = vec![group.id];
    theirs.updated_at = at;
    for s in &sessions {
        tx.insert_session(s).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    // The role and the group moved `a`'s access version, and sessions read it with `a`.
    let a_now = r.org(a.id).await.unwrap().unwrap();
    assert_ne!(a_now.access_version, a.access_version);
    let pairs: Vec<_> = pairs
        .into_iter()
        .map(|(m, o)| (m, if o.id == a.id { a_now.clone() } else { o }))
        .collect();
    let holder = r
        .session_with_holder(&sessions[0].token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&holder.session, &holder.identity, &holder.memberships),
        (&sessions[0], &identity, &pairs)
    );
    let holder = r
        .session_with_holder(&sessions[1].token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.identity, other);
    assert_eq!(holder.memberships, [(theirs, a_now)]);
    let holder = r
        .session_with_holder(&sessions[2].token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((holder.identity, holder.memberships), (loner, vec![]));
    // Inside a write transaction SQLite reads on the writer's connection, through another
    // driver than a plain read (see store-sqlite's `inline`): the same answers.
    let mut tx = store.begin().await.unwrap();
    for s in &sessions {
        assert_eq!(
            tx.session_with_holder(&s.token_hash).await.unwrap(),
            r.session_with_holder(&s.token_hash).await.unwrap(),
        );
    }
    tx.rollback().await.unwrap();
}
