//! `/api/v1/me` and sign-out: the signed-in person.

use super::bodies::{MeBody, MembershipBody};
use crate::auth::Authed;
use crate::error::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::access::Caller;

/// The signed-in person and their organizations.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("session" = [])),
    responses(
        (status = 200, body = MeBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: operator tokens have no person", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(State(state): State<AppState>, authed: Authed) -> Result<Json<MeBody>, ApiError> {
    let Caller::Person { identity_id, .. } = authed.caller else {
        return Err(ApiError::forbidden());
    };
    let (identity, memberships) = state
        .roster
        .me(identity_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(Json(MeBody {
        identity: (&identity).into(),
        memberships: memberships
            .iter()
            .map(|(m, o)| MembershipBody::new(m, o))
            .collect(),
    }))
}

/// Ends this session and clears its cookie.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", security(("session" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`csrf_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_out(State(state): State<AppState>, authed: Authed) -> Result<Response, ApiError> {
    if let Some(session) = &authed.session {
        state.roster.end_session(session).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.web.clear_session_cookie())],
    )
        .into_response())
}
