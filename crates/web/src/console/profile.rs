//! *My profile* (`/profile`): the signed-in person's own name, time zone and locale, their
//! password and sign-in email, their sessions, their notification settings in each
//! organization, and leaving an organization.
//!
//! Every form calls the REST API's own handler (`api::me`, `api::tasks`, `api::members`)
//! with the session's caller, so the refusals are the API's. An optional `?org=slug` keeps
//! the sidebar's organization and narrows the per-organization sections to it.

use super::shell::{self, page, FormData, Org, Person};
use crate::api::bodies::{ChangeEmailBody, ChangePasswordBody, SessionBody, UpdateMeBody};
use crate::api::tasks::{NotificationsBody, NotificationsRequest};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use minijinja::{context, Value};
use roster_core::model::{Membership, MembershipStatus, Organization};
use roster_core::usecases::sessions::may_hold_session;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile", get(show).post(save_profile))
        .route("/profile/password", post(change_password))
        .route("/profile/email", post(change_email))
        .route("/profile/sessions/end-others", post(end_other_sessions))
        .route("/profile/sessions/{id}/end", post(end_session))
        .route("/profile/notifications/{org}", post(save_notifications))
        .route("/profile/leave/{org}", post(leave))
}

/// The profile page's template, embedded in the binary.
pub(super) const TEMPLATES: &[(&str, &str)] = &[(
    "console/profile.html",
    include_str!("../../templates/console/profile.html"),
)];

/// The notice for a `?done=` code; anything else shows nothing (the query is never shown).
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "profile" => "Your profile was saved.",
        "password" => "Your password was changed. Your other sessions were signed out.",
        "session" => "The session was signed out.",
        "others" => "Your other sessions were signed out.",
        "notifications" => "Your notification settings were saved.",
        "left" => "You left the organization.",
        _ => return None,
    })
}

/// Common IANA time zones offered as suggestions; any other IANA name is accepted too.
const TIME_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Brussels",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Zurich",
    "Europe/Vienna",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Copenhagen",
    "Europe/Oslo",
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/Warsaw",
    "Europe/Prague",
    "Europe/Athens",
    "Europe/Bucharest",
    "Europe/Istanbul",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/St_Johns",
    "America/Halifax",
    "America/New_York",
    "America/Toronto",
    "America/Chicago",
    "America/Mexico_City",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
];

/// Common language tags offered as suggestions for the locale.
const LOCALES: &[&str] = &[
    "en", "en-GB", "en-US", "da", "de", "de-DE", "es", "fi", "fr", "fr-FR", "it", "ja", "nb", "nl",
    "pl", "pt", "pt-BR", "sv", "zh",
];

/// What a rendering of the page adds to the stored state: a notice, a refusal, and what
/// the person typed into a refused form.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
    /// Name, time zone and locale as typed.
    profile: Option<[String; 3]>,
    new_email: Option<String>,
    /// The organization whose *Leave* confirmation is open.
    confirm_leave: Option<String>,
}

/// A query string (or nothing), read like a form.
fn query(raw: Option<&str>) -> FormData {
    FormData::parse(raw.unwrap_or_default().as_bytes())
}

/// This page, keeping the sidebar's organization.
fn here(org: Option<&Org>) -> String {
    match org {
        Some(o) => format!("/profile?org={}", o.slug()),
        None => "/profile".to_owned(),
    }
}

/// The sidebar's organization a form was posted from; one the person no longer belongs to
/// is dropped rather than refused.
async fn posted_from(state: &AppState, person: &Person, raw: Option<&str>) -> Option<Org> {
    let slug = query(raw).text("org")?;
    person.org(state, &slug).await.ok()
}

/// The memberships the per-organization sections list: the sidebar's organization, else
/// every organization the person may use.
fn listed<'a>(person: &'a Person, org: Option<&'a Org>) -> Vec<(&'a Membership, &'a Organization)> {
    match org {
        Some(o) => vec![(&o.membership, &o.org)],
        None => person
            .memberships()
            .iter()
            .filter(|(m, _)| m.status == MembershipStatus::Active && m.admits_person())
            .map(|(m, o)| (m, o))
            .collect(),
    }
}

/// A built-in role as people read it: `admin` is *Admin*.
fn role_name(code: &str) -> String {
    let mut chars = code.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn when(t: DateTime<Utc>) -> Value {
    context! {
        iso => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        text => t.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

fn session_ctx(s: &SessionBody) -> Value {
    context! {
        id => s.id.to_string(),
        started => when(s.created_at),
        last_seen => when(s.last_seen_at),
        ends => when(s.expires_at),
        current => s.current,
    }
}

fn notifications_ctx(slug: &str, n: &NotificationsBody) -> Value {
    let categories: Vec<Value> = n
        .available_categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            context! {
                key => c.key.as_str(),
                label => c.label.as_str(),
                checked => n.categories.contains(&c.key),
                id => format!("category-{}--{slug}", i + 1),
            }
        })
        .collect();
    context! {
        daily => n.frequency == "daily",
        weekly => n.frequency == "weekly",
        all => n.all_categories,
        categories,
    }
}

/// The whole page: the stored state, with what `shown` adds.
async fn render(
    state: &AppState,
    person: &Person,
    org: Option<&Org>,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let sessions =
        match crate::api::me::list_sessions(State(state.clone()), person.authed.clone()).await {
            Ok(Json(list)) => list.items,
            Err(e) => {
                tracing::error!(code = e.code, detail = %e.detail, "profile sessions failed");
                return shell::unavailable(state);
            }
        };
    let others = sessions.iter().filter(|s| !s.current).count();

    let mut orgs = Vec::new();
    for (membership, o) in listed(person, org) {
        let slug = o.slug.as_str();
        let notifications = match crate::api::tasks::get_notifications(
            State(state.clone()),
            person.authed.clone(),
            ApiPath((slug.to_owned(), "me".to_owned())),
        )
        .await
        {
            Ok(Json(n)) => Some(notifications_ctx(slug, &n)),
            Err(e) if e.status.is_server_error() => {
                tracing::error!(code = e.code, detail = %e.detail, "profile notifications failed");
                return shell::unavailable(state);
            }
            // Left or deactivated since the request began: nothing to show.
            Err(_) => None,
        };
        let roles: Vec<String> = membership
            .roles
            .iter()
            .map(|r| role_name(r.as_str()))
            .collect();
        orgs.push(context! {
            name => o.name.as_str(),
            slug,
            roles => roles.join(", "),
            notifications,
            leave_open => shown.confirm_leave.as_deref() == Some(slug),
        });
    }

    let identity = &person.identity;
    let [name, timezone, locale] = shown.profile.unwrap_or_else(|| {
        [
            identity
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            identity.timezone.clone().unwrap_or_default(),
            identity.locale.clone().unwrap_or_default(),
        ]
    });
    let (q, confirm_q) = match org {
        Some(o) => (format!("?org={}", o.slug()), format!("?org={}&", o.slug())),
        None => (String::new(), "?".to_owned()),
    };
    let many_orgs = person
        .memberships()
        .iter()
        .filter(|(m, _)| m.status == MembershipStatus::Active && m.admits_person())
        .count()
        > 1;
    page(
        state,
        status,
        "console/profile.html",
        context! {
            shell => person.shell(org, "profile"),
            notice => shown.notice,
            error => shown.error,
            q,
            confirm_q,
            narrowed => org.is_some() && many_orgs,
            name,
            timezone,
            locale,
            time_zones => TIME_ZONES,
            locales => LOCALES,
            email => identity.email.as_str(),
            new_email => shown.new_email.unwrap_or_default(),
            sessions => sessions.iter().map(session_ctx).collect::<Vec<_>>(),
            others,
            orgs,
        },
    )
}

/// A refusal of the API: the page again, with the API's sentence and status.
async fn refused(
    state: &AppState,
    person: &Person,
    org: Option<&Org>,
    e: &ApiError,
    shown: Shown,
) -> Response {
    let shown = Shown {
        error: Some(shell::sentence(e)),
        ..shown
    };
    render(state, person, org, e.status, shown).await
}

async fn show(State(state): State<AppState>, person: Person, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let org = match q.text("org") {
        Some(slug) => match person.org(&state, &slug).await {
            Ok(o) => Some(o),
            Err(page) => return page,
        },
        None => None,
    };
    let shown = Shown {
        notice: q.get("done").and_then(notice).map(str::to_owned),
        confirm_leave: q
            .get("confirm")
            .and_then(|c| c.strip_prefix("leave-"))
            .map(str::to_owned),
        ..Shown::default()
    };
    render(&state, &person, org.as_ref(), StatusCode::OK, shown).await
}

async fn save_profile(
    State(state): State<AppState>,
    person: Person,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let body = UpdateMeBody {
        name: Some(form.text("name")),
        timezone: Some(form.text("timezone")),
        locale: Some(form.text("locale")),
    };
    match crate::api::me::update_me(State(state.clone()), person.authed.clone(), ApiJson(body))
        .await
    {
        Ok(_) => shell::done(&here(org.as_ref()), "profile"),
        Err(e) => {
            let typed = ["name", "timezone", "locale"]
                .map(|f| form.get(f).unwrap_or_default().trim().to_owned());
            let shown = Shown {
                profile: Some(typed),
                ..Shown::default()
            };
            refused(&state, &person, org.as_ref(), &e, shown).await
        }
    }
}

async fn change_password(
    State(state): State<AppState>,
    person: Person,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let new_password = form.get("new_password").unwrap_or_default();
    if new_password != form.get("new_password_confirmation").unwrap_or_default() {
        let shown = Shown {
            error: Some("The new password and its confirmation do not match.".to_owned()),
            ..Shown::default()
        };
        return render(
            &state,
            &person,
            org.as_ref(),
            StatusCode::BAD_REQUEST,
            shown,
        )
        .await;
    }
    let body = ChangePasswordBody {
        current_password: form.get("current_password").unwrap_or_default().to_owned(),
        new_password: new_password.to_owned(),
    };
    match crate::api::me::change_password(
        State(state.clone()),
        person.authed.clone(),
        ApiJson(body),
    )
    .await
    {
        // Every session ended, this one included; the API started a new one for this
        // browser, whose cookie comes along with the redirect.
        Ok(answer) => {
            let mut to = shell::done(&here(org.as_ref()), "password");
            for cookie in answer.headers().get_all(header::SET_COOKIE) {
                to.headers_mut().append(header::SET_COOKIE, cookie.clone());
            }
            to
        }
        Err(e) => refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
    }
}

async fn change_email(
    State(state): State<AppState>,
    person: Person,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let new_email = form.text("new_email").unwrap_or_default();
    let body = ChangeEmailBody {
        new_email: new_email.clone(),
        current_password: form.get("current_password").unwrap_or_default().to_owned(),
    };
    match crate::api::me::change_email(State(state.clone()), person.authed.clone(), ApiJson(body))
        .await
    {
        // Shown here rather than after a redirect, so the address the person typed never
        // travels in a URL.
        Ok(_) => {
            let shown = Shown {
                notice: Some(format!("We sent a confirmation link to {new_email}.")),
                ..Shown::default()
            };
            render(&state, &person, org.as_ref(), StatusCode::OK, shown).await
        }
        Err(e) => {
            let shown = Shown {
                new_email: Some(new_email),
                ..Shown::default()
            };
            refused(&state, &person, org.as_ref(), &e, shown).await
        }
    }
}

/// Back to the sign-in page with the cookie cleared: this browser's session has ended.
fn signed_out(state: &AppState) -> Response {
    let mut to = Redirect::to("/sign-in").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&state.web.clear_session_cookie()) {
        to.headers_mut().append(header::SET_COOKIE, v);
    }
    to
}

async fn end_session(
    State(state): State<AppState>,
    person: Person,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let Ok(id) = id.parse::<Uuid>() else {
        return refused(
            &state,
            &person,
            org.as_ref(),
            &ApiError::not_found(),
            Shown::default(),
        )
        .await;
    };
    let this = person
        .authed
        .session
        .as_ref()
        .is_some_and(|s| s.id.as_uuid() == id);
    match crate::api::me::end_session(State(state.clone()), person.authed.clone(), ApiPath(id))
        .await
    {
        Ok(_) if this => signed_out(&state),
        Ok(_) => shell::done(&here(org.as_ref()), "session"),
        Err(e) => refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
    }
}

async fn end_other_sessions(
    State(state): State<AppState>,
    person: Person,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let sessions =
        match crate::api::me::list_sessions(State(state.clone()), person.authed.clone()).await {
            Ok(Json(list)) => list.items,
            Err(e) => return refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
        };
    for s in sessions.iter().filter(|s| !s.current) {
        match crate::api::me::end_session(
            State(state.clone()),
            person.authed.clone(),
            ApiPath(s.id),
        )
        .await
        {
            // Ended meanwhile (signed out, expired): what was asked for.
            Ok(_) => {}
            Err(e) if e.code == "not_found" => {}
            Err(e) => return refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
        }
    }
    shell::done(&here(org.as_ref()), "others")
}

async fn save_notifications(
    State(state): State<AppState>,
    person: Person,
    ApiPath(slug): ApiPath<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    let all = form.get("all_categories").is_some();
    let request = NotificationsRequest {
        frequency: form.text("frequency").unwrap_or_default(),
        categories: (!all).then(|| form.all("categories")),
        all_categories: all.then_some(true),
    };
    match crate::api::tasks::set_notifications(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((slug, "me".to_owned())),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => shell::done(&here(org.as_ref()), "notifications"),
        Err(e) => refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
    }
}

async fn leave(
    State(state): State<AppState>,
    person: Person,
    ApiPath(slug): ApiPath<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Err(refused) = person.check_form(&state, &form) {
        return refused;
    }
    let org = posted_from(&state, &person, raw.as_deref()).await;
    match crate::api::members::remove(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((slug.clone(), "me".to_owned())),
    )
    .await
    {
        Ok(_) => {
            let rest: Vec<Membership> = person
                .memberships()
                .iter()
                .filter(|(_, o)| o.slug.as_str() != slug && o.id.to_string() != slug)
                .map(|(m, _)| m.clone())
                .collect();
            if !may_hold_session(&rest) {
                // Nowhere left to sign in to: this session no longer admits anyone.
                return signed_out(&state);
            }
            let stays = org
                .as_ref()
                .filter(|o| o.slug() != slug && o.org.id.to_string() != slug);
            shell::done(&here(stays), "left")
        }
        Err(e) => refused(&state, &person, org.as_ref(), &e, Shown::default()).await,
    }
}
