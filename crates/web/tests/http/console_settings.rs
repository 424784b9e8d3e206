//! The console's settings pages (organization, roles, groups, customers, entities, API
//! tokens), driven like a browser without JavaScript: GET a page, POST its form with the
//! session's form token, follow the redirect. What the pages change is checked through
//! the API.

use crate::support::{browser, csrf_field, spawn_app, Person, TestApp};
use reqwest::header::{CACHE_CONTROL, LOCATION};
use reqwest::{Client, Method, Response, StatusCode};
use roster_core::clock::Clock;
use roster_core::model::BuiltinRole;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PW: &str = "correct horse battery";

/// The organization Acme with its admin Ada signed in twice: through the API (`api`, to
/// set things up and check them) and in a browser (`web`).
struct Acme {
    app: TestApp,
    api: Person,
    web: Client,
}

async fn acme() -> Acme {
    let app = spawn_app().await;
    let api = app.admin("Acme", "ada@acme.example", PW).await;
    let web = signed_in(&app, "ada@acme.example").await;
    Acme { app, api, web }
}

/// A browser that does not follow redirects, signed in as `email`.
async fn signed_in(app: &TestApp, email: &str) -> Client {
    let c = browser();
    let resp = app.sign_in_raw(&c, email, PW).await;
    assert_eq!(resp.status(), 200, "sign-in of {email}");
    c
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let resp = c.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn submit(app: &TestApp, c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
    c.post(app.url(path)).form(fields).send().await.unwrap()
}

/// The session's form token, from the sign-out form every console page has.
async fn form_token(app: &TestApp, c: &Client, org: &str) -> String {
    let (status, html) = page(app, c, &format!("/orgs/{org}")).await;
    assert_eq!(status, 200);
    csrf_field(&html)
}

fn location(resp: &Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// A 303 to `to`, and the page it leads to.
async fn redirected(app: &TestApp, c: &Client, resp: Response, to: &str) -> String {
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(location(&resp), to);
    let (status, html) = page(app, c, to).await;
    assert_eq!(status, 200);
    html
}

async fn api_get(app: &TestApp, api: &Person, path: &str) -> Value {
    let resp = api.get(app, path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn items(app: &TestApp, api: &Person, path: &str) -> Vec<Value> {
    api_get(app, api, path).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn api_create(app: &TestApp, api: &Person, path: &str, body: Value) -> String {
    let resp = api.post(app, path, body).await;
    assert_eq!(resp.status(), 201, "{path}");
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

fn find<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["name"] == name)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Every attribute value `name="…"` in `tag`.
fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    Some(tag[start..].split('"').next().unwrap().to_owned())
}

/// What an accessibility checker looks at: no id repeats, and every visible form field
/// has an id that a `<label for>` names.
fn assert_labelled(html: &str) {
    let mut ids = BTreeSet::new();
    let mut fors = BTreeSet::new();
    for piece in html.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap();
        if let Some(id) = attr(tag, "id") {
            assert!(ids.insert(id.clone()), "duplicate id {id}");
        }
        if tag.starts_with("label") {
            fors.insert(attr(tag, "for").expect("a label names its field"));
        }
    }
    let mut fields = 0;
    for piece in html.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap();
        let is_field = ["input ", "select ", "textarea "]
            .iter()
            .any(|t| tag.starts_with(t));
        if !is_field || attr(tag, "type").as_deref() == Some("hidden") {
            continue;
        }
        fields += 1;
        let id = attr(tag, "id").unwrap_or_else(|| panic!("a field without id: <{tag}>"));
        assert!(fors.contains(&id), "no label for {id}");
    }
    assert!(fields > 0, "a page with a form");
}

// ---------------------------------------------------------------------------------------
// The organization's settings.

#[tokio::test]
async fn organization_settings_are_saved_and_refusals_shown_inline() {
    let Acme { app, api, web } = acme().await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Organization settings</h1>"), "{html}");
    assert!(html.contains(r#"<label for="timezone">Time zone</label>"#));
    assert!(html.contains(r#"<label for="org-name">Name</label>"#));
    assert!(html.contains(r#"name="invitation_lifetime_hours" value="72""#));
    assert!(html.contains(r#"name="password_min_length" value="12""#));
    assert!(html.contains(r#"name="session_idle_timeout_minutes" value="480""#));
    assert!(html.contains(r#"name="session_lifetime_hours" value="168""#));
    assert!(html.contains(r#"name="timezone" value="UTC""#));
    assert!(html.contains(">Save</button>"));
    assert!(html.contains(r#"aria-current="page">Settings</a>"#));
    assert_labelled(&html);
    let csrf = csrf_field(&html);
    let form = |hours: &'static str, tz: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Acme Tools".to_owned()),
            ("invitation_lifetime_hours", hours.to_owned()),
            ("password_min_length", "14".to_owned()),
            ("session_idle_timeout_minutes", "60".to_owned()),
            ("session_lifetime_hours", "24".to_owned()),
            ("timezone", tz.to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        web.post(app.url("/orgs/acme/settings"))
            .form(&fields)
            .send()
    };

    // Refusals of the API, shown next to their field with the field's label.
    let resp = post(form("48", "Europe/Pariss")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Time zone must be an IANA time zone"),
        "{html}"
    );
    assert!(html.contains(r#"<p class="error" id="timezone-error">"#));
    assert!(
        html.contains(r#"name="invitation_lifetime_hours" value="48""#),
        "kept as typed"
    );
    assert_labelled(&html);
    let resp = post(form("0", "UTC")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Invitation lifetime (hours) must be between 1 and 720."),
        "{html}"
    );
    assert!(html.contains(r#"id="invitation-lifetime-error""#));
    let resp = post(form("soon", "UTC")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Invitation lifetime (hours) must be a whole number."));
    let org = api_get(&app, &api, "/api/v1/orgs/acme").await;
    assert_eq!(org["name"], "Acme", "nothing changed");
    assert_eq!(org["settings"]["invitation_lifetime_hours"], 72);
    assert_eq!(org["settings"]["timezone"], "UTC");

    let resp = post(form("48", "Europe/Paris")).await.unwrap();
    let html = redirected(&app, &web, resp, "/orgs/acme/settings?done=settings_saved").await;
    assert!(html.contains("settings are saved."), "{html}");
    assert!(html.contains(r#"name="invitation_lifetime_hours" value="48""#));
    let org = api_get(&app, &api, "/api/v1/orgs/acme").await;
    assert_eq!(org["name"], "Acme Tools");
    assert_eq!(
        org["settings"],
        json!({
            "invitation_lifetime_hours": 48,
            "password_min_length": 14,
            "session_idle_timeout_minutes": 60,
            "session_lifetime_hours": 24,
            "timezone": "Europe/Paris",
        })
    );

    // The notice comes from a fixed list, never from the query.
    let (status, html) = page(&app, &web, "/orgs/acme/settings?done=%3Cb%3Epwned%3C/b%3E").await;
    assert_eq!(status, 200);
    assert!(!html.contains("pwned"));
}

// ---------------------------------------------------------------------------------------
// Roles.

#[tokio::test]
async fn custom_roles_are_created_edited_and_deleted_from_the_roles_page() {
    let Acme { app, api, web } = acme().await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings/roles").await;
    assert_eq!(status, 200);
    assert!(html.contains("Built-in roles") && html.contains("No custom roles yet."));
    assert!(html.contains(">Admin</a>") && html.contains(">Notifications</a>"));
    assert!(html.contains("<code>users.invite</code>"));
    // The picker: the catalog by area, each permission with its label and code.
    assert!(html.contains("<legend>Users</legend>"));
    assert!(html.contains("<legend>Catalog</legend>"), "host codes too");
    assert!(html.contains(
        r#"<label for="perm-users.read"><input type="checkbox" id="perm-users.read" name="permissions" value="users.read">See users <code>users.read</code></label>"#
    ), "{html}");
    assert!(html.contains(">Create role</button>"));
    assert_labelled(&html);
    let csrf = csrf_field(&html);

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/roles",
        &[
            ("csrf_token", &csrf),
            ("name", "Support"),
            ("description", "First line"),
            ("customer_scoped", "yes"),
            ("permissions", "users.read"),
            ("permissions", "customers.read"),
        ],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/roles?done=role_created",
    )
    .await;
    assert!(html.contains("The role is created."));
    assert!(html.contains(">Support</a>"));
    let roles = items(&app, &api, "/api/v1/orgs/acme/roles").await;
    let support = find(&roles, "Support").unwrap();
    assert_eq!(
        strings(&support["permissions"]),
        set(&["users.read", "customers.read"])
    );
    assert_eq!(support["customers"], "assigned");
    let id = support["id"].as_str().unwrap().to_owned();

    // A refusal shows its sentence, keeps what was typed and changes nothing.
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/roles",
        &[
            ("csrf_token", &csrf),
            ("name", "Support"),
            ("permissions", "audit.read"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Another role of this organization (or a built-in role) has this name."),
        "{html}"
    );
    assert!(html.contains(r#"id="role-name" name="name" value="Support""#));
    assert!(html.contains(r#"value="audit.read" checked"#));
    assert_labelled(&html);
    let roles = items(&app, &api, "/api/v1/orgs/acme/roles").await;
    assert_eq!(roles.iter().filter(|r| r["builtin"] == false).count(), 1);

    // Its page: the edit form, and a deletion to confirm.
    let path = format!("/orgs/acme/settings/roles/{id}");
    let (status, html) = page(&app, &web, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"value="Support""#));
    assert!(html.contains(r#"value="users.read" checked"#));
    assert!(!html.contains(r#"value="audit.read" checked"#));
    // An absolute link: it works from the page a refused POST re-renders, too.
    assert!(
        html.contains(&format!(
            r#"<a class="button" href="{path}?confirm=delete" data-dialog="delete-role">Delete</a>"#
        )),
        "{html}"
    );
    assert!(html.contains(r#"<dialog id="delete-role" aria-labelledby="delete-role-title">"#));
    assert_labelled(&html);
    let (_, html) = page(&app, &web, &format!("{path}?confirm=delete")).await;
    assert!(
        html.contains(r#"<dialog id="delete-role" aria-labelledby="delete-role-title" open>"#),
        "the no-JavaScript confirmation"
    );

    let resp = submit(
        &app,
        &web,
        &path,
        &[
            ("csrf_token", &csrf),
            ("name", "Helpdesk"),
            ("description", ""),
            ("permissions", "users.read"),
        ],
    )
    .await;
    let html = redirected(&app, &web, resp, &format!("{path}?done=role_saved")).await;
    assert!(html.contains("The role is saved.") && html.contains("Helpdesk"));
    let role = api_get(&app, &api, &format!("/api/v1/orgs/acme/roles/{id}")).await;
    assert_eq!(role["name"], "Helpdesk");
    assert_eq!(strings(&role["permissions"]), set(&["users.read"]));
    assert_eq!(role["customers"], "all");
    assert!(role["description"].is_null());

    // A role a group holds is in use.
    let group = api_create(
        &app,
        &api,
        "/api/v1/orgs/acme/groups",
        json!({ "name": "Desk", "roles": [id] }),
    )
    .await;
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("The role is still in use"), "{html}");
    assert_eq!(
        api.get(&app, &format!("/api/v1/orgs/acme/roles/{id}"))
            .await
            .status(),
        200
    );
    let resp = api
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/orgs/acme/groups/{group}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/roles?done=role_deleted",
    )
    .await;
    assert!(html.contains("The role is deleted.") && !html.contains("Helpdesk"));
    assert_eq!(
        api.get(&app, &format!("/api/v1/orgs/acme/roles/{id}"))
            .await
            .status(),
        404
    );

    // Built-in roles are read-only.
    let (status, html) = page(&app, &web, "/orgs/acme/settings/roles/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("Built-in roles cannot be changed or deleted"));
    assert!(!html.contains("delete-role") && !html.contains("role-name"));
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/roles/admin/delete",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}

// ---------------------------------------------------------------------------------------
// Groups.

#[tokio::test]
async fn groups_grant_user_marketing_and_custom_roles_only() {
    let Acme { app, api, web } = acme().await;
    let role = api_create(
        &app,
        &api,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Support", "permissions": ["users.read"] }),
    )
    .await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings/groups").await;
    assert_eq!(status, 200);
    assert!(html.contains("No groups yet.") && html.contains("<legend>Roles</legend>"));
    assert!(html.contains(r#"name="roles" value="user""#));
    assert!(html.contains(r#"name="roles" value="marketing""#));
    assert!(html.contains(&format!(r#"name="roles" value="{role}""#)));
    assert!(!html.contains(r#"value="admin""#) && !html.contains(r#"value="notifications""#));
    assert_labelled(&html);
    let csrf = csrf_field(&html);

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/groups",
        &[
            ("csrf_token", &csrf),
            ("name", "Helpdesk"),
            ("roles", "user"),
            ("roles", &role),
        ],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/groups?done=group_created",
    )
    .await;
    assert!(html.contains("The group is created.") && html.contains(">Helpdesk</a>"));
    assert!(html.contains("User, Support"), "{html}");
    let groups = items(&app, &api, "/api/v1/orgs/acme/groups").await;
    let helpdesk = find(&groups, "Helpdesk").unwrap();
    assert_eq!(strings(&helpdesk["roles"]), set(&["user", &role]));
    let id = helpdesk["id"].as_str().unwrap().to_owned();

    // Refusals: a name taken, and Admin (which no checkbox offers).
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/groups",
        &[
            ("csrf_token", &csrf),
            ("name", "Helpdesk"),
            ("roles", "user"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Another group of this organization has this name."));
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/groups",
        &[
            ("csrf_token", &csrf),
            ("name", "Admins"),
            ("roles", "admin"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(items(&app, &api, "/api/v1/orgs/acme/groups").await.len(), 1);

    let path = format!("/orgs/acme/settings/groups/{id}");
    let (status, html) = page(&app, &web, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"name="roles" value="user" checked"#));
    assert!(html.contains(&format!(r#"name="roles" value="{role}" checked"#)));
    assert_labelled(&html);
    let resp = submit(
        &app,
        &web,
        &path,
        &[
            ("csrf_token", &csrf),
            ("name", "Front desk"),
            ("roles", "marketing"),
        ],
    )
    .await;
    let html = redirected(&app, &web, resp, &format!("{path}?done=group_saved")).await;
    assert!(html.contains("The group is saved."));
    let group = api_get(&app, &api, &format!("/api/v1/orgs/acme/groups/{id}")).await;
    assert_eq!(group["name"], "Front desk");
    assert_eq!(strings(&group["roles"]), set(&["marketing"]));

    let (_, html) = page(&app, &web, &format!("{path}?confirm=delete")).await;
    assert!(
        html.contains(r#"<dialog id="delete-group" aria-labelledby="delete-group-title" open>"#)
    );
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/groups?done=group_deleted",
    )
    .await;
    assert!(html.contains("The group is deleted.") && html.contains("No groups yet."));
    assert!(items(&app, &api, "/api/v1/orgs/acme/groups")
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------------------
// Customers.

#[tokio::test]
async fn customers_are_added_paged_edited_and_deleted_when_unassigned() {
    let Acme { app, api, web } = acme().await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", PW, &[BuiltinRole::User])
        .await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings/customers").await;
    assert_eq!(status, 200);
    assert!(html.contains("No customers yet."));
    assert!(html.contains(r#"<label for="customer-name">Name</label>"#));
    assert!(html.contains(r#"<label for="customer-external-id">External id</label>"#));
    assert!(html.contains(">Add customer</button>"));
    assert_labelled(&html);
    let csrf = csrf_field(&html);

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/customers",
        &[
            ("csrf_token", &csrf),
            ("name", "Initech"),
            ("external_id", "IN-1"),
        ],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/customers?done=customer_created",
    )
    .await;
    assert!(html.contains("The customer is added."));
    assert!(html.contains(">Initech</a>") && html.contains("<code>IN-1</code>"));
    let customers = items(&app, &api, "/api/v1/orgs/acme/customers").await;
    let initech = find(&customers, "Initech").unwrap();
    assert_eq!(initech["external_id"], "IN-1");
    let id = initech["id"].as_str().unwrap().to_owned();

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/customers",
        &[
            ("csrf_token", &csrf),
            ("name", "Initech again"),
            ("external_id", "IN-1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Another customer of this organization has this external id."));
    assert!(html.contains(r#"value="Initech again""#), "kept as typed");
    assert_eq!(
        items(&app, &api, "/api/v1/orgs/acme/customers").await.len(),
        1
    );

    // Paging.
    for name in ["Hooli", "Umbrella"] {
        api_create(
            &app,
            &api,
            "/api/v1/orgs/acme/customers",
            json!({ "name": name }),
        )
        .await;
    }
    let all = ["Initech", "Hooli", "Umbrella"];
    let shown = |html: &str| -> BTreeSet<String> {
        all.iter()
            .filter(|n| html.contains(&format!(">{n}</a>")))
            .map(|n| (*n).to_owned())
            .collect()
    };
    let (status, html) = page(&app, &web, "/orgs/acme/settings/customers?limit=2").await;
    assert_eq!(status, 200);
    assert!(html.contains("3 customers."));
    let first = shown(&html);
    assert_eq!(first.len(), 2);
    let next = html
        .split("?cursor=")
        .nth(1)
        .expect("a next page link")
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let (status, html) = page(
        &app,
        &web,
        &format!("/orgs/acme/settings/customers?cursor={next}&limit=2"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains(">First page</a>") && !html.contains("Next page"));
    let second = shown(&html);
    assert_eq!(second.len(), 1);
    assert_eq!(first.union(&second).count(), 3);

    // Its page: edit, and the external id cleared.
    let path = format!("/orgs/acme/settings/customers/{id}");
    let (status, html) = page(&app, &web, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"value="IN-1""#));
    assert_labelled(&html);
    let resp = submit(
        &app,
        &web,
        &path,
        &[
            ("csrf_token", &csrf),
            ("name", "Initech Corp"),
            ("external_id", ""),
        ],
    )
    .await;
    let html = redirected(&app, &web, resp, &format!("{path}?done=customer_saved")).await;
    assert!(html.contains("The customer is saved."));
    let customer = api_get(&app, &api, &format!("/api/v1/orgs/acme/customers/{id}")).await;
    assert_eq!(customer["name"], "Initech Corp");
    assert!(customer["external_id"].is_null());

    // Assigned to a member, it cannot be deleted.
    let resp = api
        .send(
            &app,
            Method::PUT,
            &format!("/api/v1/orgs/acme/members/{uma_id}/customers"),
            Some(json!({ "customers": [id] })),
        )
        .await;
    assert!(resp.status().is_success());
    let (_, html) = page(&app, &web, &format!("{path}?confirm=delete")).await;
    assert!(html
        .contains(r#"<dialog id="delete-customer" aria-labelledby="delete-customer-title" open>"#));
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("The customer is still in use"), "{html}");
    assert!(!html.contains(
        "<dialog id=\"delete-customer\" aria-labelledby=\"delete-customer-title\" open>"
    ));
    assert_eq!(
        api.get(&app, &format!("/api/v1/orgs/acme/customers/{id}"))
            .await
            .status(),
        200
    );

    // A member with customers.read but not customers.manage: read-only.
    let uma = signed_in(&app, "uma@acme.example").await;
    let (status, html) = page(&app, &uma, "/orgs/acme/settings/customers").await;
    assert_eq!(status, 200);
    assert!(html.contains(">Initech Corp</a>"));
    assert!(!html.contains("Add customer") && !html.contains("customer-name"));
    assert!(html.contains("You can see customers but not change them."));
    let (status, html) = page(&app, &uma, &path).await;
    assert_eq!(status, 200);
    assert!(!html.contains("<form method=\"post\" action=\"/orgs/acme/settings/customers"));
    assert!(!html.contains("Delete"));
    let uma_csrf = form_token(&app, &uma, "acme").await;
    let resp = submit(
        &app,
        &uma,
        "/orgs/acme/settings/customers",
        &[("csrf_token", &uma_csrf), ("name", "Sneaky")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = submit(
        &app,
        &uma,
        &format!("{path}/delete"),
        &[("csrf_token", &uma_csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        items(&app, &api, "/api/v1/orgs/acme/customers").await.len(),
        3
    );

    // Unassigned, it goes.
    let resp = api
        .send(
            &app,
            Method::PUT,
            &format!("/api/v1/orgs/acme/members/{uma_id}/customers"),
            Some(json!({ "customers": [] })),
        )
        .await;
    assert!(resp.status().is_success());
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/customers?done=customer_deleted",
    )
    .await;
    assert!(html.contains("The customer is deleted.") && !html.contains("Initech"));
    assert_eq!(
        api.get(&app, &format!("/api/v1/orgs/acme/customers/{id}"))
            .await
            .status(),
        404
    );
}

// ---------------------------------------------------------------------------------------
// Entities.

#[tokio::test]
async fn entities_are_added_renamed_and_deleted_when_empty() {
    let Acme { app, api, web } = acme().await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", PW, &[BuiltinRole::User])
        .await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings/entities").await;
    assert_eq!(status, 200);
    assert!(html.contains("No entities yet."));
    assert!(html.contains(r#"<label for="entity-name">Name</label>"#));
    assert!(html.contains(">Add entity</button>"));
    assert_labelled(&html);
    let csrf = csrf_field(&html);

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/entities",
        &[("csrf_token", &csrf), ("name", "Paris office")],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/entities?done=entity_created",
    )
    .await;
    assert!(html.contains("The entity is added.") && html.contains(">Paris office</a>"));
    let entities = items(&app, &api, "/api/v1/orgs/acme/entities").await;
    let id = find(&entities, "Paris office").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/entities",
        &[("csrf_token", &csrf), ("name", "Paris office")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Another entity of this organization has this name."));
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/entities",
        &[("csrf_token", &csrf), ("name", "  ")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        items(&app, &api, "/api/v1/orgs/acme/entities").await.len(),
        1
    );

    let path = format!("/orgs/acme/settings/entities/{id}");
    let (status, html) = page(&app, &web, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"value="Paris office""#) && html.contains(">Rename</button>"));
    assert_labelled(&html);
    let resp = submit(
        &app,
        &web,
        &path,
        &[("csrf_token", &csrf), ("name", "Lyon office")],
    )
    .await;
    let html = redirected(&app, &web, resp, &format!("{path}?done=entity_saved")).await;
    assert!(html.contains("The entity is renamed.") && html.contains("Lyon office"));
    let entity = api_get(&app, &api, &format!("/api/v1/orgs/acme/entities/{id}")).await;
    assert_eq!(entity["name"], "Lyon office");

    // With a member in it, it stays.
    let resp = api
        .send(
            &app,
            Method::PUT,
            &format!("/api/v1/orgs/acme/members/{uma_id}/entity"),
            Some(json!({ "entity": id })),
        )
        .await;
    assert!(resp.status().is_success());
    let (_, html) = page(&app, &web, &format!("{path}?confirm=delete")).await;
    assert!(
        html.contains(r#"<dialog id="delete-entity" aria-labelledby="delete-entity-title" open>"#)
    );
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(html.contains("The entity is still in use"), "{html}");
    assert_eq!(
        items(&app, &api, "/api/v1/orgs/acme/entities").await.len(),
        1
    );

    let resp = api
        .send(
            &app,
            Method::PUT,
            &format!("/api/v1/orgs/acme/members/{uma_id}/entity"),
            Some(json!({ "entity": null })),
        )
        .await;
    assert!(resp.status().is_success());
    let resp = submit(
        &app,
        &web,
        &format!("{path}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/entities?done=entity_deleted",
    )
    .await;
    assert!(html.contains("The entity is deleted.") && html.contains("No entities yet."));
    assert!(items(&app, &api, "/api/v1/orgs/acme/entities")
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------------------
// API tokens.

#[tokio::test]
async fn a_token_secret_is_shown_once_and_revoking_ends_it() {
    let Acme { app, api, web } = acme().await;
    let (status, html) = page(&app, &web, "/orgs/acme/settings/tokens").await;
    assert_eq!(status, 200);
    assert!(html.contains("No API tokens yet."));
    assert!(html.contains(r#"<label for="token-name">Name</label>"#));
    assert!(html.contains(r#"<label for="token-expires">Expires on (optional)</label>"#));
    assert!(html.contains("<legend>Organization</legend>"));
    assert!(html.contains(r#"id="token-perm-users.read" name="permissions" value="users.read">See users <code>users.read</code>"#));
    assert!(html.contains(">Create token</button>"));
    assert_labelled(&html);
    let csrf = csrf_field(&html);

    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/tokens",
        &[
            ("csrf_token", &csrf),
            ("name", "CI"),
            ("expires_on", ""),
            ("permissions", "users.read"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "shown, not redirected");
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Copy this token now; it will not be shown again."));
    assert_labelled(&html);
    let marker = r#"id="token-secret" value=""#;
    let secret = html
        .split(marker)
        .nth(1)
        .expect("the secret")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() > 20);
    let with_token = |token: String| {
        Client::new()
            .get(app.url("/api/v1/orgs/acme/members"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(with_token(secret.clone()).await.unwrap().status(), 200);
    let tokens = items(&app, &api, "/api/v1/orgs/acme/tokens").await;
    let ci = find(&tokens, "CI").unwrap();
    assert_eq!(strings(&ci["permissions"]), set(&["users.read"]));
    let id = ci["id"].as_str().unwrap().to_owned();

    // Never again.
    let (_, html) = page(&app, &web, "/orgs/acme/settings/tokens").await;
    assert!(html.contains("<td>CI</td>") && html.contains("<code>users.read</code>"));
    assert!(!html.contains(&secret) && !html.contains("Copy this token now"));

    // Refusals.
    for (day, sentence) in [
        (
            "2000-01-01",
            "Choose an expiry date in the future, or none.",
        ),
        (
            "tomorrow",
            "Enter the expiry date as YYYY-MM-DD, or leave it empty.",
        ),
    ] {
        let resp = submit(
            &app,
            &web,
            "/orgs/acme/settings/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "Old"),
                ("expires_on", day),
                ("permissions", "users.read"),
            ],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let html = resp.text().await.unwrap();
        assert!(html.contains(sentence), "{html}");
        assert!(html.contains(r#"value="Old""#));
    }
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/tokens",
        &[
            ("csrf_token", &csrf),
            ("name", "Typo"),
            ("permissions", "users.reed"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(items(&app, &api, "/api/v1/orgs/acme/tokens").await.len(), 1);

    // An expiry date: the start of that day, UTC.
    let day = (app.clock.now() + chrono::Duration::days(30)).date_naive();
    let resp = submit(
        &app,
        &web,
        "/orgs/acme/settings/tokens",
        &[
            ("csrf_token", &csrf),
            ("name", "Nightly"),
            ("expires_on", &day.to_string()),
            ("permissions", "audit.read"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let tokens = items(&app, &api, "/api/v1/orgs/acme/tokens").await;
    let nightly = find(&tokens, "Nightly").unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        nightly["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, day.and_hms_opt(0, 0, 0).unwrap().and_utc());

    // Revoking, confirmed.
    let (_, html) = page(
        &app,
        &web,
        &format!("/orgs/acme/settings/tokens?revoke={id}"),
    )
    .await;
    assert!(html.contains(&format!(
        r#"<dialog id="revoke-{id}" aria-labelledby="revoke-{id}-title" open>"#
    )));
    assert_labelled(&html);
    let resp = submit(
        &app,
        &web,
        &format!("/orgs/acme/settings/tokens/{id}/revoke"),
        &[("csrf_token", &csrf)],
    )
    .await;
    let html = redirected(
        &app,
        &web,
        resp,
        "/orgs/acme/settings/tokens?done=token_revoked",
    )
    .await;
    assert!(html.contains("The token is revoked") && html.contains(">revoked</span>"));
    assert_eq!(with_token(secret).await.unwrap().status(), 401);
}

// ---------------------------------------------------------------------------------------
// What every form shares: the session's form token, permissions, organizations.

/// Everything of Acme the forms below could change, as the API sees it.
async fn acme_state(app: &TestApp, api: &Person) -> Value {
    let mut state = json!({ "org": api_get(app, api, "/api/v1/orgs/acme").await });
    for what in ["roles", "groups", "customers", "entities", "tokens"] {
        state[what] = Value::Array(items(app, api, &format!("/api/v1/orgs/acme/{what}")).await);
    }
    state
}

/// One of each thing Acme can have: (role, group, customer, entity, token) ids.
async fn acme_things(app: &TestApp, api: &Person) -> [String; 5] {
    let role = api_create(
        app,
        api,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Support", "permissions": ["users.read"] }),
    )
    .await;
    let group = api_create(
        app,
        api,
        "/api/v1/orgs/acme/groups",
        json!({ "name": "Desk", "roles": ["user"] }),
    )
    .await;
    let customer = api_create(
        app,
        api,
        "/api/v1/orgs/acme/customers",
        json!({ "name": "Initech" }),
    )
    .await;
    let entity = api_create(
        app,
        api,
        "/api/v1/orgs/acme/entities",
        json!({ "name": "Paris" }),
    )
    .await;
    let token = api_create(
        app,
        api,
        "/api/v1/orgs/acme/tokens",
        json!({ "name": "CI", "permissions": ["users.read"] }),
    )
    .await;
    [role, group, customer, entity, token]
}

/// Every state-changing form of the settings pages in `org`, with valid fields (less the
/// form token) that would change something.
fn forms(org: &str, things: &[String; 5]) -> Vec<(String, Vec<(&'static str, String)>)> {
    let [role, group, customer, entity, token] = things;
    let s = format!("/orgs/{org}/settings");
    let f = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    };
    vec![
        (
            s.clone(),
            f(&[
                ("name", "Changed"),
                ("invitation_lifetime_hours", "24"),
                ("timezone", "Europe/Paris"),
            ]),
        ),
        (
            format!("{s}/roles"),
            f(&[("name", "New role"), ("permissions", "users.read")]),
        ),
        (
            format!("{s}/roles/{role}"),
            f(&[("name", "Renamed"), ("permissions", "audit.read")]),
        ),
        (format!("{s}/roles/{role}/delete"), vec![]),
        (
            format!("{s}/groups"),
            f(&[("name", "New group"), ("roles", "user")]),
        ),
        (
            format!("{s}/groups/{group}"),
            f(&[("name", "Renamed"), ("roles", "marketing")]),
        ),
        (format!("{s}/groups/{group}/delete"), vec![]),
        (
            format!("{s}/customers"),
            f(&[("name", "New customer"), ("external_id", "N-1")]),
        ),
        (
            format!("{s}/customers/{customer}"),
            f(&[("name", "Renamed"), ("external_id", "R-1")]),
        ),
        (format!("{s}/customers/{customer}/delete"), vec![]),
        (format!("{s}/entities"), f(&[("name", "New entity")])),
        (format!("{s}/entities/{entity}"), f(&[("name", "Renamed")])),
        (format!("{s}/entities/{entity}/delete"), vec![]),
        (
            format!("{s}/tokens"),
            f(&[("name", "New token"), ("permissions", "users.read")]),
        ),
        (format!("{s}/tokens/{token}/revoke"), vec![]),
    ]
}

#[tokio::test]
async fn forms_without_this_sessions_token_change_nothing() {
    let Acme { app, api, web } = acme().await;
    let things = acme_things(&app, &api).await;
    let before = acme_state(&app, &api).await;
    // The token of another session of the same person is not this session's.
    let other = signed_in(&app, "ada@acme.example").await;
    let other_token = form_token(&app, &other, "acme").await;
    assert_ne!(other_token, form_token(&app, &web, "acme").await);

    for (path, fields) in forms("acme", &things) {
        for token in [None, Some(""), Some("forged"), Some(other_token.as_str())] {
            let mut fields = fields.clone();
            if let Some(t) = token {
                fields.push(("csrf_token", t.to_owned()));
            }
            let resp = web.post(app.url(&path)).form(&fields).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            let html = resp.text().await.unwrap();
            assert!(html.contains("This form has expired"), "{path}");
        }
    }
    assert_eq!(acme_state(&app, &api).await, before);
}

#[tokio::test]
async fn members_without_the_permission_are_refused() {
    let Acme { app, api, web } = acme().await;
    let things = acme_things(&app, &api).await;
    let [role, group, customer, entity, _] = &things;
    app.add_member("acme", "uma@acme.example", PW, &[BuiltinRole::User])
        .await;
    let uma = signed_in(&app, "uma@acme.example").await;
    let before = acme_state(&app, &api).await;

    // The sidebar offers only what she may use.
    let (_, html) = page(&app, &uma, "/orgs/acme").await;
    // (The layout's links are HTML-escaped: `/orgs` is `&#x2f;orgs`.)
    assert!(html.contains("acme/settings/customers"));
    for hidden in [
        "/settings\"",
        "/settings/roles",
        "/settings/groups",
        "/settings/entities",
        "/settings/tokens",
    ] {
        assert!(!html.contains(hidden), "{hidden}");
    }
    let (_, admin_html) = page(&app, &web, "/orgs/acme").await;
    assert!(admin_html.contains("acme/settings/tokens"));

    let s = "/orgs/acme/settings";
    for path in [
        s.to_owned(),
        format!("{s}/roles"),
        format!("{s}/roles/{role}"),
        format!("{s}/groups"),
        format!("{s}/groups/{group}"),
        format!("{s}/entities"),
        format!("{s}/entities/{entity}"),
        format!("{s}/tokens"),
    ] {
        let (status, html) = page(&app, &uma, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("You do not have permission"), "{path}");
    }
    // Customers: she may read them.
    let (status, _) = page(&app, &uma, &format!("{s}/customers/{customer}")).await;
    assert_eq!(status, 200);

    let token = form_token(&app, &uma, "acme").await;
    for (path, mut fields) in forms("acme", &things) {
        fields.push(("csrf_token", token.clone()));
        let resp = uma.post(app.url(&path)).form(&fields).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(acme_state(&app, &api).await, before);
}

#[tokio::test]
async fn another_organizations_admin_finds_nothing_here() {
    let Acme { app, api, web: _ } = acme().await;
    let things = acme_things(&app, &api).await;
    let [role, group, customer, entity, _] = &things;
    app.admin("Globex", "gus@globex.example", PW).await;
    let gus = signed_in(&app, "gus@globex.example").await;
    let before = acme_state(&app, &api).await;

    // Acme's pages, and Acme's things through Globex's pages.
    let mut paths: Vec<String> = [
        "",
        "/roles",
        "/groups",
        "/customers",
        "/entities",
        "/tokens",
    ]
    .iter()
    .map(|p| format!("/orgs/acme/settings{p}"))
    .collect();
    paths.extend([
        format!("/orgs/acme/settings/roles/{role}"),
        format!("/orgs/globex/settings/roles/{role}"),
        format!("/orgs/globex/settings/groups/{group}"),
        format!("/orgs/globex/settings/customers/{customer}"),
        format!("/orgs/globex/settings/entities/{entity}"),
    ]);
    for path in &paths {
        let (status, html) = page(&app, &gus, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !html.contains("Initech") && !html.contains("Support"),
            "{path}"
        );
    }
    // Globex's own pages work.
    let (status, _) = page(&app, &gus, "/orgs/globex/settings/roles").await;
    assert_eq!(status, 200);

    let token = form_token(&app, &gus, "globex").await;
    let mut posts = forms("acme", &things);
    // Acme's things, through Globex's forms (all but Globex's own create forms).
    posts.extend(
        forms("globex", &things)
            .into_iter()
            .filter(|(p, _)| p.matches('/').count() > 4),
    );
    for (path, mut fields) in posts {
        fields.push(("csrf_token", token.clone()));
        let resp = gus.post(app.url(&path)).form(&fields).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(acme_state(&app, &api).await, before);
}
