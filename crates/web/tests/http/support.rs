//! A real Roster server for tests: 127.0.0.1:0, a fresh store, the file mail transport
//! and a manual clock.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Response, StatusCode};
use roster_core::access::OperatorGrant;
use roster_core::clock::{Clock, ManualClock};
use roster_core::email::Email;
use roster_core::ids::MembershipId;
use roster_core::model::{BuiltinRole, Identity, Membership, MembershipStatus, OrgKind};
use roster_core::names::{DisplayName, Slug};
use roster_core::passwords::{PasswordPolicy, PolicyContext};
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

/// The catalog of a deployment in front of a PIM: Roster's codes plus two of the host's,
/// `catalog.edit` also held by User.
pub fn host_catalog() -> roster_core::access::Catalog {
    let host = |code: &str, roles: &[&str]| roster_core::access::HostPermission {
        code: code.into(),
        label: format!("Host {code}"),
        area: "Catalog".into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    };
    roster_core::access::Catalog::with_host(&[
        host("catalog.edit", &["user"]),
        host("pim_user_user_create", &[]),
    ])
    .unwrap()
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
    let options = AppOptions {
        secure_cookies: true,
        ..AppOptions::default()
    };
    spawn_app_with(Arc::new(store), dir, None, options).await
}

/// How a test server is set up.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// A server on a fresh SQLite file with `options`.
pub async fn spawn_app_with_options(options: AppOptions) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roster.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    spawn_app_with(Arc::new(store), dir, None, options).await
}

/// Two servers on one fresh PostgreSQL database, as a deployment of several instances
/// runs; `None` when PostgreSQL is unreachable and not required.
pub async fn spawn_two_postgres() -> Option<(TestApp, TestApp)> {
    let (store, database) = fresh_database().await?;
    let second = roster_store_postgres::PostgresStore::connect(&database.url())
        .await
        .unwrap();
    let b = spawn_app_with(
        Arc::new(second),
        tempfile::tempdir().unwrap(),
        None,
        AppOptions::default(),
    )
    .await;
    let a = spawn_app_with(
        Arc::new(store),
        tempfile::tempdir().unwrap(),
        Some(database),
        AppOptions::default(),
    )
    .await;
    b.clock.set(a.clock.now());
    Some((a, b))
}

/// Two servers on one fresh SQLite file, each with its own store, as `roster serve` and a
/// `roster` command beside it (or two processes) share one file.
pub async fn spawn_two_sqlite() -> (TestApp, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.db");
    let store = SqliteStore::open(&file).await.unwrap();
    store.migrate().await.unwrap();
    let second = SqliteStore::open(&file).await.unwrap();
    let b = spawn_app_on(Arc::new(second), tempfile::tempdir().unwrap(), None).await;
    let a = spawn_app_on(Arc::new(store), dir, None).await;
    b.clock.set(a.clock.now());
    (a, b)
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
    spawn_app_with(store, dir, database, AppOptions::default()).await
}

async fn spawn_app_with(
    store: Arc<dyn roster_core::store::Store>,
    dir: tempfile::TempDir,
    database: Option<TestDatabase>,
    options: AppOptions,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clock = ManualClock::starting_now();
    let roster = Roster::new(store.clone(), Arc::new(clock.clone()), Links::new(&base))
        .with_catalog(host_catalog());
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
        secure_cookies: options.secure_cookies,
        trusted_proxies: options.trusted_proxies,
        ..WebConfig::for_public_url(&base)
    };
    let state = AppState::new(roster.clone(), web);
    let app =
        roster_web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
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

    /// Runs the outbox worker and returns the emails it delivered now, as (recipient,
    /// whole message) pairs.
    pub async fn deliver(&self) -> Vec<(String, String)> {
        self.roster.background.settle().await;
        let before = self.delivered();
        self.worker.run_once().await.unwrap();
        let mut out = vec![];
        for path in self.delivered() {
            if before.contains(&path) {
                continue;
            }
            let eml = std::fs::read_to_string(&path).unwrap();
            let to = eml
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_default()
                .to_owned();
            out.push((to, eml));
        }
        out
    }

    /// Sets up an organization with `email` as its admin, who accepts the invitation with
    /// `password` and is signed in. The organization's slug is returned with the person.
    pub async fn admin(&self, org: &str, email: &str, password: &str) -> Person {
        let token = self.setup_and_read_invitation(org, email).await;
        let client = Client::builder().cookie_store(true).build().unwrap();
        let resp = client
            .post(self.url(&format!("/api/v1/invitations/{token}/accept")))
            .json(&json!({ "password": password, "password_confirmation": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        Person::from_signed_in(client, &body)
    }

    /// Adds an active member with a password straight through the store (the members API
    /// is not needed to test sign-in).
    pub async fn add_member(
        &self,
        org_slug: &str,
        email: &str,
        password: &str,
        roles: &[BuiltinRole],
    ) -> MembershipId {
        let now = self.clock.now();
        let hash = self
            .roster
            .passwords
            .hash(
                PasswordPolicy::default()
                    .check(password, &PolicyContext::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        let mut tx = self.roster.store.begin().await.unwrap();
        let org = tx
            .org_by_slug(&Slug::parse(org_slug).unwrap())
            .await
            .unwrap()
            .unwrap();
        let mut identity = Identity::new(Email::parse(email).unwrap(), None, now);
        identity.password_hash = Some(hash);
        tx.insert_identity(&identity).await.unwrap();
        let membership = Membership::new(
            org.id,
            identity.id,
            MembershipStatus::Active,
            roles.iter().copied(),
            now,
        );
        tx.insert_membership(&membership).await.unwrap();
        tx.commit().await.unwrap();
        membership.id
    }

    /// Moves a membership to another status straight through the store.
    pub async fn set_status(
        &self,
        org_slug: &str,
        member: MembershipId,
        from: MembershipStatus,
        to: MembershipStatus,
    ) {
        let mut tx = self.roster.store.begin().await.unwrap();
        let org = tx
            .org_by_slug(&Slug::parse(org_slug).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(tx
            .set_membership_status(org.id, member, from, to, self.clock.now())
            .await
            .unwrap());
        tx.commit().await.unwrap();
    }

    /// Signs in; returns the raw answer.
    pub async fn sign_in_raw(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/sign-in"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs in with a new cookie jar; panics unless it works.
    pub async fn sign_in(&self, email: &str, password: &str) -> Person {
        let client = Client::builder().cookie_store(true).build().unwrap();
        let resp = self.sign_in_raw(&client, email, password).await;
        assert_eq!(resp.status(), 200, "sign-in of {email}");
        let body: Value = resp.json().await.unwrap();
        Person::from_signed_in(client, &body)
    }

    /// Every audit event recorded so far, deployment-wide and in every organization,
    /// oldest first: (action, details as JSON text).
    pub async fn audit(&self) -> Vec<(String, String)> {
        let mut reads = self.roster.store.reads().await.unwrap();
        let orgs = reads
            .list_orgs(roster_core::model::PageRequest::new(Some(200), None))
            .await
            .unwrap();
        let mut scopes: Vec<Option<roster_core::ids::OrgId>> = vec![None];
        scopes.extend(orgs.items.iter().map(|o| Some(o.id)));
        let mut events = vec![];
        for org_id in scopes {
            events.extend(
                reads
                    .list_audit(&roster_core::model::AuditQuery {
                        org_id,
                        limit: 10_000,
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
            );
        }
        events.sort_by_key(|e| e.id);
        events
            .into_iter()
            .map(|e| (e.action, e.details.to_string()))
            .collect()
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
    link_token(eml, base, "/invitations/")
}

/// Pulls the token of a `{base}{path}<token>` link out of an email.
pub fn link_token(eml: &str, base: &str, path: &str) -> String {
    let unfolded = eml.replace("=\r\n", "").replace("=\n", "");
    let prefix = format!("{base}{path}");
    let start = unfolded.find(&prefix).expect("a link to the public URL") + prefix.len();
    unfolded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// A signed-in person: a cookie jar holding the session, and the CSRF token.
pub struct Person {
    pub client: Client,
    pub csrf: String,
    pub body: Value,
}

impl Person {
    fn from_signed_in(client: Client, body: &Value) -> Self {
        Self {
            client,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            body: body.clone(),
        }
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        self.client.get(app.url(path)).send().await.unwrap()
    }

    /// An unsafe request with the CSRF token.
    pub async fn send(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut rb = self
            .client
            .request(method, app.url(path))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        rb.send().await.unwrap()
    }

    pub async fn post(&self, app: &TestApp, path: &str, body: Value) -> Response {
        self.send(app, reqwest::Method::POST, path, Some(body))
            .await
    }
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

/// A browser without JavaScript: keeps cookies, does not follow redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The hidden CSRF field of a rendered form.
pub fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Response headers as sorted `name: value` lines, without those that differ per request
/// (request id, date) or with the body's length.
pub fn comparable_headers(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    let mut v: Vec<String> = headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "x-request-id" | "date" | "content-length"))
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    v.sort();
    v
}
