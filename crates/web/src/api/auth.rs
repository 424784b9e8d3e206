//! `/api/v1/auth`: sign-in, password reset and email-change confirmation — the routes a
//! person uses without (or before) a session.

use super::bodies::{
    ConfirmEmailChangeBody, ConfirmResetBody, MembershipBody, ResetRequestBody, SignInBody,
    SignedInBody,
};
use crate::auth::cookie;
use crate::client::ClientIp;
use crate::error::{ApiError, ApiJson, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster_core::secrets::Secret;
use roster_core::usecases::account::AccountError;
use roster_core::usecases::recovery::{ConfirmResetError, ResetRequestError};
use roster_core::usecases::sign_in::{explain, SignInError, SignInInput, SignInRefusal};
use serde_json::json;

/// The answer to a refused sign-in: the public code only, with what it means, who can fix
/// it, the time, the email as typed and a reference for support.
pub(crate) fn refusal(r: &SignInRefusal) -> ApiError {
    let code = r.code.public_code();
    let (meaning, who_can_fix) = explain(code);
    let diagnostics = json!({
        "meaning": meaning,
        "who_can_fix": who_can_fix,
        "time": r.at,
        "email": r.email,
        "reference": r.reference,
        "organization": r.organization,
    });
    let org = r.organization.as_deref().unwrap_or("Your organization");
    let e = match code {
        "notifications_only" => ApiError::new(
            StatusCode::FORBIDDEN,
            "notifications_only",
            "This account only receives email notifications and cannot sign in.",
        ),
        "sign_in_throttled" => ApiError::too_many(
            "sign_in_throttled",
            "Too many failed sign-ins. Wait before trying again, or reset your password.",
            r.retry_after_seconds.unwrap_or(60),
        ),
        "sso_enforced" => ApiError::new(
            StatusCode::FORBIDDEN,
            "sso_enforced",
            format!(
                "{org} signs the people of this email domain in through its identity provider \
                 (single sign-on); passwords are turned off. Sign in with only your email to \
                 go to the provider."
            ),
        ),
        "sso_member_deactivated" => ApiError::new(
            StatusCode::FORBIDDEN,
            "sso_member_deactivated",
            format!("Your access to {org} is deactivated. An admin of {org} can activate it."),
        ),
        sso if sso.starts_with("sso_") => {
            ApiError::new(StatusCode::UNAUTHORIZED, sso, explain(sso).0)
        }
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The email or password is not right.",
        ),
    };
    e.with_diagnostics(diagnostics)
}

pub(crate) fn sign_in_error(e: SignInError) -> ApiError {
    match e {
        SignInError::Refused(r) => refusal(&r),
        SignInError::Hash(e) => e.into(),
        SignInError::Random(e) => e.into(),
        SignInError::Store(e) => e.into(),
    }
}

/// Starts a session with email and password.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignInBody,
    responses(
        (status = 200, body = SignedInBody, description = "signed in; the session cookie is set"),
        (status = 400, description = "`malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`: unknown email, wrong password, no password, deactivated or removed everywhere — one answer", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`notifications_only` (only after the right password); `sso_enforced`: the email's domain signs in through its organization's identity provider only", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`sign_in_throttled`, with `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy`: too many passwords being checked at once", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignInBody>,
) -> Result<Response, ApiError> {
    let previous = cookie(&headers, state.web.session_cookie_name()).map(Secret::presented);
    let signed_in = state
        .roster
        .sign_in(SignInInput {
            email: &body.email,
            password: &body.password,
            client_ip: client.as_string(),
            previous_session: previous,
        })
        .await
        .map_err(sign_in_error)?;
    let s = &signed_in.session;
    let cookie = state.web.cookie_for(s);
    let body = SignedInBody {
        identity: (&signed_in.identity).into(),
        memberships: signed_in
            .memberships
            .iter()
            .map(|(m, o)| MembershipBody::new(m, o))
            .collect(),
        csrf_token: s.csrf_token.expose().to_owned(),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The one answer of `POST /auth/password-reset`, whoever asked.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ResetRequested {
    pub status: &'static str,
    pub detail: &'static str,
}

/// *Forgot password*: emails a reset link if the address belongs to an account. Answers the
/// same in every case.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequestBody,
    responses(
        (status = 202, body = ResetRequested, description = "the same answer for every address that can have a password"),
        (status = 409, description = "`sso_enforced`: the address's domain signs in through an organization's identity provider only (a fact about the domain, not the account)", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<Response, ApiError> {
    match state.roster.request_password_reset(&body.email).await {
        Ok(()) => {}
        Err(ResetRequestError::SsoEnforced { org_name }) => {
            return Err(ApiError::sso_enforced(&org_name))
        }
        Err(ResetRequestError::Store(e)) => return Err(e.into()),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetRequested {
            status: "accepted",
            detail: "If this address belongs to an account, a link to choose a new password \
                     is on its way. It works for 30 minutes.",
        }),
    )
        .into_response())
}

pub(crate) fn confirm_reset_error(e: ConfirmResetError) -> ApiError {
    match e {
        ConfirmResetError::TokenInvalid => ApiError::bad_request(
            "token_invalid",
            "This link is not valid: it was used, replaced by a newer one, or it expired. \
             Ask for a new one.",
        ),
        ConfirmResetError::PasswordPolicy(v) => ApiError::password_policy(&v),
        ConfirmResetError::Hash(e) => e.into(),
        ConfirmResetError::Store(e) => e.into(),
    }
}

/// Sets a new password with a reset link. Every session and API token of the account
/// ends; nobody is signed in.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth",
    request_body = ConfirmResetBody,
    responses(
        (status = 204, description = "the password is set; sign in with it"),
        (status = 400, description = "`token_invalid`, `password_policy`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmResetBody>,
) -> Result<StatusCode, ApiError> {
    state
        .roster
        .confirm_password_reset(&Secret::presented(body.token), &body.new_password)
        .await
        .map_err(confirm_reset_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::WrongPassword => ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "The current password is not right.",
        ),
        AccountError::Throttled {
            retry_after_seconds,
        } => ApiError::too_many(
            "sign_in_throttled",
            "Too many wrong passwords. Wait before trying again.",
            retry_after_seconds,
        ),
        AccountError::PasswordPolicy(v) => ApiError::password_policy(&v),
        AccountError::InvalidEmail(detail) => ApiError::bad_request("invalid_email", detail),
        AccountError::EmailUnchanged => {
            ApiError::bad_request("invalid_email", "This is already your email address.")
        }
        AccountError::EmailTaken => ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "Another account uses this email address.",
        ),
        AccountError::TokenInvalid => ApiError::bad_request(
            "token_invalid",
            "This link is not valid: it was used, replaced by a newer one, or it expired.",
        ),
        AccountError::InvalidProfile(detail) => ApiError::bad_request("invalid_profile", detail),
        AccountError::NotFound => ApiError::unauthenticated(),
        AccountError::Hash(e) => e.into(),
        AccountError::Random(e) => e.into(),
        AccountError::Store(e) => e.into(),
    }
}

/// Confirms an email change with the link sent to the new address. Every session of the
/// account ends.
#[utoipa::path(post, path = "/api/v1/auth/email-change/confirm", tag = "auth",
    request_body = ConfirmEmailChangeBody,
    responses(
        (status = 204, description = "the new address is the sign-in email; sign in again"),
        (status = 400, description = "`token_invalid`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: another account took the address meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmEmailChangeBody>,
) -> Result<StatusCode, ApiError> {
    state
        .roster
        .confirm_email_change(&Secret::presented(body.token))
        .await
        .map_err(account_error)?;
    Ok(StatusCode::NO_CONTENT)
}
