//! `PUT /api/v1/orgs/{org}/members/{member}/groups`, `/customers`, `/entity` and
//! `/admin-scope`: what a member is given besides roles, each replaced as a whole.

use super::bodies::{AdminScopeBody, CustomersBody, EntityBody, GroupsBody, MemberBody};
use super::members::{member_error, member_id};
use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use roster_core::ids::{CustomerId, EntityId, GroupId};
use roster_core::model::Permission;

/// Replaces the groups a member is in; the groups' roles apply from their next request.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/groups", tag = "members",
    request_body = GroupsBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`unknown_group`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`, and every permission of the groups' roles), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, also outside a scoped admin's entities", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_groups(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<GroupsBody>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let groups: Vec<GroupId> = body.groups.into_iter().map(GroupId::from_uuid).collect();
    let after = state
        .roster
        .set_member_groups(&grant, &authed.caller, member, &groups)
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}

/// Replaces the customers assigned to a member (seed 002, *Confirm selection*). With none,
/// customer-scoped roles reach every customer of the organization.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/customers", tag = "members",
    request_body = CustomersBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = CustomersBody),
        (status = 400, description = "`unknown_customer`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, also outside a scoped admin's entities", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_customers(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CustomersBody>,
) -> Result<Json<CustomersBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let customers: Vec<CustomerId> = body
        .customers
        .into_iter()
        .map(CustomerId::from_uuid)
        .collect();
    let after = state
        .roster
        .set_member_customers(&grant, &authed.caller, member, &customers)
        .await
        .map_err(member_error)?;
    Ok(Json(CustomersBody {
        customers: after.iter().map(|c| c.as_uuid()).collect(),
    }))
}

/// Sets or clears a member's entity (seed 004). A scoped admin moves members only between
/// their own entities.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/entity", tag = "members",
    request_body = EntityBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`unknown_entity`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`), `outside_admin_scope`, `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, also outside a scoped admin's entities", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_entity(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EntityBody>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let after = state
        .roster
        .set_member_entity(
            &grant,
            &authed.caller,
            member,
            body.entity.map(EntityId::from_uuid),
        )
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}

/// Replaces an admin's scope (seed 004): the entities whose members they manage; empty for
/// the whole organization. Only an admin of the whole organization sets it.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/admin-scope", tag = "members",
    request_body = AdminScopeBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`unknown_entity`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage` as an admin of the whole organization), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the organization would have no admin of the whole organization left", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_admin_scope(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AdminScopeBody>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let entities: Vec<EntityId> = body.entities.into_iter().map(EntityId::from_uuid).collect();
    let after = state
        .roster
        .set_member_admin_scope(&grant, &authed.caller, member, &entities)
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}
