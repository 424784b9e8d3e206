//! An organization's single sign-on connection (seed 004): `GET/PUT/DELETE
//! /api/v1/orgs/{org}/sso` and `POST …/sso/test`. Needs `org.settings`. The client secret
//! is write-only: accepted, used towards the provider, never returned.

use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use roster_core::model::{BuiltinRole, Permission, SsoConnection};
use roster_core::usecases::sso::{SsoConnectionInput, SsoError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SsoConnectionBody {
    pub issuer: String,
    pub client_id: String,
    /// Always true: a secret is set. It is never shown.
    pub client_secret_set: bool,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Email domains whose people sign in through this connection.
    pub domains: Vec<String>,
    /// The role of a member created at their first SSO sign-in; null: nobody new is let in.
    pub default_role: Option<String>,
    /// Password sign-in, resets and manual invitations are refused for the domains.
    pub enforce: bool,
    /// Where the provider must send people back (register it with the provider).
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SsoConnectionBody {
    pub(crate) fn new(c: &SsoConnection, state: &AppState) -> Self {
        Self {
            issuer: c.issuer.clone(),
            client_id: c.client_id.clone(),
            client_secret_set: !c.client_secret.is_empty(),
            scopes: c.scopes.clone(),
            domains: c.domains.clone(),
            default_role: c.default_role.map(|r| r.as_str().to_owned()),
            enforce: c.enforce,
            redirect_uri: format!("{}/sso/callback", state.roster.links.base()),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The whole connection. `client_secret` may be left out to keep the stored one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoConnectionRequest {
    /// The provider's issuer URL (https; http only on loopback).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Default: `email`, `profile`.
    pub scopes: Option<Vec<String>>,
    pub domains: Vec<String>,
    /// `user` or `marketing`; null or absent: no one new is let in. (Never `admin`: admins
    /// are made one by one.)
    pub default_role: Option<String>,
    #[serde(default)]
    pub enforce: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SsoTestBody {
    /// Whether the provider's discovery document answered and named the issuer.
    pub ok: bool,
    pub detail: String,
}

pub(crate) fn sso_error(e: SsoError) -> ApiError {
    match e {
        SsoError::Forbidden => ApiError::forbidden(),
        SsoError::Invalid(detail) => ApiError::bad_request("invalid_body", detail),
        SsoError::DomainClaimed => ApiError::new(
            StatusCode::CONFLICT,
            "domain_claimed",
            "Another organization's single sign-on connection claims one of these email domains; a domain belongs to one organization. Nothing was changed.",
        ),
        SsoError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "sso_not_configured",
            "This organization has no single sign-on connection.",
        ),
        SsoError::Store(e) => e.into(),
    }
}

/// The organization's connection (without its secret).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/sso", tag = "sso",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = SsoConnectionBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, `sso_not_configured`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_sso(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<SsoConnectionBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let c = state
        .roster
        .sso_connection(&grant)
        .await
        .map_err(sso_error)?;
    Ok(Json(SsoConnectionBody::new(&c, &state)))
}

/// Creates or replaces the connection. Audited (never with the secret).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/sso", tag = "sso",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    request_body = SsoConnectionRequest,
    responses(
        (status = 200, body = SsoConnectionBody, description = "replaced"),
        (status = 201, body = SsoConnectionBody, description = "created"),
        (status = 400, description = "`invalid_body` (issuer, client id, secret, scopes, domains, default role), `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`; `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`domain_claimed`: another organization claims a domain", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_sso(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<SsoConnectionRequest>,
) -> Result<(StatusCode, Json<SsoConnectionBody>), ApiError> {
    let default_role = match body.default_role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(BuiltinRole::parse(r).map_err(|_| {
            ApiError::bad_request(
                "invalid_body",
                "default_role must be user or marketing, or null",
            )
        })?),
    };
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let (c, created) = state
        .roster
        .put_sso_connection(
            &grant,
            SsoConnectionInput {
                issuer: body.issuer,
                client_id: body.client_id,
                client_secret: body.client_secret,
                scopes: body.scopes,
                domains: body.domains,
                default_role,
                enforce: body.enforce,
            },
        )
        .await
        .map_err(sso_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SsoConnectionBody::new(&c, &state))))
}

/// Removes the connection: its domains sign in with passwords again.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/sso", tag = "sso",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`; `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, `sso_not_configured`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_sso(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    state
        .roster
        .delete_sso_connection(&grant)
        .await
        .map_err(sso_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// *Test connection*: fetches the provider's discovery document and checks it names the
/// configured issuer. Changes nothing.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/sso/test", tag = "sso",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = SsoTestBody, description = "the outcome, working or not"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `org.settings`; `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`, `sso_not_configured`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn test_sso(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<SsoTestBody>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::OrgSettings).await?;
    let c = state
        .roster
        .sso_connection(&grant)
        .await
        .map_err(sso_error)?;
    Ok(Json(match crate::sso::test_connection(&state, &c).await {
        Ok(()) => SsoTestBody {
            ok: true,
            detail: format!(
                "{} answered its discovery document and names itself as issuer.",
                c.issuer
            ),
        },
        Err(e) => SsoTestBody {
            ok: false,
            detail: format!("The provider at {} could not be used: {e}", c.issuer),
        },
    }))
}
