//! A member's page (seed 001, seed 002): the header with status, **Resend email** for a
//! pending invitation, the **…** menu with **Deactivate** / **Activate** and **Delete**
//! (a confirmation naming the person), and the tabs **Groups and Roles**, **Permissions**,
//! **Customers** (*Confirm selection*), **Password** (*Send a reset link*, then
//! *Send a reset link (30s)* counting down, across reloads), **Sign-in attempts** and
//! **Notifications**.

use super::shell::{done, not_found, page, sentence, FormData, Org, Person};
use super::users::{member_value, Vocabulary};
use crate::api::bodies::{CustomersBody, EntityBody, GroupsBody, RolesBody};
use crate::api::tasks::NotificationsRequest;
use crate::api::{access, assignments, inviting, members, tasks};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use roster_core::ids::MembershipId;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/users/{member}", get(show))
        .route("/orgs/{org}/users/{member}/{action}", post(act))
}

/// The tabs, in the seed's words: (query value, label).
const TABS: [(&str, &str); 6] = [
    ("roles", "Groups and Roles"),
    ("permissions", "Permissions"),
    ("customers", "Customers"),
    ("password", "Password"),
    ("attempts", "Sign-in attempts"),
    ("notifications", "Notifications"),
];

#[derive(Deserialize, Default)]
struct MemberQuery {
    tab: Option<String>,
    /// `delete`: the confirmation dialog is open (the link's target without JavaScript).
    confirm: Option<String>,
    done: Option<String>,
}

/// The fixed sentence of a notice after a change.
fn notice_for(code: &str, email: &str) -> Option<String> {
    Some(match code {
        "resent" => format!("A new invitation email was sent to {email}."),
        "cancelled" => "The invitation was cancelled.".to_owned(),
        "deactivated" => "The user is deactivated: they can no longer sign in here.".to_owned(),
        "activated" => "The user is active again, with everything they had before.".to_owned(),
        "reset" => format!("Reset link sent to {email}."),
        "roles" => "Roles saved.".to_owned(),
        "groups" => "Groups saved.".to_owned(),
        "entity" => "Entity saved.".to_owned(),
        "customers" => "Customer selection confirmed.".to_owned(),
        "notifications" => "Notification settings saved.".to_owned(),
        _ => return None,
    })
}

fn tab_of(query: &MemberQuery) -> &'static str {
    let wanted = query.tab.as_deref().unwrap_or("roles");
    TABS.iter()
        .find(|(k, _)| *k == wanted)
        .map_or("roles", |(k, _)| k)
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, member)): ApiPath<(String, String)>,
    query: Result<Query<MemberQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let tab = tab_of(&query);
    render(
        &state,
        &person,
        &org,
        &member,
        tab,
        &query,
        StatusCode::OK,
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    person: &Person,
    org: &Org,
    member: &str,
    tab: &str,
    query: &MemberQuery,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    if member.parse::<MembershipId>().is_err() {
        return not_found(state);
    }
    let path = || ApiPath((org.slug().to_owned(), member.to_owned()));
    let st = || State(state.clone());
    let authed = || person.authed.clone();
    let detail = match members::get(st(), authed(), path()).await {
        Ok(d) => d.0,
        Err(e) if e.status == StatusCode::NOT_FOUND || e.status == StatusCode::FORBIDDEN => {
            return not_found(state)
        }
        Err(e) => return page_error(state, person, org, &e),
    };
    let vocabulary = Vocabulary::load(state, person, org).await;
    let is_self = detail.member.id == org.membership.id.as_uuid();
    // What the tab shows; what the person may not read is an empty tab with a sentence.
    let mut tab_ctx = context! {};
    let mut tab_error: Option<String> = None;
    match tab {
        "permissions" => match access::member_permissions(st(), authed(), path()).await {
            Ok(p) => {
                let mut areas: Vec<(String, Vec<Value>)> = Vec::new();
                for item in &p.0.items {
                    let entry = Value::from_serialize(item);
                    match areas.iter_mut().find(|(a, _)| *a == item.area) {
                        Some((_, list)) => list.push(entry),
                        None => areas.push((item.area.clone(), vec![entry])),
                    }
                }
                tab_ctx = context! { in_force => p.0.in_force, areas };
            }
            Err(e) => tab_error = Some(sentence(&e)),
        },
        "password" => {
            let view = crate::api::members::org_view(state, &person.authed, org.slug()).await;
            let cooldown = match view {
                Ok(view) => state
                    .roster
                    .reset_link_cooldown(&view, MembershipId::from_uuid(detail.member.id))
                    .await
                    .unwrap_or(None),
                Err(_) => None,
            };
            tab_ctx = context! { cooldown };
        }
        "attempts" => match members::sign_in_attempts(st(), authed(), path()).await {
            Ok(list) => tab_ctx = context! { attempts => Value::from_serialize(&list.0.items) },
            Err(e) => tab_error = Some(sentence(&e)),
        },
        "notifications" => match tasks::get_notifications(st(), authed(), path()).await {
            Ok(n) => tab_ctx = context! { settings => Value::from_serialize(&n.0) },
            Err(e) => tab_error = Some(sentence(&e)),
        },
        _ => {}
    }
    // Assignments the pick list does not show (beyond its length) go back unchanged with
    // *Confirm selection*, which replaces the whole set.
    let hidden_customers: Vec<String> = detail
        .customers
        .iter()
        .filter(|id| !vocabulary.customers.iter().any(|c| c.id == **id))
        .map(|id| id.to_string())
        .collect();
    let notice = query
        .done
        .as_deref()
        .and_then(|code| notice_for(code, &detail.member.email));
    let tabs: Vec<Value> = TABS
        .iter()
        .map(|(k, l)| context! { key => k, label => l })
        .collect();
    page(
        state,
        status,
        "console/member.html",
        context! {
            shell => person.shell(Some(org), "users"),
            member => member_value(&detail.member, &vocabulary),
            detail => Value::from_serialize(&detail),
            member_roles => &detail.member.roles,
            member_groups => detail.member.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            member_customers => detail.customers.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            member_entity => detail.member.entity.map(|e| e.to_string()),
            hidden_customers,
            vocabulary => vocabulary.to_value(),
            is_self,
            tab,
            tabs,
            tab_ctx,
            tab_error,
            confirm_delete => query.confirm.as_deref() == Some("delete"),
            error,
            notice,
        },
    )
}

/// A page that could not be built for a reason other than "not found".
fn page_error(state: &AppState, person: &Person, org: &Org, e: &ApiError) -> Response {
    page(
        state,
        e.status,
        "console/home.html",
        context! {
            shell => person.shell(Some(org), "users"),
            roles => "",
            error => sentence(e),
        },
    )
}

fn uuids(values: &[String], what: &str) -> Result<Vec<uuid::Uuid>, ApiError> {
    values
        .iter()
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request("invalid_body", format!("Choose {what} from the list."))
            })
        })
        .collect()
}

/// Every button and form of the member page posts here; `action` names what it does.
async fn act(
    State(state): State<AppState>,
    person: Person,
    ApiPath((org, member, action)): ApiPath<(String, String, String)>,
    body: Bytes,
) -> Response {
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let form = FormData::parse(&body);
    if let Err(page) = person.check_form(&state, &form) {
        return page;
    }
    if member.parse::<MembershipId>().is_err() {
        return not_found(&state);
    }
    let slug = org.slug().to_owned();
    let path = || ApiPath((slug.clone(), member.clone()));
    let st = || State(state.clone());
    let authed = || person.authed.clone();
    // (the tab the change belongs to, its outcome)
    let (tab, outcome): (&str, Result<&str, ApiError>) = match action.as_str() {
        "resend" => (
            "roles",
            inviting::resend(st(), authed(), path()).await.map(|_| "resent"),
        ),
        "cancel-invitation" => (
            "roles",
            inviting::cancel(st(), authed(), path())
                .await
                .map(|_| "cancelled"),
        ),
        "deactivate" => (
            "roles",
            members::deactivate(st(), authed(), path())
                .await
                .map(|_| "deactivated"),
        ),
        "activate" => (
            "roles",
            members::activate(st(), authed(), path())
                .await
                .map(|_| "activated"),
        ),
        "delete" => {
            return match members::remove(st(), authed(), path()).await {
                Ok(_) => done(&format!("/orgs/{slug}/users"), "removed"),
                Err(e) => {
                    let query = MemberQuery::default();
                    let error = Some(sentence(&e));
                    render(&state, &person, &org, &member, "roles", &query, e.status, error).await
                }
            };
        }
        "reset-link" => (
            "password",
            members::send_reset_link(st(), authed(), path())
                .await
                .map(|_| "reset"),
        ),
        "roles" => (
            "roles",
            match form.all("roles") {
                roles if roles.is_empty() => Err(ApiError::bad_request(
                    "invalid_role",
                    "Choose at least one role. To take all access away, deactivate or delete the user.",
                )),
                roles => members::set_roles(st(), authed(), path(), ApiJson(RolesBody { roles }))
                    .await
                    .map(|_| "roles"),
            },
        ),
        "groups" => (
            "roles",
            match uuids(&form.all("groups"), "groups") {
                Ok(groups) => {
                    assignments::set_groups(st(), authed(), path(), ApiJson(GroupsBody { groups }))
                        .await
                        .map(|_| "groups")
                }
                Err(e) => Err(e),
            },
        ),
        "entity" => (
            "roles",
            match uuids(&form.all("entity"), "an entity") {
                Ok(entity) => assignments::set_entity(
                    st(),
                    authed(),
                    path(),
                    ApiJson(EntityBody {
                        entity: entity.into_iter().next(),
                    }),
                )
                .await
                .map(|_| "entity"),
                Err(e) => Err(e),
            },
        ),
        "customers" => (
            "customers",
            match uuids(&form.all("customers"), "customers") {
                Ok(customers) => assignments::set_customers(
                    st(),
                    authed(),
                    path(),
                    ApiJson(CustomersBody { customers }),
                )
                .await
                .map(|_| "customers"),
                Err(e) => Err(e),
            },
        ),
        "notifications" => {
            let all = form.get("all_categories").is_some();
            let body = NotificationsRequest {
                frequency: form.text("frequency").unwrap_or_default(),
                categories: (!all).then(|| form.all("categories")),
                all_categories: all.then_some(true),
            };
            // One's own settings are one's own to change (`me`), without `users.manage`.
            let target = if member == org.membership.id.to_string() {
                "me".to_owned()
            } else {
                member.clone()
            };
            (
                "notifications",
                tasks::set_notifications(
                    st(),
                    authed(),
                    ApiPath((slug.clone(), target)),
                    ApiJson(body),
                )
                    .await
                    .map(|_| "notifications"),
            )
        }
        _ => return not_found(&state),
    };
    match outcome {
        Ok(code) => done(&format!("/orgs/{slug}/users/{member}?tab={tab}"), code),
        Err(e) => {
            let query = MemberQuery::default();
            let error = Some(sentence(&e));
            render(&state, &person, &org, &member, tab, &query, e.status, error).await
        }
    }
}
