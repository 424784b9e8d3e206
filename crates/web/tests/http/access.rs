//! The access model over HTTP: the catalog, custom roles, groups, customers (seed 002),
//! entities and scoped admins (seed 004), and the check API host products call. Each
//! change must decide the very next request.

use crate::support::*;
use reqwest::{Client, Method, StatusCode};
use roster_core::model::{BuiltinRole, MembershipStatus};
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery staple";
const MEMBER_PW: &str = "a member's long passphrase";

async fn json_of(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    body
}

async fn create(person: &Person, app: &TestApp, path: &str, body: Value) -> Value {
    json_of(person.post(app, path, body).await, StatusCode::CREATED).await
}

async fn put(person: &Person, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    person.send(app, Method::PUT, path, Some(body)).await
}

/// An organization token with `permissions`, made by the admin.
async fn token(app: &TestApp, admin: &Person, permissions: &[&str]) -> String {
    let body = create(
        admin,
        app,
        "/api/v1/orgs/acme/tokens",
        json!({ "name": "host product", "permissions": permissions }),
    )
    .await;
    body["token"].as_str().unwrap().to_owned()
}

async fn check(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(&format!("/api/v1/orgs/acme/{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn decision(app: &TestApp, token: &str, body: Value) -> (bool, String) {
    let answer = json_of(check(app, token, "check", body).await, StatusCode::OK).await;
    (
        answer["allowed"].as_bool().unwrap(),
        answer["reason"].as_str().unwrap().to_owned(),
    )
}

fn identity_of(person: &Person) -> String {
    person.body["identity"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_catalog_lists_roster_and_host_codes() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let catalog = json_of(admin.get(&app, "/api/v1/permissions").await, StatusCode::OK).await;
    let items = catalog["items"].as_array().unwrap();
    let entry = |code: &str| items.iter().find(|e| e["code"] == code).cloned().unwrap();
    assert_eq!(entry("users.invite")["source"], "roster");
    assert_eq!(entry("users.invite")["area"], "Users");
    assert_eq!(entry("catalog.edit")["source"], "host");
    assert_eq!(
        entry("catalog.edit")["builtin_roles"],
        json!(["admin", "user"])
    );
    assert_eq!(
        entry("pim_user_user_create")["builtin_roles"],
        json!(["admin"])
    );
    assert!(items
        .iter()
        .all(|e| e["label"].as_str().is_some_and(|l| !l.is_empty())));
    let resp = Client::new()
        .get(app.url("/api/v1/permissions"))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn custom_roles_grant_exactly_their_permissions_from_the_next_request() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let uma = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let invite = |who: &'static str| json!({ "email": format!("{who}@new.example"), "roles": ["notifications"] });
    problem(
        uma.post(&app, "/api/v1/orgs/acme/invitations", invite("a"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Refusals first: unknown code, built-in name, read-only built-ins; none changes anything.
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/roles",
                json!({ "name": "Inviter", "permissions": ["users.invite", "root.everything"] }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "unknown_permission",
    )
    .await;
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/roles",
                json!({ "name": "Admin", "permissions": [] }),
            )
            .await,
        StatusCode::CONFLICT,
        "role_name_taken",
    )
    .await;
    problem(
        admin
            .send(
                &app,
                Method::PATCH,
                "/api/v1/orgs/acme/roles/user",
                Some(json!({ "permissions": ["users.invite"] })),
            )
            .await,
        StatusCode::CONFLICT,
        "role_read_only",
    )
    .await;
    let roles = json_of(
        admin.get(&app, "/api/v1/orgs/acme/roles").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(roles["items"].as_array().unwrap().len(), 4, "{roles}");
    assert_eq!(roles["items"][1]["id"], "user");
    assert_eq!(roles["items"][1]["customers"], "assigned");
    assert!(roles["items"][1]["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("catalog.edit")));

    // Deny by default: a role with no permissions grants nothing.
    let inviter = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Inviter" }),
    )
    .await;
    assert_eq!(inviter["permissions"], json!([]));
    let id = inviter["id"].as_str().unwrap().to_owned();
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/roles",
                json!({ "name": "inviter" }),
            )
            .await,
        StatusCode::CONFLICT,
        "role_name_taken",
    )
    .await;
    let member = format!("/api/v1/orgs/acme/members/{uma_id}");
    let body = json_of(
        put(
            &admin,
            &app,
            &format!("{member}/roles"),
            json!({ "roles": ["user", id] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["roles"], json!(["user", id]));
    problem(
        uma.post(&app, "/api/v1/orgs/acme/invitations", invite("b"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Give the role users.invite: Uma's very next request may invite.
    json_of(
        admin
            .send(
                &app,
                Method::PATCH,
                &format!("/api/v1/orgs/acme/roles/{id}"),
                Some(json!({ "permissions": ["users.invite"] })),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        uma.post(&app, "/api/v1/orgs/acme/invitations", invite("c"))
            .await
            .status(),
        StatusCode::CREATED
    );
    // A holder of roles.manage cannot write a role beyond what they hold.
    let lead = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Role lead", "permissions": ["roles.manage", "users.read"] }),
    )
    .await;
    put(
        &admin,
        &app,
        &format!("{member}/roles"),
        json!({ "roles": ["user", id, lead["id"]] }),
    )
    .await;
    problem(
        uma.post(
            &app,
            "/api/v1/orgs/acme/roles",
            json!({ "name": "Escalate", "permissions": ["org.settings"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        uma.post(
            &app,
            "/api/v1/orgs/acme/roles",
            json!({ "name": "Reader", "permissions": ["catalog.edit"] })
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    // A held role cannot be deleted until its holders are reassigned.
    let role_path = format!("/api/v1/orgs/acme/roles/{id}");
    problem(
        admin.send(&app, Method::DELETE, &role_path, None).await,
        StatusCode::CONFLICT,
        "role_in_use",
    )
    .await;
    put(
        &admin,
        &app,
        &format!("{member}/roles"),
        json!({ "roles": ["user"] }),
    )
    .await;
    assert_eq!(
        admin
            .send(&app, Method::DELETE, &role_path, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        admin.get(&app, &role_path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        uma.post(&app, "/api/v1/orgs/acme/invitations", invite("d"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let actions: Vec<String> = app.audit().await.into_iter().map(|(a, _)| a).collect();
    for action in [
        "role.created",
        "role.updated",
        "role.deleted",
        "membership.roles_changed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn groups_add_their_roles_to_their_members() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let mia_id = app
        .add_member(
            "acme",
            "mia@acme.example",
            MEMBER_PW,
            &[BuiltinRole::Marketing],
        )
        .await;
    let mia = app.sign_in("mia@acme.example", MEMBER_PW).await;
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/groups",
                json!({ "name": "Bosses", "roles": ["admin"] }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_role",
    )
    .await;
    let sales = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/groups",
        json!({ "name": "Sales", "roles": ["user"] }),
    )
    .await;
    let group_id = sales["id"].as_str().unwrap().to_owned();
    problem(
        mia.get(&app, "/api/v1/orgs/acme/members").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let member = format!("/api/v1/orgs/acme/members/{mia_id}");
    let body = json_of(
        put(
            &admin,
            &app,
            &format!("{member}/groups"),
            json!({ "groups": [group_id] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["groups"], json!([group_id]));
    // User through the group: the member list opens at once.
    assert_eq!(
        mia.get(&app, "/api/v1/orgs/acme/members").await.status(),
        StatusCode::OK
    );
    let list = json_of(
        admin
            .get(&app, &format!("/api/v1/orgs/acme/members?group={group_id}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1);
    let g = json_of(
        admin
            .get(&app, &format!("/api/v1/orgs/acme/groups/{group_id}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(g["members"], 1);
    // Her effective permissions say where each comes from; she may read her own.
    let perms = json_of(
        mia.get(&app, "/api/v1/orgs/acme/members/me/permissions")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(perms["in_force"], true);
    let item = |code: &str| {
        perms["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["code"] == code)
            .cloned()
    };
    assert_eq!(
        item("partner_kit.read").unwrap()["granted_by"][0]["via"],
        json!({ "kind": "member" })
    );
    let read = item("customers.read").unwrap();
    assert_eq!(read["area"], "Customers");
    assert_eq!(
        read["granted_by"][0]["via"],
        json!({ "kind": "group", "id": group_id, "name": "Sales" })
    );
    assert_eq!(
        read["granted_by"][0]["role"],
        json!({ "kind": "builtin", "role": "user" })
    );
    assert!(item("users.invite").is_none());
    assert_eq!(
        admin
            .get(&app, &format!("{member}/permissions"))
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        put(
            &admin,
            &app,
            &format!("{member}/groups"),
            json!({ "groups": [uuid::Uuid::now_v7()] }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_group",
    )
    .await;
    // Deleting the group takes what it granted, from the next request.
    assert_eq!(
        admin
            .send(
                &app,
                Method::DELETE,
                &format!("/api/v1/orgs/acme/groups/{group_id}"),
                None
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        mia.get(&app, "/api/v1/orgs/acme/members").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn customer_assignments_limit_what_a_user_sees() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.add_member(
        "acme",
        "mia@acme.example",
        MEMBER_PW,
        &[BuiltinRole::Marketing],
    )
    .await;
    let uma = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let mia = app.sign_in("mia@acme.example", MEMBER_PW).await;
    let mut ids = Vec::new();
    for (name, ext) in [("Acme Retail", "r-1"), ("Bolt", "r-2"), ("Cargo", "r-3")] {
        let c = create(
            &admin,
            &app,
            "/api/v1/orgs/acme/customers",
            json!({ "name": name, "external_id": ext }),
        )
        .await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/customers",
                json!({ "name": "Dup", "external_id": "r-1" }),
            )
            .await,
        StatusCode::CONFLICT,
        "customer_external_id_taken",
    )
    .await;
    problem(
        uma.post(
            &app,
            "/api/v1/orgs/acme/customers",
            json!({ "name": "Mine" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // None assigned: all customers.
    let all = json_of(
        uma.get(&app, "/api/v1/orgs/acme/customers").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 3);
    // Marketing: no customer data at all.
    problem(
        mia.get(&app, "/api/v1/orgs/acme/customers").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let member = format!("/api/v1/orgs/acme/members/{uma_id}");
    let chosen = json_of(
        put(
            &admin,
            &app,
            &format!("{member}/customers"),
            json!({ "customers": [ids[2], ids[0]] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(chosen["customers"].as_array().unwrap().len(), 2);
    let mine = json_of(
        uma.get(&app, "/api/v1/orgs/acme/customers?limit=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        mine["total"], 2,
        "paging and totals stay within the assignments"
    );
    assert_eq!(mine["items"][0]["id"], ids[0]);
    let rest = json_of(
        uma.get(
            &app,
            &format!(
                "/api/v1/orgs/acme/customers?cursor={}",
                mine["next_cursor"].as_str().unwrap()
            ),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], ids[2]);
    problem(
        uma.get(&app, &format!("/api/v1/orgs/acme/customers/{}", ids[1]))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        admin
            .get(&app, &format!("/api/v1/orgs/acme/customers/{}", ids[1]))
            .await
            .status(),
        StatusCode::OK
    );
    let detail = json_of(admin.get(&app, &member).await, StatusCode::OK).await;
    assert_eq!(detail["customer_count"], 2);

    // A token uma makes (a custom role lets her) reads what she reads, not more.
    let minter = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Token minter", "permissions": ["tokens.manage"] }),
    )
    .await;
    json_of(
        put(
            &admin,
            &app,
            &format!("{member}/roles"),
            json!({ "roles": ["user", minter["id"]] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let uma = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let token = create(
        &uma,
        &app,
        "/api/v1/orgs/acme/tokens",
        json!({ "name": "reports", "permissions": ["customers.read"] }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_token = |path: String| Client::new().get(app.url(&path)).bearer_auth(&token).send();
    let listed = json_of(
        by_token("/api/v1/orgs/acme/customers".into())
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut seen: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    seen.sort();
    let mut assigned = vec![ids[0].as_str(), ids[2].as_str()];
    assigned.sort();
    assert_eq!((seen, listed["total"].as_u64()), (assigned, Some(2)));
    for (id, status) in [(&ids[0], StatusCode::OK), (&ids[1], StatusCode::NOT_FOUND)] {
        let path = format!("/api/v1/orgs/acme/customers/{id}");
        assert_eq!(by_token(path).await.unwrap().status(), status, "{id}");
    }
    // Assignments survive deactivation and activation.
    admin
        .post(&app, &format!("{member}/deactivate"), json!({}))
        .await;
    admin
        .post(&app, &format!("{member}/activate"), json!({}))
        .await;
    let detail = json_of(admin.get(&app, &member).await, StatusCode::OK).await;
    assert_eq!(detail["customer_count"], 2);
    // And a resent invitation: what was given on invitation is there when it is accepted.
    let invited = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/invitations",
        json!({ "email": "ivy@new.example", "roles": ["user"], "customers": [ids[1]] }),
    )
    .await;
    let ivy = format!(
        "/api/v1/orgs/acme/members/{}",
        invited["id"].as_str().unwrap()
    );
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(
        admin
            .post(&app, &format!("{ivy}/invitation/resend"), json!({}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let detail = json_of(admin.get(&app, &ivy).await, StatusCode::OK).await;
    assert_eq!(detail["customers"], json!([ids[1]]));
    // Uma, limited to two customers, learns nothing of who is assigned to the third: not
    // from the member page (the count stays whole, so nobody reads "all customers"), not
    // from the list's filter.
    let seen = json_of(uma.get(&app, &ivy).await, StatusCode::OK).await;
    assert_eq!(
        (&seen["customers"], &seen["customer_count"]),
        (&json!([]), &json!(1))
    );
    let by = |c: &str| format!("/api/v1/orgs/acme/members?customer={c}");
    let hidden = json_of(uma.get(&app, &by(&ids[1])).await, StatusCode::OK).await;
    assert_eq!(
        (&hidden["total"], &hidden["items"]),
        (&json!(0), &json!([]))
    );
    let shown = json_of(admin.get(&app, &by(&ids[1])).await, StatusCode::OK).await;
    assert_eq!(shown["total"], 1);
    let hers = json_of(uma.get(&app, &by(&ids[0])).await, StatusCode::OK).await;
    assert_eq!(hers["total"], 1, "her own customers filter as before");
    // An assigned customer cannot be deleted: its member would suddenly see them all.
    let path = format!("/api/v1/orgs/acme/customers/{}", ids[0]);
    problem(
        admin.send(&app, Method::DELETE, &path, None).await,
        StatusCode::CONFLICT,
        "customer_in_use",
    )
    .await;
    problem(
        put(
            &admin,
            &app,
            &format!("{member}/customers"),
            json!({ "customers": [uuid::Uuid::now_v7()] }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_customer",
    )
    .await;
    put(
        &admin,
        &app,
        &format!("{member}/customers"),
        json!({ "customers": [] }),
    )
    .await;
    assert_eq!(
        admin.send(&app, Method::DELETE, &path, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let all = json_of(
        uma.get(&app, "/api/v1/orgs/acme/customers").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 2);
    // Another organization's customers are not there at all.
    let gil_customer = Client::new()
        .get(app.url(&format!("/api/v1/orgs/globex/customers/{}", ids[1])))
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap();
    problem(gil_customer, StatusCode::NOT_FOUND, "not_found").await;
}

async fn check_api_decides_with_fresh_data(app: TestApp) {
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let uma = app.sign_in("uma@acme.example", MEMBER_PW).await;
    let uma_identity = identity_of(&uma);
    app.add_member(
        "acme",
        "nora@acme.example",
        MEMBER_PW,
        &[BuiltinRole::Notifications],
    )
    .await;
    let gil = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let host = token(&app, &admin, &["access.check"]).await;
    let other = token(&app, &admin, &["users.read"]).await;
    let c1 = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/customers",
        json!({ "name": "One" }),
    )
    .await["id"]
        .clone();
    let c2 = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/customers",
        json!({ "name": "Two" }),
    )
    .await["id"]
        .clone();

    let ask = |permission: &str, customer: &Value| json!({ "identity_id": uma_identity, "permission": permission, "customer_id": customer });
    assert_eq!(
        decision(&app, &host, ask("catalog.edit", &Value::Null)).await,
        (true, "granted".into())
    );
    assert_eq!(
        decision(&app, &host, ask("pim_user_user_create", &Value::Null)).await,
        (false, "permission_not_held".into())
    );
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c2)).await,
        (true, "granted".into())
    );
    // Assign C1 only: the very next check sees it.
    put(
        &admin,
        &app,
        &format!("/api/v1/orgs/acme/members/{uma_id}/customers"),
        json!({ "customers": [c1] }),
    )
    .await;
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c2)).await,
        (false, "customer_not_assigned".into())
    );
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c1)).await,
        (true, "granted".into())
    );
    assert_eq!(
        decision(
            &app,
            &host,
            ask("customers.read", &json!(uuid::Uuid::now_v7()))
        )
        .await,
        (false, "unknown_customer".into())
    );
    // Explain: which role decided and why not.
    let denied = json_of(
        check(&app, &host, "check/explain", ask("customers.read", &c2)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["reason"], "customer_not_assigned");
    let steps = denied["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{denied}");
    assert_eq!(
        (steps[0]["check"].as_str(), steps[0]["passed"].as_bool()),
        (Some("membership"), Some(true))
    );
    assert_eq!(
        steps[1]["grants"][0]["role"],
        json!({ "kind": "builtin", "role": "user" })
    );
    assert_eq!(steps[1]["grants"][0]["customers"], "assigned");
    assert_eq!(
        (steps[2]["check"].as_str(), steps[2]["passed"].as_bool()),
        (Some("customer"), Some(false))
    );
    assert!(
        steps[2]["detail"]
            .as_str()
            .unwrap()
            .contains("not among the 1"),
        "{denied}"
    );
    let allowed = json_of(
        check(&app, &host, "check/explain", ask("customers.read", &c1)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(allowed["allowed"], true);
    assert!(
        allowed["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["passed"] == true),
        "{allowed}"
    );

    // Inactive, notifications-only and strangers are always denied.
    app.set_status(
        "acme",
        uma_id,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c1)).await,
        (false, "not_active".into())
    );
    app.set_status(
        "acme",
        uma_id,
        MembershipStatus::Deactivated,
        MembershipStatus::Active,
    )
    .await;
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c1)).await,
        (true, "granted".into())
    );
    let nora = {
        let mut reads = app.roster.store.reads().await.unwrap();
        let email = roster_core::email::Email::parse("nora@acme.example").unwrap();
        reads
            .identity_by_email(&email)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string()
    };
    assert_eq!(
        decision(
            &app,
            &host,
            json!({ "identity_id": nora, "permission": "users.read" })
        )
        .await,
        (false, "notifications_only".into())
    );
    assert_eq!(
        decision(
            &app,
            &host,
            json!({ "identity_id": identity_of(&gil), "permission": "users.read" })
        )
        .await,
        (false, "not_a_member".into())
    );

    // Refusals: an unknown code, a token without access.check, another organization.
    problem(
        check(&app, &host, "check", ask("no.such.code", &Value::Null)).await,
        StatusCode::BAD_REQUEST,
        "unknown_permission",
    )
    .await;
    problem(
        check(&app, &other, "check", ask("users.read", &Value::Null)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        check(
            &app,
            &host,
            "check",
            json!({ "identity_id": "nope", "permission": "users.read" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let foreign = Client::new()
        .post(app.url("/api/v1/orgs/globex/check"))
        .bearer_auth(&host)
        .json(&ask("users.read", &Value::Null))
        .send()
        .await
        .unwrap();
    problem(foreign, StatusCode::NOT_FOUND, "not_found").await;

    // By id as by slug: the token's organization answers the same, another one not at all.
    let id_of = |slug: &'static str| {
        let store = app.roster.store.clone();
        async move {
            let slug = roster_core::names::Slug::parse(slug).unwrap();
            let mut reads = store.reads().await.unwrap();
            reads.org_by_slug(&slug).await.unwrap().unwrap().id
        }
    };
    let (acme, globex) = (id_of("acme").await, id_of("globex").await);
    for (org, status) in [(acme, StatusCode::OK), (globex, StatusCode::NOT_FOUND)] {
        let answer = Client::new()
            .post(app.url(&format!("/api/v1/orgs/{org}/check")))
            .bearer_auth(&host)
            .json(&ask("customers.read", &c1))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{org}");
    }
    assert_eq!(
        decision(&app, &host, ask("customers.read", &c1)).await,
        (true, "granted".into())
    );

    // A token is authenticated before its body is judged, as on every route.
    let post_raw = |token: &str, body: &'static str| {
        Client::new()
            .post(app.url("/api/v1/orgs/acme/check"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    problem(
        post_raw("roster_org_not-a-token", "{").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    problem(
        post_raw(&host, "{").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    problem(
        check(
            &app,
            "roster_org_not-a-token",
            "check",
            ask("users.read", &Value::Null),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // An operator's token and a person's session ask the same question and get the same
    // answer.
    let by_operator = json_of(
        check(
            &app,
            &app.operator_token,
            "check",
            ask("customers.read", &c1),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_operator["reason"], "granted");
    let by_session = json_of(
        admin
            .post(&app, "/api/v1/orgs/acme/check", ask("customers.read", &c2))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_session["reason"], "customer_not_assigned");
    // A check notes the token's use, as any request does: a token only ever used for
    // checks by its own organization.
    let fresh = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/tokens",
        json!({ "name": "checks only", "permissions": ["access.check"] }),
    )
    .await;
    let fresh_token = fresh["token"].as_str().unwrap().to_owned();
    // The token named `name` holding `permission` alone.
    let listed_token = |name: &'static str, permission: &'static str| {
        let admin = &admin;
        let app = &app;
        async move {
            let listed = json_of(
                admin.get(app, "/api/v1/orgs/acme/tokens").await,
                StatusCode::OK,
            )
            .await;
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name && t["permissions"] == json!([permission]))
                .cloned()
                .unwrap()
        }
    };
    assert!(listed_token("checks only", "access.check").await["last_used_at"].is_null());
    assert_eq!(
        decision(&app, &fresh_token, ask("customers.read", &c1)).await,
        (true, "granted".into())
    );
    assert!(listed_token("checks only", "access.check").await["last_used_at"].is_string());
    // A path that cannot be read is judged after the token, as a body is.
    let bad_path = |token: &str| {
        Client::new()
            .post(app.url("/api/v1/orgs/%FF/check"))
            .bearer_auth(token)
            .json(&ask("users.read", &Value::Null))
            .send()
    };
    problem(
        bad_path("roster_org_not-a-token").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    problem(
        bad_path(&fresh_token).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    let host_id = listed_token("host product", "access.check").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Revoked, the token's very next check is refused.
    assert_eq!(
        admin
            .send(
                &app,
                Method::DELETE,
                &format!("/api/v1/orgs/acme/tokens/{host_id}"),
                None
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    problem(
        check(&app, &host, "check", ask("customers.read", &c1)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // So is a live token's whose creator is no longer active.
    let second = token(&app, &admin, &["access.check"]).await;
    assert_eq!(
        decision(&app, &second, ask("customers.read", &c1)).await,
        (true, "granted".into())
    );
    let ann = identity_of(&admin);
    let ann_member = {
        let mut reads = app.roster.store.reads().await.unwrap();
        let acme_id = acme;
        reads
            .membership_of(acme_id, ann.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    };
    app.set_status(
        "acme",
        ann_member,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    problem(
        check(&app, &second, "check", ask("customers.read", &c1)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn check_api_decides_with_fresh_data_on_sqlite() {
    check_api_decides_with_fresh_data(spawn_app().await).await;
}

#[tokio::test]
async fn check_api_decides_with_fresh_data_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    check_api_decides_with_fresh_data(app).await;
}

/// Each instance keeps an organization's custom roles and groups in memory between
/// requests. A change made through another instance (or another process on the same
/// SQLite file) still decides the very next check here: what a role grants, what a group
/// holds, and what a token's creator holds through their group.
async fn checks_see_role_and_group_changes_made_elsewhere(a: TestApp, b: TestApp) {
    let admin = a.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    // Marketing: no member list of her own, so her group's role decides it.
    let uma_id = a
        .add_member(
            "acme",
            "uma@acme.example",
            MEMBER_PW,
            &[BuiltinRole::Marketing],
        )
        .await;
    let uma = a.sign_in("uma@acme.example", MEMBER_PW).await;
    let hal_id = a
        .add_member("acme", "hal@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let hal = a.sign_in("hal@acme.example", MEMBER_PW).await;
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let role = |name: &str, codes: &[&str]| json!({ "name": name, "permissions": codes });
    let maker = id(create(
        &admin,
        &a,
        "/api/v1/orgs/acme/roles",
        role("Maker", &["pim_user_user_create"]),
    )
    .await);
    let checker = id(create(
        &admin,
        &a,
        "/api/v1/orgs/acme/roles",
        role("Checker", &["access.check", "tokens.manage"]),
    )
    .await);
    let group = |name: &str, roles: &[&str]| json!({ "name": name, "roles": roles });
    let makers = id(create(
        &admin,
        &a,
        "/api/v1/orgs/acme/groups",
        group("Makers", &[&maker]),
    )
    .await);
    let checkers = id(create(
        &admin,
        &a,
        "/api/v1/orgs/acme/groups",
        group("Checkers", &[&checker]),
    )
    .await);
    for (member, group) in [(&uma_id, &makers), (&hal_id, &checkers)] {
        let path = format!("/api/v1/orgs/acme/members/{member}/groups");
        let set = put(&admin, &a, &path, json!({ "groups": [group] })).await;
        assert_eq!(set.status(), StatusCode::OK);
    }
    // Hal holds access.check only through his group's custom role.
    let host = token(&a, &hal, &["access.check"]).await;
    let ask = json!({ "identity_id": identity_of(&uma), "permission": "pim_user_user_create" });
    let both = |expected: (bool, &'static str), when: &'static str| {
        let (a, b, host, ask) = (&a, &b, &host, &ask);
        async move {
            for (app, which) in [(a, "a"), (b, "b")] {
                let got = decision(app, host, ask.clone()).await;
                assert_eq!(
                    got,
                    (expected.0, expected.1.to_owned()),
                    "{when}, on {which}"
                );
            }
        }
    };
    let patch = |app, path, body| patched(&admin, app, path, body);
    let roles = |r: &str| format!("/api/v1/orgs/acme/roles/{r}");
    let groups = |g: &str| format!("/api/v1/orgs/acme/groups/{g}");
    both((true, "granted"), "through the group's role").await;
    // The answers came through each instance's copy of Acme's roles and groups.
    assert_eq!(
        (a.roster.definitions.len(), b.roster.definitions.len()),
        (1, 1)
    );

    patch(&b, roles(&maker), json!({ "permissions": [] })).await;
    both(
        (false, "permission_not_held"),
        "the role lost the code on b",
    )
    .await;
    patch(
        &a,
        roles(&maker),
        json!({ "permissions": ["pim_user_user_create"] }),
    )
    .await;
    both((true, "granted"), "the role has it again, changed on a").await;
    patch(&b, groups(&makers), json!({ "roles": [] })).await;
    both(
        (false, "permission_not_held"),
        "the group lost the role on b",
    )
    .await;
    patch(&a, groups(&makers), json!({ "roles": [maker] })).await;
    both((true, "granted"), "the group holds it again").await;

    // The token's creator loses access.check through their group's role: the token is
    // refused at once on both instances, and answers again once it is back.
    patch(
        &b,
        roles(&checker),
        json!({ "permissions": ["tokens.manage"] }),
    )
    .await;
    for app in [&a, &b] {
        problem(
            check(app, &host, "check", ask.clone()).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    patch(
        &a,
        roles(&checker),
        json!({ "permissions": ["access.check", "tokens.manage"] }),
    )
    .await;
    both((true, "granted"), "the creator holds access.check again").await;
    // What a person's session holds comes from the same copy: Uma's access to the member
    // list through her group's role follows a change made on the other instance.
    let list = |app: &TestApp| uma.client.get(app.url("/api/v1/orgs/acme/members")).send();
    let lists = json!({ "permissions": ["pim_user_user_create", "users.read"] });
    patch(&b, roles(&maker), lists).await;
    assert_eq!(list(&a).await.unwrap().status(), StatusCode::OK);
    patch(&b, roles(&maker), json!({ "permissions": [] })).await;
    problem(list(&a).await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    patch(&a, roles(&maker), json!({ "permissions": ["users.read"] })).await;
    assert_eq!(list(&b).await.unwrap().status(), StatusCode::OK);
}

async fn patched(admin: &Person, app: &TestApp, path: String, body: Value) {
    let changed = admin.send(app, Method::PATCH, &path, Some(body)).await;
    assert_eq!(changed.status(), StatusCode::OK, "PATCH {path}");
}

#[tokio::test]
async fn checks_see_role_and_group_changes_made_elsewhere_on_sqlite() {
    let (a, b) = spawn_two_sqlite().await;
    checks_see_role_and_group_changes_made_elsewhere(a, b).await;
}

#[tokio::test]
async fn checks_see_role_and_group_changes_made_elsewhere_on_postgres() {
    let Some((a, b)) = spawn_two_postgres().await else {
        return;
    };
    checks_see_role_and_group_changes_made_elsewhere(a, b).await;
}

/// Seed 004: an admin scoped to Paris sees and manages only Paris's members.
#[tokio::test]
async fn scoped_admins_manage_only_their_entities() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let paris = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/entities",
        json!({ "name": "Paris" }),
    )
    .await["id"]
        .clone();
    let lyon = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/entities",
        json!({ "name": "Lyon" }),
    )
    .await["id"]
        .clone();
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/entities",
                json!({ "name": "PARIS" }),
            )
            .await,
        StatusCode::CONFLICT,
        "entity_name_taken",
    )
    .await;
    let sam_id = app
        .add_member("acme", "sam@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;
    let pia_id = app
        .add_member("acme", "pia@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let leo_id = app
        .add_member("acme", "leo@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let members = "/api/v1/orgs/acme/members";
    for (id, entity) in [(sam_id, &paris), (pia_id, &paris), (leo_id, &lyon)] {
        json_of(
            put(
                &admin,
                &app,
                &format!("{members}/{id}/entity"),
                json!({ "entity": entity }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let scoped = json_of(
        put(
            &admin,
            &app,
            &format!("{members}/{sam_id}/admin-scope"),
            json!({ "entities": [paris] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(scoped["admin_scope"], json!([paris]));
    let sam = app.sign_in("sam@acme.example", MEMBER_PW).await;

    let list = json_of(sam.get(&app, members).await, StatusCode::OK).await;
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["sam@acme.example", "pia@acme.example"]);
    assert_eq!(list["total"], 2);
    // Outside the scope, a member is answered as absent.
    let leo = format!("{members}/{leo_id}");
    problem(
        sam.get(&app, &leo).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        sam.post(&app, &format!("{leo}/deactivate"), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        sam.send(&app, Method::DELETE, &leo, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    problem(
        sam.send(&app, Method::PATCH, &leo, Some(json!({ "name": "Leo" })))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Inside it, the usual powers.
    let pia = format!("{members}/{pia_id}");
    assert_eq!(
        sam.post(&app, &format!("{pia}/deactivate"), json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        sam.post(&app, &format!("{pia}/activate"), json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    // Moving a member out of reach, or inviting outside it, is refused.
    problem(
        put(
            &sam,
            &app,
            &format!("{pia}/entity"),
            json!({ "entity": lyon }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "outside_admin_scope",
    )
    .await;
    for body in [
        json!({ "email": "new@acme.example", "roles": ["user"] }),
        json!({ "email": "new@acme.example", "roles": ["user"], "entity": lyon }),
    ] {
        problem(
            sam.post(&app, "/api/v1/orgs/acme/invitations", body).await,
            StatusCode::FORBIDDEN,
            "outside_admin_scope",
        )
        .await;
    }
    let invited = create(
        &sam,
        &app,
        "/api/v1/orgs/acme/invitations",
        json!({ "email": "new@acme.example", "roles": ["user"], "entity": paris }),
    )
    .await;
    assert_eq!(invited["entity"], paris);
    // Never an admin of the whole organization, never a wider scope, never the org.
    problem(
        sam.post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "boss@acme.example", "roles": ["admin"], "entity": paris }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        put(
            &sam,
            &app,
            &format!("{pia}/roles"),
            json!({ "roles": ["admin"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for target in [sam_id, pia_id] {
        problem(
            put(
                &sam,
                &app,
                &format!("{members}/{target}/admin-scope"),
                json!({ "entities": [paris, lyon] }),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    problem(
        sam.send(
            &app,
            Method::PATCH,
            "/api/v1/orgs/acme",
            Some(json!({ "name": "Mine" })),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        sam.post(&app, "/api/v1/orgs/acme/roles", json!({ "name": "X" }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The scope applies from the next request: widening it by the org admin shows Leo.
    put(
        &admin,
        &app,
        &format!("{members}/{sam_id}/admin-scope"),
        json!({ "entities": [paris, lyon] }),
    )
    .await;
    assert_eq!(sam.get(&app, &leo).await.status(), StatusCode::OK);

    // The last admin of the whole organization cannot be narrowed into a scope.
    let ann_id = json_of(
        admin.get(&app, &format!("{members}/me")).await,
        StatusCode::OK,
    )
    .await["id"]
        .clone();
    problem(
        put(
            &admin,
            &app,
            &format!("{members}/{}/admin-scope", ann_id.as_str().unwrap()),
            json!({ "entities": [paris] }),
        )
        .await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    // An entity in use cannot be deleted.
    problem(
        admin
            .send(
                &app,
                Method::DELETE,
                &format!("/api/v1/orgs/acme/entities/{}", paris.as_str().unwrap()),
                None,
            )
            .await,
        StatusCode::CONFLICT,
        "entity_in_use",
    )
    .await;
    let filtered = json_of(
        admin
            .get(
                &app,
                &format!("{members}?entity={}", lyon.as_str().unwrap()),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered["total"], 1);
}

/// Nobody hands on, or manages someone with, more than they hold — through custom roles,
/// groups, customers or scopes.
#[tokio::test]
async fn no_way_around_what_the_caller_holds() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let members = "/api/v1/orgs/acme/members";
    let paris = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/entities",
        json!({ "name": "Paris" }),
    )
    .await["id"]
        .clone();
    let lyon = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/entities",
        json!({ "name": "Lyon" }),
    )
    .await["id"]
        .clone();
    let helpdesk = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Helpdesk", "permissions": ["users.manage", "users.read", "users.invite", "customers.read"] }),
    )
    .await["id"]
        .clone();
    let settings = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Settings", "permissions": ["org.settings"] }),
    )
    .await["id"]
        .clone();

    // A scoped admin never hands on a member-managing role, which would reach beyond
    // their entities; nor may they ask the check API about anyone.
    let sam_id = app
        .add_member("acme", "sam@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;
    let pia_id = app
        .add_member(
            "acme",
            "pia@acme.example",
            MEMBER_PW,
            &[BuiltinRole::Marketing],
        )
        .await;
    for id in [sam_id, pia_id] {
        put(
            &admin,
            &app,
            &format!("{members}/{id}/entity"),
            json!({ "entity": paris }),
        )
        .await;
    }
    put(
        &admin,
        &app,
        &format!("{members}/{sam_id}/entity"),
        json!({ "entity": lyon }),
    )
    .await;
    json_of(
        put(
            &admin,
            &app,
            &format!("{members}/{sam_id}/admin-scope"),
            json!({ "entities": [paris] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let sam = app.sign_in("sam@acme.example", MEMBER_PW).await;
    problem(
        put(
            &sam,
            &app,
            &format!("{members}/{pia_id}/roles"),
            json!({ "roles": ["marketing", helpdesk] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        sam.post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "alt@acme.example", "roles": [helpdesk], "entity": paris }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        sam.post(
            &app,
            "/api/v1/orgs/acme/check",
            json!({ "identity_id": identity_of(&admin), "permission": "users.read" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A scoped admin whose own entity lies outside their scope still reads themselves.
    let own = json_of(
        sam.get(&app, &format!("{members}/me")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["admin_scope"], json!([paris]));

    // A helpdesk member (users.manage through a custom role) manages nobody who holds more.
    let hal_id = app
        .add_member("acme", "hal@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let boss_id = app
        .add_member("acme", "boss@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    put(
        &admin,
        &app,
        &format!("{members}/{hal_id}/roles"),
        json!({ "roles": ["user", helpdesk] }),
    )
    .await;
    put(
        &admin,
        &app,
        &format!("{members}/{boss_id}/roles"),
        json!({ "roles": ["user", settings] }),
    )
    .await;
    let hal = app.sign_in("hal@acme.example", MEMBER_PW).await;
    let boss = format!("{members}/{boss_id}");
    problem(
        hal.send(
            &app,
            Method::PATCH,
            &boss,
            Some(json!({ "email": "hal-owns-this@acme.example" })),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        hal.post(&app, &format!("{boss}/deactivate"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Nor sends them reset links or reads their sign-in attempts.
    problem(
        hal.post(&app, &format!("{boss}/password-reset"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        hal.get(&app, &format!("{boss}/sign-in-attempts")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // A scoped admin neither, to an admin of the whole organization in their entity.
    let ann_id = admin.body["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    put(
        &admin,
        &app,
        &format!("{members}/{ann_id}/entity"),
        json!({ "entity": paris }),
    )
    .await;
    problem(
        sam.post(
            &app,
            &format!("{members}/{ann_id}/password-reset"),
            json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        sam.get(&app, &format!("{members}/{ann_id}/sign-in-attempts"))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Pia (Marketing) holds partner_kit.read, which Hal does not: also refused. A User is not.
    problem(
        hal.post(&app, &format!("{members}/{pia_id}/deactivate"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let uma_id = app
        .add_member("acme", "uma@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    assert_eq!(
        hal.post(&app, &format!("{members}/{uma_id}/deactivate"), json!({}))
            .await
            .status(),
        StatusCode::OK
    );

    // Limited to some customers, Hal assigns only among them — never none, which is all.
    let c1 = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/customers",
        json!({ "name": "One" }),
    )
    .await["id"]
        .clone();
    let c2 = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/customers",
        json!({ "name": "Two" }),
    )
    .await["id"]
        .clone();
    put(
        &admin,
        &app,
        &format!("{members}/{hal_id}/customers"),
        json!({ "customers": [c1] }),
    )
    .await;
    for customers in [json!([]), json!([c2]), json!([c1, c2])] {
        problem(
            put(
                &hal,
                &app,
                &format!("{members}/me/customers"),
                json!({ "customers": customers }),
            )
            .await,
            StatusCode::FORBIDDEN,
            "outside_customers",
        )
        .await;
    }
    let detail = json_of(
        hal.get(&app, &format!("{members}/me")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["customers"], json!([c1]));
    // Limited, Hal manages nobody who reaches further: Uma, with no assignment, reaches all.
    problem(
        hal.post(&app, &format!("{members}/{uma_id}/activate"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    put(
        &admin,
        &app,
        &format!("{members}/{uma_id}/customers"),
        json!({ "customers": [c1] }),
    )
    .await;
    assert_eq!(
        hal.post(&app, &format!("{members}/{uma_id}/activate"), json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    // Nor makes anyone reach further than himself: a second account with Notifications
    // only, then User with no assignment, would see every customer.
    let alt = json_of(
        hal.post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "hal.alt@acme.example", "roles": ["notifications"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let alt = format!("{members}/{}", alt["id"].as_str().unwrap());
    problem(
        put(
            &hal,
            &app,
            &format!("{alt}/roles"),
            json!({ "roles": ["user"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "outside_customers",
    )
    .await;
    put(
        &hal,
        &app,
        &format!("{alt}/customers"),
        json!({ "customers": [c1] }),
    )
    .await;
    assert_eq!(
        put(
            &hal,
            &app,
            &format!("{alt}/roles"),
            json!({ "roles": ["user"] })
        )
        .await
        .status(),
        StatusCode::OK
    );
    // Nor does Hal write an unscoped role into the world.
    put(
        &admin,
        &app,
        &format!("{members}/{hal_id}/roles"),
        json!({ "roles": ["user", helpdesk, create(
        &admin,
        &app,
        "/api/v1/orgs/acme/roles",
        json!({ "name": "Role writer", "permissions": ["roles.manage", "customers.read"] }),
    )
    .await["id"]] }),
    )
    .await;
    problem(
        hal.post(
            &app,
            "/api/v1/orgs/acme/roles",
            json!({ "name": "Wide", "permissions": ["customers.read"], "customer_scoped": false }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // An admin scope means nothing without Admin, and goes when Admin goes.
    problem(
        put(
            &admin,
            &app,
            &format!("{members}/{pia_id}/admin-scope"),
            json!({ "entities": [paris] }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let demoted = json_of(
        put(
            &admin,
            &app,
            &format!("{members}/{sam_id}/roles"),
            json!({ "roles": ["user"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(demoted["admin_scope"], json!([]));
}

/// A provisioning token holds catalog codes, host products' too, so it can hand out a
/// role that carries them — and only if it holds them.
#[tokio::test]
async fn tokens_hold_host_codes_and_hand_out_only_what_they_hold() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let invite = |token: String, email: &'static str| {
        let url = app.url("/api/v1/orgs/acme/invitations");
        async move {
            Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "email": email, "roles": ["user"] }))
                .send()
                .await
                .unwrap()
        }
    };
    // User carries catalog.edit in this deployment.
    let without = token(
        &app,
        &admin,
        &["users.invite", "users.read", "customers.read"],
    )
    .await;
    problem(
        invite(without, "a@new.example").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let with = token(
        &app,
        &admin,
        &[
            "users.invite",
            "users.read",
            "customers.read",
            "catalog.edit",
        ],
    )
    .await;
    assert_eq!(
        invite(with, "b@new.example").await.status(),
        StatusCode::CREATED
    );
    problem(
        admin
            .post(
                &app,
                "/api/v1/orgs/acme/tokens",
                json!({ "name": "x", "permissions": ["no.such.code"] }),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_permission",
    )
    .await;
    let listed = json_of(
        admin.get(&app, "/api/v1/orgs/acme/tokens").await,
        StatusCode::OK,
    )
    .await;
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("catalog.edit"))));
}

/// Removing a member ends the tokens they made there: inviting them again does not bring
/// those tokens back.
#[tokio::test]
async fn a_removed_members_tokens_stay_dead_when_they_return() {
    let app = spawn_app().await;
    let admin = app.admin("Acme", "ann@acme.example", ADMIN_PW).await;
    let bob_id = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;
    let bob = app.sign_in("bob@acme.example", MEMBER_PW).await;
    let bobs = token(&app, &bob, &["users.read"]).await;
    let read = |t: String| {
        let url = app.url("/api/v1/orgs/acme/members");
        async move { Client::new().get(url).bearer_auth(t).send().await.unwrap() }
    };
    assert_eq!(read(bobs.clone()).await.status(), StatusCode::OK);
    assert_eq!(
        admin
            .send(
                &app,
                Method::DELETE,
                &format!("/api/v1/orgs/acme/members/{bob_id}"),
                None
            )
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Bob has an account, so inviting him again makes him active at once.
    let back = create(
        &admin,
        &app,
        "/api/v1/orgs/acme/invitations",
        json!({ "email": "bob@acme.example", "roles": ["admin"] }),
    )
    .await;
    assert_eq!(back["status"], "active");
    problem(
        read(bobs).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}
