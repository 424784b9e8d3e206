//! Single sign-on against a real OpenID provider (`e2e/oidc-provider.mjs`, npm
//! `oidc-provider`): the sign-in page sends an email of a claimed domain to the provider,
//! the provider's login form is filled in, and its redirect back is followed — like a
//! browser without JavaScript. Every refusal shows its code and reference.

use crate::oidc::{cancel_at_provider, sign_in_at_provider, Provider, Tamper};
use crate::support::{browser, csrf_field, problem, spawn_app, spawn_app_postgres, TestApp};
use reqwest::header::LOCATION;
use reqwest::{Client, Method, StatusCode};
use roster_core::model::BuiltinRole;
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const CLIENT_ID: &str = "roster-tests";
const CLIENT_SECRET: &str = "a client secret of the test provider";

fn accounts() -> Value {
    json!({
        "alice": { "email": "alice@acme.example", "email_verified": true, "name": "Alice Liddell" },
        "bob": { "email": "bob@acme.example", "email_verified": false, "name": "Bob" },
        "carol": { "email": "carol@acme.example", "email_verified": true, "name": "Carol Provider-Name" },
        "eve": { "email": "eve@elsewhere.example", "email_verified": true, "name": "Eve" },
    })
}

/// Acme (admin Ada) with a connection to `provider` claiming acme.example.
async fn connect(app: &TestApp, provider: &Provider, body: Value) -> crate::support::Person {
    let ada = app.admin("Acme", "ada@admins.example", ADMIN_PW).await;
    let mut connection = json!({
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "domains": ["acme.example"],
        "default_role": "user",
    });
    for (k, v) in body.as_object().unwrap() {
        connection[k] = v.clone();
    }
    let resp = ada
        .send(app, Method::PUT, "/api/v1/orgs/acme/sso", Some(connection))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    ada
}

async fn provider(app: &TestApp, tamper: Option<Tamper>) -> Option<Provider> {
    let redirect = app.url("/sso/callback");
    match tamper {
        None => Provider::start(CLIENT_ID, CLIENT_SECRET, &redirect, accounts()).await,
        Some(t) => {
            Provider::start_tampered(CLIENT_ID, CLIENT_SECRET, &redirect, accounts(), t).await
        }
    }
}

/// Posts the sign-in page's form, with the token of the page as a browser would.
async fn sign_in_page(app: &TestApp, c: &Client, email: &str, password: &str) -> reqwest::Response {
    let html = c
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.post(app.url("/sign-in"))
        .form(&[
            ("csrf_token", csrf_field(&html).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Types `email` (no password) on the sign-in page; returns the redirect's target.
async fn to_provider(app: &TestApp, c: &Client, email: &str) -> String {
    let resp = sign_in_page(app, c, email, "").await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap()
    );
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.contains("code_challenge=") && location.contains("nonce="),
        "{location}"
    );
    location
}

/// The whole dance: email on the sign-in page, the provider's login as `login`, back.
async fn sso(app: &TestApp, c: &Client, email: &str, login: &str) -> reqwest::Response {
    let authorize = to_provider(app, c, email).await;
    let callback = sign_in_at_provider(c, &authorize, login).await;
    c.get(&callback).send().await.unwrap()
}

/// The sign-in error page of a refusal: its status and code, with a reference.
async fn refused(resp: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(resp.status(), status);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(&format!("<code>{code}</code>")),
        "{code}: {html}"
    );
    assert!(
        html.contains("Who can fix it") && html.contains("Reference"),
        "{html}"
    );
    html
}

async fn members(app: &TestApp, ada: &crate::support::Person, q: &str) -> Value {
    ada.get(app, &format!("/api/v1/orgs/acme/members?q={q}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn first_sign_in_joins_and_the_second_reuses(app: TestApp) {
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({})).await;

    let c = browser();
    let resp = sso(&app, &c, "alice@acme.example", "alice").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/orgs/acme");
    let landing = c.get(app.url("/orgs/acme")).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("alice@acme.example"));
    let list = members(&app, &ada, "alice").await;
    assert_eq!(list["total"], 1, "{list}");
    let alice = &list["items"][0];
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["roles"], json!(["user"]));
    assert_eq!(alice["name"], "Alice Liddell");

    // Again, in another browser: the same member.
    let c2 = browser();
    assert_eq!(
        sso(&app, &c2, "alice@acme.example", "alice").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(members(&app, &ada, "alice").await["total"], 1);
    let actions: Vec<String> = app.audit().await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "sso.signed_in").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "sso.connection_created")
            .count(),
        1
    );
}

#[tokio::test]
async fn first_sso_sign_in_creates_the_member_and_the_second_reuses_it() {
    first_sign_in_joins_and_the_second_reuses(spawn_app().await).await;
}

#[tokio::test]
async fn first_sso_sign_in_creates_the_member_and_the_second_reuses_it_on_postgres() {
    if let Some(app) = spawn_app_postgres().await {
        first_sign_in_joins_and_the_second_reuses(app).await;
    }
}

#[tokio::test]
async fn an_existing_member_is_matched_by_verified_email_and_their_name_follows_the_provider() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({ "default_role": null })).await;
    app.add_member(
        "acme",
        "carol@acme.example",
        ADMIN_PW,
        &[BuiltinRole::Marketing],
    )
    .await;
    let resp = sso(&app, &browser(), "carol@acme.example", "carol").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let list = members(&app, &ada, "carol").await;
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["items"][0]["roles"],
        json!(["marketing"]),
        "roles kept"
    );
    assert_eq!(
        list["items"][0]["name"], "Carol Provider-Name",
        "name synced"
    );
}

#[tokio::test]
async fn refusals_land_on_the_error_page_with_their_code_and_reference() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({})).await;

    // An unverified email is never matched or let in.
    let resp = sso(&app, &browser(), "bob@acme.example", "bob").await;
    refused(resp, StatusCode::UNAUTHORIZED, "sso_email_unverified").await;
    assert_eq!(members(&app, &ada, "bob").await["total"], 0);

    // The provider signs in someone of a domain the connection does not claim.
    let resp = sso(&app, &browser(), "alice@acme.example", "eve").await;
    let html = refused(resp, StatusCode::UNAUTHORIZED, "sso_domain_not_claimed").await;
    assert_eq!(members(&app, &ada, "eve").await["total"], 0);
    // Not a member, so not on a member's attempts: on the organization's audit log.
    let reference = html
        .split("<dt>Reference</dt><dd><code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let log: Value = ada
        .get(&app, "/api/v1/orgs/acme/audit?action=sso.sign_in_refused")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["reference"] == reference.as_str()
                && e["details"]["code"] == "sso_domain_not_claimed"),
        "{log}"
    );

    // The person cancels at the provider.
    let c = browser();
    let authorize = to_provider(&app, &c, "alice@acme.example").await;
    let callback = cancel_at_provider(&c, &authorize).await;
    let resp = c.get(&callback).send().await.unwrap();
    refused(resp, StatusCode::UNAUTHORIZED, "sso_provider_error").await;

    // A state used twice, made up, or missing.
    let c = browser();
    let authorize = to_provider(&app, &c, "alice@acme.example").await;
    let callback = sign_in_at_provider(&c, &authorize, "alice").await;
    assert_eq!(
        c.get(&callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let again = browser().get(&callback).send().await.unwrap();
    refused(again, StatusCode::UNAUTHORIZED, "sso_state_invalid").await;
    let forged = callback.replace("state=", "state=x");
    refused(
        browser().get(&forged).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "sso_state_invalid",
    )
    .await;
    refused(
        browser()
            .get(app.url("/sso/callback?code=abc"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "sso_state_invalid",
    )
    .await;

    // A deactivated member stays out, whatever the provider says; the admin sees why.
    let alice = members(&app, &ada, "alice").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = ada
        .post(
            &app,
            &format!("/api/v1/orgs/acme/members/{alice}/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = sso(&app, &browser(), "alice@acme.example", "alice").await;
    let html = refused(resp, StatusCode::FORBIDDEN, "sso_member_deactivated").await;
    assert!(html.contains("Acme"), "names the organization: {html}");
    let attempts: Value = ada
        .get(
            &app,
            &format!("/api/v1/orgs/acme/members/{alice}/sign-in-attempts"),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = attempts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"sso_member_deactivated") && codes.contains(&"succeeded"),
        "{codes:?}"
    );
}

#[tokio::test]
async fn a_connection_without_a_default_role_lets_no_one_new_in() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({ "default_role": null })).await;
    let resp = sso(&app, &browser(), "alice@acme.example", "alice").await;
    refused(resp, StatusCode::UNAUTHORIZED, "sso_no_default_role").await;
    assert_eq!(members(&app, &ada, "alice").await["total"], 0);
}

#[tokio::test]
async fn id_tokens_with_a_wrong_audience_nonce_issuer_expiry_or_signature_are_refused() {
    for tamper in [
        Tamper::Audience,
        Tamper::Nonce,
        Tamper::Issuer,
        Tamper::Expired,
        Tamper::Signature,
        Tamper::AlgNone,
    ] {
        let app = spawn_app().await;
        let Some(provider) = provider(&app, Some(tamper)).await else {
            return;
        };
        let ada = connect(&app, &provider, json!({})).await;
        let resp = sso(&app, &browser(), "alice@acme.example", "alice").await;
        refused(resp, StatusCode::UNAUTHORIZED, "sso_provider_error").await;
        assert_eq!(members(&app, &ada, "alice").await["total"], 0, "{tamper:?}");
    }
}

#[tokio::test]
async fn an_enforced_domain_refuses_passwords_resets_and_invitations() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({ "enforce": true })).await;
    let dave = app
        .add_member("acme", "dave@acme.example", ADMIN_PW, &[BuiltinRole::User])
        .await;

    // Password sign-in (API): refused, naming the organization; no password is checked.
    let resp = app
        .sign_in_raw(&Client::new(), "dave@acme.example", ADMIN_PW)
        .await;
    let body = problem(resp, StatusCode::FORBIDDEN, "sso_enforced").await;
    assert!(body["detail"].as_str().unwrap().contains("Acme"), "{body}");
    assert_eq!(body["diagnostics"]["organization"], "Acme");
    // The sign-in page sends the email to the provider even with a password typed.
    let c = browser();
    let resp = sign_in_page(&app, &c, "dave@acme.example", ADMIN_PW).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(resp.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with(&provider.issuer));

    // Forgot password, a reset link, an invitation: refused, nothing sent.
    let resp = Client::new()
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({ "email": "dave@acme.example" }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::CONFLICT, "sso_enforced").await;
    let resp = ada
        .post(
            &app,
            &format!("/api/v1/orgs/acme/members/{dave}/password-reset"),
            json!({}),
        )
        .await;
    problem(resp, StatusCode::CONFLICT, "sso_enforced").await;
    let resp = ada
        .post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "new@acme.example", "roles": ["user"] }),
        )
        .await;
    problem(resp, StatusCode::CONFLICT, "sso_enforced").await;
    assert_eq!(members(&app, &ada, "new").await["total"], 0);
    assert!(app
        .deliver()
        .await
        .iter()
        .all(|(to, _)| !to.contains("acme.example")));
    // Other domains are not affected.
    let resp = ada
        .post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "guest@partner.example", "roles": ["user"] }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Members come through SSO.
    assert_eq!(
        sso(&app, &browser(), "dave@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_connection_api_keeps_the_secret_and_one_organization_per_domain() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({})).await;
    let got: Value = ada
        .get(&app, "/api/v1/orgs/acme/sso")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["client_secret_set"], true);
    assert!(!got.to_string().contains(CLIENT_SECRET), "{got}");
    assert_eq!(got["redirect_uri"], app.url("/sso/callback"));
    assert!(!app
        .audit()
        .await
        .iter()
        .any(|(_, d)| d.contains(CLIENT_SECRET)));

    // Test connection: the provider answers; a dead issuer does not.
    let t: Value = ada
        .post(&app, "/api/v1/orgs/acme/sso/test", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["ok"], true, "{t}");

    // Replacing without a secret keeps it; sign-in still works with it.
    let resp = ada
        .send(&app, Method::PUT, "/api/v1/orgs/acme/sso", Some(json!({
            "issuer": provider.issuer, "client_id": CLIENT_ID, "domains": ["acme.example", "acme-labs.example"], "default_role": "user",
        })))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        sso(&app, &browser(), "alice@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // Refusals change nothing.
    for (body, code) in [
        (
            json!({ "issuer": "http://login.acme.example", "client_id": "x", "domains": ["acme.example"] }),
            "invalid_body",
        ),
        (
            json!({ "issuer": provider.issuer, "client_id": "x", "domains": ["not a domain"] }),
            "invalid_body",
        ),
        (
            json!({ "issuer": provider.issuer, "client_id": "x", "domains": ["acme.example"], "default_role": "notifications" }),
            "invalid_body",
        ),
    ] {
        let resp = ada
            .send(&app, Method::PUT, "/api/v1/orgs/acme/sso", Some(body))
            .await;
        problem(resp, StatusCode::BAD_REQUEST, code).await;
    }
    let got: Value = ada
        .get(&app, "/api/v1/orgs/acme/sso")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["domains"], json!(["acme-labs.example", "acme.example"]));

    // Another organization cannot claim a claimed domain.
    let gil = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let resp = gil
        .send(&app, Method::PUT, "/api/v1/orgs/globex/sso", Some(json!({
            "issuer": provider.issuer, "client_id": "g", "client_secret": "g", "domains": ["globex.example", "acme.example"],
        })))
        .await;
    problem(resp, StatusCode::CONFLICT, "domain_claimed").await;
    problem(
        gil.get(&app, "/api/v1/orgs/globex/sso").await,
        StatusCode::NOT_FOUND,
        "sso_not_configured",
    )
    .await;

    // Removing it: the domain signs in with passwords again, and is free.
    let resp = ada
        .send(&app, Method::DELETE, "/api/v1/orgs/acme/sso", None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let c = browser();
    let resp = sign_in_page(&app, &c, "alice@acme.example", "").await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "asks for the password"
    );
    assert!(resp.text().await.unwrap().contains("Enter your password."));
    let resp = ada.send(&app, Method::PUT, "/api/v1/orgs/acme/sso", Some(json!({
        "issuer": "http://127.0.0.1:9", "client_id": "x", "client_secret": "y", "domains": ["acme.example"],
    }))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let t: Value = ada
        .post(&app, "/api/v1/orgs/acme/sso/test", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["ok"], false, "{t}");
}

#[tokio::test]
async fn the_console_page_sets_up_and_tests_the_connection() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    app.admin("Acme", "ada@admins.example", ADMIN_PW).await;
    let c = browser();
    assert_eq!(
        app.sign_in_raw(&c, "ada@admins.example", ADMIN_PW)
            .await
            .status(),
        200
    );
    let html = c
        .get(app.url("/orgs/acme/settings/sso"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<h1>Single sign-on</h1>") && html.contains("callback</code>"),
        "{html}"
    );
    let csrf = csrf_field(&html);
    let form = |domains: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("issuer", provider.issuer.clone()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
            ("scopes", "email profile".to_owned()),
            ("domains", domains.to_owned()),
            ("default_role", "user".to_owned()),
        ]
    };
    let resp = c
        .post(app.url("/orgs/acme/settings/sso"))
        .form(&form("not a domain"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("is not an email domain"));
    let resp = c
        .post(app.url("/orgs/acme/settings/sso"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = c
        .post(app.url("/orgs/acme/settings/sso"))
        .form(&form("acme.example, eu.acme.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(app.url("/orgs/acme/settings/sso?done=saved"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Single sign-on saved.") && html.contains("eu.acme.example"),
        "{html}"
    );
    assert!(!html.contains(CLIENT_SECRET));
    let resp = c
        .post(app.url("/orgs/acme/settings/sso/test"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("answered its discovery document"));
    assert_eq!(
        sso(&app, &browser(), "alice@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

/// A claimed domain is not proof of owning it: an organization's provider never signs in,
/// nor locks out, an account that other organizations share.
#[tokio::test]
async fn a_provider_cannot_sign_in_or_lock_out_an_account_other_organizations_share() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    app.add_member(
        "globex",
        "carol@acme.example",
        ADMIN_PW,
        &[BuiltinRole::User],
    )
    .await;
    let ada = connect(&app, &provider, json!({ "enforce": true })).await;

    // The sign-in page keeps her on the password path...
    let c = browser();
    let resp = sign_in_page(&app, &c, "carol@acme.example", "").await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "asks for her password"
    );
    // ...and a provider asserting her address anyway (whatever was typed) is refused.
    let resp = sso(&app, &browser(), "newcomer@acme.example", "carol").await;
    let html = refused(resp, StatusCode::UNAUTHORIZED, "sso_account_elsewhere").await;
    assert!(html.contains("belongs to other organizations"), "{html}");
    assert_eq!(
        members(&app, &ada, "carol").await["total"],
        0,
        "no membership in Acme"
    );

    // Enforcement does not reach her either: her password and resets still work.
    let resp = app
        .sign_in_raw(&Client::new(), "carol@acme.example", ADMIN_PW)
        .await;
    assert_eq!(resp.status(), 200);
    let resp = Client::new()
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({ "email": "carol@acme.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // Nor does it keep Acme from inviting her, as it refuses a new address of its domain:
    // she joins by invitation, not through a provider that does not speak for her.
    let resp = ada
        .post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "carol@acme.example", "roles": ["user"] }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(members(&app, &ada, "carol").await["total"], 1);
}

/// The provider knows a person by their subject: when it says their address changed, the
/// member keeps their membership and gets the new address.
#[tokio::test]
async fn the_email_follows_the_provider_for_the_same_subject() {
    let app = spawn_app().await;
    let Some(first) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &first, json!({})).await;
    assert_eq!(
        sso(&app, &browser(), "alice@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let port = first.port();
    drop(first);
    let renamed = json!({ "alice": { "email": "alice.liddell@acme.example", "email_verified": true, "name": "Alice Liddell" } });
    let Some(_again) = Provider::restart_on(
        port,
        CLIENT_ID,
        CLIENT_SECRET,
        &app.url("/sso/callback"),
        renamed,
    )
    .await
    else {
        return;
    };
    let resp = sso(&app, &browser(), "alice.liddell@acme.example", "alice").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let list = members(&app, &ada, "alice").await;
    assert_eq!(list["total"], 1, "the same member: {list}");
    assert_eq!(list["items"][0]["email"], "alice.liddell@acme.example");
}

/// Login CSRF: a callback URL made with someone else's sign-in does not sign this browser
/// in — the state must come back to the browser that started it.
#[tokio::test]
async fn a_callback_only_signs_in_the_browser_that_started_it() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    connect(&app, &provider, json!({})).await;
    let attacker = browser();
    let authorize = to_provider(&app, &attacker, "alice@acme.example").await;
    let callback = sign_in_at_provider(&attacker, &authorize, "alice").await;
    let victim = browser();
    let resp = victim.get(&callback).send().await.unwrap();
    refused(resp, StatusCode::UNAUTHORIZED, "sso_state_invalid").await;
    assert_eq!(
        victim
            .get(app.url("/orgs/acme"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER,
        "the victim's browser is not signed in"
    );
}

#[tokio::test]
async fn connection_changes_that_would_hand_out_power_or_the_secret_are_refused() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({})).await;
    for (body, says) in [
        // The stored secret goes only to the provider it was given for.
        (
            json!({ "issuer": "https://elsewhere.example", "client_id": CLIENT_ID, "domains": ["acme.example"] }),
            "client_secret is required",
        ),
        (
            json!({ "issuer": provider.issuer, "client_id": "other", "domains": ["acme.example"] }),
            "client_secret is required",
        ),
        // Nobody becomes an admin just by signing in.
        (
            json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "domains": ["acme.example"], "default_role": "admin" }),
            "cannot be admin",
        ),
        // Nobody owns a public mail domain.
        (
            json!({ "issuer": provider.issuer, "client_id": CLIENT_ID, "domains": ["gmail.com"] }),
            "public mail service",
        ),
    ] {
        let resp = ada
            .send(&app, Method::PUT, "/api/v1/orgs/acme/sso", Some(body))
            .await;
        let problem = problem(resp, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
    let got: Value = ada
        .get(&app, "/api/v1/orgs/acme/sso")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["issuer"], provider.issuer.as_str());
    assert_eq!(got["default_role"], "user");
}

/// A person made by one organization's provider who is then invited elsewhere: a pending
/// invitation changes nothing; once they set their first password (accepting it), the
/// sessions that provider gave them end, so it has no door into the other organization.
#[tokio::test]
async fn the_first_password_ends_sessions_a_provider_gave_before_it() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    connect(&app, &provider, json!({})).await;
    let gil = app.admin("Globex", "gil@globex.example", ADMIN_PW).await;
    let sso_browser = browser();
    assert_eq!(
        sso(&app, &sso_browser, "alice@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let resp = gil
        .post(
            &app,
            "/api/v1/orgs/globex/invitations",
            json!({ "email": "alice@acme.example", "roles": ["user"] }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Pending elsewhere: Acme's provider still signs her in.
    assert_eq!(
        sso(&app, &browser(), "alice@acme.example", "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let mail = app.deliver().await;
    let (_, eml) = mail
        .iter()
        .find(|(to, _)| to.contains("alice@acme.example"))
        .unwrap();
    let token = crate::support::token_from_email(eml, &app.base);
    let resp = Client::new()
        .post(app.url(&format!("/api/v1/invitations/{token}/accept")))
        .json(&json!({ "password": "a fresh passphrase here", "password_confirmation": "a fresh passphrase here" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        sso_browser
            .get(app.url("/orgs/acme"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER,
        "the provider's session ended"
    );
    // She now belongs to two organizations: Acme's provider no longer speaks for her.
    let resp = sso(&app, &browser(), "newcomer@acme.example", "alice").await;
    refused(resp, StatusCode::UNAUTHORIZED, "sso_account_elsewhere").await;
}

#[tokio::test]
async fn an_invitation_from_before_enforcement_is_not_sent_again() {
    let app = spawn_app().await;
    let Some(provider) = provider(&app, None).await else {
        return;
    };
    let ada = connect(&app, &provider, json!({})).await;
    let resp = ada
        .post(
            &app,
            "/api/v1/orgs/acme/invitations",
            json!({ "email": "pat@acme.example", "roles": ["user"] }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let pat: Value = resp.json().await.unwrap();
    let resp = ada
        .send(&app, Method::PUT, "/api/v1/orgs/acme/sso", Some(json!({
            "issuer": provider.issuer, "client_id": CLIENT_ID, "domains": ["acme.example"], "default_role": "user", "enforce": true,
        })))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the secret is kept for the same provider"
    );
    app.clock.advance(chrono::Duration::seconds(60));
    let resp = ada
        .post(
            &app,
            &format!(
                "/api/v1/orgs/acme/members/{}/invitation/resend",
                pat["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    problem(resp, StatusCode::CONFLICT, "sso_enforced").await;
}
