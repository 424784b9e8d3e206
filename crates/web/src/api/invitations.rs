//! `/api/v1/invitations/{token}`: what a link is for, and accepting it.

use super::bodies::{AcceptBody, InvitationBody, MembershipBody, SignedInBody};
use crate::auth::MaybeAuthed;
use crate::error::{ApiError, ApiJson, ApiPath, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::secrets::Secret;
use roster_core::usecases::invitations::{AcceptError, AcceptInput, Accepted, InvitationError};

pub(crate) fn invitation_error(e: InvitationError) -> ApiError {
    match e {
        InvitationError::Invalid => ApiError::new(
            StatusCode::NOT_FOUND,
            "invitation_invalid",
            "This invitation link is not valid. It may have been used or cancelled.",
        ),
        InvitationError::Expired { org_name } => ApiError::new(
            StatusCode::GONE,
            "invitation_expired",
            format!("This invitation link has expired. An admin of {org_name} can resend it."),
        ),
        InvitationError::Store(e) => e.into(),
    }
}

pub(crate) fn accept_error(e: AcceptError) -> ApiError {
    match e {
        AcceptError::Invitation(e) => invitation_error(e),
        AcceptError::PasswordRequired => {
            ApiError::bad_request("password_policy", "Choose a password and confirm it.")
                .with_errors(serde_json::json!([{ "reason": "required" }]))
        }
        AcceptError::PasswordMismatch => {
            ApiError::bad_request("password_mismatch", "The two passwords do not match.")
        }
        AcceptError::PasswordPolicy(violations) => ApiError::password_policy(&violations),
        AcceptError::SignInRequired => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign_in_required",
            "You already have an account: sign in with it, then accept the invitation.",
        ),
        AcceptError::SignedInAsSomeoneElse => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign_in_required",
            "You are signed in as someone else. Sign out, then sign in as the invited person to \
             accept the invitation.",
        ),
        AcceptError::Hash(e) => e.into(),
        AcceptError::Random(e) => e.into(),
        AcceptError::Store(e) => e.into(),
    }
}

/// What an invitation link is for.
#[utoipa::path(get, path = "/api/v1/invitations/{token}", tag = "invitations",
    params(("token" = String, Path, description = "the token from the invitation link")),
    responses(
        (status = 200, body = InvitationBody),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invitation_invalid`: unknown, used or cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn describe(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<InvitationBody>, ApiError> {
    let info = state
        .roster
        .describe_invitation(&Secret::presented(token))
        .await
        .map_err(invitation_error)?;
    Ok(Json(InvitationBody {
        org_name: info.org_name,
        email: info.email.to_string(),
        existing_identity: info.existing_identity,
        expires_at: info.expires_at,
    }))
}

/// The session cookie and body that a successful accept answers with.
pub(crate) fn signed_in(state: &AppState, accepted: &Accepted) -> (String, SignedInBody) {
    let s = &accepted.session;
    let cookie = state.web.cookie_for(s);
    let body = SignedInBody {
        identity: (&accepted.identity).into(),
        memberships: vec![MembershipBody::new(&accepted.membership, &accepted.org)],
        csrf_token: s.csrf_token.expose().to_owned(),
    };
    (cookie, body)
}

/// Accepts an invitation. A new identity chooses its password and is signed in; an
/// existing identity must already be signed in as the invited person.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "invitations",
    params(("token" = String, Path, description = "the token from the invitation link")),
    request_body = AcceptBody,
    responses(
        (status = 200, body = SignedInBody, description = "joined; the session cookie is set"),
        (status = 400, description = "`password_policy`, `password_mismatch`, `malformed_json`, `invalid_body`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`sign_in_required`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`csrf_failed`: a session cookie without its CSRF token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invitation_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_expired`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    MaybeAuthed(authed): MaybeAuthed,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<Response, ApiError> {
    let accepted = state
        .roster
        .accept_invitation(
            &Secret::presented(token),
            AcceptInput {
                password: body.password,
                password_confirmation: body.password_confirmation,
            },
            authed.as_ref().map(|a| &a.caller),
        )
        .await
        .map_err(accept_error)?;
    let (cookie, body) = signed_in(&state, &accepted);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}
