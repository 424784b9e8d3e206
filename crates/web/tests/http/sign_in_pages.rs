//! The sign-in pages, driven like a browser without JavaScript.

use crate::support::{browser, csrf_field, link_token, spawn_app, TestApp};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use roster_core::model::BuiltinRole;

const ADMIN_PW: &str = "correct horse battery";
const NEW_PW: &str = "quiet meadow telescope";

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

#[tokio::test]
async fn signing_in_and_out_through_the_pages() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let c = browser();

    let (status, html) = page(&app, &c, "/sign-in?next=/invitations/inv_x").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Sign in</h1>") && html.contains("Forgot password?"));
    let csrf = csrf_field(&html);

    // A refused sign-in shows its diagnostics: code, meaning, who can fix it, time, email,
    // and a reference to quote — the same for an unknown email.
    let resp = submit(
        &app,
        &c,
        "/sign-in",
        &[
            ("csrf_token", &csrf),
            ("email", "ada@acme.example"),
            ("password", "nope"),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<code>invalid_credentials</code>"), "{html}");
    assert!(html.contains("Who can fix it") && html.contains("Reference"));
    assert!(html.contains("ada@acme.example"));
    let reference = html
        .split("<dt>Reference</dt><dd><code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(reference.len(), 9, "{reference}");

    // An unknown email gets the same page, but for the per-request fields.
    let strip = |html: &str, email: &str| {
        let mut out = String::new();
        for line in html.lines() {
            if line.contains("<dt>Time</dt>") || line.contains("<dt>Reference</dt>") {
                continue;
            }
            out.push_str(
                &line
                    .replace(email, "EMAIL")
                    .replace(&csrf_field(html), "CSRF"),
            );
            out.push('\n');
        }
        out
    };
    let csrf2 = csrf_field(&html);
    let unknown = submit(
        &app,
        &c,
        "/sign-in",
        &[
            ("csrf_token", &csrf2),
            ("email", "nobody@acme.example"),
            ("password", "nope"),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();
    assert_eq!(
        strip(&unknown, "nobody@acme.example"),
        strip(&html, "ada@acme.example")
    );
    let html = unknown;

    // Without the form's token nothing happens.
    let resp = submit(
        &app,
        &Client::new(),
        "/sign-in",
        &[
            ("csrf_token", &csrf),
            ("email", "ada@acme.example"),
            ("password", ADMIN_PW),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Signed in, the person lands where they were going — on this site only.
    let csrf = csrf_field(&html);
    let resp = submit(
        &app,
        &c,
        "/sign-in",
        &[
            ("csrf_token", &csrf),
            ("email", "ada@acme.example"),
            ("password", ADMIN_PW),
            ("next", "//evil.test/phish"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/");
    let (_, home) = page(&app, &c, "/").await;
    assert!(
        home.contains("signed in as <strong>ada@acme.example</strong>"),
        "{home}"
    );
    assert_eq!(
        c.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200
    );

    // Sign out from the home page's form.
    let csrf = csrf_field(&home);
    let resp = submit(&app, &c, "/sign-out", &[("csrf_token", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        c.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn forgot_and_reset_through_the_pages() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.add_member(
        "acme",
        "bob@acme.example",
        "staple lantern orbit",
        &[BuiltinRole::User],
    )
    .await;
    app.deliver().await;
    let c = browser();

    // The same page whether or not the address exists.
    let ask = |email: &'static str| {
        let c = c.clone();
        let app = &app;
        async move {
            let (_, html) = page(app, &c, "/password-reset").await;
            let csrf = csrf_field(&html);
            let resp = submit(
                app,
                &c,
                "/password-reset",
                &[("csrf_token", &csrf), ("email", email)],
            )
            .await;
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let known = ask("ada@acme.example").await;
    let unknown = ask("nobody@acme.example").await;
    assert_eq!(known, unknown);
    assert!(known.1.contains("Check your email"));
    let mails = app.deliver().await;
    assert_eq!(mails.len(), 1);
    let token = link_token(&mails[0].1, &app.base, "/password-reset/");

    // The link's page names the account and refuses weak passwords inline.
    let path = format!("/password-reset/{token}");
    let (status, html) = page(&app, &c, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"ada@acme.example\""));
    let csrf = csrf_field(&html);
    let resp = submit(
        &app,
        &c,
        &path,
        &[
            ("csrf_token", &csrf),
            ("password", "short"),
            ("password_confirmation", "short"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Use at least 12 characters."), "{html}");
    let csrf = csrf_field(&html);
    let resp = submit(
        &app,
        &c,
        &path,
        &[
            ("csrf_token", &csrf),
            ("password", NEW_PW),
            ("password_confirmation", NEW_PW),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("roster_session=")),
        "no sign-in"
    );
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Your password is changed"));
    let (status, html) = page(&app, &c, &path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link is not valid"));
    assert_eq!(
        app.sign_in_raw(&Client::new(), "ada@acme.example", NEW_PW)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_email_change_link_changes_nothing_until_confirmed() {
    let app = spawn_app().await;
    let ada = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.deliver().await;
    let resp = ada
        .post(
            &app,
            "/api/v1/me/email",
            serde_json::json!({ "new_email": "ada@new.example", "current_password": ADMIN_PW }),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let mails = app.deliver().await;
    let confirm = &mails
        .iter()
        .find(|(to, _)| to.contains("ada@new.example"))
        .unwrap()
        .1;
    let token = link_token(confirm, &app.base, "/email-change/");
    let path = format!("/email-change/{token}");
    let c = browser();
    // Opening the link (as a mail scanner would) changes nothing.
    let (status, html) = page(&app, &c, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("ada@new.example"));
    let (status, html) = page(&app, &c, &path).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(ada.get(&app, "/api/v1/me").await.status(), 200);
    let resp = submit(&app, &c, &path, &[("csrf_token", &csrf_field(&html))]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Your email is changed"));
    assert_eq!(ada.get(&app, "/api/v1/me").await.status(), 401);
    app.sign_in("ada@new.example", ADMIN_PW).await;
}
