//! An organization's landing page: where a person arrives after joining or signing in.

use super::shell::{page, Person};
use crate::error::ApiPath;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::context;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/orgs/{org}", get(show))
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
) -> Response {
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let roles: Vec<&str> = org.membership.roles.iter().map(|r| r.as_str()).collect();
    page(
        &state,
        StatusCode::OK,
        "console/home.html",
        context! {
            shell => person.shell(Some(&org), "home"),
            roles => roles.join(", "),
        },
    )
}
