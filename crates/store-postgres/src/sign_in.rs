//! Single-use identity links, throttling counters and the sign-in attempt log. The `Reads`
//! and `Tx` impls call these, so the queries of one feature sit together.
//!
//! Every change here is one statement whose WHERE clause (or ON CONFLICT arm) PostgreSQL
//! re-checks against the latest committed row, so concurrent callers at READ COMMITTED
//! cannot both consume one link or lose a throttle hit.

use crate::convert::{count, get, parse};
use crate::map_err;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::secrets::SecretHash;
use roster_core::store::StoreResult;
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use uuid::Uuid;

fn identity_token(row: &PgRow) -> StoreResult<IdentityToken> {
    Ok(IdentityToken {
        id: IdentityTokenId::from_uuid(get(row, "id")?),
        identity_id: IdentityId::from_uuid(get(row, "identity_id")?),
        purpose: parse(TokenPurpose::parse(&get::<String>(row, "purpose")?))?,
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        new_email: get::<Option<String>>(row, "new_email")?
            .map(|e| parse(Email::parse(&e)))
            .transpose()?,
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        requested_by: parse(Actor::from_parts(
            &get::<String>(row, "requested_by_kind")?,
            get::<Option<Uuid>>(row, "requested_by_id")?,
        ))?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        used_at: get(row, "used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn throttle(row: &PgRow) -> StoreResult<ThrottleState> {
    Ok(ThrottleState {
        count: count(get(row, "count")?, "throttle count")?,
        window_started_at: get(row, "window_started_at")?,
    })
}

fn attempt(row: &PgRow) -> StoreResult<SignInAttempt> {
    Ok(SignInAttempt {
        id: SignInAttemptId::from_uuid(get(row, "id")?),
        reference: get(row, "reference")?,
        at: get(row, "at")?,
        email: get(row, "email")?,
        identity_id: get::<Option<Uuid>>(row, "identity_id")?.map(IdentityId::from_uuid),
        client_ip: get(row, "client_ip")?,
        code: parse(SignInCode::parse(&get::<String>(row, "code")?))?,
    })
}

pub(crate) async fn identity_token_by_hash(
    c: &mut PgConnection,
    hash: &SecretHash,
    purpose: TokenPurpose,
) -> StoreResult<Option<IdentityToken>> {
    sqlx::query("SELECT * FROM identity_tokens WHERE token_hash = $1 AND purpose = $2")
        .bind(hash.as_str())
        .bind(purpose.as_str())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(identity_token)
        .transpose()
}

pub(crate) async fn latest_identity_token(
    c: &mut PgConnection,
    identity: IdentityId,
    purpose: TokenPurpose,
) -> StoreResult<Option<IdentityToken>> {
    sqlx::query(
        "SELECT * FROM identity_tokens WHERE identity_id = $1 AND purpose = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(identity.as_uuid())
    .bind(purpose.as_str())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(identity_token)
    .transpose()
}

pub(crate) async fn insert_identity_token(
    c: &mut PgConnection,
    t: &IdentityToken,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO identity_tokens (id, identity_id, purpose, token_hash, new_email, \
         new_email_key, org_id, requested_by_kind, requested_by_id, created_at, expires_at, \
         used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(t.id.as_uuid())
    .bind(t.identity_id.as_uuid())
    .bind(t.purpose.as_str())
    .bind(t.token_hash.as_str())
    .bind(t.new_email.as_ref().map(|e| e.as_str()))
    .bind(t.new_email.as_ref().map(|e| e.key()))
    .bind(t.org_id.map(|o| o.as_uuid()))
    .bind(t.requested_by.kind())
    .bind(t.requested_by.id())
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.used_at)
    .bind(t.revoked_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn consume_identity_token(
    c: &mut PgConnection,
    id: IdentityTokenId,
    at: Timestamp,
) -> StoreResult<bool> {
    // A racing redeem waits for the row lock, then finds used_at set and changes nothing.
    let r = sqlx::query(
        "UPDATE identity_tokens SET used_at = $1 WHERE id = $2 \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(at)
    .bind(id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn revoke_identity_tokens(
    c: &mut PgConnection,
    identity: IdentityId,
    purpose: TokenPurpose,
    at: Timestamp,
) -> StoreResult<u64> {
    let r = sqlx::query(
        "UPDATE identity_tokens SET revoked_at = $1 WHERE identity_id = $2 AND purpose = $3 \
         AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(identity.as_uuid())
    .bind(purpose.as_str())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected())
}

pub(crate) async fn throttle_state(
    c: &mut PgConnection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<ThrottleState>> {
    sqlx::query("SELECT count, window_started_at FROM throttles WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(throttle)
        .transpose()
}

pub(crate) async fn hit_throttle(
    c: &mut PgConnection,
    scope: &str,
    key: &str,
    now: Timestamp,
    window_started_before: Timestamp,
) -> StoreResult<ThrottleState> {
    // One statement: ON CONFLICT DO UPDATE either inserts or updates the latest row version
    // under its row lock, so concurrent hits queue on the row and each sees its own count.
    let row = sqlx::query(
        "INSERT INTO throttles (scope, key, count, window_started_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (scope, key) DO UPDATE SET \
           count = CASE WHEN throttles.window_started_at <= $4 THEN 1 \
                        ELSE throttles.count + 1 END, \
           window_started_at = CASE WHEN throttles.window_started_at <= $4 THEN $3 \
                                    ELSE throttles.window_started_at END \
         RETURNING count, window_started_at",
    )
    .bind(scope)
    .bind(key)
    .bind(now)
    .bind(window_started_before)
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    throttle(&row)
}

pub(crate) async fn release_throttle(
    c: &mut PgConnection,
    scope: &str,
    key: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE throttles SET count = count - 1 WHERE scope = $1 AND key = $2 AND count > 0",
    )
    .bind(scope)
    .bind(key)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn clear_throttle(
    c: &mut PgConnection,
    scope: &str,
    key: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM throttles WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_attempt(c: &mut PgConnection, a: &SignInAttempt) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sign_in_attempts (id, reference, at, email, identity_id, client_ip, code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.id.as_uuid())
    .bind(&a.reference)
    .bind(a.at)
    .bind(&a.email)
    .bind(a.identity_id.map(|i| i.as_uuid()))
    .bind(a.client_ip.as_deref())
    .bind(a.code.as_str())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Newest first by id (UUIDv7, so by creation time), which the `(identity_id, id)` index
/// serves directly.
pub(crate) async fn attempts_of(
    c: &mut PgConnection,
    identity: IdentityId,
    limit: u32,
) -> StoreResult<Vec<SignInAttempt>> {
    sqlx::query("SELECT * FROM sign_in_attempts WHERE identity_id = $1 ORDER BY id DESC LIMIT $2")
        .bind(identity.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(attempt)
        .collect()
}
