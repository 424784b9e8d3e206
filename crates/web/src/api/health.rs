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

/// Gauges in the Prometheus text format: the email outbox's backlog and failures, so a
/// mail server that is down shows here while `/readyz` stays ready (nothing is lost; the
/// outbox keeps every message until it is delivered).
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
    (status = 503, description = "`not_ready`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn metrics(
    State(state): State<AppState>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    let counts = async { state.roster.store.reads().await?.outbox_counts().await }
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "metrics: the store is not reachable");
            ApiError::unavailable("not_ready", "The store is not reachable.")
        })?;
    let age = counts
        .oldest_pending_at
        .map(|at| (state.roster.clock.now() - at).num_seconds().max(0))
        .unwrap_or(0);
    let body = format!(
        "# HELP roster_outbox_pending Emails waiting for delivery (or for their next attempt).\n\
         # TYPE roster_outbox_pending gauge\n\
         roster_outbox_pending {}\n\
         # HELP roster_outbox_failed Emails given up after the last retry; see `roster mail list --status failed`.\n\
         # TYPE roster_outbox_failed gauge\n\
         roster_outbox_failed {}\n\
         # HELP roster_outbox_oldest_pending_seconds Age of the oldest email waiting, 0 when none waits.\n\
         # TYPE roster_outbox_oldest_pending_seconds gauge\n\
         roster_outbox_oldest_pending_seconds {age}\n",
        counts.pending, counts.failed
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    ))
}
