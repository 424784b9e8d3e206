//! Sign-in pages: *Sign in*, the sign-in error page with its diagnostics, *Forgot
//! password*, the reset-link page, the email-change confirmation page and sign-out.
//!
//! Like the invitation page they work without JavaScript, and every form carries the
//! double-submit CSRF token. A link's page never changes anything on GET (mail scanners open
//! links); the change happens when the person submits its form.

use crate::auth::cookie;
use crate::pages::{check_form_csrf, clear_form_csrf, form_page, message, FormCsrf};
use crate::AppState;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use roster_core::secrets::Secret;
use roster_core::usecases::account::AccountError;
use roster_core::usecases::recovery::ConfirmResetError;
use roster_core::usecases::recovery::ResetRequestError;
use roster_core::usecases::sign_in::{explain, SignInError, SignInInput};
use serde::Deserialize;

use crate::client::ClientIp;

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site, so the page cannot send someone elsewhere after signing in:
/// it starts with one `/` and holds only unreserved URL characters, so neither `//host`,
/// `/\host` nor a tab or newline that browsers strip (`/\t/host`) gets through.
fn local_path(next: Option<&str>) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/-._~%?=&+".contains(c);
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 2048
                && p.chars().all(safe) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn form_missing(state: &AppState) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "Something was missing",
        "Please go back, reload the page and try again.",
    )
}

pub(crate) async fn show_sign_in(
    State(state): State<AppState>,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = local_path(q.next.as_deref());
    form_page(&state, StatusCode::OK, "sign_in.html", |csrf| {
        context! { csrf, next, email => "", diagnostics => () }
    })
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    csrf_token: String,
    email: String,
    /// Empty when the person gives only their email (single sign-on).
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub(crate) async fn submit_sign_in(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return form_missing(&state);
    };
    if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
        return page;
    }
    let next = local_path(form.next.as_deref());
    // Email first: an address whose domain an organization's SSO connection claims goes to
    // its provider — always when the organization enforces it, else when no password was
    // typed (people of that domain may keep a password where SSO is not enforced).
    match state.roster.sso_route_for(&form.email).await {
        Ok(Some((org, connection))) if connection.enforce || form.password.is_empty() => {
            // The page's default target ("/") means none: the provider's return lands on
            // the organization's page.
            let next = (next != "/").then(|| next.clone());
            return crate::sso::start(
                &state,
                &org,
                &connection,
                &form.email,
                next,
                client.as_string(),
            )
            .await;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            return message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not check your sign-in just now.",
            );
        }
    }
    if form.password.is_empty() {
        return form_page(&state, StatusCode::BAD_REQUEST, "sign_in.html", |csrf| {
            context! {
                csrf,
                next,
                email => form.email,
                diagnostics => (),
                ask_password => true,
            }
        });
    }
    let previous = cookie(&headers, state.web.session_cookie_name()).map(Secret::presented);
    match state
        .roster
        .sign_in(SignInInput {
            email: &form.email,
            password: &form.password,
            client_ip: client.as_string(),
            previous_session: previous,
        })
        .await
    {
        Ok(signed_in) => {
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = state.web.cookie_for(&signed_in.session).parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            clear_form_csrf(&state, &mut response);
            response
        }
        Err(SignInError::Refused(r)) => {
            let code = r.code.public_code();
            let (meaning, who_can_fix) = explain(code);
            // The page answers with the status the API gives the same refusal.
            let status = crate::api::auth::refusal(&r).status;
            let diagnostics = context! {
                code,
                meaning,
                who_can_fix,
                time => r.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                email => r.email,
                reference => r.reference,
                organization => r.organization,
            };
            let mut page = form_page(&state, status, "sign_in.html", |csrf| {
                context! { csrf, next, email => form.email, diagnostics }
            });
            if let Some(secs) = r.retry_after_seconds {
                page.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            page
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not check your sign-in just now.",
            )
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    csrf_token: String,
    /// Where to go afterwards (a local path); the sign-in page by default.
    next: Option<String>,
}

/// Signs out the browser's session.
pub(crate) async fn submit_sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return form_missing(&state);
    };
    // The console's sign-out button carries the session's own form token; the pages before
    // sign-in carry the double-submit one.
    if !crate::console::session_form_token_matches(&state, &headers, &form.csrf_token) {
        if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
            return page;
        }
    }
    if let Some(raw) = cookie(&headers, state.web.session_cookie_name()) {
        if let Ok(Some(auth)) = state
            .roster
            .authenticate_session(&Secret::presented(raw))
            .await
        {
            if let Err(e) = state.roster.end_session(&auth.session).await {
                tracing::error!(error = %e, "sign-out failed");
            }
        }
    }
    let next = match form.next.as_deref() {
        Some(_) => local_path(form.next.as_deref()),
        None => "/sign-in".to_owned(),
    };
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = state.web.clear_session_cookie().parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(crate) async fn show_forgot(State(state): State<AppState>) -> Response {
    form_page(
        &state,
        StatusCode::OK,
        "forgot.html",
        |csrf| context! { csrf },
    )
}

#[derive(Deserialize)]
pub(crate) struct ForgotForm {
    csrf_token: String,
    email: String,
}

/// *Forgot password*: the same page whether or not the address belongs to anyone.
pub(crate) async fn submit_forgot(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ForgotForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return form_missing(&state);
    };
    if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
        return page;
    }
    match state.roster.request_password_reset(&form.email).await {
        Ok(()) => {}
        Err(ResetRequestError::SsoEnforced { org_name }) => {
            return message(
                &state,
                StatusCode::CONFLICT,
                "Sign in through your organization",
                &format!(
                    "{org_name} signs the people of this email domain in through its identity provider (single sign-on), so there is no password to reset. Go to Sign in and enter only your email."
                ),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "password reset request failed");
            return message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not take your request just now.",
            );
        }
    }
    message(
        &state,
        StatusCode::OK,
        "Check your email",
        "If this address belongs to an account, a link to choose a new password is on its way. It works for 30 minutes.",
    )
}

fn dead_link(state: &AppState) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "It was used already, a newer link replaced it, or it expired. Ask for a new one on the Forgot password page.",
    )
}

fn reset_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    email: &str,
    errors: Vec<String>,
) -> Response {
    form_page(state, status, "reset.html", |csrf| {
        context! { csrf, token, email, errors }
    })
}

/// The page a reset link opens: choose a new password.
pub(crate) async fn show_reset(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return dead_link(&state);
    };
    match state
        .roster
        .describe_reset_link(&Secret::presented(token.as_str()))
        .await
    {
        Ok(email) => reset_page(&state, StatusCode::OK, &token, email.as_str(), vec![]),
        Err(ConfirmResetError::Store(e)) => {
            tracing::error!(error = %e, "reset page failed");
            message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not load this link just now.",
            )
        }
        Err(_) => dead_link(&state),
    }
}

#[derive(Deserialize)]
pub(crate) struct ResetForm {
    csrf_token: String,
    password: String,
    password_confirmation: String,
}

pub(crate) async fn submit_reset(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<ResetForm>, FormRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return dead_link(&state);
    };
    let Ok(Form(form)) = form else {
        return form_missing(&state);
    };
    if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
        return page;
    }
    let secret = Secret::presented(token.as_str());
    let email = match state.roster.describe_reset_link(&secret).await {
        Ok(email) => email,
        Err(_) => return dead_link(&state),
    };
    if form.password != form.password_confirmation {
        return reset_page(
            &state,
            StatusCode::BAD_REQUEST,
            &token,
            email.as_str(),
            vec!["The passwords do not match.".to_owned()],
        );
    }
    match state
        .roster
        .confirm_password_reset(&secret, &form.password)
        .await
    {
        Ok(()) => {
            let mut page = message(
                &state,
                StatusCode::OK,
                "Your password is changed",
                "You were signed out everywhere. Sign in with your new password.",
            );
            clear_form_csrf(&state, &mut page);
            page
        }
        Err(ConfirmResetError::PasswordPolicy(v)) => reset_page(
            &state,
            StatusCode::BAD_REQUEST,
            &token,
            email.as_str(),
            v.iter().map(|v| v.message()).collect(),
        ),
        Err(ConfirmResetError::TokenInvalid) => dead_link(&state),
        Err(e) => {
            tracing::error!(error = %e, "password reset failed");
            message(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Roster could not set your password just now.",
            )
        }
    }
}

fn dead_email_link(state: &AppState) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        "It was used already, a newer request replaced it, or it expired. Ask for the change again from your profile.",
    )
}

/// The page an email-change link opens: one button confirms.
pub(crate) async fn show_email_change(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return dead_email_link(&state);
    };
    match state
        .roster
        .describe_email_change(&Secret::presented(token.as_str()))
        .await
    {
        Ok(new_email) => form_page(&state, StatusCode::OK, "email_change.html", |csrf| {
            context! { csrf, token, new_email => new_email.as_str() }
        }),
        Err(_) => dead_email_link(&state),
    }
}

pub(crate) async fn submit_email_change(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return dead_email_link(&state);
    };
    let Ok(Form(form)) = form else {
        return form_missing(&state);
    };
    if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
        return page;
    }
    match state
        .roster
        .confirm_email_change(&Secret::presented(token.as_str()))
        .await
    {
        Ok(()) => {
            let mut page = message(
                &state,
                StatusCode::OK,
                "Your email is changed",
                "Use your new address to sign in. You were signed out everywhere.",
            );
            clear_form_csrf(&state, &mut page);
            page
        }
        Err(AccountError::EmailTaken) => message(
            &state,
            StatusCode::CONFLICT,
            "This address is taken",
            "Another account uses this email address now, so it cannot become yours. Nothing was changed.",
        ),
        Err(AccountError::TokenInvalid) => dead_email_link(&state),
        Err(e) => {
            tracing::error!(error = %e, "email change failed");
            message(&state, StatusCode::SERVICE_UNAVAILABLE, "Please try again", "Roster could not change your email just now.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        assert_eq!(local_path(Some("/invitations/inv_x")), "/invitations/inv_x");
        assert_eq!(local_path(Some("/a?b=c&d=%20")), "/a?b=c&d=%20");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/x",
            "https://evil.example",
            "evil",
            "/a b",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
