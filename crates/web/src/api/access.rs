//! The access model: the permission catalog, roles, groups, customers, entities, and the
//! check API host products call.

use super::bodies::ListParams;
use super::members::member_error;
use super::orgs::{cursor_of, org_grant, page_request};
use crate::auth::{self, Authed, CheckCaller};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use roster_core::access::{CatalogEntry, CustomerReach, Reason, Step};
use roster_core::ids::{CustomerId, EntityId, GroupId, IdentityId, RoleId};
use roster_core::model::{BuiltinRole, CustomRole, Customer, Entity, Group, Permission};
use roster_core::names::DisplayName;
use roster_core::usecases::access_admin::{CustomerInput, GroupInput, RoleInput};
use roster_core::usecases::checks::{CheckError, CheckRequest, TokenCheckOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One permission of the catalog.
#[derive(Serialize, ToSchema)]
pub struct PermissionBody {
    pub code: String,
    pub label: String,
    /// Groups permissions in the console's picker.
    pub area: String,
    /// `roster`, or `host` for a code a host product registered.
    pub source: String,
    /// Built-in roles that hold it.
    pub builtin_roles: Vec<String>,
}

impl From<&CatalogEntry> for PermissionBody {
    fn from(e: &CatalogEntry) -> Self {
        Self {
            code: e.code.to_string(),
            label: e.label.clone(),
            area: e.area.clone(),
            source: match e.source {
                roster_core::access::CodeSource::Roster => "roster",
                roster_core::access::CodeSource::Host => "host",
            }
            .to_owned(),
            builtin_roles: e
                .builtin_roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PermissionList {
    pub items: Vec<PermissionBody>,
}

/// A role: built-in (read-only, `id` is its name) or custom (`id` is a UUID).
#[derive(Serialize, ToSchema)]
pub struct RoleBody {
    pub id: String,
    pub name: String,
    pub builtin: bool,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    /// Which customers the role's permissions reach: `all`, `assigned` (the member's
    /// assigned customers, all when none is) or `none`.
    pub customers: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

fn reach(r: CustomerReach) -> String {
    match r {
        CustomerReach::All => "all",
        CustomerReach::Assigned => "assigned",
        CustomerReach::None => "none",
    }
    .to_owned()
}

fn builtin_body(state: &AppState, role: BuiltinRole) -> RoleBody {
    let (name, description, reaches) = match role {
        BuiltinRole::Admin => (
            "Admin",
            "Everything, including managing other admins.",
            CustomerReach::All,
        ),
        BuiltinRole::User => (
            "User",
            "Customer data, limited to the customers assigned (all when none is).",
            CustomerReach::Assigned,
        ),
        BuiltinRole::Marketing => (
            "Marketing",
            "The partner kit; no customer data.",
            CustomerReach::None,
        ),
        BuiltinRole::Notifications => (
            "Notifications",
            "Receives emails; can never sign in or call the API.",
            CustomerReach::None,
        ),
    };
    RoleBody {
        id: role.as_str().to_owned(),
        name: name.to_owned(),
        builtin: true,
        description: Some(description.to_owned()),
        permissions: state
            .roster
            .catalog
            .builtin(role)
            .iter()
            .map(|c| c.to_string())
            .collect(),
        customers: reach(reaches),
        created_at: None,
        updated_at: None,
    }
}

impl From<&CustomRole> for RoleBody {
    fn from(r: &CustomRole) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name.to_string(),
            builtin: false,
            description: r.description.clone(),
            permissions: r.permissions.iter().map(|c| c.to_string()).collect(),
            customers: reach(if r.customer_scoped {
                CustomerReach::Assigned
            } else {
                CustomerReach::All
            }),
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleBody>,
}

/// A custom role to create, or changes to one (absent fields stay as they are).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Codes from `GET /api/v1/permissions`; none by default.
    pub permissions: Option<Vec<String>>,
    /// Whether its customer data is limited to the member's assigned customers (default
    /// true, like User).
    pub customer_scoped: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupBody {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `user`, `marketing` and custom role ids the group grants its members.
    pub roles: Vec<String>,
    /// Members (not removed) in the group.
    pub members: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Group> for GroupBody {
    fn from(g: &Group) -> Self {
        Self {
            id: g.id.as_uuid(),
            name: g.name.to_string(),
            description: g.description.clone(),
            roles: g
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .chain(g.custom_roles.iter().map(|r| r.to_string()))
                .collect(),
            members: g.members,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub items: Vec<GroupBody>,
}

/// A group to create, or changes to one (absent fields stay as they are).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `user`, `marketing` or custom role ids; never `admin` or `notifications`.
    pub roles: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerBody {
    pub id: Uuid,
    pub name: String,
    pub external_id: Option<String>,
    /// Members (not removed) it is assigned to.
    pub assigned_members: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Customer> for CustomerBody {
    fn from(c: &Customer) -> Self {
        Self {
            id: c.id.as_uuid(),
            name: c.name.to_string(),
            external_id: c.external_id.clone(),
            assigned_members: c.assigned,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustomerList {
    pub items: Vec<CustomerBody>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// A customer to create, or changes to one (absent fields stay as they are; an empty
/// `external_id` clears it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    pub name: Option<String>,
    /// The host product's id for it; unique in the organization.
    pub external_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EntityBody {
    pub id: Uuid,
    pub name: String,
    /// Members (not removed) in the entity.
    pub members: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Entity> for EntityBody {
    fn from(e: &Entity) -> Self {
        Self {
            id: e.id.as_uuid(),
            name: e.name.to_string(),
            members: e.members,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EntityList {
    pub items: Vec<EntityBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityRequest {
    pub name: Option<String>,
}

/// "May this identity use this permission (on this customer) here?"
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    pub identity_id: Uuid,
    /// A code from `GET /api/v1/permissions`.
    pub permission: String,
    pub customer_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    pub allowed: bool,
    /// `granted`, `not_a_member`, `not_active`, `notifications_only`,
    /// `permission_not_held`, `customer_not_assigned`, `no_customer_access` or
    /// `unknown_customer`.
    pub reason: String,
}

/// One step of an explanation: `membership`, `permission` or `customer`.
#[derive(Serialize, ToSchema)]
pub struct StepBody {
    pub check: String,
    pub passed: bool,
    pub detail: String,
    /// On the `permission` step: each role granting it, how it is held, and which
    /// customers it reaches.
    #[schema(value_type = Vec<Object>)]
    pub grants: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct ExplainAnswer {
    pub allowed: bool,
    pub reason: String,
    pub steps: Vec<StepBody>,
}

fn reason_code(r: Reason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn name_of(v: Option<&str>, what: &str) -> Result<Option<DisplayName>, ApiError> {
    v.map(DisplayName::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_name", format!("The {what} name: {e}")))
}

fn path_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse::<T>().map_err(|_| ApiError::not_found())
}

/// The permission catalog: Roster's own codes and those the host product registered in
/// `roster.toml`, each with a label and an area.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "access",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, body = PermissionList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn permissions(State(state): State<AppState>, _authed: Authed) -> Json<PermissionList> {
    Json(PermissionList {
        items: state
            .roster
            .catalog
            .entries()
            .iter()
            .map(PermissionBody::from)
            .collect(),
    })
}

/// The organization's roles: the four built-in ones, then its custom roles by name.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/roles", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = RoleList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_roles(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<RoleList>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    let custom = state.roster.custom_roles(&view).await?;
    let items = BuiltinRole::ALL
        .into_iter()
        .map(|r| builtin_body(&state, r))
        .chain(custom.iter().map(RoleBody::from))
        .collect();
    Ok(Json(RoleList { items }))
}

/// Creates a custom role. It holds only the permissions given, each from the catalog and
/// each held by the caller.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/roles", tag = "access", request_body = RoleRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, body = RoleBody),
        (status = 400, description = "`unknown_permission`, `invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`, and every permission given", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`role_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_role(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<RoleRequest>,
) -> Result<(StatusCode, Json<RoleBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let input = RoleInput {
        name: name_of(body.name.as_deref(), "role")?,
        description: body.description,
        permissions: body.permissions,
        customer_scoped: body.customer_scoped,
    };
    let role = state
        .roster
        .create_custom_role(&grant, &authed.caller, input)
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&role).into())))
}

/// One role: a built-in one by name (`admin`, …) or a custom one by id.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/roles/{role}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("role" = String, Path, description = "a built-in role's name or a custom role's id")),
    responses(
        (status = 200, body = RoleBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_role(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, role)): ApiPath<(String, String)>,
) -> Result<Json<RoleBody>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    if let Ok(builtin) = BuiltinRole::parse(&role) {
        return Ok(Json(builtin_body(&state, builtin)));
    }
    let found = state
        .roster
        .custom_role(&view, path_id::<RoleId>(&role)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&found).into()))
}

fn read_only(role: &str) -> Result<RoleId, ApiError> {
    if BuiltinRole::parse(role).is_ok() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "role_read_only",
            "Built-in roles cannot be changed or deleted; create a custom role instead.",
        ));
    }
    path_id::<RoleId>(role)
}

/// Renames a custom role or replaces its permissions; holders' next request sees it.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/roles/{role}", tag = "access", request_body = RoleRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("role" = String, Path, description = "a custom role's id")),
    responses(
        (status = 200, body = RoleBody),
        (status = 400, description = "`unknown_permission`, `invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`, and every permission given", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`role_read_only` (built-in), `role_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_role(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, role)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RoleRequest>,
) -> Result<Json<RoleBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let id = read_only(&role)?;
    let input = RoleInput {
        name: name_of(body.name.as_deref(), "role")?,
        description: body.description,
        permissions: body.permissions,
        customer_scoped: body.customer_scoped,
    };
    let role = state
        .roster
        .update_custom_role(&grant, &authed.caller, id, input)
        .await
        .map_err(member_error)?;
    Ok(Json((&role).into()))
}

/// Deletes a custom role that no member and no group holds.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/roles/{role}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("role" = String, Path, description = "a custom role's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`role_in_use`: reassign its holders first; `role_read_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_role(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, role)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let id = read_only(&role)?;
    state
        .roster
        .delete_custom_role(&grant, &authed.caller, id)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's groups and the roles each grants.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/groups", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = GroupList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_groups(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<GroupList>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    let groups = state.roster.groups(&view).await?;
    Ok(Json(GroupList {
        items: groups.iter().map(GroupBody::from).collect(),
    }))
}

/// Creates a group; its roles apply to each member put in it.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/groups", tag = "access", request_body = GroupRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, body = GroupBody),
        (status = 400, description = "`invalid_role`, `invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`, and every permission of the roles given", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`group_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_group(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<GroupRequest>,
) -> Result<(StatusCode, Json<GroupBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let input = GroupInput {
        name: name_of(body.name.as_deref(), "group")?,
        description: body.description,
        roles: body.roles,
    };
    let group = state
        .roster
        .create_group(&grant, &authed.caller, input)
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&group).into())))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/groups/{group}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("group" = String, Path, description = "group id")),
    responses(
        (status = 200, body = GroupBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_group(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, group)): ApiPath<(String, String)>,
) -> Result<Json<GroupBody>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    let found = state
        .roster
        .group(&view, path_id::<GroupId>(&group)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&found).into()))
}

/// Renames a group or replaces the roles it grants.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/groups/{group}", tag = "access", request_body = GroupRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("group" = String, Path, description = "group id")),
    responses(
        (status = 200, body = GroupBody),
        (status = 400, description = "`invalid_role`, `invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`group_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_group(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, group)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<GroupRequest>,
) -> Result<Json<GroupBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let id = path_id::<GroupId>(&group)?;
    let input = GroupInput {
        name: name_of(body.name.as_deref(), "group")?,
        description: body.description,
        roles: body.roles,
    };
    let group = state
        .roster
        .update_group(&grant, &authed.caller, id, input)
        .await
        .map_err(member_error)?;
    Ok(Json((&group).into()))
}

/// Deletes a group; its members lose what it granted from their next request.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/groups/{group}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("group" = String, Path, description = "group id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `roles.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_group(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, group)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::RolesManage).await?;
    let id = path_id::<GroupId>(&group)?;
    state
        .roster
        .delete_group(&grant, &authed.caller, id)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The customers the caller may see (seed 002): all of them, or only their assigned ones
/// when their access is limited to assignments; `total` counts only those.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/customers", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"), ListParams),
    responses(
        (status = 200, body = CustomerList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `customers.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_customers(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<CustomerList>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::CustomersRead).await?;
    let page = state
        .roster
        .list_customers(&grant, page_request(&params)?)
        .await?;
    Ok(Json(CustomerList {
        items: page.items.iter().map(CustomerBody::from).collect(),
        next_cursor: cursor_of(page.next_after),
        total: page.total,
    }))
}

/// Creates a customer.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/customers", tag = "access", request_body = CustomerRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, body = CustomerBody),
        (status = 400, description = "`invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `customers.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`customer_external_id_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_customer(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<CustomerRequest>,
) -> Result<(StatusCode, Json<CustomerBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::CustomersManage).await?;
    let input = CustomerInput {
        name: name_of(body.name.as_deref(), "customer")?,
        external_id: Some(body.external_id),
    };
    let customer = state
        .roster
        .create_customer(&grant, &authed.caller, input)
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&customer).into())))
}

/// One customer the caller may see.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/customers/{customer}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("customer" = String, Path, description = "customer id")),
    responses(
        (status = 200, body = CustomerBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `customers.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, also for a customer beyond the caller's assignments", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_customer(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, customer)): ApiPath<(String, String)>,
) -> Result<Json<CustomerBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::CustomersRead).await?;
    let found = state
        .roster
        .customer(&grant, path_id::<CustomerId>(&customer)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&found).into()))
}

/// Renames a customer or changes its external id.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/customers/{customer}", tag = "access", request_body = CustomerRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("customer" = String, Path, description = "customer id")),
    responses(
        (status = 200, body = CustomerBody),
        (status = 400, description = "`invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `customers.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`customer_external_id_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_customer(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, customer)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CustomerRequest>,
) -> Result<Json<CustomerBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::CustomersManage).await?;
    let id = path_id::<CustomerId>(&customer)?;
    let input = CustomerInput {
        name: name_of(body.name.as_deref(), "customer")?,
        external_id: body.external_id.map(Some),
    };
    let customer = state
        .roster
        .update_customer(&grant, &authed.caller, id, input)
        .await
        .map_err(member_error)?;
    Ok(Json((&customer).into()))
}

/// Deletes a customer assigned to nobody.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/customers/{customer}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("customer" = String, Path, description = "customer id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `customers.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`customer_in_use`: change the members' customer selection first", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_customer(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, customer)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::CustomersManage).await?;
    let id = path_id::<CustomerId>(&customer)?;
    state
        .roster
        .delete_customer(&grant, &authed.caller, id)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's entities (seed 004).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/entities", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = EntityList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_entities(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<EntityList>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    let entities = state.roster.entities(&view).await?;
    Ok(Json(EntityList {
        items: entities.iter().map(EntityBody::from).collect(),
    }))
}

/// Creates an entity.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/entities", tag = "access", request_body = EntityRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 201, body = EntityBody),
        (status = 400, description = "`invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_entity(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<EntityRequest>,
) -> Result<(StatusCode, Json<EntityBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let name = name_of(body.name.as_deref(), "entity")?;
    let entity = state
        .roster
        .create_entity(&grant, &authed.caller, name)
        .await
        .map_err(member_error)?;
    Ok((StatusCode::CREATED, Json((&entity).into())))
}

/// One entity.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/entities/{entity}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("entity" = String, Path, description = "entity id")),
    responses(
        (status = 200, body = EntityBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_entity(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, entity)): ApiPath<(String, String)>,
) -> Result<Json<EntityBody>, ApiError> {
    let view = org_grant(&state, &authed, &org, Permission::UsersRead)
        .await?
        .view();
    let found = state
        .roster
        .entity(&view, path_id::<EntityId>(&entity)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json((&found).into()))
}

/// Renames an entity.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/entities/{entity}", tag = "access", request_body = EntityRequest,
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("entity" = String, Path, description = "entity id")),
    responses(
        (status = 200, body = EntityBody),
        (status = 400, description = "`invalid_name`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity_name_taken`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_entity(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, entity)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EntityRequest>,
) -> Result<Json<EntityBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let id = path_id::<EntityId>(&entity)?;
    let name = name_of(body.name.as_deref(), "entity")?;
    let entity = state
        .roster
        .rename_entity(&grant, &authed.caller, id, name)
        .await
        .map_err(member_error)?;
    Ok(Json((&entity).into()))
}

/// Deletes an entity no member is in and no admin scope names.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/entities/{entity}", tag = "access",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("entity" = String, Path, description = "entity id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`entity_in_use`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_entity(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, entity)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let id = path_id::<EntityId>(&entity)?;
    state
        .roster
        .delete_entity(&grant, &authed.caller, id)
        .await
        .map_err(member_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn run_check(
    state: &AppState,
    caller: CheckCaller,
    org: Result<ApiPath<String>, ApiError>,
    body: Result<ApiJson<CheckBody>, ApiError>,
    explain: bool,
) -> Result<(Reason, Vec<Step>), ApiError> {
    let authed = match caller {
        CheckCaller::Authed(authed) => *authed,
        CheckCaller::Bearer(raw) => {
            if let (Ok(ApiPath(org)), Ok(ApiJson(body))) = (&org, &body) {
                match state
                    .roster
                    .check_by_token(&raw, org, &check_request(body), explain)
                    .await
                    .map_err(check_error)?
                {
                    TokenCheckOutcome::Decided(outcome) => {
                        return Ok((outcome.reason, outcome.steps))
                    }
                    TokenCheckOutcome::Unauthenticated => return Err(ApiError::unauthenticated()),
                    TokenCheckOutcome::Elsewhere => {}
                }
            }
            // As on every other route: a caller is authenticated before their path and
            // body are judged.
            auth::bearer_authed(state, &raw).await?
        }
    };
    let (ApiPath(org), ApiJson(body)) = (org?, body?);
    let grant = org_grant(state, &authed, &org, Permission::AccessCheck).await?;
    let outcome = state
        .roster
        .check_access(&grant, &check_request(&body), explain)
        .await
        .map_err(check_error)?;
    Ok((outcome.reason, outcome.steps))
}

fn check_request(body: &CheckBody) -> CheckRequest {
    CheckRequest {
        identity: IdentityId::from_uuid(body.identity_id),
        permission: body.permission.clone(),
        customer: body.customer_id.map(CustomerId::from_uuid),
    }
}

fn check_error(e: CheckError) -> ApiError {
    match e {
        CheckError::Forbidden => ApiError::forbidden(),
        CheckError::UnknownPermission(code) => ApiError::bad_request(
            "unknown_permission",
            format!("'{code}' is not in the permission catalog (GET /api/v1/permissions)."),
        ),
        CheckError::Store(e) => e.into(),
    }
}

/// For host products: may this identity use this permission (on this customer) in the
/// organization? Read fresh on every call: a change decides the very next check.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/check", tag = "access", request_body = CheckBody,
    security(("bearer" = []), ("session" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = CheckAnswer),
        (status = 400, description = "`unknown_permission`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `access.check`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check(
    State(state): State<AppState>,
    caller: CheckCaller,
    org: Result<ApiPath<String>, ApiError>,
    body: Result<ApiJson<CheckBody>, ApiError>,
) -> Result<Json<CheckAnswer>, ApiError> {
    let (reason, _) = run_check(&state, caller, org, body, false).await?;
    Ok(Json(CheckAnswer {
        allowed: reason.allowed(),
        reason: reason_code(reason),
    }))
}

/// The same question, answered step by step: membership, the roles and groups that grant
/// the permission, and the customer assignment that decided.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/check/explain", tag = "access", request_body = CheckBody,
    security(("bearer" = []), ("session" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = ExplainAnswer),
        (status = 400, description = "`unknown_permission`, `invalid_body`, `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `access.check`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn explain(
    State(state): State<AppState>,
    caller: CheckCaller,
    org: Result<ApiPath<String>, ApiError>,
    body: Result<ApiJson<CheckBody>, ApiError>,
) -> Result<Json<ExplainAnswer>, ApiError> {
    let (reason, steps) = run_check(&state, caller, org, body, true).await?;
    Ok(Json(ExplainAnswer {
        allowed: reason.allowed(),
        reason: reason_code(reason),
        steps: steps
            .into_iter()
            .map(|s| StepBody {
                check: s.check.to_owned(),
                passed: s.passed,
                detail: s.detail,
                grants: serde_json::to_value(&s.grants).unwrap_or_default(),
            })
            .collect(),
    }))
}

/// One permission a member holds, and which roles grant it.
#[derive(Serialize, ToSchema)]
pub struct HeldPermissionBody {
    pub code: String,
    pub label: String,
    pub area: String,
    /// Each role granting it: `role` (built-in or custom), `via` (the member, or a group)
    /// and the `customers` it reaches.
    #[schema(value_type = Vec<Object>)]
    pub granted_by: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct MemberPermissionsBody {
    /// Whether they apply now: the member is active and not notifications-only.
    pub in_force: bool,
    pub items: Vec<HeldPermissionBody>,
}

/// A member's effective permissions, by area, with the roles and groups that grant each
/// (the member page's *Permissions* tab). Every member may read their own (`me`); others
/// need `users.read`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{member}/permissions", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"),
           ("member" = String, Path, description = "membership id, or `me`")),
    responses(
        (status = 200, body = MemberPermissionsBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn member_permissions(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<MemberPermissionsBody>, ApiError> {
    let (view, id) = super::members::member_view(&state, &authed, &org, &member).await?;
    let found = state
        .roster
        .member_permissions(&view, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(MemberPermissionsBody {
        in_force: found.in_force,
        items: found
            .items
            .iter()
            .map(|p| HeldPermissionBody {
                code: p.entry.code.to_string(),
                label: p.entry.label.clone(),
                area: p.entry.area.clone(),
                granted_by: serde_json::to_value(&p.grants).unwrap_or_default(),
            })
            .collect(),
    }))
}
