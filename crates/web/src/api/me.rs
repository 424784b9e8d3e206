//! `/api/v1/me` and sign-out: the signed-in person, their profile, password, email and
//! sessions.

use super::auth::account_error;
use super::bodies::{
    ChangeEmailBody, ChangePasswordBody, IdentityBody, MeBody, MembershipBody, SessionBody,
    SessionList, UpdateMeBody,
};
use crate::auth::Authed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::access::Caller;
use roster_core::ids::SessionId;
use roster_core::usecases::account::ProfileChange;
use uuid::Uuid;

/// The signed-in person and their organizations.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("session" = [])),
    responses(
        (status = 200, body = MeBody),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: operator tokens have no person", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(authed: Authed) -> Result<Json<MeBody>, ApiError> {
    // A session caller's identity and organizations came with the session; tokens have
    // no person.
    let Some(identity) = authed.identity else {
        return Err(ApiError::forbidden());
    };
    Ok(Json(MeBody {
        identity: (&identity).into(),
        memberships: authed
            .memberships
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

fn person(authed: &Authed) -> Result<roster_core::ids::IdentityId, ApiError> {
    match authed.caller {
        Caller::Person { identity_id, .. } => Ok(identity_id),
        _ => Err(ApiError::forbidden()),
    }
}

/// Updates the own name, time zone and locale. Other fields are refused.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("session" = [])),
    request_body = UpdateMeBody,
    responses(
        (status = 200, body = IdentityBody),
        (status = 400, description = "`invalid_profile`, `invalid_body` (unknown fields such as a role are refused), `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`csrf_failed`; `forbidden` for tokens", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_me(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<UpdateMeBody>,
) -> Result<Json<IdentityBody>, ApiError> {
    let identity_id = person(&authed)?;
    let identity = state
        .roster
        .update_profile(
            identity_id,
            ProfileChange {
                name: body.name,
                timezone: body.timezone,
                locale: body.locale,
            },
        )
        .await
        .map_err(account_error)?;
    Ok(Json((&identity).into()))
}

/// Changes the own password. Every session and every API token of the account end; the
/// caller's session is replaced by a new one (new cookie, new CSRF token in the
/// `X-CSRF-Token` response header).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("session" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "changed; the session cookie is replaced and the new CSRF token is in `X-CSRF-Token`"),
        (status = 400, description = "`password_policy` with every reason, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`, `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`sign_in_throttled`: too many wrong current passwords", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<Response, ApiError> {
    let identity_id = person(&authed)?;
    let session = state
        .roster
        .change_password(identity_id, &body.current_password, &body.new_password)
        .await
        .map_err(account_error)?;
    Ok((
        StatusCode::NO_CONTENT,
        [
            (header::SET_COOKIE, state.web.cookie_for(&session)),
            (
                HeaderName::from_static(crate::auth::CSRF_HEADER),
                session.csrf_token.expose().to_owned(),
            ),
        ],
    )
        .into_response())
}

/// Asks to change the own sign-in email: a confirmation link goes to the new address and a
/// notice to the old one.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "me", security(("session" = [])),
    request_body = ChangeEmailBody,
    responses(
        (status = 202, description = "the confirmation link is on its way to the new address"),
        (status = 400, description = "`invalid_email`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`, `csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`sign_in_throttled`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_email(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(body): ApiJson<ChangeEmailBody>,
) -> Result<StatusCode, ApiError> {
    let identity_id = person(&authed)?;
    state
        .roster
        .request_email_change(identity_id, &body.current_password, &body.new_email)
        .await
        .map_err(account_error)?;
    Ok(StatusCode::ACCEPTED)
}

/// The own live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("session" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Json<SessionList>, ApiError> {
    let identity_id = person(&authed)?;
    let current = authed.session.as_ref().map(|s| s.id);
    let sessions = state.roster.list_sessions(identity_id).await?;
    Ok(Json(SessionList {
        items: sessions
            .iter()
            .map(|s| SessionBody::new(s, current == Some(s.id)))
            .collect(),
    }))
}

/// Ends one of the own sessions (another device, or this one).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", security(("session" = [])),
    params(("id" = Uuid, Path, description = "a session id from GET /api/v1/me/sessions")),
    responses(
        (status = 204, description = "ended"),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`csrf_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: not one of your live sessions", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_session(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let identity_id = person(&authed)?;
    if state
        .roster
        .end_own_session(identity_id, SessionId::from_uuid(id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
