//! **System > Users** (seed 001): the member table with search, filters and paging, and
//! the **Invite user** dialog with **Send invitation**.

use super::shell::{done, page, sentence, FormData, Org, Person};
use crate::api::access::{self as api_access, CustomerBody, EntityBody, GroupBody, RoleBody};
use crate::api::bodies::{InviteBody, ListParams, MemberBody, MemberListParams};
use crate::api::{inviting, members};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/users", get(show))
        .route("/orgs/{org}/users/invite", post(invite))
}

/// The most customers a pick list shows.
const MAX_PICK_LIST: usize = 2_000;

/// The names a console page shows instead of ids: the organization's roles, groups,
/// customers and entities, as far as the person may read them (what they may not read
/// is simply left out of pick lists and filters).
#[derive(Default)]
pub(super) struct Vocabulary {
    pub roles: Vec<RoleBody>,
    pub groups: Vec<GroupBody>,
    pub customers: Vec<CustomerBody>,
    pub customers_total: u64,
    pub entities: Vec<EntityBody>,
}

impl Vocabulary {
    pub async fn load(state: &AppState, person: &Person, org: &Org) -> Self {
        let slug = || ApiPath(org.slug().to_owned());
        let st = || State(state.clone());
        let authed = || person.authed.clone();
        let roles = api_access::list_roles(st(), authed(), slug()).await;
        let groups = api_access::list_groups(st(), authed(), slug()).await;
        let entities = api_access::list_entities(st(), authed(), slug()).await;
        // Customers page by page, up to a pick list's worth; a form that replaces a set of
        // assignments keeps those it did not show (see the member page).
        let mut customers = Vec::new();
        let mut customers_total = 0;
        let mut cursor = None;
        while customers.len() < MAX_PICK_LIST {
            let Ok(page) = api_access::list_customers(
                st(),
                authed(),
                slug(),
                ApiQuery(ListParams {
                    limit: Some(200),
                    cursor: cursor.take(),
                }),
            )
            .await
            else {
                break;
            };
            customers_total = page.0.total;
            customers.extend(page.0.items);
            match page.0.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Self {
            roles: roles.map(|r| r.0.items).unwrap_or_default(),
            groups: groups.map(|g| g.0.items).unwrap_or_default(),
            customers,
            customers_total,
            entities: entities.map(|e| e.0.items).unwrap_or_default(),
        }
    }

    /// The name of a role as `MemberBody::roles` gives it (a built-in name or an id).
    pub fn role_name(&self, role: &str) -> String {
        self.roles
            .iter()
            .find(|r| r.id == role)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| role.to_owned())
    }

    pub fn to_value(&self) -> Value {
        context! {
            roles => Value::from_serialize(&self.roles),
            groups => Value::from_serialize(&self.groups),
            customers => Value::from_serialize(&self.customers),
            customers_total => self.customers_total,
            entities => Value::from_serialize(&self.entities),
        }
    }
}

/// The badge of a member's status, in the seed's words.
pub(super) fn status_label(status: &str) -> &'static str {
    match status {
        "invited" => "Invite pending",
        "active" => "Active",
        "deactivated" => "Deactivated",
        _ => "Removed",
    }
}

/// A member as a row or header shows them.
pub(super) fn member_value(m: &MemberBody, vocabulary: &Vocabulary) -> Value {
    let roles: Vec<String> = m.roles.iter().map(|r| vocabulary.role_name(r)).collect();
    context! {
        id => m.id.to_string(),
        email => m.email.as_str(),
        name => m.name.as_deref(),
        display => m.name.clone().unwrap_or_else(|| m.email.clone()),
        status => m.status.as_str(),
        status_label => status_label(&m.status),
        roles => roles,
    }
}

#[derive(Deserialize, Default)]
pub(super) struct UsersQuery {
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    group: Option<String>,
    entity: Option<String>,
    customer: Option<String>,
    cursor: Option<String>,
    /// `1`: the **Invite user** dialog is open (the link's target without JavaScript).
    invite: Option<String>,
    done: Option<String>,
    /// The member a notice is about.
    member: Option<String>,
}

/// What the invite form held, to show it again beside its error.
#[derive(Default, serde::Serialize)]
struct InviteDraft {
    email: String,
    name: String,
    roles: Vec<String>,
    groups: Vec<String>,
    customers: Vec<String>,
    entity: String,
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
    query: Result<Query<UsersQuery>, QueryRejection>,
) -> Response {
    // A query that does not parse (a hand-edited URL) shows the unfiltered list.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let org = match person.org(&state, &org).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    render(&state, &person, &org, query, StatusCode::OK, None, None).await
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn render(
    state: &AppState,
    person: &Person,
    org: &Org,
    query: UsersQuery,
    status: StatusCode,
    error: Option<String>,
    draft: Option<InviteDraft>,
) -> Response {
    let params = MemberListParams {
        limit: Some(50),
        cursor: nonempty(&query.cursor),
        q: nonempty(&query.q),
        status: nonempty(&query.status),
        role: nonempty(&query.role),
        group: nonempty(&query.group),
        entity: nonempty(&query.entity),
        customer: nonempty(&query.customer),
    };
    let listed = members::list(
        State(state.clone()),
        person.authed.clone(),
        ApiPath(org.slug().to_owned()),
        ApiQuery(params),
    )
    .await;
    let vocabulary = Vocabulary::load(state, person, org).await;
    let (rows, total, total_capped, next_cursor, list_error) = match listed {
        Ok(list) => (
            list.0
                .items
                .iter()
                .map(|m| member_value(m, &vocabulary))
                .collect::<Vec<_>>(),
            list.0.total,
            list.0.total_capped,
            list.0.next_cursor,
            None,
        ),
        Err(e) => (Vec::new(), 0, false, None, Some(e)),
    };
    // A filter that does not parse is the page's error; no permission is the page's 403.
    let (status, error) = match (&list_error, error) {
        (Some(e), _) if e.code == "forbidden" || e.code == "not_found" => {
            return super::shell::forbidden_page(state);
        }
        (Some(e), None) => (e.status, Some(sentence(e))),
        (_, error) => (status, error),
    };
    let notice = notice(state, person, org, &query).await;
    let invite_open = draft.is_some() || query.invite.as_deref() == Some("1");
    // An invitation's refusal is shown inside the dialog, beside the form it is about.
    let (error, dialog_error) = if draft.is_some() {
        (None, error)
    } else {
        (error, None)
    };
    let filters = context! {
        q => nonempty(&query.q),
        status => nonempty(&query.status),
        role => nonempty(&query.role),
        group => nonempty(&query.group),
        entity => nonempty(&query.entity),
        customer => nonempty(&query.customer),
    };
    let next_url = next_cursor.map(|c| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &query.q),
            ("status", &query.status),
            ("role", &query.role),
            ("group", &query.group),
            ("entity", &query.entity),
            ("customer", &query.customer),
        ] {
            if let Some(v) = nonempty(v) {
                q.append_pair(k, &v);
            }
        }
        q.append_pair("cursor", &c);
        format!("/orgs/{}/users?{}", org.slug(), q.finish())
    });
    page(
        state,
        status,
        "console/users.html",
        context! {
            shell => person.shell(Some(org), "users"),
            rows,
            total,
            total_capped,
            next_url,
            filters,
            vocabulary => vocabulary.to_value(),
            invite_open,
            draft => Value::from_serialize(draft.unwrap_or_default()),
            error,
            dialog_error,
            notice,
        },
    )
}

/// The notice after a change, in a fixed sentence; the member it names is looked up
/// (within what the person may see), never taken from the URL's text.
async fn notice(
    state: &AppState,
    person: &Person,
    org: &Org,
    query: &UsersQuery,
) -> Option<String> {
    let who = match nonempty(&query.member) {
        Some(member) => members::get(
            State(state.clone()),
            person.authed.clone(),
            ApiPath((org.slug().to_owned(), member)),
        )
        .await
        .ok()
        .map(|d| (d.0.member.email.clone(), d.0.member.name.clone())),
        None => None,
    };
    let email = who.as_ref().map(|(e, _)| e.clone());
    let display = who
        .as_ref()
        .map(|(e, n)| n.clone().unwrap_or_else(|| e.clone()));
    match (query.done.as_deref()?, email, display) {
        ("invited", Some(email), _) => Some(format!("Invitation sent to {email}.")),
        ("granted", Some(email), _) => Some(format!(
            "{email} already had an account: they now have access and were told by email."
        )),
        ("removed", _, _) => Some("The user was removed.".to_owned()),
        _ => None,
    }
}

async fn invite(
    State(state): State<AppState>,
    person: Person,
    ApiPath(org): ApiPath<String>,
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
    let draft = InviteDraft {
        email: form.text("email").unwrap_or_default(),
        name: form.text("name").unwrap_or_default(),
        roles: form.all("roles"),
        groups: form.all("groups"),
        customers: form.all("customers"),
        entity: form.text("entity").unwrap_or_default(),
    };
    let parsed = invite_body(&draft);
    let result = match parsed {
        Ok(body) => {
            inviting::invite(
                State(state.clone()),
                person.authed.clone(),
                ApiPath(org.slug().to_owned()),
                ApiJson(body),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((_, member)) => {
            let code = if member.0.status == "active" {
                "granted"
            } else {
                "invited"
            };
            done(
                &format!("/orgs/{}/users?member={}", org.slug(), member.0.id),
                code,
            )
        }
        Err(e) => {
            let error = sentence(&e);
            render(
                &state,
                &person,
                &org,
                UsersQuery::default(),
                e.status,
                Some(error),
                Some(draft),
            )
            .await
        }
    }
}

/// The API's invitation body from the form, refusing ids that do not parse.
fn invite_body(draft: &InviteDraft) -> Result<InviteBody, ApiError> {
    let ids = |values: &[String], what: &'static str| {
        values
            .iter()
            .map(|v| {
                v.parse::<uuid::Uuid>().map_err(|_| {
                    ApiError::bad_request("invalid_body", format!("Choose {what} from the list."))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    if draft.roles.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_role",
            "Choose at least one role for the new user.",
        ));
    }
    Ok(InviteBody {
        email: draft.email.clone(),
        name: (!draft.name.is_empty()).then(|| draft.name.clone()),
        roles: draft.roles.clone(),
        groups: ids(&draft.groups, "groups")?,
        customers: ids(&draft.customers, "customers")?,
        entity: match draft.entity.as_str() {
            "" => None,
            e => ids(&[e.to_owned()], "an entity")?.into_iter().next(),
        },
    })
}
