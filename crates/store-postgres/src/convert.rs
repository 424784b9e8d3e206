//! Conversions between PostgreSQL column values and domain types, and error mapping.
//!
//! Ids and times need no conversion here (UUID and TIMESTAMPTZ bind as `Uuid` and
//! `DateTime<Utc>`; core truncates times to milliseconds, which TIMESTAMPTZ's microseconds
//! hold exactly). What is left: counters, which are `u32` in the model but signed in SQL, and
//! token permissions, stored as a JSON array of codes.

use roster_core::access::PermissionCode;
use roster_core::store::{Readiness, StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::borrow::Cow;

pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(map_err)
}

/// The column `col` named with `prefix` (a join's `a_id`, ...): joined only when there is
/// a prefix, so a mapping read without one allocates no names.
pub(crate) fn prefixed<'a>(prefix: &str, col: &'a str) -> Cow<'a, str> {
    match prefix {
        "" => Cow::Borrowed(col),
        _ => Cow::Owned(format!("{prefix}{col}")),
    }
}

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub(crate) fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| corrupt(e.to_string()))
}

/// A stored counter back to the model's `u32`; a negative one is corrupt.
pub(crate) fn count(v: i32, what: &str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| corrupt(format!("bad {what} {v}")))
}

/// A counter into an INTEGER column. Refused rather than clamped when it does not fit, so
/// the row read back is always the row written.
pub(crate) fn int(v: u32, what: &str) -> StoreResult<i32> {
    i32::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} is out of range")))
}

/// An organization token's permissions as stored: a JSON array of permission codes.
pub(crate) fn permissions_json(p: &[PermissionCode]) -> serde_json::Value {
    serde_json::Value::Array(p.iter().map(|p| p.as_str().into()).collect())
}

/// A stored permission array back to the model; a malformed code is corrupt, not dropped.
/// (A code the catalog no longer lists stays: it grants nothing nobody else holds.)
pub(crate) fn permissions(v: serde_json::Value) -> StoreResult<Vec<PermissionCode>> {
    parse(serde_json::from_value::<Vec<String>>(v))?
        .iter()
        .map(|code| parse(PermissionCode::parse(code)))
        .collect()
}

/// Maps driver errors to the store's typed errors. Unique violations are recognised by the
/// constraint name PostgreSQL reports, which the migration sets explicitly.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        // A connection the server or the network dropped (a restart, a failover, a proxy's
        // idle timeout) fails the request it was handed to, but nothing on it was committed:
        // try again, as with a full pool. (A lost COMMIT is the exception; see `Tx::commit`.)
        // First, because the server says so with a database error (57P01 and the like).
        _ if connection_lost(&e) => StoreError::Busy,
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                match db.constraint() {
                    Some("organizations_slug") => StoreError::SlugTaken,
                    Some("identities_email_key") => StoreError::EmailTaken,
                    Some("memberships_live") => StoreError::AlreadyMember,
                    Some(
                        "roles_name" | "member_groups_name" | "entities_name"
                        | "customers_external",
                    ) => StoreError::NameTaken,
                    _ => StoreError::Duplicate,
                }
            } else if matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03")) {
                // serialization_failure, deadlock_detected, lock_not_available: the
                // transaction lost a race and may simply be retried.
                StoreError::Busy
            } else {
                StoreError::Backend(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::Decode(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Whether the error says the connection to the server is gone: an I/O error on the socket,
/// a connection exception (SQLSTATE class 08), or the server ending the session because it
/// shuts down or an operator terminated it (57P01, 57P02; 57P03 while it starts up).
pub(crate) fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

pub(crate) fn readiness(migrator: &Migrator, applied: Vec<i64>) -> Readiness {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    Readiness {
        reachable: true,
        pending_migrations: known
            .iter()
            .copied()
            .filter(|v| !applied.contains(v))
            .collect(),
        unknown_migrations: applied.into_iter().filter(|v| !known.contains(v)).collect(),
    }
}
