//! Single-use identity links, throttling counters and the sign-in attempt log. The `Reads`
//! and `Tx` impls call these, so the queries of one feature sit together.
//!
//! SQLite serialises writers (`BEGIN IMMEDIATE`), so each statement here already sees the
//! latest committed state; the throttle is one UPSERT anyway, so it stays correct even
//! outside a write transaction.

use crate::convert::{count, ms, opt_ms, opt_time, opt_uuid, parse, time, uuid};
use crate::map_err;
use crate::reads::get;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::secrets::SecretHash;
use roster_core::store::StoreResult;
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;

fn identity_token(row: &SqliteRow) -> StoreResult<IdentityToken> {
    Ok(IdentityToken {
        id: IdentityTokenId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        identity_id: IdentityId::from_uuid(uuid(&get::<String>(row, "identity_id")?)?),
        purpose: parse(TokenPurpose::parse(&get::<String>(row, "purpose")?))?,
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        new_email: get::<Option<String>>(row, "new_email")?
            .map(|e| parse(Email::parse(&e)))
            .transpose()?,
        org_id: opt_uuid(get(row, "org_id")?)?.map(OrgId::from_uuid),
        requested_by: parse(Actor::from_parts(
            &get::<String>(row, "requested_by_kind")?,
            opt_uuid(get(row, "requested_by_id")?)?,
        ))?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
        used_at: opt_time(get(row, "used_at")?)?,
        revoked_at: opt_time(get(row, "revoked_at")?)?,
    })
}

fn throttle(row: &SqliteRow) -> StoreResult<ThrottleState> {
    Ok(ThrottleState {
        count: count(get(row, "count")?, "throttle count")?,
        window_started_at: time(get(row, "window_started_at")?)?,
    })
}

fn attempt(row: &SqliteRow) -> StoreResult<SignInAttempt> {
    Ok(SignInAttempt {
        id: SignInAttemptId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        reference: get(row, "reference")?,
        at: time(get(row, "at")?)?,
        email: get(row, "email")?,
        identity_id: opt_uuid(get(row, "identity_id")?)?.map(IdentityId::from_uuid),
        client_ip: get(row, "client_ip")?,
        code: parse(SignInCode::parse(&get::<String>(row, "code")?))?,
    })
}

pub(crate) async fn identity_token_by_hash(
    c: &mut SqliteConnection,
    hash: &SecretHash,
    purpose: TokenPurpose,
) -> StoreResult<Option<IdentityToken>> {
    sqlx::query("SELECT * FROM identity_tokens WHERE token_hash = ? AND purpose = ?")
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
    c: &mut SqliteConnection,
    identity: IdentityId,
    purpose: TokenPurpose,
) -> StoreResult<Option<IdentityToken>> {
    sqlx::query(
        "SELECT * FROM identity_tokens WHERE identity_id = ? AND purpose = ? \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(identity.to_string())
    .bind(purpose.as_str())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(identity_token)
    .transpose()
}

pub(crate) async fn insert_identity_token(
    c: &mut SqliteConnection,
    t: &IdentityToken,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO identity_tokens (id, identity_id, purpose, token_hash, new_email, \
         new_email_key, org_id, requested_by_kind, requested_by_id, created_at, expires_at, \
         used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(t.id.to_string())
    .bind(t.identity_id.to_string())
    .bind(t.purpose.as_str())
    .bind(t.token_hash.as_str())
    .bind(t.new_email.as_ref().map(|e| e.as_str()))
    .bind(t.new_email.as_ref().map(|e| e.key()))
    .bind(t.org_id.map(|o| o.to_string()))
    .bind(t.requested_by.kind())
    .bind(t.requested_by.id().map(|i| i.to_string()))
    .bind(ms(t.created_at))
    .bind(ms(t.expires_at))
    .bind(opt_ms(t.used_at))
    .bind(opt_ms(t.revoked_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn consume_identity_token(
    c: &mut SqliteConnection,
    id: IdentityTokenId,
    at: Timestamp,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE identity_tokens SET used_at = ?1 WHERE id = ?2 \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1",
    )
    .bind(ms(at))
    .bind(id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn revoke_identity_tokens(
    c: &mut SqliteConnection,
    identity: IdentityId,
    purpose: TokenPurpose,
    at: Timestamp,
) -> StoreResult<u64> {
    let r = sqlx::query(
        "UPDATE identity_tokens SET revoked_at = ? WHERE identity_id = ? AND purpose = ? \
         AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(ms(at))
    .bind(identity.to_string())
    .bind(purpose.as_str())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected())
}

pub(crate) async fn throttle_state(
    c: &mut SqliteConnection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<ThrottleState>> {
    sqlx::query("SELECT count, window_started_at FROM throttles WHERE scope = ? AND key = ?")
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
    c: &mut SqliteConnection,
    scope: &str,
    key: &str,
    now: Timestamp,
    window_started_before: Timestamp,
) -> StoreResult<ThrottleState> {
    // One statement: the read of the old window and the write of the new count cannot be
    // separated by another writer. In DO UPDATE, bare column names are the stored row.
    let row = sqlx::query(
        "INSERT INTO throttles (scope, key, count, window_started_at) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (scope, key) DO UPDATE SET \
           count = CASE WHEN window_started_at <= ?4 THEN 1 ELSE count + 1 END, \
           window_started_at = CASE WHEN window_started_at <= ?4 THEN ?3 ELSE window_started_at END \
         RETURNING count, window_started_at",
    )
    .bind(scope)
    .bind(key)
    .bind(ms(now))
    .bind(ms(window_started_before))
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    throttle(&row)
}

pub(crate) async fn release_throttle(
    c: &mut SqliteConnection,
    scope: &str,
    key: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE throttles SET count = count - 1 WHERE scope = ? AND key = ? AND count > 0")
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn clear_throttle(
    c: &mut SqliteConnection,
    scope: &str,
    key: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM throttles WHERE scope = ? AND key = ?")
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Newest first by id (UUIDv7, so by creation time), which the `(identity_id, id)` index
/// serves directly.
pub(crate) async fn attempts_of(
    c: &mut SqliteConnection,
    identity: IdentityId,
    limit: u32,
) -> StoreResult<Vec<SignInAttempt>> {
    sqlx::query("SELECT * FROM sign_in_attempts WHERE identity_id = ? ORDER BY id DESC LIMIT ?")
        .bind(identity.to_string())
        .bind(i64::from(limit))
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(attempt)
        .collect()
}
