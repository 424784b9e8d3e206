//! Members' standing: deactivate and activate, remove and leave, replace the roles, and the
//! rule that an organization always keeps an active admin — also when two admins act on
//! each other at the same moment.

use crate::support::{problem, spawn_app, spawn_app_postgres, Person, TestApp};
use reqwest::{Client, Method, Response, StatusCode};
use roster_core::email::Email;
use roster_core::ids::{MembershipId, OrgId};
use roster_core::model::{BuiltinRole, Membership, MembershipStatus};
use roster_core::names::Slug;
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const MEMBER_PW: &str = "staple lantern orbit";

async fn org_id(app: &TestApp, slug: &str) -> OrgId {
    app.roster
        .store
        .reads()
        .await
        .unwrap()
        .org_by_slug(&Slug::parse(slug).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Gives an existing identity a membership of another organization, straight through the
/// store.
async fn join(
    app: &TestApp,
    org_slug: &str,
    email: &str,
    status: MembershipStatus,
    roles: &[BuiltinRole],
) -> MembershipId {
    let org = org_id(app, org_slug).await;
    let mut tx = app.roster.store.begin().await.unwrap();
    let identity = tx
        .identity_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let m = Membership::new(
        org,
        identity.id,
        status,
        roles.iter().copied(),
        chrono::Utc::now(),
    );
    tx.insert_membership(&m).await.unwrap();
    tx.commit().await.unwrap();
    m.id
}

/// An invited person without a sign-in, straight through the store.
async fn invite(app: &TestApp, org_slug: &str, email: &str) -> MembershipId {
    let org = org_id(app, org_slug).await;
    let identity =
        roster_core::model::Identity::new(Email::parse(email).unwrap(), None, chrono::Utc::now());
    let m = Membership::new(
        org,
        identity.id,
        MembershipStatus::Invited,
        [BuiltinRole::User],
        chrono::Utc::now(),
    );
    let mut tx = app.roster.store.begin().await.unwrap();
    tx.insert_identity(&identity).await.unwrap();
    tx.insert_membership(&m).await.unwrap();
    tx.commit().await.unwrap();
    m.id
}

async fn active_admins(app: &TestApp, org_slug: &str) -> u64 {
    let org = org_id(app, org_slug).await;
    app.roster
        .store
        .reads()
        .await
        .unwrap()
        .count_active_admins(org)
        .await
        .unwrap()
}

async fn membership(app: &TestApp, org_slug: &str, id: MembershipId) -> Membership {
    let org = org_id(app, org_slug).await;
    app.roster
        .store
        .reads()
        .await
        .unwrap()
        .membership(org, id)
        .await
        .unwrap()
        .unwrap()
}

fn member_path(org: &str, member: &dyn std::fmt::Display, action: &str) -> String {
    format!("/api/v1/orgs/{org}/members/{member}{action}")
}

async fn act(
    app: &TestApp,
    who: &Person,
    org: &str,
    member: &dyn std::fmt::Display,
    action: &str,
) -> Response {
    match action {
        "deactivate" | "activate" => {
            who.post(
                app,
                &member_path(org, member, &format!("/{action}")),
                json!({}),
            )
            .await
        }
        "remove" => {
            who.send(app, Method::DELETE, &member_path(org, member, ""), None)
                .await
        }
        roles => {
            let roles: Vec<&str> = roles.split(',').collect();
            who.send(
                app,
                Method::PUT,
                &member_path(org, member, "/roles"),
                Some(json!({ "roles": roles })),
            )
            .await
        }
    }
}

/// Audit events of `action`, details parsed.
async fn audit_of(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit()
        .await
        .into_iter()
        .filter(|(a, _)| a == action)
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect()
}

/// The subject line of a delivered email.
fn subject(eml: &str) -> &str {
    eml.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
}

#[tokio::test]
async fn deactivate_and_activate() {
    deactivation(spawn_app().await).await;
}

#[tokio::test]
async fn deactivate_and_activate_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    deactivation(app).await;
}

async fn deactivation(app: TestApp) {
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = app
        .add_member(
            "acme",
            "bob@acme.example",
            MEMBER_PW,
            &[BuiltinRole::User, BuiltinRole::Marketing],
        )
        .await;
    let carol = app
        .add_member(
            "acme",
            "carol@acme.example",
            MEMBER_PW,
            &[BuiltinRole::User],
        )
        .await;
    // Bob also belongs to Globex.
    assert_eq!(app.create_org("Globex", Some("globex")).await.status(), 201);
    join(
        &app,
        "globex",
        "bob@acme.example",
        MembershipStatus::Active,
        &[BuiltinRole::User],
    )
    .await;
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let carol_session = app.sign_in("carol@acme.example", MEMBER_PW).await;
    assert_eq!(
        bob_session.get(&app, "/api/v1/orgs/acme").await.status(),
        200
    );

    let resp = act(&app, &admin, "acme", &bob, "deactivate").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], bob.to_string());
    assert_eq!(body["status"], "deactivated");
    assert_eq!(
        body["roles"],
        json!(["user", "marketing"]),
        "roles are kept"
    );
    assert_eq!(body["email"], "bob@acme.example");
    assert!(body.get("name").is_some());

    // From the next request on, Acme is gone for Bob's open session; Globex is not.
    let resp = bob_session.get(&app, "/api/v1/orgs/acme").await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = bob_session
        .get(&app, "/api/v1/orgs/acme/members/me/sign-in-attempts")
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        bob_session.get(&app, "/api/v1/orgs/globex").await.status(),
        200
    );
    let me: Value = bob_session
        .get(&app, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["identity"]["email"], "bob@acme.example");

    // Deactivating twice, or activating an active member, is a conflict.
    let resp = act(&app, &admin, "acme", &bob, "deactivate").await;
    problem(resp, StatusCode::CONFLICT, "invalid_status").await;
    let resp = act(&app, &admin, "acme", &carol, "activate").await;
    problem(resp, StatusCode::CONFLICT, "invalid_status").await;

    // Activated: the same session works in Acme again, with everything Bob had.
    let resp = act(&app, &admin, "acme", &bob, "activate").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "active");
    assert_eq!(body["roles"], json!(["user", "marketing"]));
    assert_eq!(
        bob_session.get(&app, "/api/v1/orgs/acme").await.status(),
        200
    );

    // With Acme as her only organization, Carol's session ends, and she cannot sign in.
    assert_eq!(
        act(&app, &admin, "acme", &carol, "deactivate")
            .await
            .status(),
        200
    );
    let resp = carol_session.get(&app, "/api/v1/orgs/acme").await;
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = app
        .sign_in_raw(&Client::new(), "carol@acme.example", MEMBER_PW)
        .await;
    problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        membership(&app, "acme", carol).await.roles,
        vec![BuiltinRole::User]
    );

    // A pending invitation is neither deactivated nor activated by an admin.
    let dora = invite(&app, "acme", "dora@acme.example").await;
    for action in ["deactivate", "activate"] {
        let resp = act(&app, &admin, "acme", &dora, action).await;
        problem(resp, StatusCode::CONFLICT, "invalid_status").await;
    }
    assert_eq!(
        membership(&app, "acme", dora).await.status,
        MembershipStatus::Invited
    );

    // Each change is in the audit trail with the person and both states.
    let deactivated = audit_of(&app, "membership.deactivated").await;
    assert_eq!(deactivated.len(), 2);
    assert_eq!(deactivated[0]["email"], "bob@acme.example");
    assert_eq!(
        deactivated[0]["status"],
        json!({ "from": "active", "to": "deactivated" })
    );
    let activated = audit_of(&app, "membership.activated").await;
    assert_eq!(activated.len(), 1);
    assert_eq!(
        activated[0]["status"],
        json!({ "from": "deactivated", "to": "active" })
    );
    let events = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .list_audit(&roster_core::model::AuditQuery {
            org_id: Some(org_id(&app, "acme").await),
            target_id: Some(bob.as_uuid()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let ada_id = admin.body["identity"]["id"].as_str().unwrap();
    for e in &events {
        assert_eq!(e.actor.id().unwrap().to_string(), ada_id, "the actor");
        assert_eq!(e.target.as_ref().unwrap().kind, "membership");
    }
}

#[tokio::test]
async fn remove_and_leave() {
    removal(spawn_app().await).await;
}

#[tokio::test]
async fn remove_and_leave_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    removal(app).await;
}

async fn removal(app: TestApp) {
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
    assert_eq!(app.create_org("Globex", Some("globex")).await.status(), 201);
    let bob_globex = join(
        &app,
        "globex",
        "bob@acme.example",
        MembershipStatus::Active,
        &[BuiltinRole::User],
    )
    .await;
    app.deliver().await;
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let carol_session = app.sign_in("carol@acme.example", MEMBER_PW).await;

    // A member without users.manage removes nobody else.
    let resp = act(&app, &carol_session, "acme", &bob, "remove").await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    let resp = act(&app, &admin, "acme", &bob, "remove").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mails = app.deliver().await;
    assert_eq!(mails.len(), 1, "one email");
    let (to, eml) = &mails[0];
    assert!(to.contains("bob@acme.example"), "{to}");
    assert_eq!(subject(eml), "Your access to Acme was revoked");

    // Access to Acme ended at once; Globex and the identity are untouched.
    let resp = bob_session.get(&app, "/api/v1/orgs/acme").await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        bob_session.get(&app, "/api/v1/orgs/globex").await.status(),
        200
    );
    assert_eq!(
        membership(&app, "globex", bob_globex).await.status,
        MembershipStatus::Active
    );
    app.sign_in("bob@acme.example", MEMBER_PW).await;
    let tomb = membership(&app, "acme", bob).await;
    assert_eq!(tomb.status, MembershipStatus::Removed);
    assert_eq!(
        tomb.roles,
        vec![BuiltinRole::User],
        "the tombstone keeps its history"
    );

    // A removed member is gone for every member route.
    for action in ["remove", "deactivate", "activate", "user"] {
        let resp = act(&app, &admin, "acme", &bob, action).await;
        problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    let resp = admin
        .get(&app, &member_path("acme", &bob, "/sign-in-attempts"))
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    // The audit trail names the person and what they were.
    let removed = audit_of(&app, "membership.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["email"], "bob@acme.example");
    assert_eq!(removed[0]["left"], false);
    assert_eq!(removed[0]["roles"], json!(["user"]));
    assert_eq!(
        removed[0]["status"],
        json!({ "from": "active", "to": "removed" })
    );

    // Leaving needs no permission. Acme was Carol's only organization: her session ends.
    let resp = act(&app, &carol_session, "acme", &"me", "remove").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mails = app.deliver().await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].0.contains("carol@acme.example"));
    let resp = carol_session.get(&app, "/api/v1/me").await;
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(
        membership(&app, "acme", carol).await.status,
        MembershipStatus::Removed
    );
    let removed = audit_of(&app, "membership.removed").await;
    assert_eq!(removed[1]["email"], "carol@acme.example");
    assert_eq!(removed[1]["left"], true);

    // A pending invitation can be removed; nobody had access, so nobody is emailed.
    let dora = invite(&app, "acme", "dora@acme.example").await;
    assert_eq!(
        act(&app, &admin, "acme", &dora, "remove").await.status(),
        204
    );
    assert!(app.deliver().await.is_empty());

    // The last active admin can neither leave nor be removed; a second admin lets her go.
    let resp = act(&app, &admin, "acme", &"me", "remove").await;
    problem(resp, StatusCode::CONFLICT, "last_admin").await;
    let ada = admin.body["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .operator(Client::new().delete(app.url(&member_path("acme", &ada, ""))))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(active_admins(&app, "acme").await, 1);
    assert!(
        app.deliver().await.is_empty(),
        "a refused removal sends nothing"
    );
    app.add_member(
        "acme",
        "erin@acme.example",
        MEMBER_PW,
        &[BuiltinRole::Admin],
    )
    .await;
    let resp = act(&app, &admin, "acme", &"me", "remove").await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let erin = app.sign_in("erin@acme.example", MEMBER_PW).await;
    let resp = act(&app, &erin, "acme", &"me", "remove").await;
    problem(resp, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(active_admins(&app, "acme").await, 1);
}

#[tokio::test]
async fn roles_are_replaced_within_what_the_caller_holds() {
    roles(spawn_app().await).await;
}

#[tokio::test]
async fn roles_are_replaced_within_what_the_caller_holds_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    roles(app).await;
}

async fn roles(app: TestApp) {
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let carol = app
        .add_member(
            "acme",
            "carol@acme.example",
            MEMBER_PW,
            &[BuiltinRole::Marketing], // nothing beyond this token's codes (User carries catalog.edit here)
        )
        .await;
    let bob_session = app.sign_in("bob@acme.example", MEMBER_PW).await;

    let resp = act(&app, &admin, "acme", &bob, "marketing,user,marketing").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["roles"],
        json!(["user", "marketing"]),
        "a set, in role order"
    );
    assert_eq!(body["status"], "active");
    assert_eq!(body["email"], "bob@acme.example");

    // Unknown or no roles; a body of the wrong shape.
    let path = member_path("acme", &bob, "/roles");
    for bad in [
        json!({ "roles": ["root"] }),
        json!({ "roles": [] }),
        json!({ "roles": ["Admin"] }),
    ] {
        let resp = admin.send(&app, Method::PUT, &path, Some(bad)).await;
        problem(resp, StatusCode::BAD_REQUEST, "invalid_role").await;
    }
    let resp = admin.send(&app, Method::PUT, &path, Some(json!({}))).await;
    problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(
        membership(&app, "acme", bob).await.roles,
        vec![BuiltinRole::User, BuiltinRole::Marketing],
        "refused changes changed nothing"
    );

    // A member without users.manage changes nobody's roles, not even their own.
    let resp = act(&app, &bob_session, "acme", &carol, "admin").await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = act(&app, &bob_session, "acme", &"me", "admin").await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    // A token that may manage users but holds less than Admin cannot make an admin, nor
    // touch one; what it holds it may give.
    let token: Value = admin
        .post(
            &app,
            "/api/v1/orgs/acme/tokens",
            json!({ "name": "hr sync", "permissions": ["users.manage", "users.read", "partner_kit.read"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let with_token = |rb: reqwest::RequestBuilder| rb.bearer_auth(&token);
    let resp = with_token(Client::new().put(app.url(&member_path("acme", &carol, "/roles"))))
        .json(&json!({ "roles": ["admin"] }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = with_token(Client::new().put(app.url(&member_path("acme", &carol, "/roles"))))
        .json(&json!({ "roles": ["user", "marketing"] }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = with_token(Client::new().put(app.url(&member_path("acme", &carol, "/roles"))))
        .json(&json!({ "roles": ["marketing", "notifications"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ada = admin.body["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = with_token(Client::new().post(app.url(&member_path("acme", &ada, "/deactivate"))))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    // The only admin cannot demote herself.
    let resp = act(&app, &admin, "acme", &"me", "user").await;
    problem(resp, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(active_admins(&app, "acme").await, 1);

    // An admin makes Bob an admin; operators may too.
    let resp = act(&app, &admin, "acme", &bob, "admin,user").await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .operator(Client::new().put(app.url(&member_path("acme", &carol, "/roles"))))
        .json(&json!({ "roles": ["admin"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(active_admins(&app, "acme").await, 3);

    // Now Ada may step down, and from her next request on she manages nobody.
    let resp = act(&app, &admin, "acme", &"me", "user").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["roles"],
        json!(["user"])
    );
    let resp = act(&app, &admin, "acme", &carol, "user").await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Bob's session gained users.manage the moment he became an admin.
    assert_eq!(
        act(&app, &bob_session, "acme", &carol, "user")
            .await
            .status(),
        200
    );

    let changed = audit_of(&app, "membership.roles_changed").await;
    assert_eq!(changed.len(), 6);
    assert_eq!(
        changed[0]["roles"],
        json!({ "from": ["user"], "to": ["user", "marketing"] })
    );
    assert_eq!(changed[0]["email"], "bob@acme.example");
}

#[tokio::test]
async fn the_last_active_admin_stays() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let ada = admin.body["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = act(&app, &admin, "acme", &"me", "deactivate").await;
    problem(resp, StatusCode::CONFLICT, "last_admin").await;
    let resp = app
        .operator(Client::new().post(app.url(&member_path("acme", &ada, "/deactivate"))))
        .send()
        .await
        .unwrap();
    let body = problem(resp, StatusCode::CONFLICT, "last_admin").await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("at least one active admin"));

    // A deactivated admin does not count.
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;
    assert_eq!(
        act(&app, &admin, "acme", &bob, "deactivate").await.status(),
        200
    );
    assert_eq!(active_admins(&app, "acme").await, 1);
    for action in ["deactivate", "remove", "user"] {
        let resp = act(&app, &admin, "acme", &"me", action).await;
        problem(resp, StatusCode::CONFLICT, "last_admin").await;
    }
    // But a deactivated admin may be removed, and the active one keeps the organization.
    assert_eq!(
        act(&app, &admin, "acme", &bob, "remove").await.status(),
        204
    );
    assert_eq!(active_admins(&app, "acme").await, 1);
    assert!(audit_of(&app, "membership.roles_changed").await.is_empty());
    assert_eq!(audit_of(&app, "membership.deactivated").await.len(), 1);
}

#[tokio::test]
async fn members_of_another_organization_are_not_found() {
    let app = spawn_app().await;
    let acme = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let globex = app.admin("Globex", "gus@globex.example", ADMIN_PW).await;
    let bob = app
        .add_member(
            "globex",
            "bob@globex.example",
            MEMBER_PW,
            &[BuiltinRole::User],
        )
        .await;
    let gus = globex.body["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for member in [
        &bob as &dyn std::fmt::Display,
        &gus,
        &uuid::Uuid::now_v7(),
        &"not-an-id",
    ] {
        for action in ["deactivate", "activate", "remove", "user"] {
            let resp = act(&app, &acme, "acme", member, action).await;
            problem(resp, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    // Nor through the other organization's path, which Ada cannot see.
    for action in ["deactivate", "remove", "admin"] {
        let resp = act(&app, &acme, "globex", &bob, action).await;
        problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    let resp = act(&app, &acme, "globex", &"me", "remove").await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        membership(&app, "globex", bob).await.status,
        MembershipStatus::Active
    );
    assert_eq!(
        membership(&app, "globex", bob).await.roles,
        vec![BuiltinRole::User]
    );
    assert!(audit_of(&app, "membership.removed").await.is_empty());
}

#[tokio::test]
async fn two_admins_acting_on_each_other_at_once_keep_one_admin() {
    race(spawn_app().await).await;
}

#[tokio::test]
async fn two_admins_acting_on_each_other_at_once_keep_one_admin_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    race(app).await;
}

/// Each round a new organization with exactly two active admins, X and Y, who at the same
/// moment deactivate, remove or demote each other; or an operator does it to both. Exactly
/// one change may apply, and the organization never has zero active admins.
async fn race(app: TestApp) {
    assert_eq!(app.create_org("Home", Some("home")).await.status(), 201);
    app.add_member("home", "x@example.com", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.add_member("home", "y@example.com", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let x = app.sign_in("x@example.com", MEMBER_PW).await;
    let y = app.sign_in("y@example.com", MEMBER_PW).await;
    let operator =
        |method: Method, path: &str| app.operator(Client::new().request(method, app.url(path)));
    for round in 0..20 {
        let org = format!("race-{round}");
        assert_eq!(app.create_org(&org, Some(&org)).await.status(), 201);
        let mx = join(
            &app,
            &org,
            "x@example.com",
            MembershipStatus::Active,
            &[BuiltinRole::Admin],
        )
        .await;
        let my = join(
            &app,
            &org,
            "y@example.com",
            MembershipStatus::Active,
            &[BuiltinRole::Admin],
        )
        .await;
        let action = ["deactivate", "remove", "user"][round % 3];
        let (a, b) = if round % 4 == 3 {
            // One caller, both admins: the loser meets the count.
            let path = |m: MembershipId| member_path(&org, &m, "/deactivate");
            tokio::join!(
                async { operator(Method::POST, &path(mx)).send().await.unwrap() },
                async { operator(Method::POST, &path(my)).send().await.unwrap() },
            )
        } else {
            tokio::join!(
                act(&app, &x, &org, &my, action),
                act(&app, &y, &org, &mx, action)
            )
        };
        let (sa, sb) = (a.status(), b.status());
        let won = |s: StatusCode| s == StatusCode::OK || s == StatusCode::NO_CONTENT;
        assert!(
            won(sa) != won(sb),
            "round {round} ({action}): exactly one may succeed, got {sa} and {sb}"
        );
        let loser = if won(sa) { b } else { a };
        let status = loser.status();
        let code = loser.json::<Value>().await.unwrap()["code"].clone();
        // The loser either meets the rule, or finds that the winner took its own power.
        assert!(
            (status == StatusCode::CONFLICT && code == "last_admin")
                || (status == StatusCode::NOT_FOUND && code == "not_found")
                || (status == StatusCode::FORBIDDEN && code == "forbidden"),
            "round {round}: loser answered {status} {code}"
        );
        assert_eq!(active_admins(&app, &org).await, 1, "round {round}");
    }
}

/// Removing a pending member takes the invitation link with it: the link and its page say
/// it is no longer valid.
#[tokio::test]
async fn removing_a_pending_member_kills_the_invitation_link() {
    let app = spawn_app().await;
    let token = app
        .setup_and_read_invitation("Globex", "gil@globex.example")
        .await;
    let org = org_id(&app, "globex").await;
    let gil = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .list_members(
            org,
            &Default::default(),
            roster_core::model::PageRequest::default(),
        )
        .await
        .unwrap()
        .items[0]
        .membership
        .id;
    let link = app.url(&format!("/api/v1/invitations/{token}"));
    assert_eq!(Client::new().get(&link).send().await.unwrap().status(), 200);
    let resp = app
        .operator(Client::new().delete(app.url(&format!("/api/v1/orgs/globex/members/{gil}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = Client::new().get(&link).send().await.unwrap();
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;
    let resp = Client::new()
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&json!({ "password": "correct horse battery", "password_confirmation": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "invitation_invalid").await;
}

/// The member list and one member: `users.read` for others, anyone for `me`; removed and
/// foreign members are not there.
#[tokio::test]
async fn members_are_listed_and_read() {
    let app = spawn_app().await;
    let admin = app
        .admin("Acme", "ada@acme.example", "correct horse battery")
        .await;
    let bob = app
        .add_member(
            "acme",
            "bob@acme.example",
            "staple lantern orbit",
            &[BuiltinRole::User],
        )
        .await;
    let mia = app
        .add_member(
            "acme",
            "mia@acme.example",
            "staple lantern orbit",
            &[BuiltinRole::Marketing],
        )
        .await;
    app.create_org("Globex", None).await;

    let page: Value = admin
        .get(&app, "/api/v1/orgs/acme/members?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["total_capped"], false, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["email"], "ada@acme.example");
    assert_eq!(page["items"][1]["email"], "bob@acme.example");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value = admin
        .get(
            &app,
            &format!("/api/v1/orgs/acme/members?limit=2&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["email"], "mia@acme.example");
    assert_eq!(rest["next_cursor"], Value::Null);
    assert!(!rest.to_string().contains("argon2"));

    let one: Value = admin
        .get(&app, &format!("/api/v1/orgs/acme/members/{bob}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["email"], "bob@acme.example");
    assert_eq!(one["roles"], json!(["user"]));

    // A User may read members; Marketing may not, but reads itself.
    let bob_session = app
        .sign_in("bob@acme.example", "staple lantern orbit")
        .await;
    assert_eq!(
        bob_session
            .get(&app, "/api/v1/orgs/acme/members")
            .await
            .status(),
        200
    );
    let mia_session = app
        .sign_in("mia@acme.example", "staple lantern orbit")
        .await;
    problem(
        mia_session.get(&app, "/api/v1/orgs/acme/members").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        mia_session
            .get(&app, &format!("/api/v1/orgs/acme/members/{bob}"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let me: Value = mia_session
        .get(&app, "/api/v1/orgs/acme/members/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], mia.to_string());

    // Another organization's path never shows Acme's members.
    problem(
        admin.get(&app, "/api/v1/orgs/globex/members").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let resp = app
        .operator(Client::new().get(app.url(&format!("/api/v1/orgs/globex/members/{bob}"))))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    // Removed: gone from the list and the detail.
    let resp = admin
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/orgs/acme/members/{bob}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    problem(
        admin
            .get(&app, &format!("/api/v1/orgs/acme/members/{bob}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let page: Value = admin
        .get(&app, "/api/v1/orgs/acme/members")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
}
