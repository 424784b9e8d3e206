//! Small builders for the records the cases need.

use chrono::{Duration, Utc};
use roster_core::clock::{truncate_ms, Timestamp};
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{DisplayName, Slug};
use roster_core::secrets::Secret;
use roster_core::store::Store;

pub fn now() -> Timestamp {
    truncate_ms(Utc::now())
}

pub fn org(slug: &str) -> Organization {
    let now = now();
    Organization {
        id: OrgId::new(),
        kind: OrgKind::Company,
        name: DisplayName::parse(&format!("Org {slug}")).unwrap(),
        slug: Slug::parse(slug).unwrap(),
        settings: OrgSettings::default(),
        created_at: now,
        updated_at: now,
    }
}

pub fn identity(email: &str) -> Identity {
    Identity::new(Email::parse(email).unwrap(), None, now())
}

pub fn membership(org: &Organization, identity: &Identity, roles: &[BuiltinRole]) -> Membership {
    Membership::new(
        org.id,
        identity.id,
        MembershipStatus::Invited,
        roles.iter().copied(),
        now(),
    )
}

pub fn invitation(m: &Membership, token: &Secret) -> Invitation {
    let now = now();
    Invitation {
        id: InvitationId::new(),
        org_id: m.org_id,
        membership_id: m.id,
        identity_id: m.identity_id,
        token_hash: token.hash(),
        invited_by: Actor::Cli,
        created_at: now,
        expires_at: now + Duration::hours(72),
        accepted_at: None,
        revoked_at: None,
    }
}

pub fn audit(org: Option<OrgId>, action: &str) -> AuditEvent {
    AuditEvent::new(
        org,
        Actor::System,
        action,
        None,
        serde_json::json!({}),
        now(),
    )
}

pub fn notice() -> Notice {
    Notice::Invitation {
        org_name: "Acme".into(),
        inviter_name: None,
        link: "http://roster.test/invitations/x".into(),
        expires_at: now(),
    }
}

/// An organization with one invited member and its invitation, committed.
pub struct Tenant {
    pub org: Organization,
    pub identity: Identity,
    pub membership: Membership,
    pub invitation: Invitation,
    pub token: Secret,
}

pub async fn tenant(store: &dyn Store, slug: &str) -> Tenant {
    let org = org(slug);
    let identity = identity(&format!("admin@{slug}.example"));
    let membership = membership(&org, &identity, &[BuiltinRole::Admin]);
    let token = Secret::generate("inv_").unwrap();
    let invitation = invitation(&membership, &token);
    let mut tx = store.begin().await.unwrap();
    tx.insert_org(&org).await.unwrap();
    tx.insert_identity(&identity).await.unwrap();
    tx.insert_membership(&membership).await.unwrap();
    tx.insert_invitation(&invitation).await.unwrap();
    tx.append_audit(&audit(Some(org.id), "organization.created"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Tenant {
        org,
        identity,
        membership,
        invitation,
        token,
    }
}
