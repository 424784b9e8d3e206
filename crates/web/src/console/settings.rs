//! The organization's settings in the console: the organization itself, its roles,
//! groups, customers, entities and API tokens.
//!
//! Every page reads and every form changes through the REST API's own handlers, called
//! with the session's caller (see `console/mod.rs`): the API decides who may do what and
//! words the refusals. The pages decide only what to show: a page needs the permission
//! its sidebar link needs (403 otherwise), and the customers page is read-only without
//! `customers.manage`. A refusal re-renders the page with the API's sentence and the
//! values as typed; a change redirects with a fixed notice (`?done=` is looked up, never
//! shown as it came). Deletions confirm in a `<dialog>` that `?confirm=delete` renders
//! open, so they work without JavaScript.

use super::shell::{self, done, not_found, page, FormData, Org, Person};
use crate::api::access::{
    self as access_api, CustomerRequest, EntityRequest, GroupRequest, RoleBody, RoleRequest,
};
use crate::api::bodies::{CreateTokenBody, ListParams, TokenBody, UpdateOrg};
use crate::api::{orgs as orgs_api, tokens as tokens_api};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::pages::message;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{context, Value};
use roster_core::model::Permission;
use std::collections::BTreeMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings", get(org_show).post(org_save))
        .route(
            "/orgs/{org}/settings/roles",
            get(roles_show).post(role_create),
        )
        .route(
            "/orgs/{org}/settings/roles/{role}",
            get(role_show).post(role_save),
        )
        .route(
            "/orgs/{org}/settings/roles/{role}/delete",
            post(role_delete),
        )
        .route(
            "/orgs/{org}/settings/groups",
            get(groups_show).post(group_create),
        )
        .route(
            "/orgs/{org}/settings/groups/{group}",
            get(group_show).post(group_save),
        )
        .route(
            "/orgs/{org}/settings/groups/{group}/delete",
            post(group_delete),
        )
        .route(
            "/orgs/{org}/settings/customers",
            get(customers_show).post(customer_create),
        )
        .route(
            "/orgs/{org}/settings/customers/{customer}",
            get(customer_show).post(customer_save),
        )
        .route(
            "/orgs/{org}/settings/customers/{customer}/delete",
            post(customer_delete),
        )
        .route(
            "/orgs/{org}/settings/entities",
            get(entities_show).post(entity_create),
        )
        .route(
            "/orgs/{org}/settings/entities/{entity}",
            get(entity_show).post(entity_save),
        )
        .route(
            "/orgs/{org}/settings/entities/{entity}/delete",
            post(entity_delete),
        )
        .route(
            "/orgs/{org}/settings/tokens",
            get(tokens_show).post(token_create),
        )
        .route(
            "/orgs/{org}/settings/tokens/{token}/revoke",
            post(token_revoke),
        )
}

/// The settings pages' templates, embedded in the binary.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "console/settings/macros.html",
        include_str!("../../templates/console/settings/macros.html"),
    ),
    (
        "console/settings/org.html",
        include_str!("../../templates/console/settings/org.html"),
    ),
    (
        "console/settings/roles.html",
        include_str!("../../templates/console/settings/roles.html"),
    ),
    (
        "console/settings/role.html",
        include_str!("../../templates/console/settings/role.html"),
    ),
    (
        "console/settings/groups.html",
        include_str!("../../templates/console/settings/groups.html"),
    ),
    (
        "console/settings/group.html",
        include_str!("../../templates/console/settings/group.html"),
    ),
    (
        "console/settings/customers.html",
        include_str!("../../templates/console/settings/customers.html"),
    ),
    (
        "console/settings/customer.html",
        include_str!("../../templates/console/settings/customer.html"),
    ),
    (
        "console/settings/entities.html",
        include_str!("../../templates/console/settings/entities.html"),
    ),
    (
        "console/settings/entity.html",
        include_str!("../../templates/console/settings/entity.html"),
    ),
    (
        "console/settings/tokens.html",
        include_str!("../../templates/console/settings/tokens.html"),
    ),
];

// ---------------------------------------------------------------------------------------
// What every settings page shares.

/// The query parameters the settings pages read. Nothing of it is shown as it came:
/// `done` is looked up in [`notice`], `confirm` and `revoke` only open a dialog, `cursor`
/// and `limit` go to the API, which checks them.
#[derive(Default)]
struct Query {
    done: Option<String>,
    confirm: Option<String>,
    revoke: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

impl Query {
    fn parse(raw: Option<String>) -> Self {
        let mut q = Self::default();
        let raw = raw.unwrap_or_default();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let v = v.trim().to_owned();
            match &*k {
                "done" => q.done = Some(v),
                "confirm" => q.confirm = Some(v),
                "revoke" => q.revoke = Some(v),
                "cursor" if !v.is_empty() => q.cursor = Some(v),
                "limit" => q.limit = v.parse().ok(),
                _ => {}
            }
        }
        q
    }

    fn confirm_delete(&self) -> bool {
        self.confirm.as_deref() == Some("delete")
    }
}

/// The notice after a change, by its fixed code.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "settings_saved" => "The organization's settings are saved.",
        "role_created" => "The role is created.",
        "role_saved" => "The role is saved.",
        "role_deleted" => "The role is deleted.",
        "group_created" => "The group is created.",
        "group_saved" => "The group is saved.",
        "group_deleted" => "The group is deleted.",
        "customer_created" => "The customer is added.",
        "customer_saved" => "The customer is saved.",
        "customer_deleted" => "The customer is deleted.",
        "entity_created" => "The entity is added.",
        "entity_saved" => "The entity is renamed.",
        "entity_deleted" => "The entity is deleted.",
        "token_revoked" => "The token is revoked: requests with it are refused from now on.",
        _ => return None,
    })
}

/// How a page is shown: its status, and the notice or the refusal on top.
struct Shown {
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl Shown {
    fn after(q: &Query) -> Self {
        Self {
            status: StatusCode::OK,
            notice: notice(q.done.as_deref()),
            error: None,
        }
    }

    fn refused(e: &ApiError) -> Self {
        Self::sentence(e.status, shell::sentence(e))
    }

    fn sentence(status: StatusCode, error: String) -> Self {
        Self {
            status,
            notice: None,
            error: Some(error),
        }
    }
}

fn forbidden(state: &AppState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "Not allowed",
        "You do not have permission to see or change this part of the organization's settings.",
    )
}

/// A page that cannot be shown because the API refused to read it.
fn failed(state: &AppState, e: &ApiError) -> Response {
    if e.code == "not_found" {
        not_found(state)
    } else if e.status == StatusCode::FORBIDDEN {
        forbidden(state)
    } else {
        message(
            state,
            e.status,
            "This page could not be shown",
            &shell::sentence(e),
        )
    }
}

/// The organization of a page, for a person who holds `need` there.
async fn enter(
    state: &AppState,
    person: &Person,
    org: &str,
    need: Permission,
) -> Result<Org, Response> {
    let org = person.org(state, org).await?;
    if org.can(need) {
        Ok(org)
    } else {
        Err(forbidden(state))
    }
}

/// A posted form: its token checked first, then the organization and the permission.
async fn enter_form(
    state: &AppState,
    person: &Person,
    org: &str,
    need: Permission,
    body: &[u8],
) -> Result<(Org, FormData), Response> {
    let form = FormData::parse(body);
    person.check_form(state, &form)?;
    let org = enter(state, person, org, need).await?;
    Ok((org, form))
}

fn base(org: &Org) -> String {
    format!("/orgs/{}/settings", org.slug())
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The permission catalog grouped by area, in catalog order, for a picker whose
/// checkboxes' ids start with `prefix`.
fn areas(state: &AppState, prefix: &str) -> Vec<Value> {
    let mut grouped: Vec<(&str, Vec<Value>)> = vec![];
    for e in state.roster.catalog.entries() {
        let item = context! {
            code => e.code.as_str(),
            label => e.label.as_str(),
            id => format!("{prefix}-{}", e.code),
        };
        match grouped.iter_mut().find(|(area, _)| *area == e.area) {
            Some((_, items)) => items.push(item),
            None => grouped.push((e.area.as_str(), vec![item])),
        }
    }
    grouped
        .into_iter()
        .map(|(area, items)| context! { area, items })
        .collect()
}

/// The raw value of a text field, as the API should judge it (blank included).
fn raw(form: &FormData, name: &str) -> Option<String> {
    form.get(name).map(|v| v.trim().to_owned())
}

// ---------------------------------------------------------------------------------------
// The organization: name and settings.

/// The settings the page edits, with their labels (the API names them in its refusals).
const ORG_FIELDS: [(&str, &str); 5] = [
    ("invitation_lifetime_hours", "Invitation lifetime (hours)"),
    ("password_min_length", "Password minimum length"),
    (
        "session_idle_timeout_minutes",
        "Session idle timeout (minutes)",
    ),
    ("session_lifetime_hours", "Session lifetime (hours)"),
    ("timezone", "Time zone"),
];

fn org_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    values: BTreeMap<&str, String>,
    field_errors: BTreeMap<&str, String>,
) -> Response {
    page(
        state,
        shown.status,
        "console/settings/org.html",
        context! {
            shell => person.shell(Some(org), "settings"),
            notice => shown.notice,
            error => shown.error,
            slug => org.slug(),
            kind => org.org.kind.as_str(),
            values,
            field_errors,
        },
    )
}

async fn org_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::OrgSettings).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let found = match orgs_api::get_org(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    {
        Ok(axum::Json(o)) => o,
        Err(e) => return failed(&state, &e),
    };
    let s = &found.settings;
    let values = BTreeMap::from([
        ("name", found.name.clone()),
        (
            "invitation_lifetime_hours",
            s.invitation_lifetime_hours.to_string(),
        ),
        ("password_min_length", s.password_min_length.to_string()),
        (
            "session_idle_timeout_minutes",
            s.session_idle_timeout_minutes.to_string(),
        ),
        (
            "session_lifetime_hours",
            s.session_lifetime_hours.to_string(),
        ),
        ("timezone", s.timezone.clone()),
    ]);
    org_page(
        &state,
        &person,
        &org,
        Shown::after(&Query::parse(q)),
        values,
        BTreeMap::new(),
    )
}

/// Which field a refusal of the settings is about, and its sentence with the field's
/// label instead of the API's key.
fn settings_refusal(e: &ApiError) -> (Option<&'static str>, String) {
    match e.code {
        "invalid_settings" => {
            for (key, label) in ORG_FIELDS {
                let marker = format!("setting '{key}'");
                if e.detail.contains(&marker) {
                    let mut sentence = e.detail.replacen(&marker, label, 1);
                    if !sentence.ends_with('.') {
                        sentence.push('.');
                    }
                    return (Some(key), sentence);
                }
            }
            (None, shell::sentence(e))
        }
        "invalid_name" => (Some("name"), shell::sentence(e)),
        _ => (None, shell::sentence(e)),
    }
}

async fn org_save(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::OrgSettings, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut values = BTreeMap::new();
    let mut field_errors = BTreeMap::new();
    let mut settings = serde_json::Map::new();
    values.insert("name", raw(&form, "name").unwrap_or_default());
    for (key, label) in ORG_FIELDS {
        let Some(v) = raw(&form, key) else {
            continue;
        };
        values.insert(key, v.clone());
        if key == "timezone" {
            settings.insert(key.to_owned(), serde_json::Value::String(v));
        } else {
            match v.parse::<u32>() {
                Ok(n) => {
                    settings.insert(key.to_owned(), n.into());
                }
                Err(_) => {
                    field_errors.insert(key, format!("{label} must be a whole number."));
                }
            }
        }
    }
    if let Some(first) = field_errors.values().next() {
        let shown = Shown::sentence(StatusCode::BAD_REQUEST, first.clone());
        return org_page(&state, &person, &org, shown, values, field_errors);
    }
    let update = UpdateOrg {
        name: raw(&form, "name"),
        settings: Some(settings),
    };
    match orgs_api::update_org(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(update),
    )
    .await
    {
        Ok(_) => done(&base(&org), "settings_saved"),
        Err(e) if e.code == "not_found" || e.status == StatusCode::FORBIDDEN => failed(&state, &e),
        Err(e) => {
            let (field, sentence) = settings_refusal(&e);
            if let Some(field) = field {
                field_errors.insert(field, sentence.clone());
            }
            let shown = Shown::sentence(e.status, sentence);
            org_page(&state, &person, &org, shown, values, field_errors)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Roles.

async fn all_roles(
    state: &AppState,
    person: &Person,
    org: &Org,
) -> Result<Vec<RoleBody>, ApiError> {
    access_api::list_roles(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    .map(|axum::Json(l)| l.items)
}

/// A role form's values: as posted, or as the role is.
fn role_values(form: Option<&FormData>, role: Option<&RoleBody>) -> Value {
    match (form, role) {
        (Some(f), _) => context! {
            name => raw(f, "name").unwrap_or_default(),
            description => raw(f, "description").unwrap_or_default(),
            permissions => f.all("permissions"),
            customer_scoped => f.get("customer_scoped").is_some(),
        },
        (None, Some(r)) => context! {
            name => r.name.as_str(),
            description => r.description.clone().unwrap_or_default(),
            permissions => r.permissions.clone(),
            customer_scoped => r.customers == "assigned",
        },
        (None, None) => context! {
            name => "",
            description => "",
            permissions => Vec::<String>::new(),
            customer_scoped => true,
        },
    }
}

fn role_request(form: &FormData) -> RoleRequest {
    RoleRequest {
        name: raw(form, "name"),
        description: Some(raw(form, "description").unwrap_or_default()),
        permissions: Some(form.all("permissions")),
        customer_scoped: Some(form.get("customer_scoped").is_some()),
    }
}

async fn roles_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    values: Value,
) -> Response {
    let roles = match all_roles(state, person, org).await {
        Ok(r) => r,
        Err(e) => return failed(state, &e),
    };
    let (builtin, custom): (Vec<RoleBody>, Vec<RoleBody>) =
        roles.into_iter().partition(|r| r.builtin);
    page(
        state,
        shown.status,
        "console/settings/roles.html",
        context! {
            shell => person.shell(Some(org), "roles"),
            notice => shown.notice,
            error => shown.error,
            builtin,
            custom,
            areas => areas(state, "perm"),
            values,
        },
    )
}

async fn roles_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::RolesManage).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let shown = Shown::after(&Query::parse(q));
    roles_page(&state, &person, &org, shown, role_values(None, None)).await
}

async fn role_create(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::create_role(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(role_request(&form)),
    )
    .await
    {
        Ok(_) => done(&format!("{}/roles", base(&org)), "role_created"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let values = role_values(Some(&form), None);
            roles_page(&state, &person, &org, Shown::refused(&e), values).await
        }
    }
}

/// One role's page: a custom role's edit form, or a built-in role, read-only.
async fn role_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    role: &str,
    shown: Shown,
    form: Option<&FormData>,
    confirm_delete: bool,
) -> Response {
    let found = match access_api::get_role(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), role.to_owned())),
    )
    .await
    {
        Ok(axum::Json(r)) => r,
        Err(e) => return failed(state, &e),
    };
    let values = role_values(form, Some(&found));
    page(
        state,
        shown.status,
        "console/settings/role.html",
        context! {
            shell => person.shell(Some(org), "roles"),
            notice => shown.notice,
            error => shown.error,
            role => found,
            areas => areas(state, "perm"),
            values,
            confirm_delete => confirm_delete && !found.builtin,
        },
    )
}

async fn role_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, role)): ApiPath<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::RolesManage).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let confirm = q.confirm_delete();
    role_page(
        &state,
        &person,
        &org,
        &role,
        Shown::after(&q),
        None,
        confirm,
    )
    .await
}

async fn role_save(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, role)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::update_role(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), role.clone())),
        ApiJson(role_request(&form)),
    )
    .await
    {
        Ok(axum::Json(r)) => done(&format!("{}/roles/{}", base(&org), r.id), "role_saved"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            role_page(&state, &person, &org, &role, shown, Some(&form), false).await
        }
    }
}

async fn role_delete(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, role)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::delete_role(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), role.clone())),
    )
    .await
    {
        Ok(_) => done(&format!("{}/roles", base(&org)), "role_deleted"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            role_page(&state, &person, &org, &role, shown, None, false).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Groups.

/// The roles a group may grant: User, Marketing and the custom roles (never Admin or
/// Notifications), as checkboxes whose ids start with `group-role`.
fn group_choices(roles: &[RoleBody]) -> Vec<Value> {
    roles
        .iter()
        .filter(|r| !r.builtin || r.id == "user" || r.id == "marketing")
        .map(|r| {
            context! {
                value => r.id.as_str(),
                name => r.name.as_str(),
                id => format!("group-role-{}", r.id),
            }
        })
        .collect()
}

fn role_name<'a>(roles: &'a [RoleBody], id: &'a str) -> &'a str {
    roles
        .iter()
        .find(|r| r.id == id)
        .map_or(id, |r| r.name.as_str())
}

fn group_values(form: Option<&FormData>, group: Option<&access_api::GroupBody>) -> Value {
    match (form, group) {
        (Some(f), _) => context! {
            name => raw(f, "name").unwrap_or_default(),
            description => raw(f, "description").unwrap_or_default(),
            roles => f.all("roles"),
        },
        (None, Some(g)) => context! {
            name => g.name.as_str(),
            description => g.description.clone().unwrap_or_default(),
            roles => g.roles.clone(),
        },
        (None, None) => context! {
            name => "",
            description => "",
            roles => Vec::<String>::new(),
        },
    }
}

fn group_request(form: &FormData) -> GroupRequest {
    GroupRequest {
        name: raw(form, "name"),
        description: Some(raw(form, "description").unwrap_or_default()),
        roles: Some(form.all("roles")),
    }
}

async fn groups_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    values: Value,
) -> Response {
    let roles = match all_roles(state, person, org).await {
        Ok(r) => r,
        Err(e) => return failed(state, &e),
    };
    let groups = match access_api::list_groups(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    {
        Ok(axum::Json(l)) => l.items,
        Err(e) => return failed(state, &e),
    };
    let rows: Vec<Value> = groups
        .iter()
        .map(|g| {
            context! {
                id => g.id.to_string(),
                name => g.name.as_str(),
                description => g.description.as_deref(),
                roles => g.roles.iter().map(|r| role_name(&roles, r)).collect::<Vec<_>>(),
                members => g.members,
            }
        })
        .collect();
    page(
        state,
        shown.status,
        "console/settings/groups.html",
        context! {
            shell => person.shell(Some(org), "groups"),
            notice => shown.notice,
            error => shown.error,
            groups => rows,
            choices => group_choices(&roles),
            values,
        },
    )
}

async fn groups_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::RolesManage).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let shown = Shown::after(&Query::parse(q));
    groups_page(&state, &person, &org, shown, group_values(None, None)).await
}

async fn group_create(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::create_group(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(group_request(&form)),
    )
    .await
    {
        Ok(_) => done(&format!("{}/groups", base(&org)), "group_created"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let values = group_values(Some(&form), None);
            groups_page(&state, &person, &org, Shown::refused(&e), values).await
        }
    }
}

async fn group_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    group: &str,
    shown: Shown,
    form: Option<&FormData>,
    confirm_delete: bool,
) -> Response {
    let found = match access_api::get_group(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), group.to_owned())),
    )
    .await
    {
        Ok(axum::Json(g)) => g,
        Err(e) => return failed(state, &e),
    };
    let roles = match all_roles(state, person, org).await {
        Ok(r) => r,
        Err(e) => return failed(state, &e),
    };
    page(
        state,
        shown.status,
        "console/settings/group.html",
        context! {
            shell => person.shell(Some(org), "groups"),
            notice => shown.notice,
            error => shown.error,
            group => context! {
                id => found.id.to_string(),
                name => found.name.as_str(),
                members => found.members,
            },
            choices => group_choices(&roles),
            values => group_values(form, Some(&found)),
            confirm_delete,
        },
    )
}

async fn group_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, group)): ApiPath<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::RolesManage).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let confirm = q.confirm_delete();
    group_page(
        &state,
        &person,
        &org,
        &group,
        Shown::after(&q),
        None,
        confirm,
    )
    .await
}

async fn group_save(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, group)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::update_group(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), group.clone())),
        ApiJson(group_request(&form)),
    )
    .await
    {
        Ok(axum::Json(g)) => done(&format!("{}/groups/{}", base(&org), g.id), "group_saved"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            group_page(&state, &person, &org, &group, shown, Some(&form), false).await
        }
    }
}

async fn group_delete(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, group)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter_form(&state, &person, &org, Permission::RolesManage, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::delete_group(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), group.clone())),
    )
    .await
    {
        Ok(_) => done(&format!("{}/groups", base(&org)), "group_deleted"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            group_page(&state, &person, &org, &group, shown, None, false).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Customers.

fn customer_values(form: Option<&FormData>, customer: Option<&access_api::CustomerBody>) -> Value {
    match (form, customer) {
        (Some(f), _) => context! {
            name => raw(f, "name").unwrap_or_default(),
            external_id => raw(f, "external_id").unwrap_or_default(),
        },
        (None, Some(c)) => context! {
            name => c.name.as_str(),
            external_id => c.external_id.clone().unwrap_or_default(),
        },
        (None, None) => context! { name => "", external_id => "" },
    }
}

async fn customers_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    values: Value,
    q: &Query,
) -> Response {
    let list = match access_api::list_customers(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiQuery(ListParams {
            limit: q.limit,
            cursor: q.cursor.clone(),
        }),
    )
    .await
    {
        Ok(axum::Json(l)) => l,
        Err(e) => return failed(state, &e),
    };
    let rows: Vec<Value> = list
        .items
        .iter()
        .map(|c| {
            context! {
                id => c.id.to_string(),
                name => c.name.as_str(),
                external_id => c.external_id.as_deref(),
                assigned_members => c.assigned_members,
            }
        })
        .collect();
    page(
        state,
        shown.status,
        "console/settings/customers.html",
        context! {
            shell => person.shell(Some(org), "customers"),
            notice => shown.notice,
            error => shown.error,
            customers => rows,
            total => list.total,
            next_cursor => list.next_cursor,
            paged => q.cursor.is_some(),
            limit => q.limit,
            can_manage => org.can(Permission::CustomersManage),
            values,
        },
    )
}

async fn customers_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::CustomersRead).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let shown = Shown::after(&q);
    customers_page(
        &state,
        &person,
        &org,
        shown,
        customer_values(None, None),
        &q,
    )
    .await
}

async fn customer_create(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) =
        match enter_form(&state, &person, &org, Permission::CustomersManage, &body).await {
            Ok(v) => v,
            Err(page) => return page,
        };
    let request = CustomerRequest {
        name: raw(&form, "name"),
        external_id: form.text("external_id"),
    };
    match access_api::create_customer(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => done(&format!("{}/customers", base(&org)), "customer_created"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let values = customer_values(Some(&form), None);
            let shown = Shown::refused(&e);
            customers_page(&state, &person, &org, shown, values, &Query::default()).await
        }
    }
}

async fn customer_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    customer: &str,
    shown: Shown,
    form: Option<&FormData>,
    confirm_delete: bool,
) -> Response {
    let found = match access_api::get_customer(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), customer.to_owned())),
    )
    .await
    {
        Ok(axum::Json(c)) => c,
        Err(e) => return failed(state, &e),
    };
    let can_manage = org.can(Permission::CustomersManage);
    page(
        state,
        shown.status,
        "console/settings/customer.html",
        context! {
            shell => person.shell(Some(org), "customers"),
            notice => shown.notice,
            error => shown.error,
            customer => context! {
                id => found.id.to_string(),
                name => found.name.as_str(),
                external_id => found.external_id.as_deref(),
                assigned_members => found.assigned_members,
                created_at => when(found.created_at),
            },
            values => customer_values(form, Some(&found)),
            can_manage,
            confirm_delete => confirm_delete && can_manage,
        },
    )
}

async fn customer_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, customer)): ApiPath<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::CustomersRead).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let confirm = q.confirm_delete();
    customer_page(
        &state,
        &person,
        &org,
        &customer,
        Shown::after(&q),
        None,
        confirm,
    )
    .await
}

async fn customer_save(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, customer)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, form) =
        match enter_form(&state, &person, &org, Permission::CustomersManage, &body).await {
            Ok(v) => v,
            Err(page) => return page,
        };
    let request = CustomerRequest {
        name: raw(&form, "name"),
        // Empty clears it.
        external_id: Some(raw(&form, "external_id").unwrap_or_default()),
    };
    match access_api::update_customer(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), customer.clone())),
        ApiJson(request),
    )
    .await
    {
        Ok(axum::Json(c)) => done(
            &format!("{}/customers/{}", base(&org), c.id),
            "customer_saved",
        ),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            customer_page(&state, &person, &org, &customer, shown, Some(&form), false).await
        }
    }
}

async fn customer_delete(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, customer)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter_form(&state, &person, &org, Permission::CustomersManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::delete_customer(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), customer.clone())),
    )
    .await
    {
        Ok(_) => done(&format!("{}/customers", base(&org)), "customer_deleted"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            customer_page(&state, &person, &org, &customer, shown, None, false).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entities.

async fn entities_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    name: &str,
) -> Response {
    let entities = match access_api::list_entities(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    {
        Ok(axum::Json(l)) => l.items,
        Err(e) => return failed(state, &e),
    };
    let rows: Vec<Value> = entities
        .iter()
        .map(|e| context! { id => e.id.to_string(), name => e.name.as_str(), members => e.members })
        .collect();
    page(
        state,
        shown.status,
        "console/settings/entities.html",
        context! {
            shell => person.shell(Some(org), "entities"),
            notice => shown.notice,
            error => shown.error,
            entities => rows,
            values => context! { name },
        },
    )
}

async fn entities_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::OrgSettings).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let shown = Shown::after(&Query::parse(q));
    entities_page(&state, &person, &org, shown, "").await
}

async fn entity_create(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::OrgSettings, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let name = raw(&form, "name");
    match access_api::create_entity(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(EntityRequest { name: name.clone() }),
    )
    .await
    {
        Ok(_) => done(&format!("{}/entities", base(&org)), "entity_created"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let name = name.unwrap_or_default();
            entities_page(&state, &person, &org, Shown::refused(&e), &name).await
        }
    }
}

async fn entity_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    entity: &str,
    shown: Shown,
    name: Option<String>,
    confirm_delete: bool,
) -> Response {
    let found = match access_api::get_entity(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), entity.to_owned())),
    )
    .await
    {
        Ok(axum::Json(e)) => e,
        Err(e) => return failed(state, &e),
    };
    page(
        state,
        shown.status,
        "console/settings/entity.html",
        context! {
            shell => person.shell(Some(org), "entities"),
            notice => shown.notice,
            error => shown.error,
            entity => context! {
                id => found.id.to_string(),
                name => found.name.as_str(),
                members => found.members,
            },
            values => context! { name => name.unwrap_or_else(|| found.name.clone()) },
            confirm_delete,
        },
    )
}

async fn entity_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, entity)): ApiPath<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::OrgSettings).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let confirm = q.confirm_delete();
    entity_page(
        &state,
        &person,
        &org,
        &entity,
        Shown::after(&q),
        None,
        confirm,
    )
    .await
}

async fn entity_save(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, entity)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::OrgSettings, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let name = raw(&form, "name");
    match access_api::update_entity(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), entity.clone())),
        ApiJson(EntityRequest { name: name.clone() }),
    )
    .await
    {
        Ok(axum::Json(e)) => done(&format!("{}/entities/{}", base(&org), e.id), "entity_saved"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            entity_page(&state, &person, &org, &entity, shown, name, false).await
        }
    }
}

async fn entity_delete(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, entity)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter_form(&state, &person, &org, Permission::OrgSettings, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match access_api::delete_entity(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), entity.clone())),
    )
    .await
    {
        Ok(_) => done(&format!("{}/entities", base(&org)), "entity_deleted"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::refused(&e);
            entity_page(&state, &person, &org, &entity, shown, None, false).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// API tokens.

fn token_row(t: &TokenBody, now: DateTime<Utc>, confirm: Option<&str>) -> Value {
    let id = t.id.to_string();
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    context! {
        open => status == "active" && confirm == Some(id.as_str()),
        id,
        name => t.name.as_str(),
        permissions => t.permissions.clone(),
        created_at => when(t.created_at),
        last_used_at => t.last_used_at.map(when),
        expires_at => t.expires_at.map(when),
        revoked_at => t.revoked_at.map(when),
        status,
    }
}

/// A token just created: its name and its secret, shown on this answer only.
struct Created {
    name: String,
    secret: String,
}

async fn tokens_page(
    state: &AppState,
    person: &Person,
    org: &Org,
    shown: Shown,
    values: Value,
    confirm: Option<&str>,
    created: Option<Created>,
) -> Response {
    let tokens = match tokens_api::list_tokens(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
    )
    .await
    {
        Ok(axum::Json(l)) => l.items,
        // A token just created shows its secret even if the list cannot be read: it is
        // the only time it can be shown.
        Err(_) if created.is_some() => Vec::new(),
        Err(e) => return failed(state, &e),
    };
    let now = state.roster.clock.now();
    let rows: Vec<Value> = tokens.iter().map(|t| token_row(t, now, confirm)).collect();
    let is_created = created.is_some();
    let mut response = page(
        state,
        shown.status,
        "console/settings/tokens.html",
        context! {
            shell => person.shell(Some(org), "tokens"),
            notice => shown.notice,
            error => shown.error,
            tokens => rows,
            areas => areas(state, "token-perm"),
            values,
            created => created.map(|c| context! { name => c.name, secret => c.secret }),
        },
    );
    if is_created {
        // The secret must stay on this screen only.
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

fn token_values(form: Option<&FormData>) -> Value {
    match form {
        Some(f) => context! {
            name => raw(f, "name").unwrap_or_default(),
            permissions => f.all("permissions"),
            expires_on => raw(f, "expires_on").unwrap_or_default(),
        },
        None => context! {
            name => "",
            permissions => Vec::<String>::new(),
            expires_on => "",
        },
    }
}

async fn tokens_show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let org = match enter(&state, &person, &org, Permission::TokensManage).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let q = Query::parse(q);
    let confirm = q
        .revoke
        .as_deref()
        .and_then(|r| uuid::Uuid::try_parse(r).ok())
        .map(|u| u.to_string());
    tokens_page(
        &state,
        &person,
        &org,
        Shown::after(&q),
        token_values(None),
        confirm.as_deref(),
        None,
    )
    .await
}

/// The sentence for a refused token: the API's, except where it names a JSON field.
fn token_sentence(e: &ApiError) -> String {
    match e.code {
        "invalid_expiry" => "Choose an expiry date in the future, or none.".to_owned(),
        _ => shell::sentence(e),
    }
}

async fn token_create(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Response {
    let (org, form) = match enter_form(&state, &person, &org, Permission::TokensManage, &body).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let values = token_values(Some(&form));
    // The token works until the start of the day chosen, in UTC.
    let expires_at = match form.text("expires_on") {
        None => None,
        Some(day) => match NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            Some(t) => Some(t.and_utc()),
            None => {
                let shown = Shown::sentence(
                    StatusCode::BAD_REQUEST,
                    "Enter the expiry date as YYYY-MM-DD, or leave it empty.".to_owned(),
                );
                return tokens_page(&state, &person, &org, shown, values, None, None).await;
            }
        },
    };
    let request = CreateTokenBody {
        name: raw(&form, "name").unwrap_or_default(),
        permissions: form.all("permissions"),
        expires_at,
    };
    match tokens_api::create_token(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiJson(request),
    )
    .await
    {
        Ok((_, axum::Json(created))) => {
            let created = Created {
                name: created.token.name,
                secret: created.secret,
            };
            let shown = Shown {
                status: StatusCode::CREATED,
                notice: None,
                error: None,
            };
            let values = token_values(None);
            tokens_page(&state, &person, &org, shown, values, None, Some(created)).await
        }
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::sentence(e.status, token_sentence(&e));
            tokens_page(&state, &person, &org, shown, values, None, None).await
        }
    }
}

async fn token_revoke(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, token)): ApiPath<(String, String)>,
    body: Bytes,
) -> Response {
    let (org, _) = match enter_form(&state, &person, &org, Permission::TokensManage, &body).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Ok(id) = uuid::Uuid::try_parse(&token) else {
        return not_found(&state);
    };
    match tokens_api::revoke_token(
        State(state.clone()),
        person.authed.clone(),
        ApiPath((org.slug().to_owned(), id)),
    )
    .await
    {
        Ok(_) => done(&format!("{}/tokens", base(&org)), "token_revoked"),
        Err(e) if e.code == "not_found" => failed(&state, &e),
        Err(e) => {
            let shown = Shown::sentence(e.status, token_sentence(&e));
            tokens_page(&state, &person, &org, shown, token_values(None), None, None).await
        }
    }
}
