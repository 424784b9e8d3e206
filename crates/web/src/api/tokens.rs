//! `/api/v1/orgs/{org}/tokens`: an organization's API tokens.

use super::bodies::{CreateTokenBody, CreatedTokenBody, TokenBody, TokenList};
use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use roster_core::ids::ApiTokenId;
use roster_core::model::Permission;
use roster_core::usecases::tokens::{NewOrgToken, OrgTokenError};
use uuid::Uuid;

fn token_error(e: OrgTokenError) -> ApiError {
    match e {
        OrgTokenError::InvalidName => ApiError::bad_request(
            "invalid_name",
            "A token name has 1 to 100 characters without control characters.",
        ),
        OrgTokenError::InvalidPermissions(detail) => {
            ApiError::bad_request("invalid_permission", detail)
        }
        OrgTokenError::InvalidExpiry => {
            ApiError::bad_request("invalid_expiry", "expires_at must be in the future.")
        }
        OrgTokenError::Forbidden => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You cannot give a token a permission you do not hold.",
        ),
        OrgTokenError::TokenCannotMint => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "API tokens are created by people signed in, not by other tokens.",
        ),
        OrgTokenError::NotFound => ApiError::not_found(),
        OrgTokenError::Random(e) => e.into(),
        OrgTokenError::Store(e) => e.into(),
    }
}

/// Creates a token. Its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tokens", tag = "tokens",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    request_body = CreateTokenBody,
    responses(
        (status = 201, body = CreatedTokenBody),
        (status = 400, description = "`invalid_name`, `invalid_permission`, `invalid_expiry`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tokens.manage`, and every permission given; `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiJson(body): ApiJson<CreateTokenBody>,
) -> Result<(StatusCode, Json<CreatedTokenBody>), ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TokensManage).await?;
    let (token, secret) = state
        .roster
        .create_org_token(
            &grant,
            &authed.caller,
            NewOrgToken {
                name: body.name,
                permissions: body.permissions,
                expires_at: body.expires_at,
            },
        )
        .await
        .map_err(token_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenBody {
            token: (&token).into(),
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// The organization's tokens, revoked ones included, newest first. Never their secrets.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tokens", tag = "tokens",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug")),
    responses(
        (status = 200, body = TokenList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tokens.manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tokens(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<TokenList>, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TokensManage).await?;
    let tokens = state.roster.list_org_tokens(&grant).await?;
    Ok(Json(TokenList {
        items: tokens.iter().map(TokenBody::from).collect(),
    }))
}

/// Revokes a token; its next request gets 401.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/tokens/{id}", tag = "tokens",
    security(("session" = []), ("bearer" = [])),
    params(
        ("org" = String, Path, description = "organization id or slug"),
        ("id" = Uuid, Path, description = "token id"),
    ),
    responses(
        (status = 204, description = "revoked"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `tokens.manage`; `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((org, id)): ApiPath<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let grant = org_grant(&state, &authed, &org, Permission::TokensManage).await?;
    state
        .roster
        .revoke_org_token(&grant, ApiTokenId::from_uuid(id))
        .await
        .map_err(token_error)?;
    Ok(StatusCode::NO_CONTENT)
}
