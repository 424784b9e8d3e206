//! Passwords and email: change, forgot, admin reset link, email change; and API tokens.

use crate::support::{
    comparable_headers, link_token, problem, spawn_app, spawn_app_postgres, spawn_app_with_options,
    spawn_two_postgres, AppOptions, TestApp,
};
use chrono::Duration;
use reqwest::header::{RETRY_AFTER, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use roster_core::model::{BuiltinRole, MembershipStatus};
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const MEMBER_PW: &str = "staple lantern orbit";
const NEW_PW: &str = "quiet meadow telescope";

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The one email delivered to `to` now; panics unless there is exactly one.
fn only_email_to(mails: &[(String, String)], to: &str) -> String {
    let found: Vec<&String> = mails
        .iter()
        .filter(|(r, _)| r.contains(to))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found.len(), 1, "one email to {to} in {mails:?}");
    found[0].clone()
}

#[tokio::test]
async fn changing_the_password() {
    let app = spawn_app().await;
    let mut here = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let elsewhere = app.sign_in("ada@acme.example", ADMIN_PW).await;
    let token: Value = here
        .post(
            &app,
            "/api/v1/orgs/acme/tokens",
            json!({ "name": "ci", "permissions": ["users.read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let bearer = token["token"].as_str().unwrap().to_owned();
    let with_token = |path: &str| Client::new().get(app.url(path)).bearer_auth(&bearer).send();
    assert_eq!(with_token("/api/v1/orgs/acme").await.unwrap().status(), 200);
    app.deliver().await;

    // Wrong current password: refused, nothing changes.
    let resp = here
        .post(
            &app,
            "/api/v1/me/password",
            json!({ "current_password": "not it at all", "new_password": NEW_PW }),
        )
        .await;
    problem(resp, StatusCode::FORBIDDEN, "wrong_password").await;
    // The policy, with every reason at once.
    let resp = here
        .post(
            &app,
            "/api/v1/me/password",
            json!({ "current_password": ADMIN_PW, "new_password": "ada" }),
        )
        .await;
    let body = problem(resp, StatusCode::BAD_REQUEST, "password_policy").await;
    let reasons: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"too_short") && reasons.contains(&"contains_email"),
        "{reasons:?}"
    );
    let resp = here
        .post(
            &app,
            "/api/v1/me/password",
            json!({ "current_password": ADMIN_PW, "new_password": "acme acme acme acme" }),
        )
        .await;
    problem(resp, StatusCode::BAD_REQUEST, "password_policy").await;
    assert_eq!(elsewhere.get(&app, "/api/v1/me").await.status(), 200);
    assert!(
        app.deliver().await.is_empty(),
        "no email for refused changes"
    );

    // The session making the change is rotated: the person keeps working under a new
    // cookie and CSRF token, while the old cookie is dead like every other session.
    let old_cookie = {
        let resp = app
            .sign_in_raw(&here.client, "ada@acme.example", ADMIN_PW)
            .await;
        let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        here.csrf = body["csrf_token"].as_str().unwrap().to_owned();
        cookie.split(';').next().unwrap().to_owned()
    };
    let resp = here
        .post(
            &app,
            "/api/v1/me/password",
            json!({ "current_password": ADMIN_PW, "new_password": NEW_PW }),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let new_csrf = resp.headers()["x-csrf-token"].to_str().unwrap().to_owned();
    let new_cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(new_cookie.starts_with("roster_session=") && !new_cookie.starts_with(&old_cookie));
    assert_ne!(new_csrf, here.csrf);
    let replay = Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401, "the pre-change session id is dead");
    assert_eq!(here.get(&app, "/api/v1/me").await.status(), 200);
    let resp = here
        .send(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(json!({ "locale": "en" })),
        )
        .await;
    assert_eq!(
        resp.status(),
        403,
        "the old CSRF token went with the old session"
    );
    here.csrf = new_csrf;
    let resp = here
        .send(
            &app,
            Method::PATCH,
            "/api/v1/me",
            Some(json!({ "locale": "en" })),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(elsewhere.get(&app, "/api/v1/me").await.status(), 401);
    assert_eq!(with_token("/api/v1/orgs/acme").await.unwrap().status(), 401);
    let c = Client::new();
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", ADMIN_PW)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", NEW_PW)
            .await
            .status(),
        200
    );
    let mails = app.deliver().await;
    let notice = only_email_to(&mails, "ada@acme.example");
    assert!(notice.contains("password"), "{notice}");
    assert!(!notice.contains(NEW_PW));

    // Each security event is in the audit trail, and no password is.
    let audit = app.audit().await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    for action in [
        "sign_in.succeeded",
        "sign_in.failed",
        "password.changed",
        "sessions.revoked",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        audit
            .iter()
            .any(|(a, d)| a == "api_token.created" && d.contains("\"kind\":\"organization\"")),
        "{audit:?}"
    );
    let revoked = audit.iter().find(|(a, _)| a == "sessions.revoked").unwrap();
    assert!(
        revoked.1.contains("\"sessions\":2") && revoked.1.contains("\"api_tokens\":1"),
        "{revoked:?}"
    );
    let all = format!("{audit:?}");
    assert!(!all.contains(ADMIN_PW) && !all.contains(NEW_PW) && !all.contains(&bearer));
}

#[tokio::test]
async fn forgot_password_flow() {
    forgot_password(spawn_app().await).await;
}

#[tokio::test]
async fn forgot_password_flow_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    forgot_password(app).await;
}

async fn forgot_password(app: TestApp) {
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.deliver().await;

    // One answer, whether or not the address exists; the evil Host never makes a link.
    let c = Client::new();
    let ask = |email: &'static str| {
        c.post(app.url("/api/v1/auth/password-reset"))
            .header("x-forwarded-host", "evil.test")
            .json(&json!({ "email": email }))
            .send()
    };
    let known = ask("ada@acme.example").await.unwrap();
    let unknown = ask("nobody@acme.example").await.unwrap();
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    assert_eq!(
        comparable_headers(known.headers()),
        comparable_headers(unknown.headers())
    );
    assert_eq!(
        known.bytes().await.unwrap(),
        unknown.bytes().await.unwrap(),
        "byte-identical answers"
    );
    let mails = app.deliver().await;
    assert_eq!(mails.len(), 1, "only the existing account gets an email");
    let eml = only_email_to(&mails, "ada@acme.example");
    assert!(!eml.contains("evil.test"));
    let first = link_token(&eml, &app.base, "/password-reset/");
    assert!(first.len() >= 43, "at least 256 bits: {first}");

    // A request alone changes nothing: the old password still works.
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", ADMIN_PW)
            .await
            .status(),
        200
    );

    // A newer link kills the older one (after the cooldown).
    app.clock.advance(Duration::seconds(30));
    assert_eq!(ask("ada@acme.example").await.unwrap().status(), 202);
    let second = link_token(
        &only_email_to(&app.deliver().await, "ada@acme.example"),
        &app.base,
        "/password-reset/",
    );
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": first, "new_password": NEW_PW }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;

    // The policy applies, and a refused password leaves the link usable.
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": second, "new_password": "short" }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "password_policy").await;

    // Redeeming: password set, every session ends, nobody is signed in, a notice goes out.
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": second, "new_password": NEW_PW }),
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert!(resp.headers().get(SET_COOKIE).is_none(), "no sign-in");
    assert_eq!(admin.get(&app, "/api/v1/me").await.status(), 401);
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", ADMIN_PW)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", NEW_PW)
            .await
            .status(),
        200
    );
    let notice = only_email_to(&app.deliver().await, "ada@acme.example");
    assert!(notice.to_lowercase().contains("changed"), "{notice}");

    // Single use.
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": second, "new_password": "another fine phrase" }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;

    // Of two concurrent redeems of one link, exactly one wins.
    app.clock.advance(Duration::seconds(30));
    assert_eq!(ask("ada@acme.example").await.unwrap().status(), 202);
    let racy = link_token(
        &only_email_to(&app.deliver().await, "ada@acme.example"),
        &app.base,
        "/password-reset/",
    );
    let confirm = |pw: &'static str| {
        Client::new()
            .post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": racy, "new_password": pw }))
            .send()
    };
    let (a, b) = tokio::join!(
        confirm("first racing phrase"),
        confirm("second racing phrase")
    );
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [204, 400]);
    app.deliver().await;
    let audit = app.audit().await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert!(actions.contains(&"password_reset.requested"));
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "password_reset.completed")
            .count(),
        2,
        "the first redeem and the winner of the race"
    );
    let all = format!("{audit:?}");
    assert!(
        !all.contains(&second) && !all.contains(&racy),
        "no link in the audit trail"
    );

    // A link lives 30 minutes.
    app.clock.advance(Duration::seconds(30));
    assert_eq!(ask("ada@acme.example").await.unwrap().status(), 202);
    let third = link_token(
        &only_email_to(&app.deliver().await, "ada@acme.example"),
        &app.base,
        "/password-reset/",
    );
    app.clock.advance(Duration::minutes(30));
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": third, "new_password": "another fine phrase" }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;
}

#[tokio::test]
async fn a_throttled_person_can_still_reset_their_password() {
    let app = spawn_app_with_options(AppOptions {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..AppOptions::default()
    })
    .await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.deliver().await;
    let sign_in = |password: &'static str, from: String| {
        Client::new()
            .post(app.url("/api/v1/auth/sign-in"))
            .header("x-forwarded-for", from)
            .json(&json!({ "email": "ada@acme.example", "password": password }))
            .send()
    };
    for i in 0..10 {
        sign_in("wrong", format!("198.51.100.{i}")).await.unwrap();
    }
    let resp = sign_in(ADMIN_PW, "198.51.100.50".into()).await.unwrap();
    assert_eq!(resp.status(), 429);
    post(
        &app,
        "/api/v1/auth/password-reset",
        json!({ "email": "ada@acme.example" }),
    )
    .await;
    let token = link_token(
        &only_email_to(&app.deliver().await, "ada@acme.example"),
        &app.base,
        "/password-reset/",
    );
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": token, "new_password": NEW_PW }),
    )
    .await;
    assert_eq!(resp.status(), 204);
    // A completed reset lifts the email's throttle.
    let resp = sign_in(NEW_PW, "198.51.100.51".into()).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn admins_send_reset_links_with_a_cooldown() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let carol = app
        .add_member(
            "acme",
            "carol@acme.example",
            MEMBER_PW,
            &[BuiltinRole::User],
        )
        .await;
    app.deliver().await;
    let path = |m: &dyn std::fmt::Display| format!("/api/v1/orgs/acme/members/{m}/password-reset");

    // Needs users.manage.
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let resp = bob_session.post(&app, &path(&carol), json!({})).await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    let resp = admin.post(&app, &path(&bob), json!({})).await;
    assert_eq!(resp.status(), 202);
    let mails = app.deliver().await;
    let eml = only_email_to(&mails, "bob@acme.example");
    assert!(eml.contains("Acme"), "names the organization: {eml}");
    let first = link_token(&eml, &app.base, "/password-reset/");

    // 29 seconds later: 429 with the seconds left, and no second email.
    app.clock.advance(Duration::seconds(29));
    let resp = admin.post(&app, &path(&bob), json!({})).await;
    assert_eq!(resp.headers()[RETRY_AFTER], "1");
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "reset_cooldown").await;
    assert!(app.deliver().await.is_empty());
    // Another member is not held up.
    assert_eq!(
        admin.post(&app, &path(&carol), json!({})).await.status(),
        202
    );
    // 30 seconds: a new link, and the first one is dead.
    app.clock.advance(Duration::seconds(1));
    assert_eq!(admin.post(&app, &path(&bob), json!({})).await.status(), 202);
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": first, "new_password": NEW_PW }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;

    // Only active members.
    app.set_status(
        "acme",
        carol,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    app.clock.advance(Duration::seconds(30));
    let resp = admin.post(&app, &path(&carol), json!({})).await;
    problem(resp, StatusCode::CONFLICT, "not_active").await;
    // Unknown or foreign members are not found.
    let resp = admin
        .post(&app, &path(&uuid::Uuid::now_v7()), json!({}))
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_reset_cooldown_holds_across_instances() {
    let Some((a, b)) = spawn_two_postgres().await else {
        return;
    };
    let admin = a.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = a
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    a.deliver().await;
    let path = format!("/api/v1/orgs/acme/members/{bob}/password-reset");
    // Both instances at the same moment: exactly one link.
    let (x, y) = tokio::join!(
        admin.post(&a, &path, json!({})),
        admin.post(&b, &path, json!({}))
    );
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 429]);
    let sent = a.deliver().await.len() + b.deliver().await.len();
    assert_eq!(sent, 1, "one email");
    let resp = admin.post(&b, &path, json!({})).await;
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "reset_cooldown").await;
}

#[tokio::test]
async fn changing_the_email_is_verified() {
    let app = spawn_app().await;
    let ada = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let other = app.sign_in("ada@acme.example", ADMIN_PW).await;
    app.add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.deliver().await;
    let change = |new_email: &str, pw: &str| {
        ada.post(
            &app,
            "/api/v1/me/email",
            json!({ "new_email": new_email, "current_password": pw }),
        )
    };
    problem(
        change("ada@new.example", "wrong wrong").await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    problem(
        change("BOB@acme.example", ADMIN_PW).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    problem(
        change("not an email", ADMIN_PW).await,
        StatusCode::BAD_REQUEST,
        "invalid_email",
    )
    .await;
    assert!(app.deliver().await.is_empty());

    assert_eq!(change("ada@new.example", ADMIN_PW).await.status(), 202);
    let mails = app.deliver().await;
    assert_eq!(mails.len(), 2);
    let confirm = only_email_to(&mails, "ada@new.example");
    let notice = only_email_to(&mails, "ada@acme.example");
    assert!(notice.contains("ada@new.example"));
    assert!(
        !notice.contains("/email-change/"),
        "the old address gets no link"
    );
    let token = link_token(&confirm, &app.base, "/email-change/");

    // Nothing changes until the new address confirms.
    let c = Client::new();
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", ADMIN_PW)
            .await
            .status(),
        200
    );
    // A reset link is not an email-change link.
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": token, "new_password": NEW_PW }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;

    // A reset link sent to the old address before the change dies with it.
    post(
        &app,
        "/api/v1/auth/password-reset",
        json!({ "email": "ada@acme.example" }),
    )
    .await;
    let reset = link_token(
        &only_email_to(&app.deliver().await, "ada@acme.example"),
        &app.base,
        "/password-reset/",
    );

    let resp = post(
        &app,
        "/api/v1/auth/email-change/confirm",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let resp = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": reset, "new_password": NEW_PW }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;
    assert_eq!(ada.get(&app, "/api/v1/me").await.status(), 401);
    assert_eq!(other.get(&app, "/api/v1/me").await.status(), 401);
    assert_eq!(
        app.sign_in_raw(&c, "ada@acme.example", ADMIN_PW)
            .await
            .status(),
        401
    );
    let me = app.sign_in("ada@new.example", ADMIN_PW).await;
    assert_eq!(me.body["identity"]["email"], "ada@new.example");
    let resp = post(
        &app,
        "/api/v1/auth/email-change/confirm",
        json!({ "token": token }),
    )
    .await;
    problem(resp, StatusCode::BAD_REQUEST, "token_invalid").await;

    // Taken at confirm time: 409, and the link stays usable.
    assert_eq!(
        me.post(
            &app,
            "/api/v1/me/email",
            json!({ "new_email": "carol@acme.example", "current_password": ADMIN_PW }),
        )
        .await
        .status(),
        202
    );
    let token = link_token(
        &only_email_to(&app.deliver().await, "carol@acme.example"),
        &app.base,
        "/email-change/",
    );
    app.add_member(
        "acme",
        "carol@acme.example",
        MEMBER_PW,
        &[BuiltinRole::User],
    )
    .await;
    let resp = post(
        &app,
        "/api/v1/auth/email-change/confirm",
        json!({ "token": token }),
    )
    .await;
    problem(resp, StatusCode::CONFLICT, "email_taken").await;
    assert_eq!(
        me.get(&app, "/api/v1/me").await.status(),
        200,
        "nothing changed"
    );
}

#[tokio::test]
async fn profile_changes_refuse_fields_that_are_not_the_profile() {
    let app = spawn_app().await;
    let ada = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let patch = |body: Value| ada.send(&app, Method::PATCH, "/api/v1/me", Some(body));
    let resp =
        patch(json!({ "name": "Ada L.", "timezone": "Europe/Paris", "locale": "fr-FR" })).await;
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["timezone"], "Europe/Paris");
    for body in [
        json!({ "role": "admin" }),
        json!({ "email_verified": true }),
        json!({ "tenant_id": "x" }),
        json!({ "timezone": "Mars/Olympus" }),
        json!({ "locale": "not a locale" }),
    ] {
        let resp = patch(body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
    }
    let me: Value = ada.get(&app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["identity"]["name"], "Ada L.");
    assert_eq!(me["identity"]["locale"], "fr-FR");
    let resp = patch(json!({ "name": null })).await;
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["name"], Value::Null);
    assert_eq!(me["timezone"], "Europe/Paris", "absent fields stay");
}

#[tokio::test]
async fn organization_api_tokens() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.create_org("Globex", None).await;
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let create = |body: Value| admin.post(&app, "/api/v1/orgs/acme/tokens", body);

    problem(
        create(json!({ "name": "x", "permissions": ["root.everything"] })).await,
        StatusCode::BAD_REQUEST,
        "invalid_permission",
    )
    .await;
    problem(
        create(json!({ "name": "", "permissions": ["users.read"] })).await,
        StatusCode::BAD_REQUEST,
        "invalid_name",
    )
    .await;
    let resp = create(json!({ "name": "reader", "permissions": ["users.read"] })).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("roster_org_"));
    let id = created["id"].as_str().unwrap().to_owned();

    let bearer = |method: Method, path: &str| {
        Client::new()
            .request(method, app.url(path))
            .bearer_auth(&secret)
            .json(&json!({ "settings": { "invitation_lifetime_hours": 24 } }))
            .send()
    };
    // It sees its organization, but holds only what it was given, and nothing elsewhere.
    assert_eq!(
        bearer(Method::GET, "/api/v1/orgs/acme")
            .await
            .unwrap()
            .status(),
        200
    );
    problem(
        bearer(Method::PATCH, "/api/v1/orgs/acme").await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        bearer(Method::GET, "/api/v1/orgs/globex").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        bearer(Method::GET, "/api/v1/me").await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Listed without its secret, with its last use.
    let list: Value = admin
        .get(&app, "/api/v1/orgs/acme/tokens")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert!(list["items"][0]["last_used_at"].is_string());
    assert!(!list.to_string().contains(&secret));

    // A member cannot create tokens, nor give a token more than they hold.
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let resp = bob_session
        .post(
            &app,
            "/api/v1/orgs/acme/tokens",
            json!({ "name": "x", "permissions": ["users.read"] }),
        )
        .await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let _ = bob;

    // A token, even one that may manage tokens, never mints another.
    let manager: Value =
        create(json!({ "name": "manager", "permissions": ["tokens.manage", "users.read"] }))
            .await
            .json()
            .await
            .unwrap();
    let resp = Client::new()
        .post(app.url("/api/v1/orgs/acme/tokens"))
        .bearer_auth(manager["token"].as_str().unwrap())
        .json(&json!({ "name": "child", "permissions": ["users.read"] }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let list: Value = admin
        .get(&app, "/api/v1/orgs/acme/tokens")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "no child token");

    // Revoked: the next request is refused.
    let resp = admin
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/orgs/acme/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    problem(
        bearer(Method::GET, "/api/v1/orgs/acme").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let audit = app.audit().await;
    assert!(audit
        .iter()
        .any(|(a, d)| a == "api_token.revoked" && !d.contains(&secret)));
    assert!(
        !format!("{audit:?}").contains(&secret),
        "no secret in the audit trail"
    );
    // Another organization's token id is not found.
    let resp = app
        .operator(Client::new().delete(app.url(&format!("/api/v1/orgs/globex/tokens/{id}"))))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
}

/// A token acts for its creator and never beyond them: demoted or deactivated, the creator's
/// tokens lose that power on their next request.
#[tokio::test]
async fn a_token_never_outlives_its_creators_access() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let created: Value = bob_session
        .post(
            &app,
            "/api/v1/orgs/acme/tokens",
            json!({ "name": "settings", "permissions": ["org.settings"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    let patch = || {
        Client::new()
            .patch(app.url("/api/v1/orgs/acme"))
            .bearer_auth(&secret)
            .json(&json!({ "settings": { "invitation_lifetime_hours": 24 } }))
            .send()
    };
    assert_eq!(patch().await.unwrap().status(), 200);
    {
        let mut tx = app.roster.store.begin().await.unwrap();
        let org = tx
            .org_by_slug(&roster_core::names::Slug::parse("acme").unwrap())
            .await
            .unwrap()
            .unwrap();
        tx.set_membership_roles(org.id, bob, &[BuiltinRole::User], chrono::Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    problem(patch().await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    app.set_status(
        "acme",
        bob,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    problem(
        patch().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

/// The request tells whether an address is taken, so it is limited per person.
#[tokio::test]
async fn email_change_requests_are_limited() {
    let app = spawn_app().await;
    let ada = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    for i in 0..5 {
        let resp = ada
            .post(
                &app,
                "/api/v1/me/email",
                json!({ "new_email": format!("probe{i}@elsewhere.example"), "current_password": ADMIN_PW }),
            )
            .await;
        assert_eq!(resp.status(), 202);
    }
    let resp = ada
        .post(
            &app,
            "/api/v1/me/email",
            json!({ "new_email": "probe9@elsewhere.example", "current_password": ADMIN_PW }),
        )
        .await;
    assert!(resp.headers().contains_key(RETRY_AFTER));
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    app.clock.advance(Duration::hours(1));
    let resp = ada
        .post(
            &app,
            "/api/v1/me/email",
            json!({ "new_email": "probe9@elsewhere.example", "current_password": ADMIN_PW }),
        )
        .await;
    assert_eq!(resp.status(), 202);
}
