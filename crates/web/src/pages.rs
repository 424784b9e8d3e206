//! Server-rendered pages: the invitation page that setup's link opens, a home page, and
//! (in `sign_in_pages`) sign-in, sign-out, password reset and email-change confirmation.
//!
//! Pages work without JavaScript. Forms posted before anyone is signed in carry a
//! double-submit CSRF token (a random value in a `SameSite=Strict` cookie and in a hidden
//! field, compared in constant time); the invitation token in the URL is the real
//! capability, and the CSRF token stops another site from posting a password of its choice
//! into a link it somehow learnt.

use crate::api::invitations::signed_in;
use crate::auth::cookie;
use crate::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Environment};
use roster_core::access::Caller;
use roster_core::secrets::Secret;
use roster_core::usecases::invitations::{
    AcceptError, AcceptInput, InvitationError, InvitationInfo,
};
use serde::Deserialize;
use std::sync::Arc;

/// Page templates, embedded in the binary. HTML auto-escaping is on for every value.
pub fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("base.html", include_str!("../templates/base.html"))?;
    env.add_template("join_new.html", include_str!("../templates/join_new.html"))?;
    env.add_template(
        "join_existing.html",
        include_str!("../templates/join_existing.html"),
    )?;
    env.add_template("message.html", include_str!("../templates/message.html"))?;
    env.add_template("home.html", include_str!("../templates/home.html"))?;
    env.add_template("sign_in.html", include_str!("../templates/sign_in.html"))?;
    env.add_template("forgot.html", include_str!("../templates/forgot.html"))?;
    env.add_template("reset.html", include_str!("../templates/reset.html"))?;
    env.add_template(
        "email_change.html",
        include_str!("../templates/email_change.html"),
    )?;
    Ok(env)
}

pub fn routes() -> Router<AppState> {
    use crate::sign_in_pages as s;
    Router::new()
        .route("/", get(home))
        .route(
            "/invitations/{token}",
            get(show_invitation).post(submit_invitation),
        )
        .route("/sign-in", get(s::show_sign_in).post(s::submit_sign_in))
        .route("/sign-out", post(s::submit_sign_out))
        .route(
            "/password-reset",
            get(s::show_forgot).post(s::submit_forgot),
        )
        .route(
            "/password-reset/{token}",
            get(s::show_reset).post(s::submit_reset),
        )
        .route(
            "/email-change/{token}",
            get(s::show_email_change).post(s::submit_email_change),
        )
}

fn render(
    env: &Arc<Environment<'static>>,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    match env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("Something went wrong on our side.".to_owned()),
            )
                .into_response()
        }
    }
}

pub(crate) fn message(state: &AppState, status: StatusCode, heading: &str, text: &str) -> Response {
    render(
        &state.templates,
        status,
        "message.html",
        context! { heading, text },
    )
}

fn form_csrf_cookie_name(state: &AppState) -> &'static str {
    if state.web.secure_cookies {
        "__Host-roster_form_csrf"
    } else {
        "roster_form_csrf"
    }
}

fn form_csrf_cookie(state: &AppState, value: &str) -> String {
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}",
        form_csrf_cookie_name(state)
    )
}

/// Renders a page with a form: a fresh double-submit CSRF token goes into the cookie and,
/// through `ctx`, into the form's hidden field.
pub(crate) fn form_page(
    state: &AppState,
    status: StatusCode,
    template: &str,
    ctx: impl FnOnce(&str) -> minijinja::Value,
) -> Response {
    let Ok(csrf) = Secret::generate("") else {
        return message(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "Roster could not prepare this page.",
        );
    };
    let mut response = render(&state.templates, status, template, ctx(csrf.expose()));
    if let Ok(v) = form_csrf_cookie(state, csrf.expose()).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Whether a posted form carries the CSRF token its page set.
pub(crate) enum FormCsrf {
    Valid,
    /// The page to answer with instead.
    Refused(Response),
}

/// Compares the form's hidden token with the cookie, in constant time.
pub(crate) fn check_form_csrf(state: &AppState, headers: &HeaderMap, presented: &str) -> FormCsrf {
    let cookie_token = cookie(headers, form_csrf_cookie_name(state)).unwrap_or_default();
    if cookie_token.is_empty()
        || !Secret::presented(presented).matches(&Secret::presented(cookie_token).hash())
    {
        return FormCsrf::Refused(message(
            state,
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security the form could not be accepted. Open the page again and retry.",
        ));
    }
    FormCsrf::Valid
}

/// Removes the form's CSRF cookie once the form has done its job.
pub(crate) fn clear_form_csrf(state: &AppState, response: &mut Response) {
    if let Ok(v) = state.web.clear_cookie(form_csrf_cookie_name(state)).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn invitation_problem_page(state: &AppState, e: InvitationError) -> Response {
    match e {
        InvitationError::Invalid => message(
            state,
            StatusCode::NOT_FOUND,
            "This invitation link is not valid",
            "It may have been used already or cancelled. Ask an admin of your organization to send you a new invitation.",
        ),
        InvitationError::Expired { org_name } => message(
            state,
            StatusCode::GONE,
            "This invitation has expired",
            &format!("Invitation links work for a limited time. An admin of {org_name} can resend it from your user profile."),
        ),
        InvitationError::Store(e) => {
            tracing::error!(error = %e, "invitation page failed");
            message(state, StatusCode::SERVICE_UNAVAILABLE, "Please try again", "Roster could not load this invitation just now.")
        }
    }
}

fn join_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    info: &InvitationInfo,
    errors: Vec<String>,
) -> Response {
    let template = if info.existing_identity {
        "join_existing.html"
    } else {
        "join_new.html"
    };
    form_page(state, status, template, |csrf| {
        context! {
            org_name => info.org_name,
            email => info.email.as_str(),
            token,
            csrf,
            min_length => info.password_min_length,
            expires_at => info.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            errors,
        }
    })
}

/// The page an invitation link opens: *Join {organization} team* for a new identity,
/// *Join your team at {organization}* for an existing one.
async fn show_invitation(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return invitation_problem_page(&state, InvitationError::Invalid);
    };
    match state
        .roster
        .describe_invitation(&Secret::presented(token.as_str()))
        .await
    {
        Ok(info) => join_page(&state, StatusCode::OK, &token, &info, vec![]),
        Err(e) => invitation_problem_page(&state, e),
    }
}

#[derive(Deserialize)]
struct JoinForm {
    csrf_token: String,
    password: Option<String>,
    password_confirmation: Option<String>,
}

async fn submit_invitation(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<JoinForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return invitation_problem_page(&state, InvitationError::Invalid);
    };
    let Ok(Form(form)) = form else {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Something was missing",
            "Please go back, reload the page and try again.",
        );
    };
    if let FormCsrf::Refused(page) = check_form_csrf(&state, &headers, &form.csrf_token) {
        return page;
    }
    // A person already signed in (existing identity) accepts with their session.
    let caller = match cookie(&headers, state.web.session_cookie_name()) {
        Some(raw) => state
            .roster
            .authenticate_session(&Secret::presented(raw))
            .await
            .ok()
            .flatten()
            .map(|a| Caller::Person {
                identity_id: a.identity.id,
                session_id: a.session.id,
            }),
        None => None,
    };
    let secret = Secret::presented(token.as_str());
    let input = AcceptInput {
        password: form.password,
        password_confirmation: form.password_confirmation,
    };
    match state
        .roster
        .accept_invitation(&secret, input, caller.as_ref())
        .await
    {
        Ok(accepted) => {
            let (session_cookie, _) = signed_in(&state, &accepted);
            let mut response = Redirect::to("/").into_response();
            let headers = response.headers_mut();
            if let Ok(v) = session_cookie.parse() {
                headers.append(header::SET_COOKIE, v);
            }
            clear_form_csrf(&state, &mut response);
            response
        }
        Err(AcceptError::Invitation(e)) => invitation_problem_page(&state, e),
        Err(e) => {
            let errors = match &e {
                AcceptError::PasswordRequired => vec!["Choose a password and confirm it.".to_owned()],
                AcceptError::PasswordMismatch => vec!["The passwords do not match.".to_owned()],
                AcceptError::PasswordPolicy(v) => v.iter().map(|v| v.message()).collect(),
                AcceptError::SignInRequired => vec![
                    "You already have a Roster account. Sign in with it first, then open this link again.".to_owned(),
                ],
                other => {
                    tracing::error!(error = %other, "accepting an invitation failed");
                    vec!["Something went wrong on our side. Please try again.".to_owned()]
                }
            };
            match state.roster.describe_invitation(&secret).await {
                Ok(info) => join_page(&state, StatusCode::BAD_REQUEST, &token, &info, errors),
                Err(e) => invitation_problem_page(&state, e),
            }
        }
    }
}

/// Home: who is signed in and where they belong.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let me = match cookie(&headers, state.web.session_cookie_name()) {
        Some(raw) => match state
            .roster
            .authenticate_session(&Secret::presented(raw))
            .await
        {
            Ok(Some(a)) => state.roster.me(a.identity.id).await.ok().flatten(),
            _ => None,
        },
        None => None,
    };
    let (email, memberships) = match me {
        Some((identity, ms)) => (
            Some(identity.email.to_string()),
            ms.iter()
                .map(|(m, o)| {
                    let roles: Vec<&str> = m.roles.iter().map(|r| r.as_str()).collect();
                    context! { name => o.name.as_str(), roles => roles.join(", ") }
                })
                .collect::<Vec<_>>(),
        ),
        None => (None, vec![]),
    };
    form_page(&state, StatusCode::OK, "home.html", |csrf| {
        context! { email, memberships, csrf }
    })
}
