//! Tasks, notification settings and digests, end to end: host products post tasks over the
//! API, members choose their digests, and the scheduler (driven by the manual clock) queues
//! exactly one digest per member and period, at 08:00 in the member's time zone.

use crate::support::{problem, spawn_app, spawn_two_postgres, Person, TestApp};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use roster_core::clock::Clock;
use roster_core::ids::{CustomerId, MembershipId};
use roster_core::model::{BuiltinRole, MembershipStatus};
use roster_core::names::Slug;
use roster_core::usecases::digests::DigestPass;
use roster_core::{Links, Roster};
use serde_json::{json, Value};

const PW: &str = "correct horse battery";
const ACME: &str = "/api/v1/orgs/acme";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The email's text as a reader sees it (quoted-printable soft breaks removed).
fn readable(eml: &str) -> String {
    eml.replace("=\r\n", "").replace("=3D", "=")
}

async fn json_of(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

async fn admin(app: &TestApp) -> Person {
    app.admin("Acme", "ann@acme.example", PW).await
}

/// Posts a task as the admin; returns its id.
async fn post_task(app: &TestApp, admin: &Person, body: Value) -> String {
    let created = json_of(
        admin.post(app, &format!("{ACME}/tasks"), body).await,
        StatusCode::CREATED,
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn customer(app: &TestApp, admin: &Person, name: &str) -> String {
    let created = json_of(
        admin
            .post(app, &format!("{ACME}/customers"), json!({ "name": name }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

/// Sets a member's own time zone straight through the store.
async fn set_zone(app: &TestApp, member: MembershipId, zone: Option<&str>) {
    let mut tx = app.roster.store.begin().await.unwrap();
    let org = tx
        .org_by_slug(&Slug::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    let m = tx.membership(org.id, member).await.unwrap().unwrap();
    assert!(tx
        .update_identity_profile(m.identity_id, None, zone, None, app.clock.now())
        .await
        .unwrap());
    tx.replan_digests_of_identity(m.identity_id, app.clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Runs the scheduler at `at` and delivers what it queued: (pass, delivered emails).
async fn digests_at(app: &TestApp, at: &str) -> (DigestPass, Vec<(String, String)>) {
    app.clock.set(utc(at));
    let pass = app.roster.run_digests(100).await.unwrap();
    (pass, app.deliver().await)
}

/// The admin chooses no category: no digest for them.
async fn quiet(app: &TestApp, admin: &Person) {
    json_of(
        admin
            .send(
                app,
                Method::PUT,
                &format!("{ACME}/members/me/notifications"),
                Some(json!({ "frequency": "weekly", "categories": [] })),
            )
            .await,
        StatusCode::OK,
    )
    .await;
}

fn recipients(mails: &[(String, String)]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().map(|(to, _)| to.clone()).collect();
    to.sort();
    to
}

#[tokio::test]
async fn tasks_are_posted_listed_and_closed_and_bad_ones_change_nothing() {
    let app = spawn_app().await;
    let ann = admin(&app).await;
    let initech = customer(&app, &ann, "Initech").await;
    let renew = post_task(
        &app,
        &ann,
        json!({
            "category": "renewals",
            "category_label": "Contract renewals",
            "title": "  Renew Initech  ",
            "url": "https://portal.example/tasks/1",
            "customer_id": initech,
        }),
    )
    .await;
    let me = json_of(
        ann.get(&app, &format!("{ACME}/members/me")).await,
        StatusCode::OK,
    )
    .await;
    let welcome = post_task(
        &app,
        &ann,
        json!({ "category": "onboarding", "title": "Welcome call", "assignee_id": me["id"] }),
    )
    .await;

    let task = json_of(
        ann.get(&app, &format!("{ACME}/tasks/{renew}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(task["title"], "Renew Initech", "trimmed");
    assert_eq!(task["status"], "open");
    assert_eq!(task["customer_id"], initech.as_str());
    assert_eq!(task["closed_at"], Value::Null);
    let categories = json_of(
        ann.get(&app, &format!("{ACME}/task-categories")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        categories["items"],
        json!([
            { "key": "onboarding", "label": "onboarding" },
            { "key": "renewals", "label": "Contract renewals" },
        ])
    );

    // Refusals: each a clear problem, none writes a task or a category.
    let refused = [
        (
            json!({ "category": "Renewals!", "title": "x" }),
            "invalid_body",
        ),
        (
            json!({ "category": "renewals", "title": " " }),
            "invalid_body",
        ),
        (
            json!({ "category": "renewals", "title": "a\nb" }),
            "invalid_body",
        ),
        (
            json!({ "category": "renewals", "title": "x", "url": "javascript:alert(1)" }),
            "invalid_body",
        ),
        (
            json!({ "category": "sla", "title": "x", "customer_id": CustomerId::new() }),
            "unknown_customer",
        ),
        (
            json!({ "category": "sla", "title": "x", "assignee_id": MembershipId::new() }),
            "unknown_member",
        ),
        (
            json!({ "category": "sla", "title": "x", "priority": 1 }),
            "invalid_body",
        ),
    ];
    for (body, code) in refused {
        let resp = ann.post(&app, &format!("{ACME}/tasks"), body.clone()).await;
        problem(resp, StatusCode::BAD_REQUEST, code).await;
    }
    let listed = json_of(
        ann.get(&app, &format!("{ACME}/tasks")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 2, "{listed}");
    let categories = json_of(
        ann.get(&app, &format!("{ACME}/task-categories")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(categories["items"].as_array().unwrap().len(), 2, "no `sla`");

    // Filters.
    let by = |q: &str| format!("{ACME}/tasks?{q}");
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let onboarding = json_of(
        ann.get(&app, &by("category=onboarding")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ids(&onboarding), vec![welcome.clone()]);
    let of_initech = json_of(
        ann.get(&app, &by(&format!("customer={initech}"))).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ids(&of_initech), vec![renew.clone()]);
    problem(
        ann.get(&app, &by("status=closed")).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    problem(
        ann.get(&app, &by("category=%00")).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // Closing, then reopening.
    let closed = json_of(
        ann.send(
            &app,
            Method::PATCH,
            &format!("{ACME}/tasks/{renew}"),
            Some(json!({ "status": "done" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(closed["status"], "done");
    assert!(closed["closed_at"].is_string());
    let open = json_of(ann.get(&app, &by("status=open")).await, StatusCode::OK).await;
    assert_eq!(ids(&open), vec![welcome.clone()]);
    problem(
        ann.send(
            &app,
            Method::PATCH,
            &format!("{ACME}/tasks/{renew}"),
            Some(json!({ "status": "closed" })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let reopened = json_of(
        ann.send(
            &app,
            Method::PATCH,
            &format!("{ACME}/tasks/{renew}"),
            Some(json!({ "status": "open", "url": null })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (reopened["status"].as_str(), reopened["closed_at"].as_str()),
        (Some("open"), None)
    );
    assert_eq!(reopened["url"], Value::Null);

    // Another organization's admin does not find acme's tasks.
    let gil = app.admin("Globex", "gil@globex.example", PW).await;
    problem(
        gil.get(&app, &format!("/api/v1/orgs/globex/tasks/{renew}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn members_choose_their_digest_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let ann = admin(&app).await;
    post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "Renew" }),
    )
    .await;
    post_task(&app, &ann, json!({ "category": "sla", "title": "Breach" })).await;
    let mine = format!("{ACME}/members/me/notifications");

    let settings = json_of(ann.get(&app, &mine).await, StatusCode::OK).await;
    assert_eq!(settings["frequency"], "weekly");
    assert_eq!(settings["all_categories"], true);
    assert_eq!(settings["categories"], json!(["renewals", "sla"]));
    assert_eq!(
        settings["available_categories"].as_array().unwrap().len(),
        2
    );

    for (body, code) in [
        (
            json!({ "frequency": "daily", "categories": ["nope"] }),
            "unknown_category",
        ),
        (
            json!({ "frequency": "hourly", "categories": [] }),
            "invalid_body",
        ),
        (json!({ "frequency": "daily" }), "invalid_body"),
        (
            json!({ "frequency": "daily", "categories": ["sla"], "all_categories": true }),
            "invalid_body",
        ),
    ] {
        problem(
            ann.send(&app, Method::PUT, &mine, Some(body)).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    assert_eq!(
        json_of(ann.get(&app, &mine).await, StatusCode::OK).await,
        settings
    );

    let chosen = json_of(
        ann.send(
            &app,
            Method::PUT,
            &mine,
            Some(json!({ "frequency": "daily", "categories": ["sla"] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            &chosen["frequency"],
            &chosen["categories"],
            &chosen["all_categories"]
        ),
        (&json!("daily"), &json!(["sla"]), &json!(false))
    );

    // An admin sets another member's; that member's own settings read them back.
    let uma = app
        .add_member("acme", "uma@acme.example", PW, &[BuiltinRole::User])
        .await;
    let theirs = format!("{ACME}/members/{uma}/notifications");
    json_of(
        ann.send(
            &app,
            Method::PUT,
            &theirs,
            Some(json!({ "frequency": "weekly", "categories": [] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let uma_person = app.sign_in("uma@acme.example", PW).await;
    let own = json_of(uma_person.get(&app, &mine).await, StatusCode::OK).await;
    assert_eq!(
        (&own["categories"], &own["all_categories"]),
        (&json!([]), &json!(false))
    );
    // A User cannot set the admin's.
    let ann_id = json_of(
        ann.get(&app, &format!("{ACME}/members/me")).await,
        StatusCode::OK,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        uma_person
            .send(
                &app,
                Method::PUT,
                &format!("{ACME}/members/{ann_id}/notifications"),
                Some(json!({ "frequency": "weekly", "all_categories": true })),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let audit = app.audit().await;
    assert_eq!(
        audit
            .iter()
            .filter(|(action, _)| action == "membership.notifications_changed")
            .count(),
        2,
        "{audit:?}"
    );
}

#[tokio::test]
async fn weekly_digests_go_out_on_monday_at_eight_in_each_zone_across_the_dst_change() {
    let app = spawn_app().await;
    let ann = admin(&app).await;
    // Before any digest is planned: the organization's zone is Paris; one member has Los
    // Angeles as their own.
    let org = json_of(
        ann.send(
            &app,
            Method::PATCH,
            ACME,
            Some(json!({ "settings": { "timezone": "Europe/Paris" } })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(org["settings"]["timezone"], "Europe/Paris");
    problem(
        ann.send(
            &app,
            Method::PATCH,
            ACME,
            Some(json!({ "settings": { "timezone": "Europe/Pariss" } })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_settings",
    )
    .await;
    post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "Renew Initech" }),
    )
    .await;
    let leo = app
        .add_member("acme", "leo@acme.example", PW, &[BuiltinRole::User])
        .await;
    set_zone(&app, leo, Some("America/Los_Angeles")).await;

    // Sunday 25 October 2026: Paris has just left summer time; Los Angeles has not.
    let (pass, mails) = digests_at(&app, "2026-10-25T12:00:00Z").await;
    assert_eq!(pass.planned, 2, "{pass:?}");
    assert!(mails.is_empty());
    // 07:59 in Paris (UTC+1): not yet.
    assert!(digests_at(&app, "2026-10-26T06:59:00Z").await.1.is_empty());
    let (_, mails) = digests_at(&app, "2026-10-26T07:00:00Z").await;
    assert_eq!(recipients(&mails), vec!["ann@acme.example"]);
    let text = readable(&mails[0].1);
    assert!(
        text.contains("Subject: Acme: 1 open task in your weekly digest"),
        "{text}"
    );
    assert!(
        text.contains("the week of Monday 26 October 2026"),
        "{text}"
    );
    assert!(text.contains("Renew Initech"), "{text}");
    // 07:59 in Los Angeles (UTC-7), then 08:00.
    assert!(digests_at(&app, "2026-10-26T14:59:00Z").await.1.is_empty());
    let (_, mails) = digests_at(&app, "2026-10-26T15:00:00Z").await;
    assert_eq!(recipients(&mails), vec!["leo@acme.example"]);
    // Nothing more that week, however often the scheduler runs.
    assert!(digests_at(&app, "2026-10-29T09:00:00Z").await.1.is_empty());

    // Los Angeles leaves summer time on 1 November: Monday 08:00 is now 16:00 UTC.
    let (_, mails) = digests_at(&app, "2026-11-02T07:00:00Z").await;
    assert_eq!(recipients(&mails), vec!["ann@acme.example"]);
    assert!(digests_at(&app, "2026-11-02T15:00:00Z").await.1.is_empty());
    let (_, mails) = digests_at(&app, "2026-11-02T16:00:00Z").await;
    assert_eq!(recipients(&mails), vec!["leo@acme.example"]);
    assert!(readable(&mails[0].1).contains("the week of Monday 2 November 2026"));
}

#[tokio::test]
async fn daily_digests_follow_customer_scope_categories_and_run_once_per_day() {
    let app = spawn_app().await;
    let ann = admin(&app).await;
    let initech = customer(&app, &ann, "Initech").await;
    let hooli = customer(&app, &ann, "Hooli").await;
    post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "General renewal" }),
    )
    .await;
    post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "Renew Initech", "customer_id": initech }),
    )
    .await;
    post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "Renew Hooli", "customer_id": hooli }),
    )
    .await;
    let closed = post_task(
        &app,
        &ann,
        json!({ "category": "renewals", "title": "Already done" }),
    )
    .await;
    ann.send(
        &app,
        Method::PATCH,
        &format!("{ACME}/tasks/{closed}"),
        Some(json!({ "status": "done" })),
    )
    .await;

    let daily = |categories: Value| json!({ "frequency": "daily", "categories": categories });
    let set = |member: String, body: Value| {
        let ann = &ann;
        let app = &app;
        async move {
            json_of(
                ann.send(
                    app,
                    Method::PUT,
                    &format!("{ACME}/members/{member}/notifications"),
                    Some(body),
                )
                .await,
                StatusCode::OK,
            )
            .await;
        }
    };
    // Uma (User) is assigned Initech; Nia is notifications-only with no assignment (all
    // customers); Max (Marketing) reaches no customer data; Quinn chose no category.
    let uma = app
        .add_member("acme", "uma@acme.example", PW, &[BuiltinRole::User])
        .await;
    json_of(
        ann.send(
            &app,
            Method::PUT,
            &format!("{ACME}/members/{uma}/customers"),
            Some(json!({ "customers": [initech] })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let nia = app
        .add_member(
            "acme",
            "nia@acme.example",
            PW,
            &[BuiltinRole::Notifications],
        )
        .await;
    let max = app
        .add_member("acme", "max@acme.example", PW, &[BuiltinRole::Marketing])
        .await;
    let quinn = app
        .add_member("acme", "quinn@acme.example", PW, &[BuiltinRole::User])
        .await;
    let gone = app
        .add_member("acme", "gone@acme.example", PW, &[BuiltinRole::User])
        .await;
    for m in [uma, nia, max, gone] {
        set(m.to_string(), daily(json!(["renewals"]))).await;
    }
    set(quinn.to_string(), daily(json!([]))).await;
    app.set_status(
        "acme",
        gone,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
    )
    .await;
    // The admin wants no digest: not part of this daily story.
    quiet(&app, &ann).await;

    digests_at(&app, "2026-11-23T06:00:00Z").await;
    let (pass, mails) = digests_at(&app, "2026-11-24T08:00:00Z").await;
    assert_eq!(
        recipients(&mails),
        vec!["max@acme.example", "nia@acme.example", "uma@acme.example"],
        "{pass:?}"
    );
    let body = |to: &str| readable(&mails.iter().find(|(t, _)| t == to).unwrap().1);
    let uma_mail = body("uma@acme.example");
    assert!(uma_mail.contains("General renewal") && uma_mail.contains("Renew Initech (Initech)"));
    assert!(
        !uma_mail.contains("Hooli"),
        "only her customers: {uma_mail}"
    );
    assert!(!uma_mail.contains("Already done"));
    let nia_mail = body("nia@acme.example");
    assert!(nia_mail.contains("Renew Initech") && nia_mail.contains("Renew Hooli"));
    let max_mail = body("max@acme.example");
    assert!(max_mail.contains("General renewal"));
    assert!(
        !max_mail.contains("Initech") && !max_mail.contains("Hooli"),
        "{max_mail}"
    );
    assert!(
        pass.empty >= 1,
        "Quinn's day is recorded without an email: {pass:?}"
    );

    // A restarted instance (a new Roster on the same store) sends nothing more today.
    let restarted = Roster::new(
        app.roster.store.clone(),
        std::sync::Arc::new(app.clock.clone()),
        Links::new(&app.base),
    );
    app.clock.set(utc("2026-11-24T12:00:00Z"));
    let again = restarted.run_digests(100).await.unwrap();
    assert_eq!(again.queued, 0, "{again:?}");
    assert!(app.deliver().await.is_empty());

    // The next day: nothing open for Max any more (his task closed) means no email for
    // him. (The admin's session has timed out by now; a host product's token closes it.)
    let host = |method: Method, path: String| {
        app.operator(reqwest::Client::new().request(method, app.url(&path)))
    };
    let open = host(Method::GET, format!("{ACME}/tasks?status=open"))
        .send()
        .await
        .unwrap();
    let open = json_of(open, StatusCode::OK).await;
    for t in open["items"].as_array().unwrap() {
        if t["customer_id"].is_null() {
            let id = t["id"].as_str().unwrap();
            let done = host(Method::PATCH, format!("{ACME}/tasks/{id}"))
                .json(&json!({ "status": "done" }))
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), StatusCode::OK);
        }
    }
    let (_, mails) = digests_at(&app, "2026-11-25T08:00:00Z").await;
    assert_eq!(
        recipients(&mails),
        vec!["nia@acme.example", "uma@acme.example"]
    );
}

#[tokio::test]
async fn two_instances_on_postgres_send_each_digest_once() {
    let Some((a, b)) = spawn_two_postgres().await else {
        return;
    };
    let ann = a.admin("Acme", "ann@acme.example", PW).await;
    post_task(
        &a,
        &ann,
        json!({ "category": "renewals", "title": "Renew Initech" }),
    )
    .await;
    quiet(&a, &ann).await;
    let mut members = vec![];
    for i in 0..12 {
        let email = format!("member{i}@acme.example");
        let m = a.add_member("acme", &email, PW, &[BuiltinRole::User]).await;
        json_of(
            ann.send(
                &a,
                Method::PUT,
                &format!("{ACME}/members/{m}/notifications"),
                Some(json!({ "frequency": "daily", "all_categories": true })),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        members.push(email);
    }
    for app in [&a, &b] {
        app.clock.set(utc("2026-11-23T06:00:00Z"));
    }
    a.roster.run_digests(100).await.unwrap();
    for app in [&a, &b] {
        app.clock.set(utc("2026-11-24T08:00:00Z"));
    }
    // Both instances at once, several passes each.
    let run = |app: &TestApp| {
        let roster = app.roster.clone();
        async move {
            let mut queued = 0;
            for _ in 0..3 {
                queued += roster.run_digests(5).await.unwrap().queued;
            }
            queued
        }
    };
    let (qa, qb) = tokio::join!(run(&a), run(&b));
    assert_eq!(qa + qb, 12, "each member's digest queued once: {qa} + {qb}");
    let mut delivered = recipients(&a.deliver().await);
    delivered.extend(recipients(&b.deliver().await));
    delivered.sort();
    members.sort();
    assert_eq!(delivered, members);
}
