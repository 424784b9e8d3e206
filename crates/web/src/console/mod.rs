//! The admin console: server-rendered pages for people signed in with a session cookie.
//!
//! Every change a console form makes goes through the REST API's own handler, called as a
//! function with the session's caller: one authorization layer, one set of refusals, and
//! a page that shows the API's `detail` as its sentence. The pages add what a browser
//! needs: a per-session form token on every state-changing form (`shell::Person::check_form`),
//! Post/Redirect/Get with a notice, and the navigation the person may use.
//!
//! Pages work without JavaScript; `/assets/console.js` only turns fallbacks (a confirmation
//! page, a form page) into dialogs and counts down the *Send a reset link (30s)* button.

// A console function's error is the page to answer with (see `shell`).
#![allow(clippy::result_large_err)]

mod audit;
mod home;
mod member;
mod profile;
mod settings;
pub(crate) mod shell;
mod sso;
mod users;

use crate::AppState;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub(crate) use shell::session_form_token_matches;

/// The console's routes. Paths under `/orgs/{org}` are the organization's; `/profile` is
/// the person's own.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/roster.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .merge(home::routes())
        .merge(users::routes())
        .merge(member::routes())
        .merge(audit::routes())
        .merge(settings::routes())
        .merge(profile::routes())
        .merge(sso::routes())
}

/// The console's templates: its own, its settings pages' and its profile page's.
pub(crate) const TEMPLATES: [&[(&str, &str)]; 3] =
    [OWN_TEMPLATES, settings::TEMPLATES, profile::TEMPLATES];

/// The console's own templates, embedded in the binary (its settings and profile pages
/// keep theirs beside their handlers).
const OWN_TEMPLATES: &[(&str, &str)] = &[
    (
        "console/layout.html",
        include_str!("../../templates/console/layout.html"),
    ),
    (
        "console/home.html",
        include_str!("../../templates/console/home.html"),
    ),
    (
        "console/users.html",
        include_str!("../../templates/console/users.html"),
    ),
    (
        "console/member.html",
        include_str!("../../templates/console/member.html"),
    ),
    (
        "console/audit.html",
        include_str!("../../templates/console/audit.html"),
    ),
    (
        "console/settings/sso.html",
        include_str!("../../templates/console/settings/sso.html"),
    ),
];

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    (headers, body)
}

async fn stylesheet() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/roster.css"),
    )
}

async fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    )
}
