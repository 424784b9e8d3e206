//! Conversions between SQLite column values and domain types, and error mapping.

use chrono::DateTime;
use roster_core::access::PermissionCode;
use roster_core::clock::Timestamp;
use roster_core::store::{Readiness, StoreError, StoreResult};
use sqlx::migrate::Migrator;
use uuid::Uuid;

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(ms)
}

pub(crate) fn time(v: i64) -> StoreResult<Timestamp> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(format!("bad timestamp {v}")))
}

pub(crate) fn opt_time(v: Option<i64>) -> StoreResult<Option<Timestamp>> {
    v.map(time).transpose()
}

pub(crate) fn uuid(v: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(v).map_err(|_| corrupt(format!("bad uuid {v}")))
}

pub(crate) fn opt_uuid(v: Option<String>) -> StoreResult<Option<Uuid>> {
    v.as_deref().map(uuid).transpose()
}

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub(crate) fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| corrupt(e.to_string()))
}

/// An organization token's permissions as stored: a JSON array of permission codes.
pub(crate) fn permissions_json(p: &[PermissionCode]) -> StoreResult<String> {
    serde_json::to_string(&p.iter().map(PermissionCode::as_str).collect::<Vec<_>>())
        .map_err(|e| corrupt(e.to_string()))
}

/// A stored permission array back to the model; a malformed code is corrupt, not dropped.
/// (A code the catalog no longer lists stays: it grants nothing nobody else holds.)
pub(crate) fn permissions(v: &str) -> StoreResult<Vec<PermissionCode>> {
    parse(serde_json::from_str::<Vec<String>>(v))?
        .iter()
        .map(|code| parse(PermissionCode::parse(code)))
        .collect()
}

/// A counter from an INTEGER column back to the model's `u32`; a negative one is corrupt.
pub(crate) fn count(v: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| corrupt(format!("bad {what} {v}")))
}

/// Maps driver errors to the store's typed errors. Unique violations are recognised by the
/// constrained column, which SQLite names in its message (`UNIQUE constraint failed: t.c`).
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let msg = db.message();
            if db.is_unique_violation() {
                if msg.contains("organizations.slug") {
                    StoreError::SlugTaken
                } else if msg.contains("identities.email_key") {
                    StoreError::EmailTaken
                } else if msg.contains("memberships.org_id") {
                    StoreError::AlreadyMember
                } else if msg.contains(".name_key") || msg.contains("customers.external_id") {
                    StoreError::NameTaken
                } else {
                    StoreError::Duplicate
                }
            } else if matches!(db.code().as_deref(), Some("5" | "517" | "6" | "262")) {
                // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED and its variants.
                StoreError::Busy
            } else {
                StoreError::Backend(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        sqlx::Error::WorkerCrashed => {
            crate::connections::note_ended();
            StoreError::Backend(e.to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
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
