//! Inviting, resending and cancelling (seed 001), editing a member (seed 002), the member
//! list's search and filters, and one person in several organizations (seed 003).

use crate::support::{problem, spawn_app, spawn_app_postgres, token_from_email, Person, TestApp};
use chrono::Duration;
use reqwest::{Client, Method, StatusCode};
use roster_core::model::BuiltinRole;
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const MEMBER_PW: &str = "staple lantern orbit";
const NEW_PW: &str = "violet quarry ember";

async fn invite(app: &TestApp, who: &Person, org: &str, body: Value) -> reqwest::Response {
    who.post(app, &format!("/api/v1/orgs/{org}/invitations"), body)
        .await
}

/// Accepts an invitation as a new person through the API; returns the answer.
async fn accept_new(app: &TestApp, token: &str) -> reqwest::Response {
    Client::new()
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&json!({ "password": NEW_PW, "password_confirmation": NEW_PW }))
        .send()
        .await
        .unwrap()
}

/// The one member of Acme that a search for `q` lists, as the list shows it.
async fn listed(app: &TestApp, who: &Person, q: &str) -> Value {
    let list: Value = who
        .get(app, &format!("/api/v1/orgs/acme/members?q={q}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    list["items"][0].clone()
}

async fn link_status(app: &TestApp, token: &str) -> StatusCode {
    Client::new()
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap()
        .status()
}

/// The one email delivered now to `to`.
async fn one_email_to(app: &TestApp, to: &str) -> String {
    let mail = app.deliver().await;
    let mine: Vec<_> = mail.iter().filter(|(t, _)| t == to).collect();
    assert_eq!(mine.len(), 1, "one email to {to}: {mail:?}");
    mine[0].1.clone()
}

fn subject(eml: &str) -> &str {
    eml.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
}

async fn audit_of(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit()
        .await
        .into_iter()
        .filter(|(a, _)| a == action)
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect()
}

#[tokio::test]
async fn invite_resend_cancel() {
    invitation_lifecycle(spawn_app().await).await;
}

#[tokio::test]
async fn invite_resend_cancel_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        invitation_lifecycle(app).await;
    }
}

async fn invitation_lifecycle(app: TestApp) {
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.deliver().await;

    // Invite a new person: *Invite pending*, roles held, an invitation email with a link.
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "Nia@New.example", "name": "Nia Nakamura", "roles": ["user", "marketing"] }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let nia: Value = resp.json().await.unwrap();
    assert_eq!(nia["status"], "invited");
    assert_eq!(nia["email"], "Nia@new.example");
    assert_eq!(nia["name"], "Nia Nakamura");
    assert_eq!(nia["roles"], json!(["user", "marketing"]));
    let nia_id = nia["id"].as_str().unwrap().to_owned();
    // The answer is the member as stored.
    assert_eq!(listed(&app, &admin, "nia@new").await, nia);
    let eml = one_email_to(&app, "Nia@new.example").await;
    assert!(subject(&eml).contains("Acme"), "{eml}");
    assert!(
        eml.contains("ann@acme.example"),
        "the inviter is named: {eml}"
    );
    let first = token_from_email(&eml, &app.base);
    assert_eq!(link_status(&app, &first).await, 200);

    // The member page says who invited and until when the link works.
    let detail: Value = admin
        .get(&app, &format!("/api/v1/orgs/acme/members/{nia_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["invited_by"]["kind"], "identity");
    assert_eq!(detail["invited_by"]["name"], "ann@acme.example");
    assert_eq!(
        detail["invitation_expires_at"].as_str().unwrap()[..13],
        (roster_core::clock::Clock::now(&app.clock) + Duration::hours(72)).to_rfc3339()[..13]
    );
    assert_eq!(detail["last_sign_in_at"], Value::Null);

    // The same address again: pending (say resend), whatever its case.
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "nia@NEW.example", "roles": ["user"] }),
    )
    .await;
    let body = problem(resp, StatusCode::CONFLICT, "invitation_pending").await;
    assert!(body["detail"].as_str().unwrap().contains("Resend"));

    // Resend: 30 s cooldown, then a new link; the old one dies; roles stay.
    let resend = format!("/api/v1/orgs/acme/members/{nia_id}/invitation/resend");
    let resp = admin.post(&app, &resend, json!({})).await;
    let resp_headers = resp.headers().clone();
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "resend_cooldown").await;
    assert_eq!(resp_headers["retry-after"], "30");
    app.clock.advance(Duration::seconds(29));
    let resp = admin.post(&app, &resend, json!({})).await;
    let resp_headers = resp.headers().clone();
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "resend_cooldown").await;
    assert_eq!(resp_headers["retry-after"], "1");
    assert!(
        app.deliver().await.is_empty(),
        "nothing sent while cooling down"
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(admin.post(&app, &resend, json!({})).await.status(), 202);
    let second = token_from_email(&one_email_to(&app, "Nia@new.example").await, &app.base);
    assert_ne!(first, second);
    assert_eq!(link_status(&app, &first).await, 404, "the old link is dead");
    let resp = accept_new(&app, &first).await;
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;

    // Accepting the new link: active with the roles given at invitation time.
    let resp = accept_new(&app, &second).await;
    assert_eq!(resp.status(), 200);
    let member: Value = admin
        .get(&app, &format!("/api/v1/orgs/acme/members/{nia_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(member["status"], "active");
    assert_eq!(member["roles"], json!(["user", "marketing"]));
    assert_eq!(member["invitation_expires_at"], Value::Null);
    let resp = admin.post(&app, &resend, json!({})).await;
    problem(resp, StatusCode::CONFLICT, "not_pending").await;
    let resp = admin
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/orgs/acme/members/{nia_id}/invitation"),
            None,
        )
        .await;
    problem(resp, StatusCode::CONFLICT, "not_pending").await;
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "nia@new.example", "roles": ["user"] }),
    )
    .await;
    problem(resp, StatusCode::CONFLICT, "already_member").await;
    // Deactivated is still a member.
    assert_eq!(
        admin
            .post(
                &app,
                &format!("/api/v1/orgs/acme/members/{nia_id}/deactivate"),
                json!({})
            )
            .await
            .status(),
        200
    );
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "nia@new.example", "roles": ["user"] }),
    )
    .await;
    problem(resp, StatusCode::CONFLICT, "already_member").await;

    // Cancel a pending invitation: the link dies, the member goes, the audit stays.
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "oto@new.example", "roles": ["user"] }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let oto: Value = resp.json().await.unwrap();
    let oto_id = oto["id"].as_str().unwrap().to_owned();
    let oto_token = token_from_email(&one_email_to(&app, "oto@new.example").await, &app.base);
    let cancel = format!("/api/v1/orgs/acme/members/{oto_id}/invitation");
    assert_eq!(
        admin
            .send(&app, Method::DELETE, &cancel, None)
            .await
            .status(),
        204
    );
    assert_eq!(link_status(&app, &oto_token).await, 404);
    let resp = admin
        .get(&app, &format!("/api/v1/orgs/acme/members/{oto_id}"))
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = admin.send(&app, Method::DELETE, &cancel, None).await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.deliver().await.is_empty(), "cancelling emails no one");
    let cancelled = audit_of(&app, "invitation.cancelled").await;
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["email"], "oto@new.example");
    assert_eq!(cancelled[0]["links_revoked"], 1);
    // After cancelling, the address can be invited again.
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "oto@new.example", "roles": ["user"] }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    app.deliver().await;

    let created = audit_of(&app, "invitation.created").await;
    assert!(created
        .iter()
        .any(|e| e["email"] == "Nia@new.example" && e["roles"] == json!(["user", "marketing"])));
    assert_eq!(audit_of(&app, "invitation.resent").await.len(), 1);
    let everything = app.audit().await;
    for (_, details) in &everything {
        assert!(!details.contains(&first) && !details.contains(&second));
    }
}

#[tokio::test]
async fn an_expired_invitation_can_be_resent() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.deliver().await;
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "late@new.example", "roles": ["user"] }),
    )
    .await;
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = token_from_email(&one_email_to(&app, "late@new.example").await, &app.base);
    app.clock.advance(Duration::hours(72));
    let resp = Client::new()
        .get(app.url(&format!("/api/v1/invitations/{token}")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::GONE, "invitation_expired").await;
    let resp = accept_new(&app, &token).await;
    problem(resp, StatusCode::GONE, "invitation_expired").await;
    // Three days on, the admin signs in again and resends it.
    let admin = app.sign_in("ann@acme.example", ADMIN_PW).await;
    let resend = format!("/api/v1/orgs/acme/members/{id}/invitation/resend");
    assert_eq!(admin.post(&app, &resend, json!({})).await.status(), 202);
    let fresh = token_from_email(&one_email_to(&app, "late@new.example").await, &app.base);
    assert_eq!(accept_new(&app, &fresh).await.status(), 200);
}

/// Seed 001: an address that already has an account is granted access at once and told
/// so; the person signs in with the password they have.
#[tokio::test]
async fn an_invitation_answers_the_member_as_stored() {
    answered_as_stored(spawn_app().await).await;
}

#[tokio::test]
async fn an_invitation_answers_the_member_as_stored_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        answered_as_stored(app).await;
    }
}

/// Custom roles, groups, an entity and several built-in roles given in any order come back
/// in the invitation's answer exactly as the member list and the member's page show them.
async fn answered_as_stored(app: TestApp) {
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let created = |path: &'static str, body: Value| {
        let admin = &admin;
        let app = &app;
        async move {
            let resp = admin
                .post(app, &format!("/api/v1/orgs/acme/{path}"), body)
                .await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            let v: Value = resp.json().await.unwrap();
            v["id"].as_str().unwrap().to_owned()
        }
    };
    let mut roles = Vec::new();
    for name in ["Zeta", "Alpha", "Mid"] {
        roles.push(
            created(
                "roles",
                json!({ "name": name, "permissions": ["users.read"] }),
            )
            .await,
        );
    }
    let mut groups = Vec::new();
    for name in ["Sales", "Ops"] {
        groups.push(created("groups", json!({ "name": name, "roles": ["marketing"] })).await);
    }
    let paris = created("entities", json!({ "name": "Paris" })).await;
    let mut given = vec![json!("marketing"), json!("user")];
    given.extend(roles.iter().rev().map(|r| json!(r)));
    given.push(json!("user"));
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({
            "email": "Ines@Example.com", "name": "Inès Ortiz", "roles": given,
            "groups": groups.iter().rev().collect::<Vec<_>>(), "entity": paris,
        }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let answered: Value = resp.json().await.unwrap();
    assert_eq!(listed(&app, &admin, "ines@").await, answered);
    let page: Value = admin
        .get(
            &app,
            &format!(
                "/api/v1/orgs/acme/members/{}",
                answered["id"].as_str().unwrap()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "id",
        "identity_id",
        "email",
        "name",
        "status",
        "roles",
        "groups",
        "entity",
        "created_at",
    ] {
        assert_eq!(page[field], answered[field], "{field}: {page}");
    }
    assert_eq!(answered["roles"].as_array().unwrap().len(), 5, "{answered}");
}

#[tokio::test]
async fn inviting_an_existing_account_grants_access_at_once() {
    existing_account(spawn_app().await).await;
}

#[tokio::test]
async fn inviting_an_existing_account_grants_access_at_once_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        existing_account(app).await;
    }
}

async fn existing_account(app: TestApp) {
    let acme = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let globex = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    app.add_member(
        "globex",
        "sam@globex.example",
        MEMBER_PW,
        &[BuiltinRole::User],
    )
    .await;
    app.deliver().await;

    let resp = invite(
        &app,
        &acme,
        "acme",
        json!({ "email": "SAM@globex.example", "name": "Not Sam's Name", "roles": ["marketing"] }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let sam: Value = resp.json().await.unwrap();
    assert_eq!(sam["status"], "active");
    assert_eq!(listed(&app, &acme, "sam@globex").await, sam);
    assert_eq!(
        sam["name"],
        Value::Null,
        "an existing account keeps its own name"
    );
    let eml = one_email_to(&app, "sam@globex.example").await;
    assert!(!eml.contains("/invitations/"), "no invitation link: {eml}");
    assert!(eml.contains(&format!("{}/orgs/acme", app.base)), "{eml}");
    let granted = audit_of(&app, "membership.granted").await;
    assert!(granted.iter().any(|e| e["email"] == "sam@globex.example"));

    // Sam signs in once and sees both organizations, with a role in each.
    let sam_session = app.sign_in("sam@globex.example", MEMBER_PW).await;
    let me: Value = sam_session
        .get(&app, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let mut orgs: Vec<(String, Value)> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["org"]["slug"].as_str().unwrap().to_owned(),
                m["roles"].clone(),
            )
        })
        .collect();
    orgs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        orgs,
        vec![
            ("acme".to_owned(), json!(["marketing"])),
            ("globex".to_owned(), json!(["user"]))
        ]
    );

    // Seed 003: deactivating in one organization leaves the other alone.
    let sam_id = sam["id"].as_str().unwrap();
    assert_eq!(
        acme.post(
            &app,
            &format!("/api/v1/orgs/acme/members/{sam_id}/deactivate"),
            json!({})
        )
        .await
        .status(),
        200
    );
    let resp = sam_session.get(&app, "/api/v1/orgs/acme/members/me").await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        sam_session
            .get(&app, "/api/v1/orgs/globex/members/me")
            .await
            .status(),
        200
    );
    // And removing in the other leaves the first's (deactivated) membership alone.
    let globex_sam: Value = sam_session
        .get(&app, "/api/v1/orgs/globex/members/me")
        .await
        .json()
        .await
        .unwrap();
    let resp = globex
        .send(
            &app,
            Method::DELETE,
            &format!(
                "/api/v1/orgs/globex/members/{}",
                globex_sam["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let still: Value = acme
        .get(&app, &format!("/api/v1/orgs/acme/members/{sam_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "deactivated");
}

/// An inviter never grants more than they hold, and a member without `users.invite` cannot
/// invite at all; another organization's members are out of reach.
#[tokio::test]
async fn invitations_stay_within_what_the_inviter_holds() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    app.add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.deliver().await;
    let uma = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let resp = invite(
        &app,
        &uma,
        "acme",
        json!({ "email": "x@new.example", "roles": ["user"] }),
    )
    .await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    let token: Value = admin
        .post(
            &app,
            "/api/v1/orgs/acme/tokens",
            json!({ "name": "hr sync", "permissions": ["users.invite", "users.read", "partner_kit.read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let by_token = |roles: Value| {
        Client::new()
            .post(app.url("/api/v1/orgs/acme/invitations"))
            .bearer_auth(&token)
            .json(&json!({ "email": "t@new.example", "roles": roles }))
            .send()
    };
    // User carries a host code here (catalog.edit) which this token does not hold.
    for roles in [
        json!(["admin"]),
        json!(["user"]),
        json!(["user", "marketing"]),
    ] {
        let resp = by_token(roles.clone()).await.unwrap();
        problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert!(
        app.deliver().await.is_empty(),
        "a refused invitation sends nothing"
    );
    let resp = by_token(json!(["marketing", "notifications"]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(app.deliver().await.len(), 1);
    // Nor may it resend or cancel an admin's invitation, which would hand Admin on.
    let resp = invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "boss@new.example", "roles": ["admin"] }),
    )
    .await;
    let boss = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.deliver().await;
    app.clock.advance(Duration::seconds(30));
    for (method, action) in [
        (Method::POST, "/invitation/resend"),
        (Method::DELETE, "/invitation"),
    ] {
        let resp = Client::new()
            .request(
                method,
                app.url(&format!("/api/v1/orgs/acme/members/{boss}{action}")),
            )
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert!(app.deliver().await.is_empty());

    // Bad input changes nothing.
    for (body, code) in [
        (
            json!({ "email": "not an email", "roles": ["user"] }),
            "invalid_email",
        ),
        (
            json!({ "email": "y@new.example", "roles": [] }),
            "invalid_role",
        ),
        (
            json!({ "email": "y@new.example", "roles": ["root"] }),
            "invalid_role",
        ),
        (
            json!({ "email": "y@new.example", "name": " ", "roles": ["user"] }),
            "invalid_name",
        ),
        (
            json!({ "email": "y@new.example", "roles": ["user"], "groups": [uuid::Uuid::now_v7()] }),
            "unknown_group",
        ),
        (
            json!({ "email": "y@new.example", "roles": ["user"], "customers": [uuid::Uuid::now_v7()] }),
            "unknown_customer",
        ),
        (
            json!({ "email": "y@new.example", "roles": ["user"], "entity": uuid::Uuid::now_v7() }),
            "unknown_entity",
        ),
        (
            json!({ "email": "y@new.example", "roles": [uuid::Uuid::now_v7().to_string()] }),
            "invalid_role",
        ),
        (
            json!({ "email": "y@new.example", "roles": ["user"], "team": "x" }),
            "invalid_body",
        ),
    ] {
        let resp = invite(&app, &admin, "acme", body.clone()).await;
        problem(resp, StatusCode::BAD_REQUEST, code).await;
    }
    let list: Value = admin
        .get(&app, "/api/v1/orgs/acme/members?q=y%40new")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0, "{list}");

    // Organization B's members through A's path: not found, never a hint.
    let resp = invite(
        &app,
        &admin,
        "globex",
        json!({ "email": "z@new.example", "roles": ["user"] }),
    )
    .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let gil: Value = Client::new()
        .get(app.url("/api/v1/orgs/globex/members"))
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gil_id = gil["items"][0]["id"].as_str().unwrap();
    for (method, action) in [
        (Method::POST, "/invitation/resend"),
        (Method::DELETE, "/invitation"),
        (Method::PATCH, ""),
    ] {
        let resp = admin
            .send(
                &app,
                method,
                &format!("/api/v1/orgs/acme/members/{gil_id}{action}"),
                (action.is_empty()).then(|| json!({ "name": "Mallory" })),
            )
            .await;
        problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn members_are_searched_and_filtered() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    invite(
        &app,
        &admin,
        "acme",
        json!({ "email": "zoe@new.example", "name": "Zoé Ümlaut", "roles": ["marketing"] }),
    )
    .await;
    let (admin, app) = (&admin, &app);
    let get = |q: String| async move {
        admin
            .get(app, &format!("/api/v1/orgs/acme/members?{q}"))
            .await
    };
    let emails = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let v: Value = get("q=ZOÉ".to_owned()).await.json().await.unwrap();
    assert_eq!(emails(&v), ["zoe@new.example"]);
    let v: Value = get("q=acme.EXAMPLE".to_owned()).await.json().await.unwrap();
    assert_eq!(emails(&v), ["ann@acme.example", "uma@acme.example"]);
    assert_eq!(v["total"], 2);
    let v: Value = get("status=invited".to_owned()).await.json().await.unwrap();
    assert_eq!(emails(&v), ["zoe@new.example"]);
    let v: Value = get("role=user&status=active".to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&v), ["uma@acme.example"]);
    let v: Value = get("q=acme&limit=1".to_owned()).await.json().await.unwrap();
    assert_eq!(emails(&v), ["ann@acme.example"]);
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let v: Value = get(format!("q=acme&limit=1&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(emails(&v), ["uma@acme.example"]);
    assert_eq!(v["total"], 2);
    assert_eq!(v["next_cursor"], Value::Null);
    for q in [
        "status=removed",
        "status=gone",
        "role=root",
        "group=x",
        "limit=0",
    ] {
        problem(
            get(q.to_owned()).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
}

/// Seed 002: an admin edits a member's name and email; the email only while the person
/// belongs to no other organization, never to a taken address; a changed address signs
/// the person out and tells the old one.
#[tokio::test]
async fn members_are_edited() {
    editing(spawn_app().await).await;
}

#[tokio::test]
async fn members_are_edited_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        editing(app).await;
    }
}

async fn editing(app: TestApp) {
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let uma = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.add_member(
        "globex",
        "sam@globex.example",
        MEMBER_PW,
        &[BuiltinRole::User],
    )
    .await;
    app.deliver().await;
    let path = |id: &dyn std::fmt::Display| format!("/api/v1/orgs/acme/members/{id}");
    let admin = &admin;
    let app = &app;
    let patch = |id: String, body: Value| async move {
        admin.send(app, Method::PATCH, &path(&id), Some(body)).await
    };

    let resp = patch(uma.to_string(), json!({ "name": "Uma Umber" })).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["name"], "Uma Umber");

    let uma_session = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let resp = patch(uma.to_string(), json!({ "email": "gil@globex.example" })).await;
    problem(resp, StatusCode::CONFLICT, "email_taken").await;
    let resp = patch(uma.to_string(), json!({ "email": "bad" })).await;
    problem(resp, StatusCode::BAD_REQUEST, "invalid_email").await;
    assert_eq!(uma_session.get(app, "/api/v1/me").await.status(), 200);

    // Uma can sign in, so the new address confirms first: a link to it, a notice to the
    // old one, and until then nothing changes.
    let resp = patch(
        uma.to_string(),
        json!({ "email": "uma.umber@acme.example" }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["email"], "uma@acme.example");
    assert_eq!(body["pending_email"], "uma.umber@acme.example");
    assert_eq!(uma_session.get(app, "/api/v1/me").await.status(), 200);
    let mail = app.deliver().await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    let notice = &mail
        .iter()
        .find(|(to, _)| to == "uma@acme.example")
        .unwrap()
        .1;
    assert!(notice.contains("uma.umber@acme.example"), "{notice}");
    let confirm = &mail
        .iter()
        .find(|(to, _)| to == "uma.umber@acme.example")
        .unwrap()
        .1;
    let token = crate::support::link_token(confirm, &app.base, "/email-change/");
    let resp = Client::new()
        .post(app.url("/api/v1/auth/email-change/confirm"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // Confirmed: the address is the new one, and Uma is signed out everywhere.
    let resp = uma_session.get(app, "/api/v1/me").await;
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let uma_again = app.sign_in("uma.umber@acme.example", MEMBER_PW).await;
    let me: Value = uma_again.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["identity"]["email"], "uma.umber@acme.example");
    let edited = audit_of(app, "membership.edited").await;
    assert_eq!(
        edited.last().unwrap()["pending_email"],
        "uma.umber@acme.example"
    );

    // Sam belongs to Globex too: his name and address are his own, not Acme's to change.
    let resp = invite(
        app,
        admin,
        "acme",
        json!({ "email": "sam@globex.example", "roles": ["user"] }),
    )
    .await;
    let sam = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.deliver().await;
    let resp = patch(sam.clone(), json!({ "email": "sam@acme.example" })).await;
    problem(resp, StatusCode::CONFLICT, "email_not_managed").await;
    let resp = patch(sam.clone(), json!({ "name": "Samuel" })).await;
    problem(resp, StatusCode::CONFLICT, "name_not_managed").await;

    // A pending member's address is corrected: the invitation goes to the new one, and the
    // link sent to the wrong address dies.
    let resp = invite(
        app,
        admin,
        "acme",
        json!({ "email": "typo@acme.exmaple", "roles": ["user"] }),
    )
    .await;
    let typo = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = token_from_email(&one_email_to(app, "typo@acme.exmaple").await, &app.base);
    let resp = patch(typo.clone(), json!({ "email": "typo@acme.example" })).await;
    assert_eq!(resp.status(), 200);
    let right = token_from_email(&one_email_to(app, "typo@acme.example").await, &app.base);
    assert_eq!(link_status(app, &wrong).await, 404);
    assert_eq!(accept_new(app, &right).await.status(), 200);
}

/// Opens an invitation page in `browser`; returns status and HTML.
async fn page(app: &TestApp, browser: &Client, path: &str) -> (StatusCode, String) {
    let resp = browser.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Seed 001, *Join your team at {organization}*: a person who got an account after being
/// invited accepts with it. Signed in as them: one button. Signed in as someone else: a
/// page that says so, with a way to sign out. Not signed in: their password, once.
#[tokio::test]
async fn an_existing_account_accepts_on_the_page() {
    use crate::support::{browser, csrf_field};
    let app = spawn_app().await;
    let acme = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let globex = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    app.deliver().await;
    // Pat and Quinn are invited to both while they have no account; they join Globex first.
    let mut acme_links = vec![];
    for who in ["pat@people.example", "quinn@people.example"] {
        for (org, admin) in [("acme", &acme), ("globex", &globex)] {
            let resp = invite(&app, admin, org, json!({ "email": who, "roles": ["user"] })).await;
            assert_eq!(resp.status(), 201);
        }
        let mail = app.deliver().await;
        let mut tokens = mail.iter().map(|(_, eml)| {
            (
                subject(eml).contains("Acme"),
                token_from_email(eml, &app.base),
            )
        });
        let (a, b) = (tokens.next().unwrap(), tokens.next().unwrap());
        let (acme_token, globex_token) = if a.0 { (a.1, b.1) } else { (b.1, a.1) };
        assert_eq!(accept_new(&app, &globex_token).await.status(), 200);
        acme_links.push(format!("/invitations/{acme_token}"));
    }
    let (pat_link, quinn_link) = (&acme_links[0], &acme_links[1]);

    // Signed in as someone else (Ann): the page says so and offers to sign out; accepting
    // as Ann is refused and Pat stays pending.
    let ann = browser();
    assert_eq!(
        app.sign_in_raw(&ann, "ann@acme.example", ADMIN_PW)
            .await
            .status(),
        200
    );
    let (status, html) = page(&app, &ann, pat_link).await;
    assert_eq!(status, 200);
    assert!(html.contains("Join your team at Acme"), "{html}");
    assert!(
        html.contains("You are signed in as <strong>ann@acme.example</strong>"),
        "{html}"
    );
    assert!(html.contains("action=\"/sign-out\""), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    let resp = ann
        .post(app.url(pat_link))
        .form(&[("csrf_token", csrf_field(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("This invitation is for pat@people.example"));
    // Its sign-out button comes back to the invitation.
    let (_, html) = page(&app, &ann, pat_link).await;
    let resp = ann
        .post(app.url("/sign-out"))
        .form(&[
            ("csrf_token", csrf_field(&html).as_str()),
            ("next", pat_link.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], pat_link.as_str());

    // Signed in as Pat: one *Accept invite* button, no password.
    let pat = browser();
    assert_eq!(
        app.sign_in_raw(&pat, "pat@people.example", NEW_PW)
            .await
            .status(),
        200
    );
    let (_, html) = page(&app, &pat, pat_link).await;
    assert!(
        html.contains("Accept invite") && !html.contains("name=\"password\""),
        "{html}"
    );
    let resp = pat
        .post(app.url(pat_link))
        .form(&[("csrf_token", csrf_field(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/orgs/acme");
    let (status, html) = page(&app, &pat, "/orgs/acme").await;
    assert_eq!(status, 200, "the new session works: {html}");
    assert!(
        html.contains("Switch organization") && html.contains("/orgs/globex"),
        "{html}"
    );

    // Not signed in (Quinn): the password, then joined; a wrong one is refused on the page
    // with the sign-in diagnostics, and nothing changes.
    let quinn = browser();
    let (_, html) = page(&app, &quinn, quinn_link).await;
    assert!(
        html.contains("name=\"password\"") && html.contains("Accept invite"),
        "{html}"
    );
    let resp = quinn
        .post(app.url(quinn_link))
        .form(&[
            ("csrf_token", csrf_field(&html).as_str()),
            ("password", "wrong password here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("role=\"alert\"") && html.contains("reference"),
        "{html}"
    );
    let list: Value = acme
        .get(&app, "/api/v1/orgs/acme/members?q=quinn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["status"], "invited");
    let resp = quinn
        .post(app.url(quinn_link))
        .form(&[
            ("csrf_token", csrf_field(&html).as_str()),
            ("password", NEW_PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/orgs/acme");
    let (status, _) = page(&app, &quinn, "/orgs/acme").await;
    assert_eq!(status, 200);
    let list: Value = acme
        .get(
            &app,
            "/api/v1/orgs/acme/members?status=active&q=people.example",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2, "{list}");
    // The link is spent.
    let (status, html) = page(&app, &quinn, quinn_link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("no longer valid") || html.contains("not valid"),
        "{html}"
    );

    // The organization page: sign in first; a stranger to the organization finds nothing.
    let (status, _) = page(&app, &browser(), "/orgs/acme").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let gil = browser();
    app.sign_in_raw(&gil, "gil@globex.example", ADMIN_PW).await;
    let (status, html) = page(&app, &gil, "/orgs/acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("Acme"), "{html}");
}

/// Two organizations inviting one new address at the same moment both succeed, with one
/// identity between them (the second finds the first's).
#[tokio::test]
async fn two_organizations_invite_one_new_address_at_once() {
    same_address_race(spawn_app().await).await;
}

#[tokio::test]
async fn two_organizations_invite_one_new_address_at_once_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        same_address_race(app).await;
    }
}

async fn same_address_race(app: TestApp) {
    let acme = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let globex = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    for i in 0..12 {
        let email = format!("both{i}@new.example");
        let body = json!({ "email": email, "roles": ["user"] });
        let (a, b) = tokio::join!(
            invite(&app, &acme, "acme", body.clone()),
            invite(&app, &globex, "globex", body.clone())
        );
        assert_eq!(
            (a.status(), b.status()),
            (StatusCode::CREATED, StatusCode::CREATED)
        );
        let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
        assert_eq!(a["identity_id"], b["identity_id"], "one identity");
    }
}

/// When someone last signed in is the person's, across organizations: members who manage
/// others see it, a plain member sees it only for themselves.
#[tokio::test]
async fn last_sign_in_is_shown_to_managers_and_the_person() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let uma = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let ann = admin.get(&app, "/api/v1/orgs/acme/members/me").await;
    let ann: Value = ann.json().await.unwrap();
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    app.sign_in("ann@acme.example", ADMIN_PW).await;
    let uma_session = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let by_admin = read(&app, &admin, &uma.to_string()).await;
    assert!(by_admin["last_sign_in_at"].is_string(), "{by_admin}");
    let own = read(&app, &uma_session, "me").await;
    assert!(own["last_sign_in_at"].is_string(), "{own}");
    let by_member = read(&app, &uma_session, &ann_id).await;
    assert_eq!(by_member["email"], "ann@acme.example");
    assert_eq!(by_member["last_sign_in_at"], Value::Null, "{by_member}");
}

async fn read(app: &TestApp, who: &Person, id: &str) -> Value {
    who.get(app, &format!("/api/v1/orgs/acme/members/{id}"))
        .await
        .json()
        .await
        .unwrap()
}
