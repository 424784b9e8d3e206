//! `/api/v1/orgs/{org}/members/{member}/…`: what admins do for one member, and a member
//! leaving. The member list and the rest of the lifecycle build on these paths.

use super::bodies::{
    ListParams, MemberBody, MemberDetailBody, MemberEditedBody, MemberList, MemberListParams,
    MemberPatchBody, RolesBody, SignInAttemptBody, SignInAttemptList,
};
use super::orgs::{cursor_of, held_in, org_grant, page_request};
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use roster_core::access::{self, Caller, OrgView};
use roster_core::email::Email;
use roster_core::ids::{CustomerId, EntityId, GroupId, MembershipId, RoleId};
use roster_core::model::{BuiltinRole, MembershipStatus, Permission};
use roster_core::names::{search_key, DisplayName};
use roster_core::store::MemberFilter;
use roster_core::usecases::members::{MemberEdit, MemberError};
use roster_core::usecases::recovery::AdminResetError;

/// Resolves `{member}`: a membership id, or `me` for the caller's own membership.
pub(crate) async fn member_id(
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

/// The view and the member a read of `{member}` needs: one's own (`me`) takes only being a
/// member; another's takes `users.read`, within the caller's reach.
pub(crate) async fn member_view(
    state: &AppState,
    authed: &Authed,
    org: &str,
    member: &str,
) -> Result<(OrgView, MembershipId), ApiError> {
    let view = if member == "me" {
        org_view(state, authed, org).await?
    } else {
        org_grant(state, authed, org, Permission::UsersRead)
            .await?
            .view()
    };
    let id = member_id(state, authed, view.org_id(), member).await?;
    Ok((view, id))
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
    match state
        .roster
        .send_reset_link(&grant, &authed.caller, member)
        .await
    {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(AdminResetError::NotFound) => Err(ApiError::not_found()),
        Err(AdminResetError::Forbidden) => Err(ApiError::forbidden()),
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
        Err(AdminResetError::SsoEnforced { org_name }) => Err(ApiError::sso_enforced(&org_name)),
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
        .member_sign_in_attempts(&grant, &authed.caller, member, 100)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(SignInAttemptList {
        items: attempts.iter().map(SignInAttemptBody::from).collect(),
    }))
}

/// Resolves `{org}` to an organization the caller may see (an active member, or an
/// operator), as proof for what every member may do.
pub(crate) async fn org_view(
    state: &AppState,
    authed: &Authed,
    org: &str,
) -> Result<OrgView, ApiError> {
    let (org_id, held) = held_in(state, authed, org).await?;
    Ok(access::view(held, &authed.caller, org_id)?)
}

pub(super) fn member_error(e: MemberError) -> ApiError {
    match e {
        MemberError::NotFound => ApiError::not_found(),
        MemberError::Forbidden => ApiError::forbidden(),
        MemberError::InvalidStatus { from, to } => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_status",
            match to {
                MembershipStatus::Active => format!(
                    "Only deactivated members can be activated; this member is {}.",
                    from.as_str()
                ),
                MembershipStatus::Deactivated => format!(
                    "Only active members can be deactivated; this member is {}.",
                    from.as_str()
                ),
                _ => format!(
                    "A member who is {} cannot become {}.",
                    from.as_str(),
                    to.as_str()
                ),
            },
        ),
        MemberError::InvalidRole(detail) => ApiError::bad_request("invalid_role", detail),
        MemberError::UnknownReference { what, id } => ApiError::bad_request(
            match what {
                "group" => "unknown_group",
                "customer" => "unknown_customer",
                "member" => "unknown_member",
                "task category" => "unknown_category",
                _ => "unknown_entity",
            },
            format!("There is no {what} {id} in this organization; nothing was changed."),
        ),
        MemberError::SsoEnforced { org_name } => ApiError::sso_enforced(&org_name),
        MemberError::OutsideCustomers => ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_customers",
            "Your own access is limited to some customers: assign only among them, and at least one.",
        ),
        MemberError::OutsideScope => ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_admin_scope",
            "Your admin scope covers only some entities: choose one of them for this member.",
        ),
        MemberError::NameTaken { what } => ApiError::new(
            StatusCode::CONFLICT,
            match what {
                "role" => "role_name_taken",
                "group" => "group_name_taken",
                "customer" => "customer_external_id_taken",
                _ => "entity_name_taken",
            },
            match what {
                "customer" => {
                    "Another customer of this organization has this external id.".to_owned()
                }
                "role" => "Another role of this organization (or a built-in role) has this name."
                    .to_owned(),
                _ => format!("Another {what} of this organization has this name."),
            },
        ),
        MemberError::InUse { what, detail } => ApiError::new(
            StatusCode::CONFLICT,
            match what {
                "role" => "role_in_use",
                "customer" => "customer_in_use",
                _ => "entity_in_use",
            },
            format!("The {what} is still in use: {detail}. Nothing was deleted."),
        ),
        MemberError::Invalid(detail) => ApiError::bad_request("invalid_body", detail),
        MemberError::UnknownPermission(detail) => {
            ApiError::bad_request("unknown_permission", detail)
        }
        MemberError::BeyondOwn(codes) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("You cannot give a role permissions you do not hold yourself: {codes}."),
        ),
        MemberError::LastAdmin => ApiError::new(
            StatusCode::CONFLICT,
            "last_admin",
            "The organization must keep at least one active admin. Make another member an \
             admin first; nothing was changed.",
        ),
        MemberError::AlreadyMember => ApiError::new(
            StatusCode::CONFLICT,
            "already_member",
            "This person is already a member of the organization.",
        ),
        MemberError::InvitationPending => ApiError::new(
            StatusCode::CONFLICT,
            "invitation_pending",
            "This person's invitation is still pending. Use Resend email to send it again.",
        ),
        MemberError::NotPending => ApiError::new(
            StatusCode::CONFLICT,
            "not_pending",
            "This member has no pending invitation.",
        ),
        MemberError::ResendCooldown {
            retry_after_seconds,
        } => ApiError::too_many(
            "resend_cooldown",
            format!(
                "An invitation was just sent. Wait {retry_after_seconds} s before sending another."
            ),
            retry_after_seconds,
        ),
        MemberError::EmailTaken => ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "Another account already uses this email address.",
        ),
        MemberError::EmailNotManaged => ApiError::new(
            StatusCode::CONFLICT,
            "email_not_managed",
            "This person also belongs to other organizations, so only they can change their \
             email address.",
        ),
        MemberError::NameNotManaged => ApiError::new(
            StatusCode::CONFLICT,
            "name_not_managed",
            "This person also belongs to other organizations, so only they can change their \
             name.",
        ),
        MemberError::Random(e) => e.into(),
        MemberError::Store(e) => e.into(),
    }
}

/// Deactivates an active member (seed 004). Their data and assignments stay; from the next
/// request on they cannot use this organization (others they belong to are unaffected).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{member}/deactivate", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`; an admin is managed only by an admin), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_status`: the member is not active; `last_admin`: the organization would have no active admin left", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let after = state
        .roster
        .deactivate_member(&grant, &authed.caller, member)
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}

/// Gives a deactivated member their access back, with all they had before.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members/{member}/activate", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`; an admin is managed only by an admin), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_status`: the member is not deactivated (a pending invitation activates only when accepted)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let after = state
        .roster
        .activate_member(&grant, &authed.caller, member)
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}

/// Removes a member (seeds 001–003): the membership becomes a tombstone, access ends on
/// the next request and the person is emailed that it was revoked; their identity, their
/// other memberships and the audit trail stay. `{member}` = `me` leaves the organization,
/// which any member may do.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{member}", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me` to leave"),
    ),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage` unless leaving; an admin is removed only by an admin), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found` (also for a member already removed)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the organization would have no active admin left", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if member == "me" {
        let view = org_view(&state, &authed, &org).await?;
        state
            .roster
            .leave_org(&view, &authed.caller)
            .await
            .map_err(member_error)?;
    } else {
        let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
        let member = member_id(&state, &authed, grant.org_id(), &member).await?;
        state
            .roster
            .remove_member(&grant, &authed.caller, member)
            .await
            .map_err(member_error)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the member's roles. A caller never grants a role they do not hold (Admin takes
/// an admin or an operator), and the organization keeps at least one active admin.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{member}/roles", tag = "members",
    request_body = RolesBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberBody),
        (status = 400, description = "`invalid_role` (unknown, or none given), `malformed_json`, `invalid_body`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`; granting a role you do not hold, or changing an admin's roles without being one), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the organization would have no active admin left", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_roles(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<Json<MemberBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let after = state
        .roster
        .set_member_roles(&grant, &authed.caller, member, &body.roles)
        .await
        .map_err(member_error)?;
    Ok(Json((&after).into()))
}

/// The organization's members (removed ones excluded), oldest first, a page at a time:
/// `q` finds a part of the email or name, ignoring case; `status` and `role` narrow it.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"), MemberListParams),
    responses(
        (status = 200, body = MemberList),
        (status = 400, description = "`invalid_query` (unknown parameter, status or role; limit out of range), `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiQuery(params): ApiQuery<MemberListParams>,
) -> Result<Json<MemberList>, ApiError> {
    let page = page_request(&ListParams {
        limit: params.limit,
        cursor: params.cursor.clone(),
    })?;
    let filter = member_filter(&params)?;
    let grant = org_grant(&state, &authed, &org, Permission::UsersRead).await?;
    // A reader limited to some customers learns nothing of who is assigned to others.
    if let Some(customer) = filter.customer {
        let limit = state.roster.customer_limit_of(&grant.view()).await?;
        if limit.is_some_and(|mine| !mine.contains(&customer)) {
            return Ok(Json(MemberList {
                items: Vec::new(),
                next_cursor: None,
                total: 0,
                total_capped: false,
            }));
        }
    }
    let members = state
        .roster
        .list_members(&grant.view(), &filter, page)
        .await?;
    Ok(Json(MemberList {
        items: members.items.iter().map(MemberBody::from).collect(),
        next_cursor: cursor_of(members.next_after),
        total: members.total,
        total_capped: members.total_capped,
    }))
}

/// The store's filter from the query: known statuses and roles only, removed members never.
fn member_filter(params: &MemberListParams) -> Result<MemberFilter, ApiError> {
    let invalid = |detail: String| ApiError::bad_request("invalid_query", detail);
    let q = match params.q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) if q.chars().count() > 200 => {
            return Err(invalid("q has at most 200 characters.".into()))
        }
        Some(q) if q.chars().any(char::is_control) => {
            return Err(invalid("q cannot contain control characters.".into()))
        }
        Some(q) => Some(search_key(q)),
    };
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => match MembershipStatus::parse(s) {
            Ok(MembershipStatus::Removed) | Err(_) => {
                return Err(invalid(
                    "status is one of invited, active, deactivated.".into(),
                ))
            }
            Ok(status) => Some(status),
        },
    };
    let (role, custom_role) = match params.role.as_deref() {
        None => (None, None),
        Some(r) => match (BuiltinRole::parse(r), r.parse::<RoleId>()) {
            (Ok(role), _) => (Some(role), None),
            (_, Ok(id)) => (None, Some(id)),
            _ => {
                return Err(invalid(
                    "role is admin, user, marketing, notifications or a custom role's id.".into(),
                ))
            }
        },
    };
    fn id<T: std::str::FromStr>(v: Option<&str>, name: &str) -> Result<Option<T>, ApiError> {
        v.map(|s| {
            s.parse::<T>().map_err(|_| {
                ApiError::bad_request("invalid_query", format!("{name} is an id (a UUID)."))
            })
        })
        .transpose()
    }
    Ok(MemberFilter {
        q,
        status,
        role,
        custom_role,
        group: id::<GroupId>(params.group.as_deref(), "group")?,
        entity: id::<EntityId>(params.entity.as_deref(), "entity")?,
        customer: id::<CustomerId>(params.customer.as_deref(), "customer")?,
        within: None,
    })
}

/// One member, with the invitation that brought them and their last sign-in. Every member
/// may read their own (`me`); others need `users.read`.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members/{member}", tag = "members",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberDetailBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `users.read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
) -> Result<Json<MemberDetailBody>, ApiError> {
    let (view, id) = member_view(&state, &authed, &org, &member).await?;
    let mut found = state
        .roster
        .member_detail(&view, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // A sign-in is the person's, across every organization they belong to: like the
    // sign-in attempts, only the person and those who manage members see when it was.
    let own = authed.caller.identity() == Some(found.member.membership.identity_id)
        && matches!(authed.caller, Caller::Person { .. });
    if !own {
        let manages = org_grant(&state, &authed, &org, Permission::UsersManage)
            .await
            .is_ok();
        if !manages {
            found.last_sign_in_at = None;
        }
    }
    let mut body = MemberDetailBody::from(&found);
    // A reader limited to some customers sees only those among the member's; the count
    // stays whole (seed 002 shows how many customers a member has), so an emptied list is
    // never read as "all customers".
    if let Some(mine) = state.roster.customer_limit_of(&view).await? {
        body.customers
            .retain(|c| mine.contains(&roster_core::ids::CustomerId::from_uuid(*c)));
    }
    Ok(Json(body))
}

/// Edits a member's name and email (seed 002), only while the person belongs to no other
/// organization. A person who can sign in confirms a new address through a link sent to
/// it (the old address is told); when they do, every session of theirs ends. A person who
/// cannot sign in yet is re-addressed at once, and a pending invitation goes again.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{member}", tag = "members",
    request_body = MemberPatchBody,
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("member" = String, Path, description = "membership id, or `me`"),
    ),
    responses(
        (status = 200, body = MemberEditedBody),
        (status = 400, description = "`invalid_name`, `invalid_email`, `malformed_json`, `invalid_body`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden` (needs `users.manage`; an admin is edited only by an admin), `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: another account has the address; `email_not_managed`, `name_not_managed`: the person belongs to other organizations too, so only they change it", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, member)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<MemberPatchBody>,
) -> Result<Json<MemberEditedBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::UsersManage).await?;
    let edit = MemberEdit {
        name: body
            .name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?,
        email: body
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?,
    };
    let member = member_id(&state, &authed, grant.org_id(), &member).await?;
    let edited = state
        .roster
        .edit_member(&grant, &authed.caller, member, edit)
        .await
        .map_err(member_error)?;
    Ok(Json(MemberEditedBody {
        member: (&edited.member).into(),
        pending_email: edited.pending_email.map(|e| e.to_string()),
    }))
}
