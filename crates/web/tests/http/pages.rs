//! The invitation page that `roster setup`'s link opens, driven like a browser without
//! JavaScript: GET the page, POST its form with the cookie it set.

use crate::support::{browser, csrf_field, spawn_app, TestApp};
use chrono::Duration;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

async fn open(app: &TestApp, c: &Client, token: &str) -> (StatusCode, String) {
    let resp = c
        .get(app.url(&format!("/invitations/{token}")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(resp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        resp.headers()["referrer-policy"],
        "no-referrer",
        "the token must not leak via Referer"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn a_new_person_joins_through_the_page_and_lands_signed_in() {
    join_through_the_page(spawn_app().await).await;
}

#[tokio::test]
async fn a_new_person_joins_through_the_page_on_postgres() {
    let Some(app) = crate::support::spawn_app_postgres().await else {
        return;
    };
    join_through_the_page(app).await;
}

async fn join_through_the_page(app: TestApp) {
    let token = app
        .setup_and_read_invitation("Acme <Tools>", "ada@acme.example")
        .await;
    let c = browser();
    let (status, html) = open(&app, &c, &token).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<h1>Join Acme &lt;Tools&gt; team</h1>"),
        "escaped org name: {html}"
    );
    assert!(
        html.contains("value=\"ada@acme.example\" disabled"),
        "email shown, not editable"
    );
    assert!(html.contains("Confirm password"));
    let csrf = csrf_field(&html);

    let post = |pw: &str, confirm: &str, csrf: &str| {
        c.post(app.url(&format!("/invitations/{token}")))
            .form(&[
                ("csrf_token", csrf),
                ("password", pw),
                ("password_confirmation", confirm),
            ])
            .send()
    };
    // Without the matching token nothing happens.
    let resp = Client::new()
        .post(app.url(&format!("/invitations/{token}")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "correct horse battery"),
            ("password_confirmation", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no CSRF cookie");
    let resp = post("correct horse battery", "correct horse battery", "forged")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "wrong CSRF token");

    // Refusals are shown on the page as sentences.
    let resp = post("correct horse battery", "correct horse batterY", &csrf)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.unwrap();
    assert!(html.contains("The passwords do not match."), "{html}");
    let csrf = csrf_field(&html);
    let resp = post("short", "short", &csrf).await.unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("Use at least 12 characters."), "{html}");
    let csrf = csrf_field(&html);

    let resp = post("correct horse battery", "correct horse battery", &csrf)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // Lands on the organization's page.
    assert_eq!(resp.headers()[LOCATION], "/orgs/acme-tools");
    let cookies: Vec<_> = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("roster_session=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );

    let landing = c.get(app.url("/orgs/acme-tools")).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    let landing = landing.text().await.unwrap();
    assert!(landing.contains("<h1>Acme &lt;Tools&gt;</h1>"), "{landing}");
    assert!(landing.contains("Your roles here: admin."), "{landing}");
    let home = c
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("signed in as <strong>ada@acme.example</strong>"),
        "{home}"
    );
    assert!(
        home.contains(">Acme &lt;Tools&gt;</a> (admin)"),
        "the home page links to the console: {home}"
    );
    let me = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);

    // The link is spent.
    let (status, html) = open(&app, &browser(), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("This invitation link is not valid"));
}

#[tokio::test]
async fn an_expired_link_says_so_and_who_can_resend_it() {
    let app = spawn_app().await;
    let token = app
        .setup_and_read_invitation("Acme", "ada@acme.example")
        .await;
    let c = browser();
    let (_, html) = open(&app, &c, &token).await;
    let csrf = csrf_field(&html);
    app.clock.advance(Duration::hours(73));
    let (status, html) = open(&app, &c, &token).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("This invitation has expired"));
    assert!(html.contains("An admin of Acme can resend it"));
    let resp = c
        .post(app.url(&format!("/invitations/{token}")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "correct horse battery"),
            ("password_confirmation", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::GONE);
    let (status, _) = open(&app, &c, "inv_nonsense").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Behind TLS every cookie is `__Host-` prefixed and `Secure`, including the removal of the
/// form's CSRF cookie (a browser ignores a non-`Secure` removal of a `__Host-` cookie).
#[tokio::test]
async fn behind_tls_cookies_are_host_prefixed_and_secure() {
    let app = crate::support::spawn_secure_app().await;
    let token = app
        .setup_and_read_invitation("Acme", "ada@acme.example")
        .await;
    let resp = Client::new()
        .get(app.url(&format!("/invitations/{token}")))
        .send()
        .await
        .unwrap();
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-roster_form_csrf="), "{set}");
    assert!(
        set.contains("; Secure") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    let form_cookie = set.split(';').next().unwrap().to_owned();
    let csrf = csrf_field(&resp.text().await.unwrap());

    let resp = Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(app.url(&format!("/invitations/{token}")))
        .header("cookie", form_cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("password", "correct horse battery"),
            ("password_confirmation", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-roster_session="))
        .expect("a session cookie");
    assert!(
        session.contains("; Secure")
            && session.contains("HttpOnly")
            && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Domain="), "{session}");
    let cleared = cookies
        .iter()
        .find(|c| c.starts_with("__Host-roster_form_csrf=;"))
        .expect("the form cookie removed");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
}
