//! The admin console's Users, member and audit pages, driven like a browser without
//! JavaScript: forms carry the session's form token, changes answer 303 with a notice,
//! refusals show the API's sentence and change nothing, and nothing of another
//! organization shows. (The same journey runs in a real Chromium in the CLI's tests.)

use crate::support::{browser, csrf_field, spawn_app, TestApp};
use chrono::Duration;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode};
use roster_core::clock::Clock;
use roster_core::model::BuiltinRole;
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const USER_PW: &str = "quiet meadow telescope";

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let resp = c.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn submit(
    app: &TestApp,
    c: &Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(path)).form(fields).send().await.unwrap()
}

/// A browser signed in as `email`.
async fn signed_in(app: &TestApp, email: &str, password: &str) -> Client {
    let c = browser();
    assert_eq!(app.sign_in_raw(&c, email, password).await.status(), 200);
    c
}

/// Acme with its admin (Ada) signed in, in a browser; the admin's API person too.
async fn acme(app: &TestApp) -> (Client, crate::support::Person) {
    let api = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    (signed_in(app, "ada@acme.example", ADMIN_PW).await, api)
}

async fn member_json(api: &crate::support::Person, app: &TestApp, id: &str) -> Value {
    api.get(app, &format!("/api/v1/orgs/acme/members/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn member_total(api: &crate::support::Person, app: &TestApp) -> u64 {
    let list: Value = api
        .get(app, "/api/v1/orgs/acme/members")
        .await
        .json()
        .await
        .unwrap();
    list["total"].as_u64().unwrap()
}

#[tokio::test]
async fn users_page_invites_with_roles_and_customers_and_refuses_inline() {
    let app = spawn_app().await;
    let (ada, api) = acme(&app).await;
    let customer: Value = api
        .post(
            &app,
            "/api/v1/orgs/acme/customers",
            json!({ "name": "Globex Retail" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().unwrap().to_owned();

    let (status, html) = page(&app, &ada, "/orgs/acme/users").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<h1>Users</h1>") && html.contains("Invite user"),
        "{html}"
    );
    assert!(
        html.contains("ada@acme.example") && html.contains(">Active<"),
        "{html}"
    );
    // Without JavaScript the dialog is the page's own state.
    let (_, closed) = page(&app, &ada, "/orgs/acme/users").await;
    assert!(
        !closed.contains("aria-labelledby=\"invite-title\" open"),
        "{closed}"
    );
    let (_, open) = page(&app, &ada, "/orgs/acme/users?invite=1").await;
    assert!(
        open.contains("aria-labelledby=\"invite-title\" open"),
        "{open}"
    );
    assert!(open.contains("Globex Retail") && open.contains("Send invitation"));
    let csrf = csrf_field(&open);

    // Refusals: shown in the dialog, nothing written.
    let before = member_total(&api, &app).await;
    for (fields, sentence) in [
        (vec![("email", "not-an-email"), ("roles", "user")], "email"),
        (
            vec![("email", "jane@acme.example")],
            "Choose at least one role",
        ),
        (
            vec![
                ("email", "jane@acme.example"),
                ("roles", "user"),
                ("customers", "nope"),
            ],
            "Choose customers from the list.",
        ),
    ] {
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend(fields);
        let resp = submit(&app, &ada, "/orgs/acme/users/invite", &all).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let html = resp.text().await.unwrap();
        assert!(html.contains("id=\"invite-error\""), "{html}");
        assert!(html.contains(sentence), "{sentence}: {html}");
        // What was typed is kept.
        assert!(html.contains("value=\"jane@acme.example\"") || html.contains("not-an-email"));
    }
    // A form without this session's token (another site posting, an old page of another
    // session) is refused and changes nothing.
    for token in [
        "",
        "forged",
        &csrf_field(
            &page(
                &app,
                &signed_in(&app, "ada@acme.example", ADMIN_PW).await,
                "/orgs/acme/users",
            )
            .await
            .1,
        ),
    ] {
        let resp = submit(
            &app,
            &ada,
            "/orgs/acme/users/invite",
            &[
                ("csrf_token", token),
                ("email", "jane@acme.example"),
                ("roles", "user"),
            ],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "token {token:?}");
    }
    assert_eq!(member_total(&api, &app).await, before);

    // Send invitation: roles and customers, then the notice and the pending row.
    let resp = submit(
        &app,
        &ada,
        "/orgs/acme/users/invite",
        &[
            ("csrf_token", &csrf),
            ("email", "jane@acme.example"),
            ("name", "Jane Doe"),
            ("roles", "user"),
            ("customers", &customer_id),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/orgs/acme/users?member=") && location.ends_with("&done=invited"),
        "{location}"
    );
    let (_, html) = page(&app, &ada, &location).await;
    assert!(
        html.contains("Invitation sent to jane@acme.example."),
        "{html}"
    );
    assert!(
        html.contains("Jane Doe") && html.contains("Invite pending"),
        "{html}"
    );
    let jane = location
        .split("member=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let detail = member_json(&api, &app, jane).await;
    assert_eq!(detail["status"], "invited");
    assert_eq!(detail["roles"], json!(["user"]));
    assert_eq!(detail["customers"], json!([customer_id]));
    let mail = app.deliver().await;
    assert!(mail.iter().any(|(to, _)| to.contains("jane@acme.example")));

    // The notice names only a member the reader can see: a made-up id shows nothing.
    let (_, html) = page(
        &app,
        &ada,
        "/orgs/acme/users?member=00000000-0000-0000-0000-000000000000&done=invited",
    )
    .await;
    assert!(!html.contains("Invitation sent"), "{html}");

    // Search and filters.
    let (_, html) = page(&app, &ada, "/orgs/acme/users?q=jane").await;
    assert!(
        html.contains("Jane Doe") && !html.contains("<td>ada@acme.example</td>"),
        "{html}"
    );
    let (_, html) = page(&app, &ada, "/orgs/acme/users?status=active").await;
    assert!(
        !html.contains("Jane Doe") && html.contains("<td>ada@acme.example</td>"),
        "{html}"
    );
    let (_, html) = page(
        &app,
        &ada,
        &format!("/orgs/acme/users?customer={customer_id}"),
    )
    .await;
    assert!(
        html.contains("Jane Doe") && !html.contains("<td>ada@acme.example</td>"),
        "{html}"
    );
    let (status, html) = page(&app, &ada, "/orgs/acme/users?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("role=\"alert\""), "{html}");
}

#[tokio::test]
async fn member_page_deactivates_activates_resets_and_deletes() {
    let app = spawn_app().await;
    let (ada, api) = acme(&app).await;
    let jane = app
        .add_member("acme", "jane@acme.example", USER_PW, &[BuiltinRole::User])
        .await
        .to_string();
    let jane_browser = signed_in(&app, "jane@acme.example", USER_PW).await;
    let here = format!("/orgs/acme/users/{jane}");

    let (status, html) = page(&app, &ada, &here).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("jane@acme.example") && html.contains(">Active<"),
        "{html}"
    );
    for tab in [
        "Groups and Roles",
        "Permissions",
        "Customers",
        "Password",
        "Sign-in attempts",
        "Notifications",
    ] {
        assert!(html.contains(&format!(">{tab}</a>")), "{tab}");
    }
    for tab in [
        "roles",
        "permissions",
        "customers",
        "password",
        "attempts",
        "notifications",
    ] {
        let (status, html) = page(&app, &ada, &format!("{here}?tab={tab}")).await;
        assert_eq!(status, 200, "{tab}: {html}");
        assert!(!html.contains("role=\"alert\""), "{tab}: {html}");
    }
    let (_, html) = page(&app, &ada, &format!("{here}?tab=attempts")).await;
    assert!(
        html.contains("<code>succeeded</code>"),
        "Jane's sign-in shows: {html}"
    );
    let (_, html) = page(&app, &ada, &format!("{here}?tab=permissions")).await;
    assert!(html.contains("users.read"), "{html}");
    // Granted by the role, named for people (not its JSON).
    assert!(
        html.contains("<td>User (assigned customers)</td>") && !html.contains("&quot;kind"),
        "{html}"
    );
    let csrf = csrf_field(&html);

    // Deactivate: Jane's next click is refused with a sentence.
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/deactivate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        member_json(&api, &app, &jane).await["status"],
        "deactivated"
    );
    let (_, html) = page(&app, &ada, resp.headers()[LOCATION].to_str().unwrap()).await;
    assert!(
        html.contains(">Deactivated<") && html.contains("can no longer sign in"),
        "{html}"
    );
    // Jane belongs nowhere else, so her session no longer holds: her next click goes to
    // the sign-in page, where signing in is refused with the diagnostics.
    let resp = jane_browser
        .get(app.url("/orgs/acme/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/sign-in?next=/orgs/acme/users");
    let refused = app
        .sign_in_raw(&browser(), "jane@acme.example", USER_PW)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = refused.json().await.unwrap();
    assert!(refused["diagnostics"]["reference"].is_string(), "{refused}");
    // Deactivating again: the API's refusal as the page's sentence, nothing changed.
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/deactivate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Only active members can be deactivated"));

    let resp = submit(
        &app,
        &ada,
        &format!("{here}/activate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(member_json(&api, &app, &jane).await["status"], "active");
    assert_eq!(page(&app, &jane_browser, "/orgs/acme").await.0, 200);

    // Send a reset link: the button counts down from 30 s, and a reload (another GET)
    // still shows what is left, by the clock.
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/reset-link"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&app, &ada, resp.headers()[LOCATION].to_str().unwrap()).await;
    assert!(
        html.contains("Reset link sent to jane@acme.example."),
        "{html}"
    );
    assert!(
        html.contains("data-countdown=\"30\"") && html.contains("Send a reset link (30s)</button>"),
        "{html}"
    );
    app.clock.advance(Duration::seconds(12));
    let (_, html) = page(&app, &ada, &format!("{here}?tab=password")).await;
    assert!(
        html.contains("data-countdown=\"18\"") && html.contains("(18s)"),
        "{html}"
    );
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/reset-link"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.text().await.unwrap().contains("Wait 18 s"));
    app.clock.advance(Duration::seconds(18));
    let (_, html) = page(&app, &ada, &format!("{here}?tab=password")).await;
    assert!(
        !html.contains("data-countdown") && html.contains(">Send a reset link</button>"),
        "{html}"
    );

    // The last admin cannot take themselves out; the page says why.
    let list: Value = api
        .get(&app, "/api/v1/orgs/acme/members?q=ada")
        .await
        .json()
        .await
        .unwrap();
    let ada_member = list["items"][0]["id"].as_str().unwrap();
    let resp = submit(
        &app,
        &ada,
        &format!("/orgs/acme/users/{ada_member}/deactivate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("role=\"alert\"") && html.contains("admin"),
        "{html}"
    );
    assert_eq!(
        member_json(&api, &app, ada_member).await["status"],
        "active"
    );

    // Delete: a confirmation naming the person, then gone.
    let (_, html) = page(&app, &ada, &format!("{here}?confirm=delete")).await;
    assert!(
        html.contains("aria-labelledby=\"delete-title\" open"),
        "{html}"
    );
    assert!(
        html.contains("Delete jane@acme.example?") && html.contains("Delete user"),
        "{html}"
    );
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/delete"),
        &[("csrf_token", "stale")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(member_json(&api, &app, &jane).await["status"], "active");
    let resp = submit(
        &app,
        &ada,
        &format!("{here}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/orgs/acme/users?done=removed");
    let (_, html) = page(&app, &ada, "/orgs/acme/users?done=removed").await;
    assert!(
        html.contains("The user was removed.") && !html.contains("jane@acme.example"),
        "{html}"
    );
    assert_eq!(page(&app, &ada, &here).await.0, StatusCode::NOT_FOUND);
    // Jane's session no longer holds: back to the sign-in page.
    assert_eq!(
        page(&app, &jane_browser, "/orgs/acme").await.0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn console_pages_show_nothing_of_another_organization_and_respect_roles() {
    let app = spawn_app().await;
    let (ada, _api) = acme(&app).await;
    let jane = app
        .add_member("acme", "jane@acme.example", USER_PW, &[BuiltinRole::User])
        .await
        .to_string();
    app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let gil = signed_in(&app, "gil@globex.example", ADMIN_PW).await;
    let (_, html) = page(&app, &gil, "/orgs/globex/users").await;
    let gil_csrf = csrf_field(&html);

    // Another organization's admin: Acme's pages and members do not exist for them, not
    // even through their own organization's paths.
    for path in [
        "/orgs/acme".to_owned(),
        "/orgs/acme/users".to_owned(),
        format!("/orgs/acme/users/{jane}"),
        format!("/orgs/globex/users/{jane}"),
        "/orgs/acme/audit".to_owned(),
        "/orgs/acme/audit.csv".to_owned(),
    ] {
        let (status, html) = page(&app, &gil, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("jane@acme.example"), "{path}: {html}");
    }
    for path in [
        format!("/orgs/globex/users/{jane}/deactivate"),
        format!("/orgs/acme/users/{jane}/deactivate"),
    ] {
        let resp = submit(&app, &gil, &path, &[("csrf_token", &gil_csrf)]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (_, html) = page(&app, &ada, &format!("/orgs/acme/users/{jane}")).await;
    assert!(html.contains(">Active<"), "still active: {html}");

    // A User reads the list but sees no invite button, no actions, no audit log; posting
    // anyway is refused and changes nothing.
    let jane_browser = signed_in(&app, "jane@acme.example", USER_PW).await;
    let (status, html) = page(&app, &jane_browser, "/orgs/acme/users").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        !html.contains("Invite user") && !html.contains(">Audit log<"),
        "{html}"
    );
    let ada_row = html
        .split("acme/users/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (_, html) = page(&app, &jane_browser, &format!("/orgs/acme/users/{ada_row}")).await;
    assert!(
        !html.contains("More actions") && !html.contains("Send a reset link"),
        "{html}"
    );
    let jane_csrf = csrf_field(&page(&app, &jane_browser, "/orgs/acme").await.1);
    // Her own notifications are hers to change from her member page, without users.manage.
    let resp = submit(
        &app,
        &jane_browser,
        &format!("/orgs/acme/users/{jane}/notifications"),
        &[
            ("csrf_token", &jane_csrf),
            ("frequency", "daily"),
            ("all_categories", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(
        &app,
        &jane_browser,
        &format!("/orgs/acme/users/{jane}?tab=notifications"),
    )
    .await;
    assert!(html.contains("value=\"daily\" checked"), "{html}");
    // Someone else's are not.
    let resp = submit(
        &app,
        &jane_browser,
        &format!("/orgs/acme/users/{ada_row}/notifications"),
        &[
            ("csrf_token", &jane_csrf),
            ("frequency", "daily"),
            ("all_categories", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = submit(
        &app,
        &jane_browser,
        &format!("/orgs/acme/users/{ada_row}/deactivate"),
        &[("csrf_token", &jane_csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = submit(
        &app,
        &jane_browser,
        "/orgs/acme/users/invite",
        &[
            ("csrf_token", &jane_csrf),
            ("email", "x@acme.example"),
            ("roles", "user"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page(&app, &jane_browser, "/orgs/acme/audit").await.0,
        StatusCode::FORBIDDEN
    );

    // Not signed in: to the sign-in page, coming back after.
    let resp = browser()
        .get(app.url("/orgs/acme/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/sign-in?next=/orgs/acme/users");
}

#[tokio::test]
async fn audit_log_page_filters_and_exports_csv() {
    let app = spawn_app().await;
    let (ada, api) = acme(&app).await;
    let jane = app
        .add_member("acme", "jane@acme.example", USER_PW, &[BuiltinRole::User])
        .await
        .to_string();
    let (_, html) = page(&app, &ada, "/orgs/acme").await;
    let csrf = csrf_field(&html);
    for action in ["deactivate", "activate"] {
        let resp = submit(
            &app,
            &ada,
            &format!("/orgs/acme/users/{jane}/{action}"),
            &[("csrf_token", &csrf)],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }

    let resp = ada.get(app.url("/orgs/acme/audit")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = resp.text().await.unwrap();
    for action in [
        "invitation.accepted",
        "membership.deactivated",
        "membership.activated",
    ] {
        assert!(
            html.contains(&format!("<code>{action}</code>")),
            "{action}: {html}"
        );
    }
    assert!(
        html.contains("<td>ada@acme.example</td>"),
        "actors by email: {html}"
    );
    let (_, html) = page(&app, &ada, "/orgs/acme/audit?action=membership.deactivated").await;
    assert!(
        html.contains("<code>membership.deactivated</code>")
            && !html.contains("<code>membership.activated</code>"),
        "{html}"
    );
    let (status, html) = page(&app, &ada, "/orgs/acme/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("since must be a day"), "{html}");
    let today = app.clock.now().format("%Y-%m-%d").to_string();
    let (_, html) = page(
        &app,
        &ada,
        &format!("/orgs/acme/audit?until={today}&action=membership.activated"),
    )
    .await;
    assert!(
        html.contains("<code>membership.activated</code>"),
        "until is inclusive of the day: {html}"
    );

    let resp = ada
        .get(app.url("/orgs/acme/audit.csv?action=membership.deactivated"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(resp.headers()[CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("audit-acme.csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,actor,action,target_kind,target_id,details");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains("\"ada@acme.example\",\"membership.deactivated\",\"membership\""),
        "{csv}"
    );

    // A reader limited to some customers may not read the log, even with `audit.read`
    // from a custom role: it names every customer and assignment.
    let role: Value = api
        .post(
            &app,
            "/api/v1/orgs/acme/roles",
            json!({ "name": "Auditor", "permissions": ["audit.read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let customer: Value = api
        .post(
            &app,
            "/api/v1/orgs/acme/customers",
            json!({ "name": "Initech" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let put = |path: String, body: Value| {
        let api = &api;
        let app = &app;
        async move { api.send(app, reqwest::Method::PUT, &path, Some(body)).await }
    };
    let resp = put(
        format!("/api/v1/orgs/acme/members/{jane}/roles"),
        json!({ "roles": ["user", role["id"]] }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let jane_browser = signed_in(&app, "jane@acme.example", USER_PW).await;
    let (status, html) = page(&app, &jane_browser, "/orgs/acme/audit").await;
    assert_eq!(
        status, 200,
        "the whole organization's customers are hers: {html}"
    );
    let resp = put(
        format!("/api/v1/orgs/acme/members/{jane}/customers"),
        json!({ "customers": [customer["id"]] }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (status, html) = page(&app, &jane_browser, "/orgs/acme/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("limited to some entities or customers"),
        "{html}"
    );
    assert_eq!(
        page(&app, &jane_browser, "/orgs/acme/audit.csv").await.0,
        StatusCode::FORBIDDEN
    );
    let resp = jane_browser
        .get(app.url("/api/v1/orgs/acme/audit"))
        .send()
        .await
        .unwrap();
    crate::support::problem(resp, StatusCode::FORBIDDEN, "limited_reach").await;

    // The API answers the same, and only with audit.read.
    let list: Value = api
        .get(&app, "/api/v1/orgs/acme/audit?action=membership.activated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["actor"]["email"], "ada@acme.example");
}
