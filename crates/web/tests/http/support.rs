//! A real Roster server for tests: 127.0.0.1:0, a fresh store, the file mail transport
//! and a manual clock.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Response, StatusCode};
use roster_core::access::OperatorGrant;
use roster_core::clock::ManualClock;
use roster_core::email::Email;
use roster_core::model::OrgKind;
use roster_core::names::DisplayName;
use roster_core::usecases::orgs::NewOrg;
use roster_core::usecases::setup::SetupInput;
use roster_core::{Links, Roster};
use roster_mail::{MessageSettings, OutboxWorker, Transport, WorkerSettings};
use roster_store_postgres::testing::{fresh_database, TestDatabase};
use roster_store_sqlite::SqliteStore;
use roster_web::{AppState, WebConfig};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    pub roster: Roster,
    pub clock: ManualClock,
    pub worker: OutboxWorker,
    pub mail_dir: std::path::PathBuf,
    pub operator_token: String,
    _dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

/// A server on a fresh SQLite file.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roster.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    spawn_app_on(Arc::new(store), dir, None).await
}

/// A server that acts as if behind TLS: `__Host-` cookie names and `Secure` cookies.
pub async fn spawn_secure_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roster.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    spawn_app_with(Arc::new(store), dir, None, true).await
}

/// A server on a fresh PostgreSQL database; `None` when PostgreSQL is unreachable and not
/// required.
pub async fn spawn_app_postgres() -> Option<TestApp> {
    let (store, database) = fresh_database().await?;
    Some(
        spawn_app_on(
            Arc::new(store),
            tempfile::tempdir().unwrap(),
            Some(database),
        )
        .await,
    )
}

async fn spawn_app_on(
    store: Arc<dyn roster_core::store::Store>,
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
) -> TestApp {
    spawn_app_with(store, dir, database, false).await
}

async fn spawn_app_with(
    store: Arc<dyn roster_core::store::Store>,
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
    secure_cookies: bool,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = ManualClock::starting_now();
    let roster = Roster::new(store.clone(), Arc::new(clock.clone()), Links::new(&base));
    let mail_dir = dir.path().join("mail");
    let worker = OutboxWorker::new(
        store,
        Arc::new(clock.clone()),
        Transport::File(mail_dir.clone()),
        MessageSettings {
            from: "Roster <roster@roster.test>".parse().unwrap(),
            message_id_domain: "roster.test".into(),
        },
        WorkerSettings::default(),
    );
    let (_, token) = roster
        .create_operator_token(&OperatorGrant::command_line(), "tests")
        .await
        .unwrap();
    let web = WebConfig {
        secure_cookies,
        ..WebConfig::for_public_url(&base)
    };
    let state = AppState::new(roster.clone(), web).unwrap();
    let app = roster_web::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp {
        base,
        roster,
        clock,
        worker,
        mail_dir,
        operator_token: token.expose().to_owned(),
        _dir: dir,
        _database: database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn operator(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.bearer_auth(&self.operator_token)
    }

    pub async fn create_org(&self, name: &str, slug: Option<&str>) -> Response {
        self.operator(Client::new().post(self.url("/api/v1/orgs")))
            .json(&json!({ "name": name, "slug": slug, "kind": "vendor" }))
            .send()
            .await
            .unwrap()
    }

    /// Runs `roster setup` and delivers the outbox; returns the token from the email.
    pub async fn setup_and_read_invitation(&self, org: &str, email: &str) -> String {
        self.roster
            .setup(
                &OperatorGrant::command_line(),
                SetupInput {
                    org: NewOrg {
                        name: DisplayName::parse(org).unwrap(),
                        slug: None,
                        kind: OrgKind::Provider,
                    },
                    admin_email: Email::parse(email).unwrap(),
                },
            )
            .await
            .unwrap();
        let before = self.delivered();
        assert_eq!(self.worker.run_once().await.unwrap().sent, 1);
        let new: Vec<_> = self
            .delivered()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(new.len(), 1, "one new email");
        let eml = std::fs::read_to_string(&new[0]).unwrap();
        assert!(
            eml.contains(&format!("To: {}", Email::parse(email).unwrap())),
            "{eml}"
        );
        token_from_email(&eml, &self.base)
    }

    /// The files the mail transport has written so far.
    fn delivered(&self) -> Vec<std::path::PathBuf> {
        match std::fs::read_dir(&self.mail_dir) {
            Ok(d) => d.map(|e| e.unwrap().path()).collect(),
            Err(_) => vec![],
        }
    }
}

/// Pulls the invitation token out of an email, undoing quoted-printable soft breaks.
pub fn token_from_email(eml: &str, base: &str) -> String {
    let unfolded = eml.replace("=\r\n", "").replace("=\n", "");
    let prefix = format!("{base}/invitations/");
    let start = unfolded.find(&prefix).expect("a link to the public URL") + prefix.len();
    unfolded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

pub async fn problem(resp: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(
        resp.headers()[CONTENT_TYPE].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:roster:problem:{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}
