//! `/api/v1/orgs/{org}/invitations` and `/members/{member}/invitation`: inviting people,
//! resending and cancelling their invitations (seed 001).

use super::bodies::{InviteBody, MemberBody};
use super::members::{member_error, member_id};
use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use roster_core::email::Email;
use roster_core::ids::{CustomerId, EntityId, GroupId};
use roster_core::model::Permission;
use roster_core::names::DisplayName;
use roster_core::usecases::inviting::InviteInput;

/// Invites a person (seed 001, *Invite user* → *Send invitation*). A new person gets an
/// *Invite pending* membership and an invitation email with a single-use link; an email
/// that already has a Roster account becomes an active member at once and is told so.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invitations", tag = "members",
    request_body = InviteBody,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, description = "the new member: `invited`, or `active` for an existing account", body = MemberBody),
        (status = 400, description = "`invalid_email`, `invalid_name`, `invalid_role`, `unknown_group`, `unknown_customer`, `unknown_entity`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.invite`, and every permission of the roles and groups given), `outside_admin_scope` (a scoped admin inviting outside their entities), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member`: active or deactivated already; `invitation_pending`: use resend", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<MemberBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersInvite).await?;
    let input = InviteInput {
        email: Email::parse(&body.email)
            .map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?,
        name: body
            .name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?,
        roles: body.roles,
        groups: body.groups.into_iter().map(GroupId::from_uuid).collect(),
        customers: body
            .customers
            .into_iter()
            .map(CustomerId::from_uuid)
            .collect(),
        entity: body.entity.map(EntityId::from_uuid),
    };
    let invited = state
        .roster
        .invite(
            &grant,
            &authed.caller,
            authed.identity.as_ref().map(|i| i.display_name()),
            input,
        )
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&invited.member).into())))
}

/// Sends a pending member a new invitation link (seed 001, *Resend email*). The old link
/// stops working; roles and everything else assigned stay. One email per member every 30
/// seconds.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{member}/invitation/resend", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id"),
    ),
    responses(
        (status = 202, description = "the new link is on its way"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.invite`), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_pending`: the member has no pending invitation", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`resend_cooldown`, with `Retry-After` in seconds", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resend(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersInvite).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    state
        .roster
        .resend_invitation(&grant, &authed.caller, member)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::ACCEPTED)
}

/// Cancels a pending invitation: the link stops working and the pending member goes. The
/// audit trail keeps both.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{member}/invitation", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id"),
    ),
    responses(
        (status = 204, description = "cancelled"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.invite`; an admin's invitation is cancelled only by an admin), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_pending`: the member has no pending invitation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersInvite).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    state
        .roster
        .cancel_invitation(&grant, &authed.caller, member)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT)
}
