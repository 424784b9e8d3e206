//! *My profile* (`/profile`), driven like a browser without JavaScript: each form's change,
//! its refusals (which change nothing), its form token, and what the page shows after.

use crate::support::{browser, csrf_field, spawn_app, Person, TestApp};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use roster_core::clock::Clock;
use roster_core::email::Email;
use roster_core::model::{BuiltinRole, Membership, MembershipStatus};
use roster_core::names::Slug;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const ADA: &str = "ada@acme.example";
const PW: &str = "correct horse battery";
const NEW_PW: &str = "quiet meadow telescope";

/// Ada, admin of Acme: the session `admin()` opened, and a browser signed in beside it.
async fn ada(app: &TestApp) -> (Person, Client) {
    let api = app.admin("Acme", ADA, PW).await;
    let c = signed_in(app, ADA, PW).await;
    (api, c)
}

/// A browser (cookies kept, redirects not followed) signed in through the API.
async fn signed_in(app: &TestApp, email: &str, password: &str) -> Client {
    let c = browser();
    let resp = app.sign_in_raw(&c, email, password).await;
    assert_eq!(resp.status(), 200, "sign-in of {email}");
    c
}

async fn open(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let resp = c.get(app.url(path)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn submit(app: &TestApp, c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
    c.post(app.url(path)).form(fields).send().await.unwrap()
}

/// Posts `fields` with the form token of the profile page.
async fn post(app: &TestApp, c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
    let (status, html) = open(app, c, "/profile").await;
    assert_eq!(status, 200, "{html}");
    let csrf = csrf_field(&html);
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    submit(app, c, path, &all).await
}

fn location(resp: &Response) -> &str {
    resp.headers()[LOCATION].to_str().unwrap()
}

async fn api_json(app: &TestApp, c: &Client, path: &str) -> (StatusCode, Value) {
    let resp = c.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, c: &Client) -> Value {
    let (status, body) = api_json(app, c, "/api/v1/me").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn signed_in_still(app: &TestApp, c: &Client) -> bool {
    c.get(app.url("/api/v1/me")).send().await.unwrap().status() == 200
}

async fn password_is(app: &TestApp, email: &str, password: &str) -> bool {
    app.sign_in_raw(&Client::new(), email, password)
        .await
        .status()
        == 200
}

async fn notifications(app: &TestApp, c: &Client, org: &str) -> Value {
    let (status, body) = api_json(
        app,
        c,
        &format!("/api/v1/orgs/{org}/members/me/notifications"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The opening tag of the first element whose tag contains `needle`.
fn tag<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

fn checked(html: &str, needle: &str) -> bool {
    tag(html, needle).contains(" checked")
}

/// What the accessibility check looks for: ids are unique, and every visible form control
/// has a `<label for>` naming its id.
fn labelled_with_unique_ids(html: &str) {
    let ids: Vec<&str> = html
        .split(" id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids in {ids:?}");
    let mut controls = 0;
    for piece in html.split('<') {
        let is_control = ["input ", "select ", "textarea "]
            .iter()
            .any(|t| piece.starts_with(t));
        if !is_control || piece.starts_with("input type=\"hidden\"") {
            continue;
        }
        controls += 1;
        let id = piece
            .split(" id=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("a control without an id: <{piece}"))
            .split('"')
            .next()
            .unwrap();
        assert!(
            html.contains(&format!("<label for=\"{id}\"")),
            "no label for {id}"
        );
    }
    assert!(controls > 0);
}

/// Gives an existing identity an active membership of another organization, straight
/// through the store.
async fn join(app: &TestApp, org_slug: &str, email: &str, roles: &[BuiltinRole]) {
    let mut tx = app.roster.store.begin().await.unwrap();
    let org = tx
        .org_by_slug(&Slug::parse(org_slug).unwrap())
        .await
        .unwrap()
        .unwrap();
    let identity = tx
        .identity_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let m = Membership::new(
        org.id,
        identity.id,
        MembershipStatus::Active,
        roles.iter().copied(),
        app.clock.now(),
    );
    tx.insert_membership(&m).await.unwrap();
    tx.commit().await.unwrap();
}

async fn post_task(app: &TestApp, admin: &Person, category: &str, label: &str) {
    let resp = admin
        .post(
            app,
            "/api/v1/orgs/acme/tasks",
            json!({ "category": category, "category_label": label, "title": format!("A {label} task") }),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn the_profile_needs_a_session() {
    let app = spawn_app().await;
    app.admin("Acme", ADA, PW).await;
    let c = browser();
    let resp = c.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/sign-in?next=/profile");
    for path in [
        "/profile",
        "/profile/password",
        "/profile/email",
        "/profile/sessions/end-others",
        "/profile/notifications/acme",
        "/profile/leave/acme",
    ] {
        let resp = submit(&app, &c, path, &[("csrf_token", "x"), ("name", "Eve")]).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&resp), "/sign-in", "{path}");
    }
}

#[tokio::test]
async fn the_page_shows_the_person_their_sessions_and_organizations() {
    let app = spawn_app().await;
    let (_api, c) = ada(&app).await;
    app.admin("Globex", "gil@globex.example", PW).await;
    join(&app, "globex", ADA, &[BuiltinRole::User]).await;

    let (status, html) = open(&app, &c, "/profile").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>My profile</h1>"));
    for h in [
        "Profile",
        "Password",
        "Email",
        "Sessions",
        "Notifications",
        "Leave organization",
    ] {
        assert!(html.contains(&format!("\">{h}</h2>")), "heading {h}");
    }
    for label in [
        "Name",
        "Time zone",
        "Locale",
        "Current password",
        "New password",
        "Confirm new password",
        "New email",
    ] {
        assert!(
            html.contains(&format!("\">{label}</label>")),
            "label {label}"
        );
    }
    for button in [
        "Save profile",
        "Change password",
        "Change email",
        "Sign out other sessions",
        "Save notifications",
    ] {
        assert!(html.contains(&format!(">{button}</button>")), "{button}");
    }
    assert!(html.contains("You sign in with <strong>ada@acme.example</strong>"));
    // Two sessions (the invitation's and this browser's): one is this one, the other can
    // be signed out.
    assert_eq!(html.matches(">This session</span>").count(), 1);
    assert_eq!(html.matches("/end\">").count(), 1, "{html}");
    assert!(html.contains("aria-current=\"page\">My profile</a>"));
    // Both organizations, each with its own notification form and leave dialog.
    assert!(html.contains("action=\"/profile/notifications/acme\""));
    assert!(html.contains("action=\"/profile/notifications/globex\""));
    assert!(html.contains("data-dialog=\"leave-dialog--acme\">Leave Acme</a>"));
    assert!(html.contains("data-dialog=\"leave-dialog--globex\">Leave Globex</a>"));
    assert!(html.contains(
        "If you wish to stop receiving all notifications, simply deselect all categories."
    ));
    labelled_with_unique_ids(&html);
    // Every state-changing form carries the session's form token.
    assert_eq!(
        html.matches("method=\"post\"").count(),
        html.matches("name=\"csrf_token\"").count()
    );

    // The sidebar's organization stays, and narrows the organizations' sections to it.
    let (status, html) = open(&app, &c, "/profile?org=globex").await;
    assert_eq!(status, 200);
    assert!(html.contains("<div class=\"brand\">Globex</div>"));
    assert!(html.contains("action=\"/profile/notifications/globex?org=globex\""));
    assert!(!html.contains("/profile/notifications/acme"));
    assert!(html.contains("action=\"/profile?org=globex\""));
    labelled_with_unique_ids(&html);
    let (status, _) = open(&app, &c, "/profile?org=initech").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A `done` code shows its fixed sentence; anything else shows nothing of the query.
    let (_, html) = open(&app, &c, "/profile?done=%3Cb%3Ehi%3C%2Fb%3E").await;
    assert!(!html.contains("class=\"notice\"") && !html.contains("hi</b>"));
    let (_, html) = open(&app, &c, "/profile?done=profile").await;
    assert!(html.contains("<p class=\"notice\" role=\"status\">Your profile was saved.</p>"));
}

#[tokio::test]
async fn saving_the_profile_and_a_bad_time_zone() {
    let app = spawn_app().await;
    let (_api, c) = ada(&app).await;

    let resp = post(
        &app,
        &c,
        "/profile",
        &[
            ("name", " Ada Lovelace "),
            ("timezone", "Europe/Paris"),
            ("locale", "fr-FR"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?done=profile");
    let identity = &me(&app, &c).await["identity"];
    assert_eq!(identity["name"], "Ada Lovelace");
    assert_eq!(identity["timezone"], "Europe/Paris");
    assert_eq!(identity["locale"], "fr-FR");
    let (_, html) = open(&app, &c, "/profile?done=profile").await;
    assert!(html.contains("Your profile was saved."));
    assert!(tag(&html, "id=\"profile-name\"").contains("value=\"Ada Lovelace\""));
    assert!(tag(&html, "id=\"profile-locale\"").contains("value=\"fr-FR\""));

    // Refusals show the API's sentence, keep what was typed, and change nothing.
    for (field, value, sentence) in [
        (
            "timezone",
            "Mars/Olympus_Mons",
            "timezone must be an IANA time zone",
        ),
        ("locale", "not a locale", "locale must be a language tag"),
    ] {
        let mut fields = vec![
            ("name", "Someone Else"),
            ("timezone", "UTC"),
            ("locale", "en"),
        ];
        fields.retain(|(f, _)| *f != field);
        fields.push((field, value));
        let resp = post(&app, &c, "/profile", &fields).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(sentence), "{html}");
        assert!(html.contains("role=\"alert\""));
        assert!(tag(&html, "id=\"profile-name\"").contains("value=\"Someone Else\""));
        let identity = &me(&app, &c).await["identity"];
        assert_eq!(identity["name"], "Ada Lovelace");
        assert_eq!(identity["timezone"], "Europe/Paris");
        assert_eq!(identity["locale"], "fr-FR");
    }

    // From a page of an organization, back to it; blank fields clear.
    let (_, html) = open(&app, &c, "/profile?org=acme").await;
    let csrf = csrf_field(&html);
    let resp = submit(
        &app,
        &c,
        "/profile?org=acme",
        &[
            ("csrf_token", &csrf),
            ("name", "Ada"),
            ("timezone", ""),
            ("locale", ""),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?org=acme&done=profile");
    let identity = &me(&app, &c).await["identity"];
    assert_eq!(identity["name"], "Ada");
    assert_eq!(identity["timezone"], Value::Null);
    assert_eq!(identity["locale"], Value::Null);
}

#[tokio::test]
async fn changing_the_password_keeps_this_browser_signed_in_and_ends_the_others() {
    let app = spawn_app().await;
    let (api, c) = ada(&app).await;

    let resp = post(
        &app,
        &c,
        "/profile/password",
        &[
            ("current_password", PW),
            ("new_password", NEW_PW),
            ("new_password_confirmation", NEW_PW),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?done=password");
    assert!(resp.headers().get(SET_COOKIE).is_some(), "a new session");
    let (status, html) = open(&app, &c, "/profile?done=password").await;
    assert_eq!(status, 200);
    assert!(html.contains("Your password was changed."));
    assert!(html.contains("This is your only session."));
    assert!(signed_in_still(&app, &c).await);
    assert!(!signed_in_still(&app, &api.client).await);
    assert!(password_is(&app, ADA, NEW_PW).await);
    assert!(!password_is(&app, ADA, PW).await);
}

#[tokio::test]
async fn password_refusals_show_their_sentence_and_change_nothing() {
    let app = spawn_app().await;
    let (api, c) = ada(&app).await;

    for (current, new, confirm, status, sentence) in [
        (
            PW,
            NEW_PW,
            "quiet meadow telescopes",
            StatusCode::BAD_REQUEST,
            "The new password and its confirmation do not match.",
        ),
        (
            "wrong horse battery",
            NEW_PW,
            NEW_PW,
            StatusCode::FORBIDDEN,
            "The current password is not right.",
        ),
        (
            PW,
            "short",
            "short",
            StatusCode::BAD_REQUEST,
            "Use at least 12 characters.",
        ),
        (
            PW,
            "ada@acme.example 42",
            "ada@acme.example 42",
            StatusCode::BAD_REQUEST,
            "Don&#x27;t use your email address in your password.",
        ),
    ] {
        let resp = post(
            &app,
            &c,
            "/profile/password",
            &[
                ("current_password", current),
                ("new_password", new),
                ("new_password_confirmation", confirm),
            ],
        )
        .await;
        assert_eq!(resp.status(), status, "{sentence}");
        assert!(resp.headers().get(SET_COOKIE).is_none());
        let html = resp.text().await.unwrap();
        assert!(html.contains(sentence), "{sentence}: {html}");
        assert!(
            !html.contains(current) || current == PW,
            "a password is never shown"
        );
        assert!(password_is(&app, ADA, PW).await);
        assert!(signed_in_still(&app, &c).await);
        assert!(signed_in_still(&app, &api.client).await);
    }
}

#[tokio::test]
async fn changing_the_email_sends_a_link_to_the_new_address() {
    let app = spawn_app().await;
    let (_api, c) = ada(&app).await;
    app.deliver().await;

    let resp = post(
        &app,
        &c,
        "/profile/email",
        &[
            ("new_email", "ada.new@acme.example"),
            ("current_password", "wrong horse battery"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let html = resp.text().await.unwrap();
    assert!(html.contains("The current password is not right."));
    assert!(tag(&html, "id=\"email-new\"").contains("value=\"ada.new@acme.example\""));
    assert!(app.deliver().await.is_empty(), "no email");

    let resp = post(
        &app,
        &c,
        "/profile/email",
        &[("new_email", ADA), ("current_password", PW)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("This is already your email address."));

    let resp = post(
        &app,
        &c,
        "/profile/email",
        &[
            ("new_email", "ada.new@acme.example"),
            ("current_password", PW),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(LOCATION).is_none());
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("We sent a confirmation link to ada.new@acme.example."),
        "{html}"
    );
    let sent = app.deliver().await;
    assert!(
        sent.iter()
            .any(|(to, _)| to.contains("ada.new@acme.example")),
        "{sent:?}"
    );
    // Nothing changes until the link is used.
    assert_eq!(me(&app, &c).await["identity"]["email"], ADA);
}

#[tokio::test]
async fn signing_out_a_session_and_the_other_sessions() {
    let app = spawn_app().await;
    let (api, c) = ada(&app).await;
    let phone = signed_in(&app, ADA, PW).await;

    // One session: the phone's, known from the phone itself.
    let (_, sessions) = api_json(&app, &phone, "/api/v1/me/sessions").await;
    let phone_session = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, html) = open(&app, &c, "/profile").await;
    assert_eq!(html.matches("/end\">").count(), 2);
    assert!(html.contains(&format!("action=\"/profile/sessions/{phone_session}/end\"")));
    let resp = post(
        &app,
        &c,
        &format!("/profile/sessions/{phone_session}/end"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?done=session");
    assert!(!signed_in_still(&app, &phone).await);
    assert!(signed_in_still(&app, &api.client).await);
    assert!(signed_in_still(&app, &c).await);
    // Gone already: the API's sentence.
    let resp = post(
        &app,
        &c,
        &format!("/profile/sessions/{phone_session}/end"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Every other session.
    let tablet = signed_in(&app, ADA, PW).await;
    let resp = post(&app, &c, "/profile/sessions/end-others?org=acme", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?org=acme&done=others");
    assert!(!signed_in_still(&app, &tablet).await);
    assert!(!signed_in_still(&app, &api.client).await);
    assert!(signed_in_still(&app, &c).await);
    let (_, html) = open(&app, &c, "/profile?org=acme&done=others").await;
    assert!(html.contains("Your other sessions were signed out."));
    assert!(html.contains("This is your only session."));
    assert!(!html.contains("Sign out other sessions"));

    // Signing out this very session signs this browser out.
    let (_, sessions) = api_json(&app, &c, "/api/v1/me/sessions").await;
    let own = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let resp = post(&app, &c, &format!("/profile/sessions/{own}/end"), &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/sign-in");
    assert!(!signed_in_still(&app, &c).await);
}

#[tokio::test]
async fn notifications_saved_show_on_reload() {
    let app = spawn_app().await;
    let (api, c) = ada(&app).await;
    post_task(&app, &api, "renewals", "Renewals").await;
    post_task(&app, &api, "billing", "Billing").await;

    // Never chosen: weekly, every category.
    let (_, html) = open(&app, &c, "/profile").await;
    assert!(html.contains(">Renewals</label>") && html.contains(">Billing</label>"));
    assert!(checked(&html, "id=\"weekly--acme\""));
    assert!(!checked(&html, "id=\"daily--acme\""));
    assert!(checked(&html, "id=\"all-categories--acme\""));
    assert!(checked(&html, "value=\"renewals\""));
    labelled_with_unique_ids(&html);

    let resp = post(
        &app,
        &c,
        "/profile/notifications/acme",
        &[("frequency", "daily"), ("categories", "renewals")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?done=notifications");
    let (_, html) = open(&app, &c, "/profile?done=notifications").await;
    assert!(html.contains("Your notification settings were saved."));
    assert!(checked(&html, "id=\"daily--acme\""));
    assert!(!checked(&html, "id=\"weekly--acme\""));
    assert!(!checked(&html, "id=\"all-categories--acme\""));
    assert!(checked(&html, "value=\"renewals\""));
    assert!(!checked(&html, "value=\"billing\""));
    let n = notifications(&app, &c, "acme").await;
    assert_eq!(n["frequency"], "daily");
    assert_eq!(n["categories"], json!(["renewals"]));
    assert_eq!(n["all_categories"], false);

    // An unknown category is refused and changes nothing.
    let resp = post(
        &app,
        &c,
        "/profile/notifications/acme",
        &[("frequency", "weekly"), ("categories", "gossip")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("There is no task category gossip in this organization; nothing was changed."));
    assert_eq!(notifications(&app, &c, "acme").await, n);

    // No category: no digest.
    let resp = post(
        &app,
        &c,
        "/profile/notifications/acme",
        &[("frequency", "weekly")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let n = notifications(&app, &c, "acme").await;
    assert_eq!(n["categories"], json!([]));
    assert_eq!(n["all_categories"], false);
    let (_, html) = open(&app, &c, "/profile").await;
    assert!(!checked(&html, "value=\"renewals\""));
    assert!(!checked(&html, "value=\"billing\""));

    // All categories, whatever else is ticked.
    let resp = post(
        &app,
        &c,
        "/profile/notifications/acme",
        &[
            ("frequency", "daily"),
            ("all_categories", "true"),
            ("categories", "billing"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let n = notifications(&app, &c, "acme").await;
    assert_eq!(n["all_categories"], true);
    assert_eq!(n["frequency"], "daily");
    let (_, html) = open(&app, &c, "/profile").await;
    assert!(checked(&html, "id=\"all-categories--acme\""));
}

#[tokio::test]
async fn leaving_an_organization_and_the_last_admin_who_cannot() {
    let app = spawn_app().await;
    let (_api, c) = ada(&app).await;
    app.admin("Globex", "gil@globex.example", PW).await;
    join(&app, "globex", ADA, &[BuiltinRole::User]).await;

    // The confirmation opens without JavaScript when the query asks for it.
    let (_, html) = open(&app, &c, "/profile?confirm=leave-globex").await;
    assert!(tag(&html, "<dialog id=\"leave-dialog--globex\"").contains(" open"));
    assert!(!tag(&html, "<dialog id=\"leave-dialog--acme\"").contains(" open"));
    // An absolute link: it works from the page a refused POST re-renders, too.
    assert!(
        html.contains("href=\"/profile?confirm=leave-globex\""),
        "{html}"
    );
    let (_, html) = open(&app, &c, "/profile?confirm=leave-%3Cscript%3E").await;
    assert!(!html.contains(" open>") && !html.contains("<script>"));
    let (_, html) = open(&app, &c, "/profile?org=globex").await;
    assert!(html.contains("href=\"/profile?org=globex&amp;confirm=leave-globex\""));

    // The last admin of Acme cannot leave it.
    let resp = post(&app, &c, "/profile/leave/acme", &[]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("The organization must keep at least one active admin."));
    assert_eq!(open(&app, &c, "/orgs/acme").await.0, 200);

    // Leaving Globex from its own pages goes back to the profile without it.
    let (_, html) = open(&app, &c, "/profile?org=globex").await;
    let csrf = csrf_field(&html);
    let resp = submit(
        &app,
        &c,
        "/profile/leave/globex?org=globex",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/profile?done=left");
    let (_, html) = open(&app, &c, "/profile?done=left").await;
    assert!(html.contains("You left the organization."));
    assert!(!html.contains("Leave Globex"));
    assert_eq!(
        open(&app, &c, "/orgs/globex").await.0,
        StatusCode::NOT_FOUND
    );
    let memberships = me(&app, &c).await["memberships"].clone();
    assert_eq!(memberships.as_array().unwrap().len(), 1, "{memberships}");

    // Someone leaving their only organization has nowhere left to be signed in.
    app.add_member("acme", "sam@acme.example", PW, &[BuiltinRole::User])
        .await;
    let sam = signed_in(&app, "sam@acme.example", PW).await;
    let resp = post(&app, &sam, "/profile/leave/acme", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/sign-in");
    assert!(!signed_in_still(&app, &sam).await);
}

#[tokio::test]
async fn forms_without_this_sessions_token_change_nothing() {
    let app = spawn_app().await;
    let (api, c) = ada(&app).await;
    app.admin("Globex", "gil@globex.example", PW).await;
    join(&app, "globex", ADA, &[BuiltinRole::User]).await;
    app.deliver().await;
    let other = signed_in(&app, ADA, PW).await;
    let (_, other_page) = open(&app, &other, "/profile").await;
    let other_token = csrf_field(&other_page);
    let (_, sessions) = api_json(&app, &other, "/api/v1/me/sessions").await;
    let other_session = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = notifications(&app, &c, "acme").await;

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/profile".into(), vec![("name", "Mallory")]),
        (
            "/profile/password".into(),
            vec![
                ("current_password", PW),
                ("new_password", NEW_PW),
                ("new_password_confirmation", NEW_PW),
            ],
        ),
        (
            "/profile/email".into(),
            vec![
                ("new_email", "mallory@evil.example"),
                ("current_password", PW),
            ],
        ),
        ("/profile/sessions/end-others".into(), vec![]),
        (format!("/profile/sessions/{other_session}/end"), vec![]),
        (
            "/profile/notifications/acme".into(),
            vec![("frequency", "daily"), ("categories", "")],
        ),
        ("/profile/leave/globex".into(), vec![]),
    ];
    for (path, fields) in &forms {
        for token in [None, Some(""), Some("nope"), Some(other_token.as_str())] {
            let mut all = fields.clone();
            if let Some(t) = token {
                all.push(("csrf_token", t));
            }
            let resp = submit(&app, &c, path, &all).await;
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            assert!(resp.headers().get(SET_COOKIE).is_none());
            assert!(resp.text().await.unwrap().contains("This form has expired"));
        }
    }
    let now = me(&app, &c).await;
    assert_eq!(now["identity"]["name"], Value::Null);
    assert_eq!(now["memberships"].as_array().unwrap().len(), 2);
    assert!(password_is(&app, ADA, PW).await);
    assert!(signed_in_still(&app, &api.client).await);
    assert!(signed_in_still(&app, &other).await);
    assert_eq!(notifications(&app, &c, "acme").await, before);
    assert!(app.deliver().await.is_empty(), "no email");
}
