//! Counting active admins, and the member changes that must never leave an organization
//! without one.

use super::S;
use crate::failing::{FailOn, FailingStore};
use crate::fixtures::{self, now};
use roster_core::access::{self, Caller};
use roster_core::clock::ManualClock;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::store::{OutboxFilter, Store};
use roster_core::usecases::members::MemberError;
use roster_core::{Links, Roster};
use std::sync::Arc;

/// Writes an organization and one active member per role set; returns their ids in order.
async fn org_with_members(
    store: &dyn Store,
    slug: &str,
    members: &[(MembershipStatus, &[BuiltinRole])],
) -> (Organization, Vec<MembershipId>) {
    let org = fixtures::org(slug);
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    let mut ids = vec![];
    for (i, (status, roles)) in members.iter().enumerate() {
        let person = fixtures::identity(&format!("m{i}@{slug}.example"));
        tx.insert_identity(&person).await.unwrap();
        let m = Membership::new(org.id, person.id, *status, roles.iter().copied(), now());
        tx.insert_membership(&m).await.unwrap();
        ids.push(m.id);
    }
    tx.commit().await.unwrap();
    (org, ids)
}

async fn admins(store: &dyn Store, org: OrgId) -> u64 {
    store
        .reads()
        .await
        .unwrap()
        .count_active_admins(org)
        .await
        .unwrap()
}

pub async fn count_active_admins_counts_only_active_admins_of_the_organization(store: S) {
    use BuiltinRole::*;
    use MembershipStatus::*;
    let (a, ids) = org_with_members(
        &*store,
        "tenant-a",
        &[
            (Active, &[Admin]),
            (Active, &[Admin, Notifications]),
            (Active, &[User, Marketing]),
            (Deactivated, &[Admin]),
            (Invited, &[Admin]),
        ],
    )
    .await;
    let (b, _) = org_with_members(&*store, "tenant-b", &[(Active, &[Admin])]).await;
    assert_eq!(admins(&*store, a.id).await, 2, "active admins only");
    assert_eq!(admins(&*store, b.id).await, 1, "per organization");
    assert_eq!(admins(&*store, OrgId::new()).await, 0);

    // Inside a transaction the count sees the transaction's own changes.
    let at = now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(a.id, ids[0], Active, Deactivated, at)
        .await
        .unwrap());
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 1);
    assert!(tx
        .set_membership_roles(a.id, ids[1], &[Notifications], at)
        .await
        .unwrap());
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 0);
    assert!(tx
        .set_membership_roles(a.id, ids[2], &[Admin], at)
        .await
        .unwrap());
    assert!(tx
        .set_membership_status(a.id, ids[3], Deactivated, Active, at)
        .await
        .unwrap());
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 2);
    assert!(tx
        .set_membership_status(a.id, ids[3], Active, Removed, at)
        .await
        .unwrap());
    assert_eq!(tx.count_active_admins(a.id).await.unwrap(), 1, "removed");
    tx.commit().await.unwrap();
    assert_eq!(admins(&*store, a.id).await, 1);
    assert_eq!(admins(&*store, b.id).await, 1, "the other organization");
}

fn roster(store: S) -> Roster {
    Roster::new(
        store,
        Arc::new(ManualClock::starting_now()),
        Links::new("https://roster.test"),
    )
}

fn operator() -> Caller {
    Caller::Operator {
        token_id: ApiTokenId::new(),
    }
}

async fn manage(store: &dyn Store, caller: &Caller, org: OrgId) -> access::OrgGrant {
    let mut reads = store.reads().await.unwrap();
    access::require(
        &std::sync::Arc::new(access::Catalog::roster_only()),
        &access::DefinitionsCache::new(),
        &mut *reads,
        caller,
        org,
        Permission::UsersManage,
    )
    .await
    .unwrap()
}

/// Two changes at once, each of which alone is fine but which together would leave no
/// admin: exactly one applies, every time.
pub async fn concurrent_last_admin_changes_keep_an_admin(store: S) {
    use BuiltinRole::*;
    use MembershipStatus::*;
    let roster = roster(store.clone());
    let op = operator();
    for round in 0..8 {
        let (org, ids) = org_with_members(
            &*store,
            &format!("race-{round}"),
            &[(Active, &[Admin]), (Active, &[Admin, User])],
        )
        .await;
        let grant = Arc::new(manage(&*store, &op, org.id).await);
        let go = |i: usize| {
            let (roster, grant, op, id) = (roster.clone(), grant.clone(), op.clone(), ids[i]);
            tokio::spawn(async move {
                match round % 3 {
                    0 => roster.deactivate_member(&grant, &op, id).await.map(|_| ()),
                    1 => roster.remove_member(&grant, &op, id).await,
                    _ => roster
                        .set_member_roles(&grant, &op, id, &["user".to_owned()])
                        .await
                        .map(|_| ()),
                }
            })
        };
        let (x, y) = (go(0), go(1));
        let results = [x.await.unwrap(), y.await.unwrap()];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(MemberError::LastAdmin))),
            "round {round}: {results:?}"
        );
        assert_eq!(admins(&*store, org.id).await, 1, "round {round}");
    }
}

/// A removal writes the tombstone, its audit event and its email together or not at all.
pub async fn member_removal_is_one_transaction(store: S) {
    use BuiltinRole::*;
    use MembershipStatus::*;
    let (org, ids) =
        org_with_members(&*store, "acme", &[(Active, &[Admin]), (Active, &[User])]).await;
    let op = operator();
    let grant = manage(&*store, &op, org.id).await;
    let outbox = |store: S| async move {
        store
            .reads()
            .await
            .unwrap()
            .list_outbox(&OutboxFilter {
                status: None,
                limit: 10,
            })
            .await
            .unwrap()
    };
    for fail_on in [FailOn::AppendAudit, FailOn::EnqueueOutbox] {
        let failing: S = Arc::new(FailingStore::new(store.clone(), fail_on));
        let err = roster(failing)
            .remove_member(&grant, &op, ids[1])
            .await
            .unwrap_err();
        assert!(matches!(err, MemberError::Store(_)), "{fail_on:?}: {err:?}");
        let m = store
            .reads()
            .await
            .unwrap()
            .membership(org.id, ids[1])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, Active, "{fail_on:?}");
        assert!(outbox(store.clone()).await.is_empty(), "{fail_on:?}");
    }
    roster(store.clone())
        .remove_member(&grant, &op, ids[1])
        .await
        .unwrap();
    let m = store
        .reads()
        .await
        .unwrap()
        .membership(org.id, ids[1])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, Removed);
    assert!(m.removed_at.is_some());
    assert_eq!(m.roles, vec![User], "the tombstone keeps its roles");
    let queued = outbox(store.clone()).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipient.as_str(), "m1@acme.example");
    assert_eq!(
        queued[0].notice,
        Some(Notice::AccessRevoked {
            org_name: org.name.to_string()
        })
    );
    let events = store
        .reads()
        .await
        .unwrap()
        .list_audit(&AuditQuery {
            org_id: Some(org.id),
            target_id: Some(ids[1].as_uuid()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "membership.removed");
    assert_eq!(events[0].details["email"], "m1@acme.example");
}
