//! The access model's tables: custom roles, groups, customers, entities, and a
//! membership's links to them — written, read back, replaced, counted, deleted, and never
//! crossing organizations.

use super::S;
use crate::fixtures::{self, now};
use roster_core::access::PermissionCode;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::DisplayName;
use roster_core::store::{MemberFilter, RoleUsage, StoreError, Tx};

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

/// `member_access` answers what `membership_of`, `access_sources` and
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
            sources: r
                .access_sources(a.id, &m.custom_roles, &m.groups)
                .await
                .unwrap(),
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
    assert_eq!(
        full.sources
            .custom_roles
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![direct.id, through.id]
    );
    assert_eq!(full.sources.groups.len(), 1);
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
    assert_eq!(holder.memberships, [(theirs, a.clone())]);
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
