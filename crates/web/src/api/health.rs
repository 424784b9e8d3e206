//! Liveness and readiness, for load balancers and orchestrators.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store is reachable and its schema is the one this build expects.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Ready),
    (status = 503, description = "`not_ready`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let store = &state.roster.store;
    let readiness = store.readiness().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("not_ready", "The store is not reachable.")
    })?;
    if !readiness.reachable {
        return Err(ApiError::unavailable(
            "not_ready",
            "The store is not reachable.",
        ));
    }
    if !readiness.pending_migrations.is_empty() {
        return Err(ApiError::unavailable(
            "not_ready",
            format!(
                "Migrations not applied: {:?}.",
                readiness.pending_migrations
            ),
        ));
    }
    if !readiness.unknown_migrations.is_empty() {
        return Err(ApiError::unavailable(
            "not_ready",
            format!(
                "The database has migrations this build does not know ({:?}); a newer Roster migrated it.",
                readiness.unknown_migrations
            ),
        ));
    }
    Ok(Json(Ready {
        status: "ready",
        backend: store.backend(),
    }))
}
