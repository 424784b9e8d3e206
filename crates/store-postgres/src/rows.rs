//! Rows to domain records.

use crate::map_err;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{DisplayName, Slug};
use roster_core::secrets::SecretHash;
use roster_core::store::{StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(map_err)
}

pub(crate) fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn count(v: i32, what: &str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(what.to_owned()))
}

pub(crate) fn org(row: &PgRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: OrgId::from_uuid(get(row, "id")?),
        kind: parse(OrgKind::parse(&get::<String>(row, "kind")?))?,
        name: parse(DisplayName::parse(&get::<String>(row, "name")?))?,
        slug: parse(Slug::parse(&get::<String>(row, "slug")?))?,
        settings: parse(serde_json::from_value(get(row, "settings")?))?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn identity(row: &PgRow) -> StoreResult<Identity> {
    Ok(Identity {
        id: IdentityId::from_uuid(get(row, "id")?),
        email: parse(Email::parse(&get::<String>(row, "email")?))?,
        name: get::<Option<String>>(row, "name")?
            .map(|n| parse(DisplayName::parse(&n)))
            .transpose()?,
        password_hash: get(row, "password_hash")?,
        email_verified_at: get(row, "email_verified_at")?,
        timezone: get(row, "timezone")?,
        locale: get(row, "locale")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// Expects the membership columns plus `roles`, a comma-separated list.
pub(crate) fn membership(row: &PgRow) -> StoreResult<Membership> {
    let roles = get::<Option<String>>(row, "roles")?.unwrap_or_default();
    let mut roles = roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| parse(BuiltinRole::parse(r)))
        .collect::<StoreResult<Vec<_>>>()?;
    roles.sort();
    Ok(Membership {
        id: MembershipId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        identity_id: IdentityId::from_uuid(get(row, "identity_id")?),
        status: parse(MembershipStatus::parse(&get::<String>(row, "status")?))?,
        roles,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        removed_at: get(row, "removed_at")?,
    })
}

pub(crate) fn invitation(row: &PgRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: InvitationId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        membership_id: MembershipId::from_uuid(get(row, "membership_id")?),
        identity_id: IdentityId::from_uuid(get(row, "identity_id")?),
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        invited_by: parse(Actor::from_parts(
            &get::<String>(row, "invited_by_kind")?,
            get::<Option<Uuid>>(row, "invited_by_id")?,
        ))?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        accepted_at: get(row, "accepted_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn session(row: &PgRow) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId::from_uuid(get(row, "id")?),
        identity_id: IdentityId::from_uuid(get(row, "identity_id")?),
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        csrf_hash: SecretHash::from_stored(get::<String>(row, "csrf_hash")?),
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        expires_at: get(row, "expires_at")?,
        idle_timeout_minutes: count(get(row, "idle_timeout_minutes")?, "idle_timeout_minutes")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn api_token(row: &PgRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(get(row, "id")?),
        kind: parse(ApiTokenKind::parse(&get::<String>(row, "kind")?))?,
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        name: get(row, "name")?,
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn audit(row: &PgRow) -> StoreResult<AuditEvent> {
    let target_kind: Option<String> = get(row, "target_kind")?;
    let target_id: Option<Uuid> = get(row, "target_id")?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(get(row, "id")?),
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        at: get(row, "at")?,
        actor: parse(Actor::from_parts(
            &get::<String>(row, "actor_kind")?,
            get::<Option<Uuid>>(row, "actor_id")?,
        ))?,
        action: get(row, "action")?,
        target: match (target_kind, target_id) {
            (Some(kind), Some(id)) => Some(AuditTarget { kind, id }),
            _ => None,
        },
        details: get(row, "details")?,
    })
}

pub(crate) fn outbox(row: &PgRow) -> StoreResult<OutboxMessage> {
    Ok(OutboxMessage {
        id: OutboxId::from_uuid(get(row, "id")?),
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        recipient: parse(Email::parse(&get::<String>(row, "recipient")?))?,
        kind: get(row, "kind")?,
        notice: get::<Option<serde_json::Value>>(row, "payload")?
            .map(|p| parse(serde_json::from_value(p)))
            .transpose()?,
        status: parse(OutboxStatus::parse(&get::<String>(row, "status")?))?,
        attempts: count(get(row, "attempts")?, "attempts")?,
        next_attempt_at: get(row, "next_attempt_at")?,
        lease_until: get(row, "lease_until")?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
        sent_at: get(row, "sent_at")?,
    })
}
