//! Small builders for the records the cases need.

use chrono::{Duration, Utc};
use roster_core::clock::{truncate_ms, Timestamp};
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{DisplayName, Slug};
use roster_core::secrets::Secret;
use roster_core::store::{Store, StoreResult, Tx};

pub fn now() -> Timestamp {
    truncate_ms(Utc::now())
}

/// A write's outcome as a use case meets it: the write's own error or, where the store
/// sends writes that return nothing together with the next statement (SQLite), the
/// commit's.
pub async fn settle(tx: Box<dyn Tx>, wrote: StoreResult<()>) -> StoreResult<()> {
    wrote?;
    tx.commit().await
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
        access_version: 0,
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

/// A fresh single-use link for `identity`, valid for an hour. Email changes carry a new
/// address.
pub fn identity_token(identity: &Identity, purpose: TokenPurpose) -> (IdentityToken, Secret) {
    let secret = Secret::generate("link_").unwrap();
    let now = now();
    let token = IdentityToken {
        id: IdentityTokenId::new(),
        identity_id: identity.id,
        purpose,
        token_hash: secret.hash(),
        new_email: (purpose == TokenPurpose::EmailChange)
            .then(|| Email::parse("New.Address@Example.com").unwrap()),
        org_id: None,
        requested_by: Actor::Identity(identity.id),
        created_at: now,
        expires_at: now + Duration::hours(1),
        used_at: None,
        revoked_at: None,
    };
    (token, secret)
}

/// A live browser session of `identity` created at `at`.
pub fn session(identity: IdentityId, at: Timestamp) -> Session {
    Session {
        id: SessionId::new(),
        identity_id: identity,
        token_hash: Secret::generate("").unwrap().hash(),
        csrf_hash: Secret::generate("").unwrap().hash(),
        created_at: at,
        last_seen_at: at,
        expires_at: at + Duration::days(7),
        idle_timeout_minutes: 480,
        revoked_at: None,
    }
}

/// An organization token created by `created_by` with `permissions`.
pub fn org_token(
    org: OrgId,
    created_by: Option<IdentityId>,
    permissions: &[Permission],
) -> (ApiToken, Secret) {
    let secret = Secret::generate("roster_org_").unwrap();
    let token = ApiToken {
        id: ApiTokenId::new(),
        kind: ApiTokenKind::Organization,
        org_id: Some(org),
        name: "sync".into(),
        token_hash: secret.hash(),
        created_by,
        permissions: permissions.iter().map(|p| (*p).into()).collect(),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    (token, secret)
}

pub fn sign_in_attempt(
    identity: Option<IdentityId>,
    email: &str,
    code: SignInCode,
    at: Timestamp,
) -> SignInAttempt {
    let id = SignInAttemptId::new();
    // The random tail of the id, so references differ.
    let tail = id.as_uuid().simple().to_string()[24..].to_uppercase();
    SignInAttempt {
        id,
        reference: format!("{}-{}", &tail[..4], &tail[4..]),
        at,
        email: email.into(),
        identity_id: identity,
        client_ip: Some("192.0.2.7".into()),
        code,
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
