//! `/api/v1/orgs/{org}/members/{member}/…`: what admins do for one member. The member list
//! and the rest of the lifecycle build on these paths.

use super::bodies::{SignInAttemptBody, SignInAttemptList};
use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use roster_core::access::Caller;
use roster_core::ids::MembershipId;
use roster_core::model::Permission;
use roster_core::usecases::recovery::AdminResetError;

/// Resolves `{member}`: a membership id, or `me` for the caller's own membership.
async fn member_id(
    state: &AppState,
    authed: &Authed,
    org: roster_core::ids::OrgId,
    member: &str,
) -> Result<MembershipId, ApiError> {
    if member == "me" {
        let Caller::Person { identity_id, .. } = authed.caller else {
            return Err(ApiError::not_found());
        };
        let mut reads = state.roster.store.reads().await?;
        return reads
            .membership_of(org, identity_id)
            .await?
            .map(|m| m.id)
            .ok_or_else(ApiError::not_found);
    }
    member
        .parse::<MembershipId>()
        .map_err(|_| ApiError::not_found())
}

/// Sends the member a link to choose a new password (seed 001, *Send a reset link*). The
/// same member can get another only 30 seconds later.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{member}/password-reset", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 202, description = "the link is on its way"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_active`: only active members get a link", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`reset_cooldown`, with `Retry-After` in seconds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_reset_link(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    match state.roster.send_reset_link(&grant, member).await {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(AdminResetError::NotFound) => Err(ApiError::not_found()),
        Err(AdminResetError::NotActive) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_active",
            "Only active members can get a reset link.",
        )),
        Err(AdminResetError::Cooldown {
            retry_after_seconds,
        }) => Err(ApiError::too_many(
            "reset_cooldown",
            format!(
                "A reset link was just sent. Wait {retry_after_seconds} s before sending another."
            ),
            retry_after_seconds,
        )),
        Err(AdminResetError::Random(e)) => Err(e.into()),
        Err(AdminResetError::Store(e)) => Err(e.into()),
    }
}

/// The member's recent sign-in attempts, refused and successful, newest first (seed 004).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{member}/sign-in-attempts", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = SignInAttemptList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in_attempts(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<SignInAttemptList>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let attempts = state
        .roster
        .member_sign_in_attempts(&grant, member, 100)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(SignInAttemptList {
        items: attempts.iter().map(SignInAttemptBody::from).collect(),
    }))
}
