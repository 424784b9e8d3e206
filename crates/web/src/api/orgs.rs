//! `/api/v1/orgs`: organizations.

use super::bodies::{CreateOrg, ListParams, OrgBody, OrgList, UpdateOrg};
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use roster_core::access;
use roster_core::ids::OrgId;
use roster_core::model::{Membership, OrgKind, Organization, PageRequest, Permission};
use roster_core::names::{DisplayName, Slug};
use roster_core::store::StoreError;
use roster_core::usecases::orgs::{self, CreateOrgError, NewOrg, OrgPatch, UpdateOrgError};

/// Resolves `{org}` (an id or a slug) to an organization the caller may see. Absent and
/// invisible answer alike (404).
pub(crate) async fn visible_org(
    state: &AppState,
    authed: &Authed,
    org: &str,
) -> Result<Organization, ApiError> {
    if let Some((_, found)) = authed.membership_in(org) {
        held_in(state, authed, org).await?;
        return Ok(found.clone());
    }
    let mut reads = state.roster.store.reads().await?;
    let found = orgs::find_org(&mut *reads, org)
        .await?
        .ok_or_else(ApiError::not_found)?;
    access::view_org(
        &state.roster.catalog,
        &state.roster.definitions,
        &mut *reads,
        &authed.caller,
        found.id,
    )
    .await?;
    Ok(found)
}

/// Resolves `{org}` and requires `permission` there: 404 for absent or invisible, 403 for
/// a member without the permission.
pub(crate) async fn org_grant(
    state: &AppState,
    authed: &Authed,
    org: &str,
    permission: Permission,
) -> Result<access::OrgGrant, ApiError> {
    let (org_id, held) = held_in(state, authed, org).await?;
    Ok(access::grant(held, &authed.caller, org_id, permission)?)
}

/// What the caller holds in `{org}`, and its id, read at most once per request and
/// organization ([`crate::auth::HeldMemo`]). Authentication already read most of it: a
/// person's organizations and memberships come with their session, and an organization
/// token's holdings with the token. Otherwise (an operator, a token naming its
/// organization by slug, a person outside the organization) it is read here, on one
/// connection.
pub(crate) async fn held_in(
    state: &AppState,
    authed: &Authed,
    org: &str,
) -> Result<(OrgId, access::Held), ApiError> {
    if let Some((m, found)) = authed.membership_in(org) {
        let held = held_through(state, authed, m, found)
            .await?
            .ok_or_else(ApiError::not_found)?;
        return Ok((found.id, held));
    }
    if let Some((id, held)) = org
        .parse::<OrgId>()
        .ok()
        .or_else(|| Some(authed.token_org_named(org)?.id))
        .and_then(|id| Some((id, authed.held.get(id)?)))
    {
        return Ok((id, held));
    }
    let mut reads = state.roster.store.reads().await?;
    let found = orgs::find_org(&mut *reads, org)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if let Some(held) = authed.held.get(found.id) {
        return Ok((found.id, held));
    }
    let held = access::held(
        &state.roster.catalog,
        &state.roster.definitions,
        &mut *reads,
        &authed.caller,
        found.id,
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    authed.held.put(found.id, &held);
    Ok((found.id, held))
}

/// What a person holds through `m`, their membership in `org` as read with their session,
/// from the request's memo or read and kept there; `None` when it admits them to nothing
/// (deactivated, invited, notifications only).
pub(crate) async fn held_through(
    state: &AppState,
    authed: &Authed,
    m: &Membership,
    org: &Organization,
) -> Result<Option<access::Held>, StoreError> {
    if let Some(held) = authed.held.get(m.org_id) {
        return Ok(Some(held));
    }
    let held = access::held_by_person(
        &state.roster.catalog,
        &state.roster.definitions,
        &*state.roster.store,
        &authed.caller,
        m,
        org.access_version,
    )
    .await?;
    if let Some(held) = &held {
        authed.held.put(m.org_id, held);
    }
    Ok(held)
}

pub(crate) fn cursor_of(after: Option<uuid::Uuid>) -> Option<String> {
    after.map(|u| u.simple().to_string())
}

pub(crate) fn page_request(params: &ListParams) -> Result<PageRequest, ApiError> {
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            uuid::Uuid::try_parse(c)
                .map_err(|_| ApiError::bad_request("invalid_cursor", "The cursor is not valid."))
        })
        .transpose()?;
    if params.limit == Some(0) || params.limit.is_some_and(|l| l > PageRequest::MAX_LIMIT) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 200.",
        ));
    }
    Ok(PageRequest::new(params.limit, after))
}

/// Creates an organization (operator only).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "organizations", request_body = CreateOrg,
    security(("bearer" = [])),
    responses(
        (status = 201, body = OrgBody),
        (status = 400, description = "`invalid_name`, `invalid_slug`, `invalid_kind`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slug_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_org(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<CreateOrg>,
) -> Result<(StatusCode, Json<OrgBody>), ApiError> {
    let grant = access::require_operator(&authed.caller)?;
    let name = DisplayName::parse(&body.name)
        .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?;
    let slug = body
        .slug
        .as_deref()
        .map(Slug::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_slug", e.to_string()))?;
    let kind = OrgKind::parse(&body.kind)
        .map_err(|e| ApiError::bad_request("invalid_kind", e.to_string()))?;
    let org = state
        .roster
        .create_org(&grant, NewOrg { name, slug, kind })
        .await
        .map_err(|e| match e {
            CreateOrgError::SlugTaken(s) => ApiError::new(
                StatusCode::CONFLICT,
                "slug_taken",
                format!("The slug '{s}' is taken; choose another."),
            ),
            CreateOrgError::NoSlug(e) => ApiError::bad_request("invalid_slug", e.to_string()),
            CreateOrgError::Store(e) => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json((&org).into())))
}

/// Lists organizations (operator only).
#[utoipa::path(get, path = "/api/v1/orgs", tag = "organizations", params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OrgList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orgs(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<OrgList>, ApiError> {
    let grant = access::require_operator(&authed.caller)?;
    let page = state
        .roster
        .list_orgs(&grant, page_request(&params)?)
        .await?;
    Ok(Json(OrgList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: cursor_of(page.next_after),
        total: page.total,
    }))
}

/// One organization, by id or slug (operators, and active members of it).
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "organizations",
    params(("org" = String, Path, description = "id or slug")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = OrgBody),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_org(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<OrgBody>, ApiError> {
    let org = visible_org(&state, &authed, &org).await?;
    Ok(Json((&org).into()))
}

/// Renames an organization or changes its settings (`org.settings`).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "organizations", request_body = UpdateOrg,
    params(("org" = String, Path, description = "id or slug")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = OrgBody),
        (status = 400, description = "`invalid_name`, `invalid_settings`, `malformed_json`, `invalid_body`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`, `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_org(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateOrg>,
) -> Result<Json<OrgBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let name = body
        .name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?;
    let org = state
        .roster
        .update_org(
            &grant,
            OrgPatch {
                name,
                settings: body.settings,
            },
        )
        .await
        .map_err(|e| match e {
            UpdateOrgError::NotFound => ApiError::not_found(),
            UpdateOrgError::InvalidSettings(d) => ApiError::bad_request("invalid_settings", d),
            UpdateOrgError::Store(e) => e.into(),
        })?;
    Ok(Json((&org).into()))
}
