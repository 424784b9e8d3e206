//! The HTTP API driven the way a client drives it.

use crate::support::{problem, spawn_app, spawn_app_postgres};
use chrono::Duration;
use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use reqwest::{Client, StatusCode};
use roster_core::email::Email;
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let resp = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
    let ready: Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({ "status": "ready", "backend": "sqlite" }));
}

/// `/metrics` shows what waits in the outbox and what failed, while `/readyz` stays ready:
/// a mail server that is down loses nothing and does not take Roster out of service.
#[tokio::test]
async fn metrics_show_the_outbox_backlog_and_failures_while_ready() {
    use roster_core::clock::Clock;
    let app = spawn_app().await;
    let metric = |body: &str, name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
            .parse()
            .unwrap()
    };
    let scrape = || async {
        let resp = reqwest::get(app.url("/metrics")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        resp.text().await.unwrap()
    };
    let body = scrape().await;
    assert_eq!(metric(&body, "roster_outbox_pending"), 0.0);
    assert!(body.contains("# TYPE roster_outbox_failed gauge"), "{body}");

    // Two emails wait (the mail server is "down": nobody delivers); one fails for good.
    let mut tx = app.roster.store.begin().await.unwrap();
    let queued: Vec<_> = ["ada@example.com", "bob@example.com"]
        .iter()
        .map(|to| {
            roster_core::model::OutboxMessage::new(
                None,
                Email::parse(to).unwrap(),
                roster_core::model::Notice::AccessRevoked {
                    org_name: "Acme".into(),
                },
                app.clock.now(),
            )
        })
        .collect();
    for m in &queued {
        tx.enqueue_outbox(m).await.unwrap();
    }
    tx.commit().await.unwrap();
    app.clock.advance(Duration::seconds(90));
    let body = scrape().await;
    assert_eq!(metric(&body, "roster_outbox_pending"), 2.0);
    assert_eq!(metric(&body, "roster_outbox_oldest_pending_seconds"), 90.0);
    let now = app.clock.now();
    let lease = now + Duration::minutes(5);
    let mut tx = app.roster.store.begin().await.unwrap();
    let claimed = tx.claim_outbox(now, lease, 1).await.unwrap();
    assert!(tx
        .outbox_failed(claimed[0].id, lease, "550 no such user", None, false)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let body = scrape().await;
    assert_eq!(metric(&body, "roster_outbox_pending"), 1.0);
    assert_eq!(metric(&body, "roster_outbox_failed"), 1.0);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "failing mail keeps Roster ready"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_store_is_gone() {
    let app = spawn_app().await;
    app.roster.store.close().await;
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    problem(resp, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    // Liveness does not depend on the store.
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn organizations_need_an_operator_token() {
    let app = spawn_app().await;
    let c = Client::new();
    let resp = c
        .post(app.url("/api/v1/orgs"))
        .json(&json!({ "name": "Acme", "kind": "vendor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = c
        .get(app.url("/api/v1/orgs"))
        .bearer_auth("roster_op_forged")
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = c.get(app.url("/api/v1/orgs/acme")).send().await.unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Nothing was created by the refused calls.
    let list: Value = app
        .operator(c.get(app.url("/api/v1/orgs")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn organizations_create_list_read_and_configure() {
    let app = spawn_app().await;
    let c = Client::new();
    let resp = app.create_org("Acme Corp", None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let acme: Value = resp.json().await.unwrap();
    assert_eq!(acme["slug"], "acme-corp");
    assert_eq!(acme["kind"], "vendor");
    assert_eq!(acme["settings"]["invitation_lifetime_hours"], 72);

    let resp = app.create_org("Another Acme", Some("acme-corp")).await;
    let body = problem(resp, StatusCode::CONFLICT, "slug_taken").await;
    assert!(body["detail"].as_str().unwrap().contains("acme-corp"));
    assert_eq!(app.create_org("Globex", Some("globex")).await.status(), 201);

    let resp = app
        .operator(c.post(app.url("/api/v1/orgs")))
        .json(&json!({ "name": "X", "kind": "customer" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_kind").await;
    let resp = app
        .operator(c.post(app.url("/api/v1/orgs")))
        .json(&json!({ "name": "X", "slug": "Not A Slug", "kind": "vendor" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_slug").await;
    let resp = app
        .operator(c.post(app.url("/api/v1/orgs")))
        .json(&json!({ "name": "  ", "kind": "vendor" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_name").await;

    let page: Value = app
        .operator(c.get(app.url("/api/v1/orgs?limit=1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["slug"], "acme-corp");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .operator(c.get(app.url(&format!("/api/v1/orgs?limit=1&cursor={cursor}"))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["slug"], "globex");
    assert_eq!(next["next_cursor"], Value::Null);
    let resp = app
        .operator(c.get(app.url("/api/v1/orgs?limit=500")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    let resp = app
        .operator(c.get(app.url("/api/v1/orgs?cursor=zzz")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_cursor").await;

    let by_id: Value = app
        .operator(c.get(app.url(&format!("/api/v1/orgs/{}", acme["id"].as_str().unwrap()))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_id, acme);
    let resp = app
        .operator(c.get(app.url("/api/v1/orgs/no-such-org")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    let patched: Value = app
        .operator(c.patch(app.url("/api/v1/orgs/acme-corp")))
        .json(
            &json!({ "name": "Acme Corporation", "settings": { "invitation_lifetime_hours": 24 } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["name"], "Acme Corporation");
    assert_eq!(patched["settings"]["invitation_lifetime_hours"], 24);
    assert_eq!(patched["settings"]["password_min_length"], 12);
    for bad in [
        json!({ "settings": { "password_min_length": 4 } }),
        json!({ "settings": { "nope": 1 } }),
    ] {
        let resp = app
            .operator(c.patch(app.url("/api/v1/orgs/acme-corp")))
            .json(&bad)
            .send()
            .await
            .unwrap();
        problem(resp, StatusCode::BAD_REQUEST, "invalid_settings").await;
    }
    let after: Value = app
        .operator(c.get(app.url("/api/v1/orgs/acme-corp")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["settings"]["password_min_length"], 12,
        "refused changes changed nothing"
    );

    let audit = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .list_audit(&roster_core::model::AuditQuery {
            org_id: Some(acme["id"].as_str().unwrap().parse().unwrap()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["organization.updated", "organization.created"]);
}

#[tokio::test]
async fn malformed_requests_get_problem_documents() {
    let app = spawn_app().await;
    let c = Client::new();
    let post = || app.operator(c.post(app.url("/api/v1/orgs")));
    let resp = post()
        .header(CONTENT_TYPE, "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    let resp = post()
        .header(CONTENT_TYPE, "text/plain")
        .body("name=Acme")
        .send()
        .await
        .unwrap();
    problem(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let resp = post().body("{}").send().await.unwrap();
    problem(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = json!({ "name": "x".repeat(100_000), "kind": "vendor" });
    let resp = post().json(&huge).send().await.unwrap();
    problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let resp = post()
        .json(&json!({ "name": "Acme", "kind": "vendor", "admin": true }))
        .send()
        .await
        .unwrap();
    let body = problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(body["detail"].as_str().unwrap().contains("admin"));
    let resp = post()
        .json(&json!({ "kind": "vendor" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    let resp = post()
        .json(&json!({ "name": 7, "kind": "vendor" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    let resp = app
        .operator(c.get(app.url("/api/v1/orgs?limit=abc")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    let resp = c.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    problem(resp, StatusCode::NOT_FOUND, "route_not_found").await;
    let resp = c.delete(app.url("/api/v1/orgs")).send().await.unwrap();
    problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let resp = c
        .get(app.url("/api/v1/invitations/%FF%FE"))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "invalid_path").await;
    let list: Value = app
        .operator(c.get(app.url("/api/v1/orgs")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0, "no refused request created anything");
}

#[tokio::test]
async fn setup_email_accept_and_the_session_works() {
    setup_email_accept_and_session(spawn_app().await).await;
}

#[tokio::test]
async fn setup_email_accept_and_the_session_works_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    let ready: Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["backend"], "postgres");
    setup_email_accept_and_session(app).await;
}

async fn setup_email_accept_and_session(app: crate::support::TestApp) {
    let token = app
        .setup_and_read_invitation("Acme Supplies", "Ada@Acme.example")
        .await;
    let c = Client::builder().cookie_store(true).build().unwrap();

    let info: Value = c
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["org_name"], "Acme Supplies");
    assert_eq!(info["email"], "Ada@acme.example");
    assert_eq!(info["existing_identity"], false);

    let accept = |body: Value| {
        c.post(app.url(&format!("/api/v1/invitations/{token}/accept")))
            .json(&body)
            .send()
    };
    let resp = accept(json!({ "password": "correct horse battery", "password_confirmation": "correct horse batterY" })).await.unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "password_mismatch").await;
    let resp = accept(json!({ "password": "elevenchars", "password_confirmation": "elevenchars" }))
        .await
        .unwrap();
    let body = problem(resp, StatusCode::BAD_REQUEST, "password_policy").await;
    assert_eq!(body["errors"][0]["reason"], "too_short");
    let resp = accept(json!({})).await.unwrap();
    problem(resp, StatusCode::BAD_REQUEST, "password_policy").await;
    let resp = c.get(app.url("/api/v1/me")).send().await.unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let resp = accept(json!({ "password": "correct horse battery", "password_confirmation": "correct horse battery" })).await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("roster_session="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    let signed_in: Value = resp.json().await.unwrap();
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(signed_in["memberships"][0]["status"], "active");
    assert!(
        signed_in.to_string().find("argon2").is_none(),
        "no hash in responses"
    );

    let me: Value = c
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["identity"]["email"], "Ada@acme.example");
    assert_eq!(me["identity"]["email_verified"], true);
    assert_eq!(me["memberships"][0]["org"]["slug"], "acme-supplies");
    assert_eq!(me["memberships"][0]["roles"], json!(["admin"]));

    // The link works once (tried without the session, as someone else holding the link).
    let resp = Client::new()
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&json!({ "password": "another long password", "password_confirmation": "another long password" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;
    let resp = c
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;

    // The admin reads and configures their organization; unsafe methods need the CSRF token.
    let org: Value = c
        .get(app.url("/api/v1/orgs/acme-supplies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["name"], "Acme Supplies");
    let patch = json!({ "settings": { "invitation_lifetime_hours": 48 } });
    let resp = c
        .patch(app.url("/api/v1/orgs/acme-supplies"))
        .json(&patch)
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "csrf_failed").await;
    let resp = c
        .patch(app.url("/api/v1/orgs/acme-supplies"))
        .header("x-csrf-token", "wrong")
        .json(&patch)
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "csrf_failed").await;
    let resp = c
        .patch(app.url("/api/v1/orgs/acme-supplies"))
        .header("x-csrf-token", &csrf)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A person is not an operator, and other organizations do not exist for them.
    assert_eq!(app.create_org("Globex", None).await.status(), 201);
    let resp = c.get(app.url("/api/v1/orgs")).send().await.unwrap();
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = c.get(app.url("/api/v1/orgs/globex")).send().await.unwrap();
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = c
        .patch(app.url("/api/v1/orgs/globex"))
        .header("x-csrf-token", &csrf)
        .json(&patch)
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    // Signing out ends the session; replaying the old cookie is refused.
    let resp = c
        .post(app.url("/api/v1/auth/sign-out"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let replay = Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    problem(replay, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn sessions_end_after_their_idle_timeout() {
    let app = spawn_app().await;
    let token = app
        .setup_and_read_invitation("Acme", "ada@acme.example")
        .await;
    let c = Client::builder().cookie_store(true).build().unwrap();
    let pw = json!({ "password": "correct horse battery", "password_confirmation": "correct horse battery" });
    assert_eq!(
        c.post(app.url(&format!("/api/v1/invitations/{token}/accept")))
            .json(&pw)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance(Duration::hours(7));
    assert_eq!(
        c.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200,
        "activity keeps it alive"
    );
    app.clock.advance(Duration::hours(8));
    let resp = c.get(app.url("/api/v1/me")).send().await.unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn expired_invitations_say_so_and_change_nothing() {
    let app = spawn_app().await;
    let token = app
        .setup_and_read_invitation("Acme", "ada@acme.example")
        .await;
    app.clock.advance(Duration::hours(72));
    let c = Client::new();
    let resp = c
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap();
    let body = problem(resp, StatusCode::GONE, "invitation_expired").await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("An admin of Acme can resend it"));
    let pw = json!({ "password": "correct horse battery", "password_confirmation": "correct horse battery" });
    let resp = c
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&pw)
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::GONE, "invitation_expired").await;
    let identity = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .identity_by_email(&Email::parse("ada@acme.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.password_hash, None);
    let resp = c
        .get(app.url("/api/v1/invitations/inv_unknown"))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;
}

/// Every operation the server answers is in the OpenAPI document, and every documented
/// operation is answered by a route.
#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc, serde_json::to_value(roster_web::openapi()).unwrap());
    let mut documented = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            "DELETE /api/v1/me/sessions/{id}",
            "DELETE /api/v1/orgs/{org}/customers/{customer}",
            "DELETE /api/v1/orgs/{org}/entities/{entity}",
            "DELETE /api/v1/orgs/{org}/groups/{group}",
            "DELETE /api/v1/orgs/{org}/members/{member}",
            "DELETE /api/v1/orgs/{org}/members/{member}/invitation",
            "DELETE /api/v1/orgs/{org}/roles/{role}",
            "DELETE /api/v1/orgs/{org}/sso",
            "DELETE /api/v1/orgs/{org}/tokens/{id}",
            "GET /api/v1/invitations/{token}",
            "GET /api/v1/me",
            "GET /api/v1/me/sessions",
            "GET /api/v1/orgs",
            "GET /api/v1/orgs/{org}",
            "GET /api/v1/orgs/{org}/audit",
            "GET /api/v1/orgs/{org}/customers",
            "GET /api/v1/orgs/{org}/customers/{customer}",
            "GET /api/v1/orgs/{org}/entities",
            "GET /api/v1/orgs/{org}/entities/{entity}",
            "GET /api/v1/orgs/{org}/groups",
            "GET /api/v1/orgs/{org}/groups/{group}",
            "GET /api/v1/orgs/{org}/members",
            "GET /api/v1/orgs/{org}/members/{member}",
            "GET /api/v1/orgs/{org}/members/{member}/notifications",
            "GET /api/v1/orgs/{org}/members/{member}/permissions",
            "GET /api/v1/orgs/{org}/members/{member}/sign-in-attempts",
            "GET /api/v1/orgs/{org}/roles",
            "GET /api/v1/orgs/{org}/roles/{role}",
            "GET /api/v1/orgs/{org}/sso",
            "GET /api/v1/orgs/{org}/task-categories",
            "GET /api/v1/orgs/{org}/tasks",
            "GET /api/v1/orgs/{org}/tasks/{task}",
            "GET /api/v1/orgs/{org}/tokens",
            "GET /api/v1/permissions",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "PATCH /api/v1/me",
            "PATCH /api/v1/orgs/{org}",
            "PATCH /api/v1/orgs/{org}/customers/{customer}",
            "PATCH /api/v1/orgs/{org}/entities/{entity}",
            "PATCH /api/v1/orgs/{org}/groups/{group}",
            "PATCH /api/v1/orgs/{org}/members/{member}",
            "PATCH /api/v1/orgs/{org}/roles/{role}",
            "PATCH /api/v1/orgs/{org}/tasks/{task}",
            "POST /api/v1/auth/email-change/confirm",
            "POST /api/v1/auth/password-reset",
            "POST /api/v1/auth/password-reset/confirm",
            "POST /api/v1/auth/sign-in",
            "POST /api/v1/auth/sign-out",
            "POST /api/v1/invitations/{token}/accept",
            "POST /api/v1/me/email",
            "POST /api/v1/me/password",
            "POST /api/v1/orgs",
            "POST /api/v1/orgs/{org}/check",
            "POST /api/v1/orgs/{org}/check/explain",
            "POST /api/v1/orgs/{org}/customers",
            "POST /api/v1/orgs/{org}/entities",
            "POST /api/v1/orgs/{org}/groups",
            "POST /api/v1/orgs/{org}/invitations",
            "POST /api/v1/orgs/{org}/members/{member}/activate",
            "POST /api/v1/orgs/{org}/members/{member}/deactivate",
            "POST /api/v1/orgs/{org}/members/{member}/invitation/resend",
            "POST /api/v1/orgs/{org}/members/{member}/password-reset",
            "POST /api/v1/orgs/{org}/roles",
            "POST /api/v1/orgs/{org}/sso/test",
            "POST /api/v1/orgs/{org}/tasks",
            "POST /api/v1/orgs/{org}/tokens",
            "PUT /api/v1/orgs/{org}/members/{member}/admin-scope",
            "PUT /api/v1/orgs/{org}/members/{member}/customers",
            "PUT /api/v1/orgs/{org}/members/{member}/entity",
            "PUT /api/v1/orgs/{org}/members/{member}/groups",
            "PUT /api/v1/orgs/{org}/members/{member}/notifications",
            "PUT /api/v1/orgs/{org}/members/{member}/roles",
            "PUT /api/v1/orgs/{org}/sso",
        ]
    );
    let c = Client::new();
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{token}", "inv_x")
            .replace("{org}", "some-org")
            .replace("{member}", "me")
            .replace("{id}", "0190b5a2-0000-7000-8000-000000000000");
        let resp = c
            .request(method.parse().unwrap(), app.url(&path))
            .header(CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["code"], "route_not_found",
            "{op} is documented but not routed"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{op}");
    }
    // Routes registered outside utoipa-axum's `routes!` would escape the document. Only the
    // document itself and the page routers (sign-in pages, the console) may use plain
    // `.route(`, and never for a path under /api.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    for entry in walk(std::path::Path::new(src)) {
        let text = std::fs::read_to_string(&entry).unwrap();
        let name = entry.file_name().unwrap().to_str().unwrap().to_owned();
        let plain_routes = text.matches(".route(").count();
        let console = entry.components().any(|c| c.as_os_str() == "console");
        let allowed = match name.as_str() {
            "lib.rs" => 1,
            "pages.rs" => usize::MAX,
            _ if console => usize::MAX,
            _ => 0,
        };
        if name != "lib.rs" {
            assert!(
                !text.contains(".route(\"/api"),
                "{} routes a page under /api",
                entry.display()
            );
        }
        assert!(
            plain_routes <= allowed,
            "{} registers undocumented routes",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Invited to two organizations: after accepting the first, the person has a sign-in, so
/// the second link needs their session instead of a new password.
#[tokio::test]
async fn the_second_invitation_of_a_person_needs_their_session() {
    let app = spawn_app().await;
    let first = app
        .setup_and_read_invitation("Acme", "ada@acme.example")
        .await;
    let second = app
        .setup_and_read_invitation("Globex", "ada@acme.example")
        .await;
    let c = Client::builder().cookie_store(true).build().unwrap();
    let pw = json!({ "password": "correct horse battery", "password_confirmation": "correct horse battery" });
    let resp = c
        .post(app.url(&format!("/api/v1/invitations/{first}/accept")))
        .json(&pw)
        .send()
        .await
        .unwrap();
    let csrf = resp.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let info: Value = c
        .get(app.url(&format!("/api/v1/invitations/{second}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["existing_identity"], true);
    // Without a session, a link alone never signs anybody in as an existing identity.
    let resp = Client::new()
        .post(app.url(&format!("/api/v1/invitations/{second}/accept")))
        .json(&pw)
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "sign_in_required").await;
    // With the session but without its CSRF token: refused, not quietly anonymous.
    let resp = c
        .post(app.url(&format!("/api/v1/invitations/{second}/accept")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "csrf_failed").await;

    let resp = c
        .post(app.url(&format!("/api/v1/invitations/{second}/accept")))
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let me: Value = c
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orgs: Vec<&str> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["org"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["acme", "globex"]);
    assert!(me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "active"));
}
