//! Single sign-on: each organization's OpenID Connect connection with the email domains it
//! claims, the provider's subjects linked to identities, and the sign-ins sent to the
//! provider and not yet back. The `Reads` and `Tx` impls call these.
//!
//! A domain is the primary key of `sso_domains` (constraint `sso_domains_domain`), so the
//! database itself refuses a second organization's claim, also between two transactions in
//! flight: the second insert waits for the first and fails once it commits. A connection's
//! domains are a set, read back sorted. Replacing a connection happens inside a savepoint:
//! a refused claim would otherwise leave the caller's transaction aborted (every later
//! statement failing), and it must leave it exactly as it was.

use crate::convert::{get, parse};
use crate::map_err;
use roster_core::clock::Timestamp;
use roster_core::ids::{IdentityId, OrgId};
use roster_core::model::{BuiltinRole, SsoConnection, SsoLogin};
use roster_core::secrets::SecretHash;
use roster_core::store::{StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The connection's columns plus `domains`, a `text[]`.
const CONNECTION: &str = "SELECT c.*, ARRAY(SELECT d.domain FROM sso_domains d \
     WHERE d.org_id = c.org_id) AS domains FROM sso_connections c";

fn connection(row: &PgRow) -> StoreResult<SsoConnection> {
    let mut domains: Vec<String> = get(row, "domains")?;
    // Sorted here rather than in SQL: the database's collation may not order bytewise.
    domains.sort();
    Ok(SsoConnection {
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        issuer: get(row, "issuer")?,
        client_id: get(row, "client_id")?,
        client_secret: get(row, "client_secret")?,
        scopes: get(row, "scopes")?,
        domains,
        default_role: get::<Option<String>>(row, "default_role")?
            .map(|r| parse(BuiltinRole::parse(&r)))
            .transpose()?,
        enforce: get(row, "enforce")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn login(row: &PgRow) -> StoreResult<SsoLogin> {
    Ok(SsoLogin {
        state_hash: SecretHash::from_stored(get::<String>(row, "state_hash")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        nonce: get(row, "nonce")?,
        pkce_verifier: get(row, "pkce_verifier")?,
        email_hint: get(row, "email_hint")?,
        next: get(row, "next")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

/// A domain another organization holds is `DomainClaimed`.
fn claim_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some("sso_domains_domain") =>
        {
            StoreError::DomainClaimed
        }
        _ => map_err(e),
    }
}

pub(crate) async fn connection_of(
    c: &mut PgConnection,
    org: OrgId,
) -> StoreResult<Option<SsoConnection>> {
    sqlx::query(&format!("{CONNECTION} WHERE c.org_id = $1"))
        .bind(org.as_uuid())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(connection)
        .transpose()
}

pub(crate) async fn connection_for_domain(
    c: &mut PgConnection,
    domain: &str,
) -> StoreResult<Option<SsoConnection>> {
    sqlx::query(&format!(
        "{CONNECTION} WHERE c.org_id = (SELECT org_id FROM sso_domains WHERE domain = $1)"
    ))
    .bind(domain)
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(connection)
    .transpose()
}

/// Creates or replaces the row (every field as given, `created_at` included) and its
/// domains, inside a savepoint: when another organization claims a domain, the savepoint is
/// rolled back, which also clears the error state PostgreSQL puts the transaction in, so
/// the caller's transaction holds what it held before and stays usable.
pub(crate) async fn put_connection(c: &mut PgConnection, conn: &SsoConnection) -> StoreResult<()> {
    let mut savepoint = c.begin().await.map_err(map_err)?;
    match write_connection(&mut savepoint, conn).await {
        Ok(()) => savepoint.commit().await.map_err(map_err),
        Err(e) => {
            savepoint.rollback().await.map_err(map_err)?;
            Err(e)
        }
    }
}

async fn write_connection(c: &mut PgConnection, conn: &SsoConnection) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_connections (org_id, issuer, client_id, client_secret, scopes, \
         default_role, enforce, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, \
         client_id = excluded.client_id, client_secret = excluded.client_secret, \
         scopes = excluded.scopes, default_role = excluded.default_role, \
         enforce = excluded.enforce, created_at = excluded.created_at, \
         updated_at = excluded.updated_at",
    )
    .bind(conn.org_id.as_uuid())
    .bind(&conn.issuer)
    .bind(&conn.client_id)
    .bind(&conn.client_secret)
    .bind(&conn.scopes)
    .bind(conn.default_role.map(BuiltinRole::as_str))
    .bind(conn.enforce)
    .bind(conn.created_at)
    .bind(conn.updated_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    sqlx::query("DELETE FROM sso_domains WHERE org_id = $1")
        .bind(conn.org_id.as_uuid())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    let domains: Vec<&str> = conn
        .domains
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    sqlx::query("INSERT INTO sso_domains (domain, org_id) SELECT unnest($1::text[]), $2")
        .bind(&domains)
        .bind(conn.org_id.as_uuid())
        .execute(&mut *c)
        .await
        .map_err(claim_err)?;
    Ok(())
}

/// Its domains go with it (`ON DELETE CASCADE`).
pub(crate) async fn delete_connection(c: &mut PgConnection, org: OrgId) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM sso_connections WHERE org_id = $1")
        .bind(org.as_uuid())
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

/// The identity linked to (`org`, `issuer`, `subject`), compared exactly.
pub(crate) async fn subject(
    c: &mut PgConnection,
    org: OrgId,
    issuer: &str,
    subject: &str,
) -> StoreResult<Option<IdentityId>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT identity_id FROM sso_subjects \
         WHERE org_id = $1 AND issuer = $2 AND subject = $3",
    )
    .bind(org.as_uuid())
    .bind(issuer)
    .bind(subject)
    .fetch_optional(c)
    .await
    .map_err(map_err)?;
    Ok(id.map(IdentityId::from_uuid))
}

/// Links the subject to `identity` as of `at`, replacing an earlier link (identity and
/// time) of the same (`org`, `issuer`, `subject`). Two links of one new subject in flight
/// at once: the second insert waits for the first and, once it commits, updates its row.
pub(crate) async fn link_subject(
    c: &mut PgConnection,
    org: OrgId,
    issuer: &str,
    subject: &str,
    identity: IdentityId,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_subjects (org_id, issuer, subject, identity_id, linked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, issuer, subject) DO UPDATE SET \
         identity_id = excluded.identity_id, linked_at = excluded.linked_at",
    )
    .bind(org.as_uuid())
    .bind(issuer)
    .bind(subject)
    .bind(identity.as_uuid())
    .bind(at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_login(c: &mut PgConnection, l: &SsoLogin) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, org_id, nonce, pkce_verifier, email_hint, next, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(l.state_hash.as_str())
    .bind(l.org_id.as_uuid())
    .bind(&l.nonce)
    .bind(&l.pkce_verifier)
    .bind(&l.email_hint)
    .bind(l.next.as_deref())
    .bind(l.created_at)
    .bind(l.expires_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Deletes the sign-in and returns it when it is live at `now` (`expires_at > now`, as for
/// every other expiring record), then forgets every sign-in no longer live at `now`.
///
/// Of two takes of one state, the second's `DELETE` waits for the first's row lock and,
/// once the first commits, finds the row gone: exactly one gets it. The pruning skips rows
/// another transaction holds (`SKIP LOCKED`), so it never waits and two takes cannot
/// deadlock over expired rows; a row skipped is deleted by its holder or by a later take.
pub(crate) async fn take_login(
    c: &mut PgConnection,
    state_hash: &SecretHash,
    now: Timestamp,
) -> StoreResult<Option<SsoLogin>> {
    let taken = sqlx::query("DELETE FROM sso_logins WHERE state_hash = $1 RETURNING *")
        .bind(state_hash.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(login)
        .transpose()?;
    sqlx::query(
        "DELETE FROM sso_logins WHERE state_hash IN (SELECT state_hash FROM sso_logins \
         WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(taken.filter(|l| l.expires_at > now))
}
