//! **Single sign-on** (seed 004): the organization's OpenID Connect connection — issuer,
//! client id, write-only client secret, scopes, claimed email domains, the default role of
//! members created at their first sign-in, enforcement — with **Test connection** and
//! **Remove connection**. Acts through the API's handlers like every console form.

use super::shell::{done, forbidden_page, page, sentence, FormData, Org, Person};
use crate::api::sso::{self as api, SsoConnectionRequest};
use crate::error::{ApiJson, ApiPath};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use roster_core::model::Permission;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings/sso", get(show).post(save))
        .route("/orgs/{org}/settings/sso/test", post(test))
        .route("/orgs/{org}/settings/sso/delete", post(remove))
}

#[derive(Deserialize, Default)]
struct SsoQuery {
    done: Option<String>,
    confirm: Option<String>,
}

fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "saved" => "Single sign-on saved.",
        "removed" => "Single sign-on removed: these domains sign in with passwords again.",
        _ => return None,
    })
}

/// What the form shows: the stored connection, or what was typed beside its error.
fn values_of(form: Option<&FormData>, stored: Option<&api::SsoConnectionBody>) -> Value {
    match (form, stored) {
        (Some(f), _) => context! {
            issuer => f.get("issuer").unwrap_or_default(),
            client_id => f.get("client_id").unwrap_or_default(),
            scopes => f.get("scopes").unwrap_or_default(),
            domains => f.get("domains").unwrap_or_default(),
            default_role => f.get("default_role").unwrap_or_default(),
            enforce => f.get("enforce").is_some(),
        },
        (None, Some(c)) => context! {
            issuer => c.issuer.as_str(),
            client_id => c.client_id.as_str(),
            scopes => c.scopes.join(" "),
            domains => c.domains.join(", "),
            default_role => c.default_role.as_deref().unwrap_or(""),
            enforce => c.enforce,
        },
        (None, None) => context! {
            issuer => "", client_id => "", scopes => "email profile", domains => "",
            default_role => "", enforce => false,
        },
    }
}

struct Shown {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    test: Option<(bool, String)>,
}

async fn render(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    form: Option<&FormData>,
    confirm_delete: bool,
) -> Response {
    if !org.can(Permission::OrgSettings) {
        return forbidden_page(state);
    }
    let stored = api::get_sso(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    .ok()
    .map(|j| j.0);
    let redirect_uri = format!("{}/sso/callback", state.roster.links.base());
    page(
        state,
        shown.status,
        "console/settings/sso.html",
        context! {
            shell => person.shell(Some(org), "sso"),
            configured => stored.is_some(),
            values => values_of(form, stored.as_ref()),
            redirect_uri,
            notice => shown.notice,
            error => shown.error,
            test => shown.test.map(|(ok, detail)| context! { ok, detail }),
            confirm_delete,
        },
    )
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    query: Result<Query<SsoQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let shown = Shown {
        status: StatusCode::OK,
        notice: notice(query.done.as_deref()).map(str::to_owned),
        error: None,
        test: None,
    };
    let confirm = query.confirm.as_deref() == Some("delete");
    render(&state, &person, &org, shown, None, confirm).await
}

/// Opens a form post: the organization, then the form token.
async fn enter(
    state: &AppState,
    person: &Person,
    org: &str,
    body: &Bytes,
) -> Result<(Org, FormData), Response> {
    let org = person.org(state, org).await?;
    let form = FormData::parse(body);
    person.check_form(state, &form)?;
    Ok((org, form))
}

async fn save(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter(&state, &person, &org, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let split = |key: &str| -> Vec<String> {
        form.get(key)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let request = SsoConnectionRequest {
        issuer: form.get("issuer").unwrap_or_default().to_owned(),
        client_id: form.get("client_id").unwrap_or_default().to_owned(),
        // Left empty: keep the stored secret.
        client_secret: form.text("client_secret"),
        scopes: Some(split("scopes")),
        domains: split("domains"),
        default_role: form.text("default_role"),
        enforce: form.get("enforce").is_some(),
    };
    match api::put_sso(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => done(&format!("/orgs/{}/settings/sso", org.slug()), "saved"),
        Err(e) => {
            let shown = Shown {
                status: e.status,
                notice: None,
                error: Some(sentence(&e)),
                test: None,
            };
            render(&state, &person, &org, shown, Some(&form), false).await
        }
    }
}

async fn test(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter(&state, &person, &org, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let outcome = api::test_sso(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await;
    let shown = match outcome {
        Ok(t) => Shown {
            status: StatusCode::OK,
            notice: None,
            error: None,
            test: Some((t.0.ok, t.0.detail)),
        },
        Err(e) => Shown {
            status: e.status,
            notice: None,
            error: Some(sentence(&e)),
            test: None,
        },
    };
    render(&state, &person, &org, shown, None, false).await
}

async fn remove(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter(&state, &person, &org, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match api::delete_sso(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    {
        Ok(_) => done(&format!("/orgs/{}/settings/sso", org.slug()), "removed"),
        Err(e) => {
            let shown = Shown {
                status: e.status,
                notice: None,
                error: Some(sentence(&e)),
                test: None,
            };
            render(&state, &person, &org, shown, None, false).await
        }
    }
}
