//! Single sign-on: each organization's OpenID Connect connection with the email domains it
//! claims, the provider's subjects linked to identities, and the sign-ins sent to the
//! provider and not yet back. The `Reads` and `Tx` impls call these.
//!
//! A domain is the primary key of `sso_domains`, so the database itself refuses a second
//! organization's claim; a connection's domains are a set, read back sorted. Replacing a
//! connection happens inside a savepoint, so a refused claim leaves the caller's
//! transaction exactly as it was.

use crate::columns::Columns;
use crate::convert::{corrupt, ms, parse, time, uuid};
use crate::inline::{Fold, Statements};
use crate::reads::get;
use crate::{map_err, SqliteConn};
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::{IdentityId, OrgId};
use roster_core::model::{email_domain, BuiltinRole, Identity, SsoConnection, SsoLogin};
use roster_core::secrets::SecretHash;
use roster_core::store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// The connection's columns, each named (as a [`Statements`] read needs), plus `domains`,
/// a JSON array.
const CONNECTION: &str = "SELECT c.org_id, c.issuer, c.client_id, c.client_secret, c.scopes, \
     c.default_role, c.enforce, c.created_at, c.updated_at, \
     (SELECT json_group_array(d.domain) FROM sso_domains d \
     WHERE d.org_id = c.org_id) AS domains FROM sso_connections c";

fn connection(row: &(impl Columns + ?Sized)) -> StoreResult<SsoConnection> {
    let mut domains: Vec<String> = parse(serde_json::from_str(&get::<String>(row, "domains")?))?;
    domains.sort();
    Ok(SsoConnection {
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        issuer: get(row, "issuer")?,
        client_id: get(row, "client_id")?,
        client_secret: get(row, "client_secret")?,
        scopes: parse(serde_json::from_str(&get::<String>(row, "scopes")?))?,
        domains,
        default_role: get::<Option<String>>(row, "default_role")?
            .map(|r| parse(BuiltinRole::parse(&r)))
            .transpose()?,
        enforce: get::<i64>(row, "enforce")? != 0,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

fn login(row: &SqliteRow) -> StoreResult<SsoLogin> {
    Ok(SsoLogin {
        state_hash: SecretHash::from_stored(get::<String>(row, "state_hash")?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        nonce: get(row, "nonce")?,
        pkce_verifier: get(row, "pkce_verifier")?,
        email_hint: get(row, "email_hint")?,
        next: get(row, "next")?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
    })
}

/// A domain another organization holds (SQLite names the column:
/// `UNIQUE constraint failed: sso_domains.domain`) is `DomainClaimed`.
fn claim_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.message().contains("sso_domains.domain") =>
        {
            StoreError::DomainClaimed
        }
        _ => map_err(e),
    }
}

pub(crate) async fn connection_of(
    c: &mut SqliteConnection,
    org: OrgId,
) -> StoreResult<Option<SsoConnection>> {
    sqlx::query(&format!("{CONNECTION} WHERE c.org_id = ?"))
        .bind(org.to_string())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(connection)
        .transpose()
}

pub(crate) async fn connection_for_domain(
    c: &mut SqliteConnection,
    domain: &str,
) -> StoreResult<Option<SsoConnection>> {
    sqlx::query(&format!(
        "{CONNECTION} WHERE c.org_id = (SELECT org_id FROM sso_domains WHERE domain = ?)"
    ))
    .bind(domain)
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(connection)
    .transpose()
}

/// [`roster_core::store::Reads::identity_and_sso_by_email`]: the identity's row and the
/// connection's, from two statements told apart by `row_kind`, in one call to the
/// connection's thread instead of two. An invitation makes this read while holding the
/// one writer, where every call is a handoff of tens of microseconds under load (see
/// `docs/benchmarks.md`, *The writer's time, call by call*); outside a write transaction
/// it runs on the caller's thread, as every [`Statements`] read does.
pub(crate) async fn identity_and_connection(
    c: &mut SqliteConn,
    email: &Email,
) -> StoreResult<(Option<Identity>, Option<SsoConnection>)> {
    static SQL: LazyLock<Statements> = LazyLock::new(|| {
        Statements::new(vec![
            format!(
                "SELECT 'identity' AS row_kind, {} FROM identities i WHERE i.email_key = ?1",
                crate::reads::IDENTITY_AS_I
            ),
            format!(
                "{} WHERE c.org_id = (SELECT org_id FROM sso_domains WHERE domain = ?2)",
                CONNECTION.replacen("SELECT ", "SELECT 'sso' AS row_kind, ", 1)
            ),
        ])
    });
    let (key, domain) = (email.key(), email_domain(email.as_str()));
    let rows: IdentityAndConnection = c.fold(&SQL, &[Some(&key), domain.as_deref()]).await?;
    Ok((rows.identity, rows.sso))
}

/// [`identity_and_connection`]'s rows.
#[derive(Default)]
struct IdentityAndConnection {
    identity: Option<Identity>,
    sso: Option<SsoConnection>,
}

impl Fold for IdentityAndConnection {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        match get::<String>(row, "row_kind")?.as_str() {
            "identity" => self.identity = Some(crate::reads::identity_with(row, "i_")?),
            "sso" => self.sso = Some(connection(row)?),
            other => return Err(corrupt(format!("a row of unknown kind {other}"))),
        }
        Ok(())
    }
}

/// Creates or replaces the row (every field as given, `created_at` included) and its
/// domains, inside a savepoint: when another organization claims a domain, the savepoint is
/// rolled back and the caller's transaction holds what it held before.
pub(crate) async fn put_connection(
    c: &mut SqliteConnection,
    conn: &SsoConnection,
) -> StoreResult<()> {
    // Named by hand: the store's write transaction is its own `BEGIN IMMEDIATE`, which
    // sqlx's nested `begin` does not know of. Left open by a caller that went away, it
    // goes with that transaction's rollback.
    sqlx::query("SAVEPOINT sso_connection")
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    let written = write_connection(c, conn).await;
    if written.is_err() {
        sqlx::query("ROLLBACK TO sso_connection")
            .execute(&mut *c)
            .await
            .map_err(map_err)?;
    }
    sqlx::query("RELEASE sso_connection")
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    written
}

async fn write_connection(c: &mut SqliteConnection, conn: &SsoConnection) -> StoreResult<()> {
    let scopes = serde_json::to_string(&conn.scopes).map_err(|e| corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO sso_connections (org_id, issuer, client_id, client_secret, scopes, \
         default_role, enforce, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, \
         client_id = excluded.client_id, client_secret = excluded.client_secret, \
         scopes = excluded.scopes, default_role = excluded.default_role, \
         enforce = excluded.enforce, created_at = excluded.created_at, \
         updated_at = excluded.updated_at",
    )
    .bind(conn.org_id.to_string())
    .bind(&conn.issuer)
    .bind(&conn.client_id)
    .bind(&conn.client_secret)
    .bind(scopes)
    .bind(conn.default_role.map(BuiltinRole::as_str))
    .bind(i64::from(conn.enforce))
    .bind(ms(conn.created_at))
    .bind(ms(conn.updated_at))
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    sqlx::query("DELETE FROM sso_domains WHERE org_id = ?")
        .bind(conn.org_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    for domain in conn.domains.iter().collect::<BTreeSet<_>>() {
        sqlx::query("INSERT INTO sso_domains (domain, org_id) VALUES (?, ?)")
            .bind(domain)
            .bind(conn.org_id.to_string())
            .execute(&mut *c)
            .await
            .map_err(claim_err)?;
    }
    Ok(())
}

/// Its domains go with it (`ON DELETE CASCADE`).
pub(crate) async fn delete_connection(c: &mut SqliteConnection, org: OrgId) -> StoreResult<bool> {
    let r = sqlx::query("DELETE FROM sso_connections WHERE org_id = ?")
        .bind(org.to_string())
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

/// The identity linked to (`org`, `issuer`, `subject`), compared exactly.
pub(crate) async fn subject(
    c: &mut SqliteConnection,
    org: OrgId,
    issuer: &str,
    subject: &str,
) -> StoreResult<Option<IdentityId>> {
    sqlx::query_scalar::<_, String>(
        "SELECT identity_id FROM sso_subjects WHERE org_id = ? AND issuer = ? AND subject = ?",
    )
    .bind(org.to_string())
    .bind(issuer)
    .bind(subject)
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .map(|id| uuid(&id).map(IdentityId::from_uuid))
    .transpose()
}

/// Links the subject to `identity` as of `at`, replacing an earlier link (identity and
/// time) of the same (`org`, `issuer`, `subject`).
pub(crate) async fn link_subject(
    c: &mut SqliteConnection,
    org: OrgId,
    issuer: &str,
    subject: &str,
    identity: IdentityId,
    at: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_subjects (org_id, issuer, subject, identity_id, linked_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id, issuer, subject) DO UPDATE SET \
         identity_id = excluded.identity_id, linked_at = excluded.linked_at",
    )
    .bind(org.to_string())
    .bind(issuer)
    .bind(subject)
    .bind(identity.to_string())
    .bind(ms(at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_login(c: &mut SqliteConnection, l: &SsoLogin) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, org_id, nonce, pkce_verifier, email_hint, next, \
         created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(l.state_hash.as_str())
    .bind(l.org_id.to_string())
    .bind(&l.nonce)
    .bind(&l.pkce_verifier)
    .bind(&l.email_hint)
    .bind(l.next.as_deref())
    .bind(ms(l.created_at))
    .bind(ms(l.expires_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Deletes the sign-in and returns it when it is live at `now` (`expires_at > now`, as for
/// every other expiring record), then forgets every sign-in no longer live at `now`.
/// Writers are serialised (`BEGIN IMMEDIATE`), so of two takes of one state only the first
/// finds the row.
pub(crate) async fn take_login(
    c: &mut SqliteConnection,
    state_hash: &SecretHash,
    now: Timestamp,
) -> StoreResult<Option<SsoLogin>> {
    let taken = sqlx::query("DELETE FROM sso_logins WHERE state_hash = ? RETURNING *")
        .bind(state_hash.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(login)
        .transpose()?;
    sqlx::query("DELETE FROM sso_logins WHERE expires_at <= ?")
        .bind(ms(now))
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(taken.filter(|l| l.expires_at > now))
}
