//! Sign-in, throttling, diagnostics and sessions, through the HTTP API with the manual clock.

use crate::support::{
    comparable_headers, problem, spawn_app, spawn_app_postgres, spawn_app_with_options,
    spawn_two_postgres, AppOptions, TestApp,
};
use chrono::Duration;
use reqwest::header::{RETRY_AFTER, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use roster_core::model::{BuiltinRole, MembershipStatus};
use serde_json::{json, Value};

const ADMIN_PW: &str = "correct horse battery";
const MEMBER_PW: &str = "staple lantern orbit";

/// Everything that varies per request (reference, time) taken out of a problem body.
fn without_per_request_fields(mut body: Value) -> Value {
    let d = body["diagnostics"].as_object_mut().unwrap();
    assert!(d.remove("reference").unwrap().is_string());
    assert!(d.remove("time").unwrap().is_string());
    body
}

#[tokio::test]
async fn sign_in_answers_and_diagnostics() {
    sign_in_answers(spawn_app().await).await;
}

#[tokio::test]
async fn sign_in_answers_and_diagnostics_on_postgres() {
    let Some(app) = spawn_app_postgres().await else {
        return;
    };
    sign_in_answers(app).await;
}

async fn sign_in_answers(app: TestApp) {
    let admin = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = app
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    app.add_member(
        "acme",
        "nora@acme.example",
        MEMBER_PW,
        &[BuiltinRole::Notifications],
    )
    .await;
    // An identity with no password yet: invited to a second organization, never accepted.
    app.setup_and_read_invitation("Globex", "gil@globex.example")
        .await;
    let c = Client::new();

    // Unknown email, wrong password, deactivated, no password: one answer.
    let wrong = app
        .sign_in_raw(&c, "bob@acme.example", "not the password")
        .await;
    let wrong_headers = wrong.headers().clone();
    let wrong = problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong["diagnostics"]["email"], "bob@acme.example");
    assert!(wrong["diagnostics"]["meaning"].is_string());
    assert!(wrong["diagnostics"]["who_can_fix"].is_string());
    let unknown = app
        .sign_in_raw(&c, "nobody@acme.example", "not the password")
        .await;
    let unknown_headers = unknown.headers().clone();
    let unknown = problem(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let mut same_email = unknown.clone();
    same_email["diagnostics"]["email"] = json!("bob@acme.example");
    assert_eq!(
        without_per_request_fields(same_email),
        without_per_request_fields(wrong.clone()),
        "unknown email and wrong password answer byte for byte alike"
    );
    assert_eq!(
        comparable_headers(&wrong_headers),
        comparable_headers(&unknown_headers)
    );
    let no_password = app
        .sign_in_raw(&c, "gil@globex.example", "not the password")
        .await;
    let mut no_password =
        problem(no_password, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    no_password["diagnostics"]["email"] = json!("bob@acme.example");
    assert_eq!(
        without_per_request_fields(no_password),
        without_per_request_fields(wrong.clone()),
        "no password yet answers like a wrong password"
    );

    // Notifications-only: told so only once the password is right.
    let resp = app
        .sign_in_raw(&c, "nora@acme.example", "wrong wrong wrong")
        .await;
    problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let resp = app.sign_in_raw(&c, "nora@acme.example", MEMBER_PW).await;
    problem(resp, StatusCode::FORBIDDEN, "notifications_only").await;

    // The right password works, case-insensitively on the email, and sets the cookie.
    let jar = Client::builder().cookie_store(true).build().unwrap();
    let resp = app.sign_in_raw(&jar, "Bob@ACME.example", MEMBER_PW).await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("roster_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["memberships"][0]["roles"], json!(["user"]));
    assert!(body["csrf_token"].as_str().unwrap().len() >= 22);
    assert!(!body.to_string().contains("argon2"));
    assert_eq!(
        jar.get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Signing in again from the same browser ends the session it had.
    let old_cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(
        app.sign_in_raw(&jar, "bob@acme.example", MEMBER_PW)
            .await
            .status(),
        200
    );
    let replay = Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    problem(replay, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Deactivated everywhere: the same answer as a wrong password, and the open session ends.
    app.set_status(
        "acme",
        bob,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    let resp = jar.get(app.url("/api/v1/me")).send().await.unwrap();
    problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = app.sign_in_raw(&c, "bob@acme.example", MEMBER_PW).await;
    let deactivated = problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        without_per_request_fields(deactivated),
        without_per_request_fields(wrong.clone())
    );

    // Admins see the precise codes, with the reference the person was shown.
    let attempts: Value = admin
        .get(
            &app,
            &format!("/api/v1/orgs/acme/members/{bob}/sign-in-attempts"),
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
    assert_eq!(
        codes,
        [
            "membership_deactivated",
            "succeeded",
            "succeeded",
            "wrong_password"
        ],
        "newest first"
    );
    let refs: Vec<&str> = attempts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap())
        .collect();
    assert!(refs.contains(&wrong["diagnostics"]["reference"].as_str().unwrap()));
    assert_eq!(attempts["items"][3]["public_code"], "invalid_credentials");
    assert_eq!(attempts["items"][3]["client_ip"], "127.0.0.1");

    // A member without users.manage cannot read them; another organization's member is
    // not there at all.
    let alice = app
        .add_member(
            "acme",
            "alice@acme.example",
            MEMBER_PW,
            &[BuiltinRole::User],
        )
        .await;
    let alice_session = app.sign_in("alice@acme.example", MEMBER_PW).await;
    let resp = alice_session
        .get(
            &app,
            &format!("/api/v1/orgs/acme/members/{alice}/sign-in-attempts"),
        )
        .await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = admin
        .get(&app, "/api/v1/orgs/globex/members/me/sign-in-attempts")
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;

    // Every sign-in leaves an audit event, without the password.
    let events = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .list_audit(&roster_core::model::AuditQuery {
            action: Some("sign_in.failed".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events.len() >= 5, "{events:?}");
    let all = format!("{events:?}");
    assert!(!all.contains("not the password") && !all.contains(MEMBER_PW));
}

#[tokio::test]
async fn sign_in_is_throttled_per_email_and_per_address() {
    let app = spawn_app_with_options(AppOptions {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..AppOptions::default()
    })
    .await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    app.add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let c = Client::new();
    let attempt = |email: &'static str, password: &'static str, from: String| {
        c.post(app.url("/api/v1/auth/sign-in"))
            .header("x-forwarded-for", from)
            .json(&json!({ "email": email, "password": password }))
            .send()
    };

    // Per email: ten failures from ten addresses, then even the right password waits.
    for i in 0..10 {
        let resp = attempt("bob@acme.example", "wrong", format!("198.51.100.{i}"))
            .await
            .unwrap();
        problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let resp = attempt("bob@acme.example", MEMBER_PW, "198.51.100.77".into())
        .await
        .unwrap();
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    // Another person is not affected.
    let resp = attempt("ada@acme.example", ADMIN_PW, "198.51.100.78".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The throttle is temporary.
    app.clock.advance(Duration::minutes(15));
    let resp = attempt("bob@acme.example", MEMBER_PW, "198.51.100.79".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A success clears the count (it does not merely take itself back): nine failures,
    // a success, nine more failures, and the right password still works.
    app.clock.advance(Duration::minutes(15));
    for round in 0..2 {
        for i in 0..9 {
            let resp = attempt("bob@acme.example", "wrong", format!("198.51.{round}.{i}"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 401);
        }
        let resp = attempt("bob@acme.example", MEMBER_PW, format!("198.51.{round}.99"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "round {round}");
    }

    // Per address: ten failures for ten different emails from one address.
    app.clock.advance(Duration::minutes(15));
    for i in 0..10 {
        let email: &'static str = Box::leak(format!("guess{i}@acme.example").into_boxed_str());
        let resp = attempt(email, "wrong", "203.0.113.7".into()).await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let resp = attempt("ada@acme.example", ADMIN_PW, "203.0.113.7".into())
        .await
        .unwrap();
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    let resp = attempt("ada@acme.example", ADMIN_PW, "203.0.113.8".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "other addresses are not affected");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_cannot_dodge_the_throttle() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let c = Client::new();
    for i in 0..10 {
        let resp = c
            .post(app.url("/api/v1/auth/sign-in"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "email": format!("guess{i}@acme.example"), "password": "wrong" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    let resp = c
        .post(app.url("/api/v1/auth/sign-in"))
        .header("x-forwarded-for", "198.51.100.200")
        .json(&json!({ "email": "ada@acme.example", "password": ADMIN_PW }))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
}

/// Fifty guesses at once: each is counted, and no more than ten are ever checked.
#[tokio::test]
async fn parallel_guesses_are_all_counted_and_none_passes_the_limit() {
    let app = spawn_app_with_options(AppOptions {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..AppOptions::default()
    })
    .await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let c = Client::new();
    let mut tasks = vec![];
    for i in 0..50 {
        let c = c.clone();
        let url = app.url("/api/v1/auth/sign-in");
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .json(&json!({ "email": "ada@acme.example", "password": "wrong guess" }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut unauthorized = 0;
    let mut throttled = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((unauthorized, throttled), (10, 40));
    let state = app
        .roster
        .store
        .reads()
        .await
        .unwrap()
        .throttle("sign_in_email", "ada@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.count, 50);
}

#[tokio::test]
async fn sessions_time_out_idle_and_absolute_and_per_organization() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;

    // Idle: 8 hours without a request.
    let s = app.sign_in("ada@acme.example", ADMIN_PW).await;
    app.clock
        .advance(Duration::hours(7) + Duration::minutes(59));
    assert_eq!(s.get(&app, "/api/v1/me").await.status(), 200);
    app.clock.advance(Duration::hours(8));
    problem(
        s.get(&app, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // Absolute: 7 days, however active.
    let s = app.sign_in("ada@acme.example", ADMIN_PW).await;
    for _ in 0..23 {
        app.clock.advance(Duration::hours(7));
        assert_eq!(s.get(&app, "/api/v1/me").await.status(), 200);
    }
    app.clock.advance(Duration::hours(7));
    problem(
        s.get(&app, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // The organization shortens the idle timeout: sessions started afterwards follow it.
    let s = app.sign_in("ada@acme.example", ADMIN_PW).await;
    let resp = s
        .send(
            &app,
            Method::PATCH,
            "/api/v1/orgs/acme",
            Some(json!({ "settings": { "session_idle_timeout_minutes": 30 } })),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let s = app.sign_in("ada@acme.example", ADMIN_PW).await;
    app.clock.advance(Duration::minutes(29));
    assert_eq!(s.get(&app, "/api/v1/me").await.status(), 200);
    app.clock.advance(Duration::minutes(30));
    assert_eq!(s.get(&app, "/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn own_sessions_are_listed_and_ended_and_need_csrf() {
    let app = spawn_app().await;
    let first = app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let second = app.sign_in("ada@acme.example", ADMIN_PW).await;
    app.add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::User])
        .await;
    let bob = app.sign_in("bob@acme.example", MEMBER_PW).await;

    let list: Value = second
        .get(&app, "/api/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let first_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without the CSRF token a cookie caller changes nothing.
    let resp = second
        .client
        .delete(app.url(&format!("/api/v1/me/sessions/{first_id}")))
        .send()
        .await
        .unwrap();
    problem(resp, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_eq!(first.get(&app, "/api/v1/me").await.status(), 200);
    // Another person's session is not found.
    let resp = bob
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/sessions/{first_id}"),
            None,
        )
        .await;
    problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(first.get(&app, "/api/v1/me").await.status(), 200);

    let resp = second
        .send(
            &app,
            Method::DELETE,
            &format!("/api/v1/me/sessions/{first_id}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    problem(
        first.get(&app, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(second.get(&app, "/api/v1/me").await.status(), 200);

    // The cookie JSON API refuses form bodies (no simple cross-site POST).
    let resp = second
        .client
        .post(app.url("/api/v1/me/password"))
        .header("x-csrf-token", &second.csrf)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("current_password=x&new_password=y")
        .send()
        .await
        .unwrap();
    problem(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

/// Two instances on one database: whatever one instance changes, the other enforces on the
/// very next request.
#[tokio::test]
async fn revocation_and_role_changes_apply_on_every_instance_at_once() {
    let Some((a, b)) = spawn_two_postgres().await else {
        return;
    };
    a.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let bob = a
        .add_member("acme", "bob@acme.example", MEMBER_PW, &[BuiltinRole::Admin])
        .await;

    // A session started on instance A works on B, and ends on B when A ends it.
    let on_a = a.sign_in("bob@acme.example", MEMBER_PW).await;
    let other = a.sign_in("bob@acme.example", MEMBER_PW).await;
    assert_eq!(on_a.get(&b, "/api/v1/me").await.status(), 200);
    let sessions: Value = other
        .get(&a, "/api/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    let on_a_id = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = other
        .send(
            &a,
            Method::DELETE,
            &format!("/api/v1/me/sessions/{on_a_id}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(on_a.get(&b, "/api/v1/me").await.status(), 401);

    // A changed role: the admin's open session loses admin rights at once on B.
    let patch = json!({ "settings": { "invitation_lifetime_hours": 48 } });
    let resp = other
        .send(&b, Method::PATCH, "/api/v1/orgs/acme", Some(patch.clone()))
        .await;
    assert_eq!(resp.status(), 200);
    {
        let mut tx = a.roster.store.begin().await.unwrap();
        let org = tx
            .org_by_slug(&roster_core::names::Slug::parse("acme").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(tx
            .set_membership_roles(org.id, bob, &[BuiltinRole::User], chrono::Utc::now())
            .await
            .unwrap());
        tx.commit().await.unwrap();
    }
    let resp = other
        .send(&b, Method::PATCH, "/api/v1/orgs/acme", Some(patch))
        .await;
    problem(resp, StatusCode::FORBIDDEN, "forbidden").await;

    // Deactivated: the session ends on B at once.
    a.set_status(
        "acme",
        bob,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    problem(
        other.get(&b, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // Throttling counts on both instances together.
    let c = Client::new();
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let resp = app.sign_in_raw(&c, "ada@acme.example", "wrong").await;
        assert_eq!(resp.status(), 401);
    }
    let resp = a.sign_in_raw(&c, "ada@acme.example", ADMIN_PW).await;
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    let resp = b.sign_in_raw(&c, "ada@acme.example", ADMIN_PW).await;
    problem(resp, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
}

/// An office behind one address signing in at nine o'clock: successes are never counted
/// against the address, however many arrive at once.
#[tokio::test]
async fn many_people_behind_one_address_sign_in_at_once() {
    let app = spawn_app().await;
    app.admin("Acme", "ada@acme.example", ADMIN_PW).await;
    let mut people = vec![];
    for i in 0..16 {
        let email = format!("person{i}@acme.example");
        app.add_member("acme", &email, MEMBER_PW, &[BuiltinRole::User])
            .await;
        people.push(email);
    }
    let c = Client::new();
    let mut tasks = vec![];
    for email in &people {
        let c = c.clone();
        let url = app.url("/api/v1/auth/sign-in");
        let body = json!({ "email": email, "password": MEMBER_PW });
        tasks.push(tokio::spawn(async move {
            c.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
}
