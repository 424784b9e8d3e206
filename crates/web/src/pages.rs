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
use crate::client::ClientIp;
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
use roster_core::usecases::sign_in::{explain, SignInError, SignInInput};
use serde::Deserialize;
use std::sync::Arc;

/// Page templates, compiled on first use.
///
/// An instance that only answers the API (a host product's permission checks, say) then
/// never holds the console's compiled pages: compiling all of them at start-up took about
/// 0.7 MB of heap. HTML auto-escaping is on for every `.html` template. A unit test
/// compiles every template, so one that does not parse fails the tests, not a page.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(|name| Ok(template_source(name).map(str::to_owned)));
    env
}

/// The text of the template `name`, embedded in the binary.
fn template_source(name: &str) -> Option<&'static str> {
    template_tables()
        .find(|(known, _)| *known == name)
        .map(|(_, source)| *source)
}

/// Every page template, the console's included, as (name, text).
fn template_tables() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    std::iter::once(TEMPLATES)
        .chain(crate::console::TEMPLATES)
        .flatten()
}

/// The pages' own templates; the console keeps its own beside its handlers.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("join_new.html", include_str!("../templates/join_new.html")),
    (
        "join_existing.html",
        include_str!("../templates/join_existing.html"),
    ),
    ("message.html", include_str!("../templates/message.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    (
        "sign_in_error.html",
        include_str!("../templates/sign_in_error.html"),
    ),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    (
        "email_change.html",
        include_str!("../templates/email_change.html"),
    ),
];

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
        .route("/sso/callback", get(crate::sso::callback))
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

/// Pages load only our own stylesheet and script, post forms only to us, and are never
/// framed (clickjacking a *Delete* button).
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The sign-in page's form may end at an organization's identity provider: browsers apply
/// `form-action` to the redirects that follow a submission, so this page leaves it out.
const SIGN_IN_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn render(
    env: &Arc<Environment<'static>>,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    match env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            let headers = response.headers_mut();
            let csp = if name == "sign_in.html" {
                SIGN_IN_CSP
            } else {
                PAGE_CSP
            };
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static(csp),
            );
            headers.insert(
                header::X_FRAME_OPTIONS,
                header::HeaderValue::from_static("DENY"),
            );
            response
        }
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

/// Who the browser's session belongs to, if it has a live one.
async fn signed_in_person(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<roster_core::usecases::sessions::Authenticated> {
    let raw = cookie(headers, state.web.session_cookie_name())?;
    state
        .roster
        .authenticate_session(&Secret::presented(raw))
        .await
        .ok()
        .flatten()
}

/// The invitation page. For an existing identity it has three shapes: signed in as the
/// invited person (one *Accept invite* button), signed in as someone else (says so, with a
/// sign-out button that comes back here), or not signed in (the existing password, then
/// *Accept invite*: signing in and joining in one step).
fn join_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    info: &InvitationInfo,
    signed_in_as: Option<&str>,
    errors: Vec<String>,
) -> Response {
    let template = if info.existing_identity {
        "join_existing.html"
    } else {
        "join_new.html"
    };
    let is_invitee = signed_in_as.is_some_and(|e| e.eq_ignore_ascii_case(info.email.as_str()));
    let someone_else = signed_in_as.filter(|_| !is_invitee);
    form_page(state, status, template, |csrf| {
        context! {
            org_name => info.org_name,
            email => info.email.as_str(),
            token,
            csrf,
            min_length => info.password_min_length,
            expires_at => info.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            errors,
            is_invitee,
            someone_else,
        }
    })
}

/// The page an invitation link opens: *Join {organization} team* for a new identity,
/// *Join your team at {organization}* for an existing one. Changes nothing.
async fn show_invitation(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(token)) = token else {
        return invitation_problem_page(&state, InvitationError::Invalid);
    };
    match state
        .roster
        .describe_invitation(&Secret::presented(token.as_str()))
        .await
    {
        Ok(info) => {
            let person = signed_in_person(&state, &headers).await;
            let email = person.as_ref().map(|p| p.identity.email.to_string());
            join_page(
                &state,
                StatusCode::OK,
                &token,
                &info,
                email.as_deref(),
                vec![],
            )
        }
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
    client: ClientIp,
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
    let secret = Secret::presented(token.as_str());
    let info = match state.roster.describe_invitation(&secret).await {
        Ok(info) => info,
        Err(e) => return invitation_problem_page(&state, e),
    };
    let person = signed_in_person(&state, &headers).await;
    let signed_in_as = person.as_ref().map(|p| p.identity.email.to_string());
    let again = |status, errors: Vec<String>| {
        join_page(
            &state,
            status,
            &token,
            &info,
            signed_in_as.as_deref(),
            errors,
        )
    };
    let mut caller = person.as_ref().map(|a| Caller::Person {
        identity_id: a.identity.id,
        session_id: a.session.id,
    });
    // An existing identity that is not signed in signs in here, with its own password and
    // every check of the sign-in page (throttling, diagnostics), then joins.
    let mut input = AcceptInput {
        password: form.password,
        password_confirmation: form.password_confirmation,
    };
    let mut signed_in_here = None;
    if info.existing_identity && caller.is_none() {
        let Some(password) = input.password.take().filter(|p| !p.is_empty()) else {
            return again(
                StatusCode::BAD_REQUEST,
                vec!["Enter your password to accept.".to_owned()],
            );
        };
        match state
            .roster
            .sign_in(SignInInput {
                email: info.email.as_str(),
                password: &password,
                client_ip: client.as_string(),
                previous_session: None,
            })
            .await
        {
            Ok(signed) => {
                caller = Some(Caller::Person {
                    identity_id: signed.identity.id,
                    session_id: signed.session.session.id,
                });
                signed_in_here = Some(signed.session.session);
            }
            Err(SignInError::Refused(r)) => {
                let (meaning, who_can_fix) = explain(r.code.public_code());
                let status = crate::api::auth::refusal(&r).status;
                let mut page = again(
                    status,
                    vec![format!(
                        "{meaning} {who_can_fix} (reference {})",
                        r.reference
                    )],
                );
                if let Some(secs) = r.retry_after_seconds {
                    page.headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
                }
                return page;
            }
            Err(e) => {
                tracing::error!(error = %e, "sign-in to accept an invitation failed");
                return again(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![
                        "Roster could not check your sign-in just now. Please try again."
                            .to_owned(),
                    ],
                );
            }
        }
    }
    match state
        .roster
        .accept_invitation(&secret, input, caller.as_ref())
        .await
    {
        Ok(accepted) => {
            let (session_cookie, _) = signed_in(&state, &accepted);
            let landing = format!("/orgs/{}", accepted.org.slug.as_str());
            let mut response = Redirect::to(&landing).into_response();
            let headers = response.headers_mut();
            if let Ok(v) = session_cookie.parse() {
                headers.append(header::SET_COOKIE, v);
            }
            clear_form_csrf(&state, &mut response);
            response
        }
        Err(e) => {
            // The session signed in for this accept was never handed to the browser.
            if let Some(session) = &signed_in_here {
                if let Err(e) = state.roster.end_session(session).await {
                    tracing::error!(error = %e, "ending an unused session failed");
                }
            }
            let e = match e {
                AcceptError::Invitation(e) => return invitation_problem_page(&state, e),
                e => e,
            };
            let (status, errors) = match &e {
                AcceptError::PasswordRequired => (
                    StatusCode::BAD_REQUEST,
                    vec!["Choose a password and confirm it.".to_owned()],
                ),
                AcceptError::PasswordMismatch => (
                    StatusCode::BAD_REQUEST,
                    vec!["The passwords do not match.".to_owned()],
                ),
                AcceptError::PasswordPolicy(v) => (
                    StatusCode::BAD_REQUEST,
                    v.iter().map(|v| v.message()).collect(),
                ),
                AcceptError::SignInRequired => (
                    StatusCode::UNAUTHORIZED,
                    vec![
                        "You already have a Roster account. Enter its password to accept."
                            .to_owned(),
                    ],
                ),
                AcceptError::SignedInAsSomeoneElse => (
                    StatusCode::FORBIDDEN,
                    vec![format!(
                        "This invitation is for {}. Sign out first, then accept it.",
                        info.email
                    )],
                ),
                other => {
                    tracing::error!(error = %other, "accepting an invitation failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        vec!["Something went wrong on our side. Please try again.".to_owned()],
                    )
                }
            };
            again(status, errors)
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
            Ok(Some(a)) => Some((a.identity, a.memberships)),
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
                    context! {
                        name => o.name.as_str(),
                        slug => o.slug.as_str(),
                        open => m.status == roster_core::model::MembershipStatus::Active && m.admits_person(),
                        roles => roles.join(", "),
                    }
                })
                .collect::<Vec<_>>(),
        ),
        None => (None, vec![]),
    };
    form_page(&state, StatusCode::OK, "home.html", |csrf| {
        context! { email, memberships, csrf }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_on_first_use() {
        let env = templates();
        let mut names = std::collections::HashSet::new();
        for (name, _) in template_tables() {
            assert!(names.insert(*name), "{name} is listed twice");
            if let Err(e) = env.get_template(name) {
                panic!("{name} does not compile: {e:#}");
            }
        }
        // 10 page templates and 18 console ones.
        assert_eq!(names.len(), 28);
    }

    #[test]
    fn an_unknown_template_is_not_found() {
        let err = templates()
            .get_template("nope.html")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), minijinja::ErrorKind::TemplateNotFound);
    }
}
