//! The authorization matrix (SECURITY: "a role × route matrix test asserts each status; a
//! route missing from it fails CI"): every operation of the OpenAPI document, called by
//! every kind of caller, with the exact status each must get.
//!
//! [`MATRIX`] has one line per documented operation — its method and path template exactly
//! as in `/api/v1/openapi.json`, variant `-` — and a few extra lines with another target
//! (variant named in the third column). The last seven columns are the expected statuses,
//! in this caller order:
//!
//! | column | caller                                                                     |
//! |--------|----------------------------------------------------------------------------|
//! | anon   | no credentials                                                             |
//! | adm    | Admin of `acme`, signed in (session cookie, `X-CSRF-Token`)                |
//! | usr    | User of `acme` (customers.read, users.read)                                |
//! | mkt    | Marketing of `acme` (partner_kit.read)                                     |
//! | scp    | scoped admin of `acme`: Admin whose admin scope is entity Paris, in Paris  |
//! | oth    | Admin of another organization, `globex`                                    |
//! | op     | the operator token (bearer)                                                |
//!
//! Each cell sends a request that would succeed for a caller allowed to make it: real ids,
//! valid bodies, and a fresh target (member, role, group, customer, entity, token,
//! invitation) whenever the request changes or consumes it. Targets of member routes are
//! members of Paris, inside the scoped admin's reach; the `outsider` lines aim at a member
//! with no entity, whom a scoped admin must not see (404); `me` is the caller's own
//! membership; `paris-admin` an Admin of Paris (managed only by an admin of the whole
//! organization); `to-lyon` moves a member of Paris out of the scope; `no-entity` invites
//! without an entity (outside any scope). Requests that end or replace the caller's own
//! session or account (sign-in, sign-out, accepting, changing the password, leaving) use a
//! fresh session or a fresh person of the same kind.
//!
//! The policy encoded: anonymous gets 401 wherever a caller is needed; another
//! organization's admin gets 404 on everything under `/api/v1/orgs/acme`; the operator is
//! allowed on organization routes but has no person (`/me…`, `{member}` = `me`; signing
//! out without a session is a no-op that answers 204);
//! `users.read` routes admit admin, user, scoped admin and operator; `users.invite` and
//! `users.manage` admin, scoped admin and operator; `roles.manage`, `org.settings` and
//! `tokens.manage`, `audit.read` and single sign-on (`org.settings`) only admin and operator (a scoped admin's Admin role lacks them);
//! `customers.read` admin, user, scoped admin and operator; `customers.manage` and
//! `access.check` admin and operator (organization-wide: a scoped admin's Admin role keeps
//! only `WITHIN_ADMIN_SCOPE`); `tasks.write` likewise; the organization's task categories
//! any member; notification settings `users.read`/`users.manage`, and every member their
//! own (`me`); an admin scope is set only by an admin
//! of the whole organization or the operator; `POST /api/v1/orgs` is the operator's alone.
//!
//! [`DEVIATIONS`] lists the cells where the code answers otherwise than this policy, for a
//! decision; every mismatch is collected and reported at once, naming route, caller,
//! expected and actual status.

use crate::support::{link_token, spawn_app, token_from_email, TestApp};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Method};
use roster_core::clock::Clock;
use roster_core::email::Email;
use roster_core::ids::{EntityId, IdentityId};
use roster_core::model::{BuiltinRole, Identity, Membership, MembershipStatus};
use roster_core::names::Slug;
use roster_core::passwords::{PasswordPolicy, PolicyContext};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

/// method, path template, variant, then the statuses for: anon adm usr mkt scp oth op.
const MATRIX: &str = "
# method path                                                   variant     anon adm usr mkt scp oth op
# --- public: the same answer whoever asks
GET    /healthz                                                 -           200 200 200 200 200 200 200
GET    /readyz                                                  -           200 200 200 200 200 200 200
GET    /metrics                                                 -           200 200 200 200 200 200 200
POST   /api/v1/auth/sign-in                                     -           200 200 200 200 200 200 200
POST   /api/v1/auth/password-reset                              -           202 202 202 202 202 202 202
POST   /api/v1/auth/password-reset/confirm                      -           204 204 204 204 204 204 204
POST   /api/v1/auth/email-change/confirm                        -           204 204 204 204 204 204 204
GET    /api/v1/invitations/{token}                              -           200 200 200 200 200 200 200
POST   /api/v1/invitations/{token}/accept                       -           200 200 200 200 200 200 200
# --- the signed-in person: the operator has none
GET    /api/v1/me                                               -           401 200 200 200 200 200 403
PATCH  /api/v1/me                                               -           401 200 200 200 200 200 403
POST   /api/v1/me/password                                      -           401 204 204 204 204 204 403
POST   /api/v1/me/email                                         -           401 202 202 202 202 202 403
GET    /api/v1/me/sessions                                      -           401 200 200 200 200 200 403
DELETE /api/v1/me/sessions/{id}                                 -           401 204 204 204 204 204 403
POST   /api/v1/auth/sign-out                                    -           401 204 204 204 204 204 204
# --- deployment-wide
GET    /api/v1/permissions                                      -           401 200 200 200 200 200 200
POST   /api/v1/orgs                                             -           401 403 403 403 403 403 201
GET    /api/v1/orgs                                             -           401 403 403 403 403 403 200
# --- the organization: any member sees it; org.settings changes it
GET    /api/v1/orgs/{org}                                       -           401 200 200 200 200 404 200
PATCH  /api/v1/orgs/{org}                                       -           401 200 403 403 403 404 200
# --- members: users.read
GET    /api/v1/orgs/{org}/members                               -           401 200 200 403 200 404 200
GET    /api/v1/orgs/{org}/members/{member}                      -           401 200 200 403 200 404 200
GET    /api/v1/orgs/{org}/members/{member}                      me          401 200 200 200 200 404 404
GET    /api/v1/orgs/{org}/members/{member}                      outsider    401 200 200 403 404 404 200
# --- members: users.manage
PATCH  /api/v1/orgs/{org}/members/{member}                      -           401 200 403 403 200 404 200
PATCH  /api/v1/orgs/{org}/members/{member}                      outsider    401 200 403 403 404 404 200
DELETE /api/v1/orgs/{org}/members/{member}                      -           401 204 403 403 204 404 204
DELETE /api/v1/orgs/{org}/members/{member}                      me          401 204 204 204 204 404 404
DELETE /api/v1/orgs/{org}/members/{member}                      outsider    401 204 403 403 404 404 204
POST   /api/v1/orgs/{org}/members/{member}/deactivate           -           401 200 403 403 200 404 200
POST   /api/v1/orgs/{org}/members/{member}/deactivate           outsider    401 200 403 403 404 404 200
POST   /api/v1/orgs/{org}/members/{member}/deactivate           paris-admin 401 200 403 403 403 404 200
POST   /api/v1/orgs/{org}/members/{member}/activate             -           401 200 403 403 200 404 200
POST   /api/v1/orgs/{org}/members/{member}/activate             outsider    401 200 403 403 404 404 200
POST   /api/v1/orgs/{org}/members/{member}/password-reset       -           401 202 403 403 202 404 202
POST   /api/v1/orgs/{org}/members/{member}/password-reset       outsider    401 202 403 403 404 404 202
GET    /api/v1/orgs/{org}/members/{member}/permissions          -           401 200 200 403 200 404 200
GET    /api/v1/orgs/{org}/members/{member}/permissions          outsider    401 200 200 403 404 404 200
GET    /api/v1/orgs/{org}/members/{member}/sign-in-attempts     -           401 200 403 403 200 404 200
GET    /api/v1/orgs/{org}/members/{member}/sign-in-attempts     outsider    401 200 403 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/roles                -           401 200 403 403 200 404 200
PUT    /api/v1/orgs/{org}/members/{member}/roles                outsider    401 200 403 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/groups               -           401 200 403 403 200 404 200
PUT    /api/v1/orgs/{org}/members/{member}/groups               outsider    401 200 403 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/customers            -           401 200 403 403 200 404 200
PUT    /api/v1/orgs/{org}/members/{member}/customers            outsider    401 200 403 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/entity               -           401 200 403 403 200 404 200
PUT    /api/v1/orgs/{org}/members/{member}/entity               outsider    401 200 403 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/entity               to-lyon     401 200 403 403 403 404 200
GET    /api/v1/orgs/{org}/members/{member}/notifications        -           401 200 200 403 200 404 200
GET    /api/v1/orgs/{org}/members/{member}/notifications        me          401 200 200 200 200 404 404
GET    /api/v1/orgs/{org}/members/{member}/notifications        outsider    401 200 200 403 404 404 200
PUT    /api/v1/orgs/{org}/members/{member}/notifications        -           401 200 403 403 200 404 200
PUT    /api/v1/orgs/{org}/members/{member}/notifications        me          401 200 200 200 200 404 404
PUT    /api/v1/orgs/{org}/members/{member}/notifications        outsider    401 200 403 403 404 404 200
# --- admin scopes: an admin of the whole organization only
PUT    /api/v1/orgs/{org}/members/{member}/admin-scope          -           401 200 403 403 403 404 200
PUT    /api/v1/orgs/{org}/members/{member}/admin-scope          outsider    401 200 403 403 404 404 200
# --- invitations: users.invite
POST   /api/v1/orgs/{org}/invitations                           -           401 201 403 403 201 404 201
POST   /api/v1/orgs/{org}/invitations                           no-entity   401 201 403 403 403 404 201
POST   /api/v1/orgs/{org}/members/{member}/invitation/resend    -           401 202 403 403 202 404 202
POST   /api/v1/orgs/{org}/members/{member}/invitation/resend    outsider    401 202 403 403 404 404 202
DELETE /api/v1/orgs/{org}/members/{member}/invitation           -           401 204 403 403 204 404 204
DELETE /api/v1/orgs/{org}/members/{member}/invitation           outsider    401 204 403 403 404 404 204
# --- roles and groups: users.read to read, roles.manage to change
GET    /api/v1/orgs/{org}/roles                                 -           401 200 200 403 200 404 200
POST   /api/v1/orgs/{org}/roles                                 -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/roles/{role}                          -           401 200 200 403 200 404 200
PATCH  /api/v1/orgs/{org}/roles/{role}                          -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/roles/{role}                          -           401 204 403 403 403 404 204
GET    /api/v1/orgs/{org}/groups                                -           401 200 200 403 200 404 200
POST   /api/v1/orgs/{org}/groups                                -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/groups/{group}                        -           401 200 200 403 200 404 200
PATCH  /api/v1/orgs/{org}/groups/{group}                        -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/groups/{group}                        -           401 204 403 403 403 404 204
# --- customers: customers.read to read, customers.manage (organization-wide) to change
GET    /api/v1/orgs/{org}/customers                             -           401 200 200 403 200 404 200
POST   /api/v1/orgs/{org}/customers                             -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/customers/{customer}                  -           401 200 200 403 200 404 200
PATCH  /api/v1/orgs/{org}/customers/{customer}                  -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/customers/{customer}                  -           401 204 403 403 403 404 204
# --- entities: users.read to read, org.settings to change
GET    /api/v1/orgs/{org}/entities                              -           401 200 200 403 200 404 200
POST   /api/v1/orgs/{org}/entities                              -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/entities/{entity}                     -           401 200 200 403 200 404 200
PATCH  /api/v1/orgs/{org}/entities/{entity}                     -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/entities/{entity}                     -           401 204 403 403 403 404 204
# --- the check API: access.check (organization-wide)
POST   /api/v1/orgs/{org}/check                                 -           401 200 403 403 403 404 200
POST   /api/v1/orgs/{org}/check/explain                         -           401 200 403 403 403 404 200
# --- tasks: tasks.write (organization-wide); their categories: any member
POST   /api/v1/orgs/{org}/tasks                                 -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/tasks                                 -           401 200 403 403 403 404 200
GET    /api/v1/orgs/{org}/tasks/{task}                          -           401 200 403 403 403 404 200
PATCH  /api/v1/orgs/{org}/tasks/{task}                          -           401 200 403 403 403 404 200
GET    /api/v1/orgs/{org}/task-categories                       -           401 200 200 200 200 404 200
# --- the audit log: audit.read (organization-wide: a scoped admin's Admin role lacks it)
GET    /api/v1/orgs/{org}/audit                                 -           401 200 403 403 403 404 200
# --- single sign-on: org.settings (organization-wide)
GET    /api/v1/orgs/{org}/sso                                   -           401 200 403 403 403 404 200
PUT    /api/v1/orgs/{org}/sso                                   -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/sso                                   -           401 204 403 403 403 404 204
POST   /api/v1/orgs/{org}/sso/test                              -           401 200 403 403 403 404 200
# --- API tokens: tokens.manage
POST   /api/v1/orgs/{org}/tokens                                -           401 201 403 403 403 404 201
GET    /api/v1/orgs/{org}/tokens                                -           401 200 403 403 403 404 200
DELETE /api/v1/orgs/{org}/tokens/{id}                           -           401 204 403 403 403 404 204
";

/// Cells where the code answers otherwise than the policy in [`MATRIX`], awaiting a
/// decision: (route as `METHOD path` with ` [variant]` when not `-`, caller, the code's
/// answer). The test expects the code's answer in these cells, so fixing the code makes it
/// fail here until the entry goes.
const DEVIATIONS: &[(&str, Caller, u16)] = &[];

const PW: &str = "correct horse battery";
const NEW_PW: &str = "quiet meadow telescope";
const ACME: &str = "/api/v1/orgs/acme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Admin,
    User,
    Marketing,
    Scoped,
    Other,
    Operator,
}

/// The column order of [`MATRIX`].
const CALLERS: [Caller; 7] = [
    Caller::Anonymous,
    Caller::Admin,
    Caller::User,
    Caller::Marketing,
    Caller::Scoped,
    Caller::Other,
    Caller::Operator,
];

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Caller::Anonymous => "anonymous",
            Caller::Admin => "admin",
            Caller::User => "user",
            Caller::Marketing => "marketing",
            Caller::Scoped => "scoped admin",
            Caller::Other => "other org's admin",
            Caller::Operator => "operator",
        })
    }
}

struct Row {
    method: &'static str,
    path: &'static str,
    variant: &'static str,
    expect: [u16; 7],
}

impl Row {
    fn operation(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The status expected of the `i`th caller: the policy's, or the code's where
    /// [`DEVIATIONS`] records a disagreement still to be decided.
    fn expected(&self, i: usize) -> u16 {
        let route = self.to_string();
        DEVIATIONS
            .iter()
            .find(|(r, c, _)| *r == route && *c == CALLERS[i])
            .map_or(self.expect[i], |(_, _, actual)| *actual)
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if self.variant != "-" {
            write!(f, " [{}]", self.variant)?;
        }
        Ok(())
    }
}

fn rows() -> Vec<Row> {
    MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&'static str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 10, "method, path, variant, 7 statuses: {line}");
            Row {
                method: f[0],
                path: f[1],
                variant: f[2],
                expect: std::array::from_fn(|i| f[3 + i].parse().unwrap()),
            }
        })
        .collect()
}

/// A session as the request headers carry it. Requests go through a client without a
/// cookie store, so no answer (a new cookie, a cleared one) changes a caller.
#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
    identity: String,
}

#[derive(Clone)]
enum Who {
    Nobody,
    Person(Session),
    Operator,
}

/// One request of the matrix.
struct Call {
    path: String,
    body: Option<Value>,
    who: Who,
}

impl Call {
    fn at(mut self, param: &str, value: &str) -> Self {
        self.path = self.path.replace(param, value);
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn by(mut self, who: Who) -> Self {
        self.who = who;
        self
    }
}

struct Account {
    caller: Caller,
    email: String,
    session: Session,
}

/// Acme with its callers and the objects the rows read.
struct World {
    app: TestApp,
    http: Client,
    seq: AtomicU32,
    accounts: Vec<Account>,
    paris: String,
    lyon: String,
    group: String,
    customer: String,
    role: String,
    /// An open task (category `renewals`, which notification rows choose).
    task: String,
    /// A User member of Paris, for the rows that only read a member.
    paris_member: String,
    /// A User member with no entity: outside the scoped admin's reach.
    outsider: String,
    /// An active member whose credentials the sign-in row uses.
    signer: String,
    /// [`PW`], hashed once for the members put in the store (hashing is what is slow).
    hash: String,
}

/// A member put straight into the store.
struct Member {
    id: String,
    email: String,
    identity: IdentityId,
}

impl World {
    async fn new() -> World {
        let app = spawn_app().await;
        // Both before any other email: `admin` expects exactly one.
        app.admin("Acme", "ann@acme.example", PW).await;
        app.admin("Globex", "gil@globex.example", PW).await;
        let policy = PasswordPolicy::default();
        let accepted = policy.check(PW, &PolicyContext::default()).unwrap();
        let hash = app.roster.passwords.hash(accepted).await.unwrap();
        let mut w = World {
            app,
            http: Client::new(),
            seq: AtomicU32::new(0),
            accounts: vec![],
            paris: String::new(),
            lyon: String::new(),
            group: String::new(),
            customer: String::new(),
            role: String::new(),
            task: String::new(),
            paris_member: String::new(),
            outsider: String::new(),
            signer: String::new(),
            hash,
        };
        w.add_account(Caller::Admin, "ann@acme.example").await;
        w.add_account(Caller::Other, "gil@globex.example").await;
        let entity = |name: &str| json!({ "name": name });
        w.paris = w.create("entities", entity("Paris")).await;
        w.lyon = w.create("entities", entity("Lyon")).await;
        let main = [
            (Caller::User, BuiltinRole::User, "uma@acme.example"),
            (
                Caller::Marketing,
                BuiltinRole::Marketing,
                "max@acme.example",
            ),
            (Caller::Scoped, BuiltinRole::Admin, "sam@acme.example"),
        ];
        for (caller, role, email) in main {
            let id = w.app.add_member("acme", email, PW, &[role]).await;
            if caller == Caller::Scoped {
                w.scope_to_paris(&id.to_string()).await;
            }
            w.add_account(caller, email).await;
        }
        w.group = w
            .create("groups", json!({ "name": "Readers", "roles": ["user"] }))
            .await;
        w.customer = w.create("customers", json!({ "name": "Initech" })).await;
        w.role = w
            .create(
                "roles",
                json!({ "name": "Auditor", "permissions": ["users.read"] }),
            )
            .await;
        w.task = w
            .create(
                "tasks",
                json!({ "category": "renewals", "title": "Renew Initech" }),
            )
            .await;
        w.paris_member = w.active("-").await;
        w.outsider = w.active("outsider").await;
        w.signer = w.target("outsider", MembershipStatus::Active).await.email;
        w
    }

    fn next(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn account(&self, caller: Caller) -> &Account {
        self.accounts
            .iter()
            .find(|a| a.caller == caller)
            .unwrap_or_else(|| panic!("{caller} has no account"))
    }

    async fn add_account(&mut self, caller: Caller, email: &str) {
        let session = self.sign_in(email).await;
        self.accounts.push(Account {
            caller,
            email: email.to_owned(),
            session,
        });
    }

    /// How `caller` presents itself on a request.
    fn who(&self, caller: Caller) -> Who {
        match caller {
            Caller::Anonymous => Who::Nobody,
            Caller::Operator => Who::Operator,
            person => Who::Person(self.account(person).session.clone()),
        }
    }

    /// A new session of the caller's own account.
    async fn fresh_session(&self, caller: Caller) -> Who {
        match caller {
            Caller::Anonymous | Caller::Operator => self.who(caller),
            person => Who::Person(self.sign_in(&self.account(person).email).await),
        }
    }

    /// A new person of the same kind as `caller`, signed in.
    async fn fresh_person(&self, caller: Caller) -> Who {
        match caller {
            Caller::Anonymous | Caller::Operator => self.who(caller),
            person => Who::Person(self.sign_in(&self.new_person(person).await).await),
        }
    }

    /// Adds a person of `caller`'s kind with password [`PW`]; returns their email.
    async fn new_person(&self, caller: Caller) -> String {
        let (org, role) = match caller {
            Caller::Admin | Caller::Scoped => ("acme", BuiltinRole::Admin),
            Caller::User => ("acme", BuiltinRole::User),
            Caller::Marketing => ("acme", BuiltinRole::Marketing),
            Caller::Other => ("globex", BuiltinRole::Admin),
            Caller::Anonymous | Caller::Operator => panic!("{caller} is not a person"),
        };
        let active = MembershipStatus::Active;
        let person = self.member(org, &[role], active, None).await;
        if caller == Caller::Scoped {
            self.scope_to_paris(&person.id).await;
        }
        person.email
    }

    /// Makes an admin of acme a scoped admin: puts them in Paris, then limits their admin
    /// scope to Paris, as the admin of the whole organization.
    async fn scope_to_paris(&self, member: &str) {
        let member = format!("{ACME}/members/{member}");
        let paris = &self.paris;
        let entity = json!({ "entity": paris });
        self.as_admin("PUT", &format!("{member}/entity"), entity)
            .await;
        let scope = json!({ "entities": [paris] });
        self.as_admin("PUT", &format!("{member}/admin-scope"), scope)
            .await;
    }

    async fn sign_in(&self, email: &str) -> Session {
        let resp = self.app.sign_in_raw(&self.http, email, PW).await;
        assert_eq!(resp.status(), 200, "sign-in of {email}");
        let cookie = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .find(|c| c.starts_with("roster_session="))
            .unwrap()
            .to_owned();
        let body: Value = resp.json().await.unwrap();
        Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            identity: body["identity"]["id"].as_str().unwrap().to_owned(),
        }
    }

    async fn send(&self, method: &str, call: &Call) -> (u16, String) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, self.app.url(&call.path));
        rb = match &call.who {
            Who::Nobody => rb,
            Who::Operator => rb.bearer_auth(&self.app.operator_token),
            Who::Person(s) => rb.header(COOKIE, &s.cookie).header("x-csrf-token", &s.csrf),
        };
        if let Some(body) = &call.body {
            rb = rb.json(body);
        }
        let resp = rb.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A request of the main admin that builds a fixture; panics unless it succeeds.
    async fn as_admin(&self, method: &str, path: &str, body: Value) -> Value {
        let call = Call {
            path: path.to_owned(),
            body: Some(body),
            who: self.who(Caller::Admin),
        };
        let (status, text) = self.send(method, &call).await;
        assert!(
            (200..300).contains(&status),
            "fixture {method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates an object under `/api/v1/orgs/acme/{what}` as the admin; returns its id.
    async fn create(&self, what: &str, body: Value) -> String {
        let created = self.as_admin("POST", &format!("{ACME}/{what}"), body).await;
        created["id"].as_str().unwrap().to_owned()
    }

    fn unique(&self, what: &str) -> String {
        format!("{what} {}", self.next())
    }

    /// A member put straight into the store, of `org`, with password [`PW`].
    async fn member(
        &self,
        org: &str,
        roles: &[BuiltinRole],
        status: MembershipStatus,
        entity: Option<&str>,
    ) -> Member {
        let email = format!("member-{}@{org}.example", self.next());
        let now = self.app.clock.now();
        let mut tx = self.app.roster.store.begin().await.unwrap();
        let org = tx
            .org_by_slug(&Slug::parse(org).unwrap())
            .await
            .unwrap()
            .unwrap();
        let mut identity = Identity::new(Email::parse(&email).unwrap(), None, now);
        identity.password_hash = Some(self.hash.clone());
        let membership = Membership {
            entity: entity.map(|e| EntityId::from_uuid(e.parse().unwrap())),
            ..Membership::new(org.id, identity.id, status, roles.iter().copied(), now)
        };
        tx.insert_identity(&identity).await.unwrap();
        tx.insert_membership(&membership).await.unwrap();
        tx.commit().await.unwrap();
        Member {
            id: membership.id.to_string(),
            email,
            identity: identity.id,
        }
    }

    /// A member of acme: a User of Paris, an Admin of Paris (`paris-admin`), or a User with
    /// no entity (`outsider`, beyond the scoped admin's reach).
    async fn target(&self, variant: &str, status: MembershipStatus) -> Member {
        let (role, entity) = match variant {
            "outsider" => (BuiltinRole::User, None),
            "paris-admin" => (BuiltinRole::Admin, Some(self.paris.as_str())),
            _ => (BuiltinRole::User, Some(self.paris.as_str())),
        };
        self.member("acme", &[role], status, entity).await
    }

    /// The id of a fresh active target (see [`World::target`]).
    async fn active(&self, variant: &str) -> String {
        self.target(variant, MembershipStatus::Active).await.id
    }

    /// A pending invitation (in Paris unless `outsider`), made by the admin through the
    /// API: the membership id and the invited address.
    async fn invitation(&self, variant: &str) -> (String, String) {
        let email = format!("invitee-{}@acme.example", self.next());
        let entity = (variant != "outsider").then(|| self.paris.clone());
        let member = self
            .as_admin(
                "POST",
                &format!("{ACME}/invitations"),
                json!({ "email": email, "roles": ["user"], "entity": entity }),
            )
            .await;
        (member["id"].as_str().unwrap().to_owned(), email)
    }

    async fn invitation_token(&self) -> String {
        let (_, email) = self.invitation("-").await;
        token_from_email(&self.mail_to(&email).await, &self.app.base)
    }

    /// Delivers the outbox until the email to `address` comes out.
    async fn mail_to(&self, address: &str) -> String {
        loop {
            let mails = self.app.deliver().await;
            assert!(!mails.is_empty(), "no email to {address}");
            if let Some((_, eml)) = mails.into_iter().find(|(to, _)| to.contains(address)) {
                return eml;
            }
        }
    }
}

/// The request of `row` for `caller`, with its fixture built.
async fn call(w: &World, row: &Row, caller: Caller) -> Call {
    let call = Call {
        path: row.path.replace("{org}", "acme"),
        body: None,
        who: w.who(caller),
    };
    let member = "{member}";
    let v = row.variant;
    match (row.method, row.path, v) {
        // --- public
        ("GET", "/healthz" | "/readyz" | "/metrics", "-") => call,
        ("POST", "/api/v1/auth/sign-in", "-") => call
            .by(w.fresh_session(caller).await)
            .body(json!({ "email": w.signer, "password": PW })),
        ("POST", "/api/v1/auth/password-reset", "-") => {
            call.body(json!({ "email": format!("reset-{}@acme.example", w.next()) }))
        }
        ("POST", "/api/v1/auth/password-reset/confirm", "-") => {
            let target = w.target("-", MembershipStatus::Active).await;
            let path = format!("{ACME}/members/{}/password-reset", target.id);
            w.as_admin("POST", &path, json!({})).await;
            let mail = w.mail_to(&target.email).await;
            let token = link_token(&mail, &w.app.base, "/password-reset/");
            call.body(json!({ "token": token, "new_password": NEW_PW }))
        }
        ("POST", "/api/v1/auth/email-change/confirm", "-") => {
            // What `POST /api/v1/me/email` does, without signing the person in.
            let person = w.target("-", MembershipStatus::Active).await;
            let new_email = format!("changed-{}@acme.example", w.next());
            let roster = &w.app.roster;
            let asked = roster.request_email_change(person.identity, PW, &new_email);
            asked.await.unwrap();
            let mail = w.mail_to(&new_email).await;
            let token = link_token(&mail, &w.app.base, "/email-change/");
            call.body(json!({ "token": token }))
        }
        ("GET", "/api/v1/invitations/{token}", "-") => {
            call.at("{token}", &w.invitation_token().await)
        }
        // Accepting ends the session it was sent with: a fresh one.
        ("POST", "/api/v1/invitations/{token}/accept", "-") => call
            .at("{token}", &w.invitation_token().await)
            .by(w.fresh_session(caller).await)
            .body(json!({ "password": NEW_PW, "password_confirmation": NEW_PW })),
        // --- the signed-in person
        ("GET", "/api/v1/me" | "/api/v1/me/sessions", "-") => call,
        ("PATCH", "/api/v1/me", "-") => call.body(json!({ "name": "Matrix Person" })),
        ("POST", "/api/v1/me/password", "-") => call
            .by(w.fresh_person(caller).await)
            .body(json!({ "current_password": PW, "new_password": NEW_PW })),
        ("POST", "/api/v1/me/email", "-") => call.body(json!({
            "new_email": format!("new-{}@acme.example", w.next()),
            "current_password": PW,
        })),
        ("DELETE", "/api/v1/me/sessions/{id}", "-") => {
            // Another session of the caller's own account.
            let id = match w.fresh_session(caller).await {
                Who::Person(second) => {
                    let list = Call {
                        path: "/api/v1/me/sessions".into(),
                        body: None,
                        who: Who::Person(second),
                    };
                    let (_, text) = w.send("GET", &list).await;
                    let sessions: Value = serde_json::from_str(&text).unwrap();
                    let items = sessions["items"].as_array().unwrap();
                    let current = items.iter().find(|s| s["current"] == true).unwrap();
                    current["id"].as_str().unwrap().to_owned()
                }
                // Refused before the id matters.
                _ => uuid::Uuid::now_v7().to_string(),
            };
            call.at("{id}", &id)
        }
        ("POST", "/api/v1/auth/sign-out", "-") => call.by(w.fresh_session(caller).await),
        // --- deployment-wide
        ("GET", "/api/v1/permissions" | "/api/v1/orgs", "-") => call,
        ("POST", "/api/v1/orgs", "-") => {
            let n = w.next();
            call.body(
                json!({ "name": format!("Org {n}"), "slug": format!("org-{n}"), "kind": "vendor" }),
            )
        }
        // --- the organization
        ("GET", "/api/v1/orgs/{org}", "-") => call,
        ("PATCH", "/api/v1/orgs/{org}", "-") => call.body(json!({ "name": "Acme" })),
        // --- members
        ("GET", "/api/v1/orgs/{org}/members", "-") => call,
        ("GET", "/api/v1/orgs/{org}/members/{member}", "-") => call.at(member, &w.paris_member),
        ("GET", "/api/v1/orgs/{org}/members/{member}", "outsider") => call.at(member, &w.outsider),
        ("GET", "/api/v1/orgs/{org}/members/{member}", "me") => call.at(member, "me"),
        ("PATCH", "/api/v1/orgs/{org}/members/{member}", "-" | "outsider") => call
            .at(member, &w.active(v).await)
            .body(json!({ "name": "Renamed Member" })),
        ("DELETE", "/api/v1/orgs/{org}/members/{member}", "-" | "outsider") => {
            call.at(member, &w.active(v).await)
        }
        ("DELETE", "/api/v1/orgs/{org}/members/{member}", "me") => {
            call.at(member, "me").by(w.fresh_person(caller).await)
        }
        ("POST", "/api/v1/orgs/{org}/members/{member}/deactivate", _)
        | ("POST", "/api/v1/orgs/{org}/members/{member}/password-reset", _) => {
            call.at(member, &w.active(v).await)
        }
        ("POST", "/api/v1/orgs/{org}/members/{member}/activate", _) => {
            call.at(member, &w.target(v, MembershipStatus::Deactivated).await.id)
        }
        ("GET", "/api/v1/orgs/{org}/members/{member}/permissions", "-") => {
            call.at(member, &w.paris_member)
        }
        ("GET", "/api/v1/orgs/{org}/members/{member}/permissions", "outsider") => {
            call.at(member, &w.outsider)
        }
        ("GET", "/api/v1/orgs/{org}/members/{member}/sign-in-attempts", "-") => {
            call.at(member, &w.paris_member)
        }
        ("GET", "/api/v1/orgs/{org}/members/{member}/sign-in-attempts", "outsider") => {
            call.at(member, &w.outsider)
        }
        ("GET", "/api/v1/orgs/{org}/members/{member}/notifications", _) => call.at(
            member,
            match v {
                "me" => "me",
                "outsider" => &w.outsider,
                _ => &w.paris_member,
            },
        ),
        ("PUT", "/api/v1/orgs/{org}/members/{member}/notifications", _) => {
            let target = match v {
                "me" => "me".to_owned(),
                _ => w.active(v).await,
            };
            call.at(member, &target)
                .body(json!({ "frequency": "daily", "categories": ["renewals"] }))
        }
        ("PUT", "/api/v1/orgs/{org}/members/{member}/roles", _) => call
            .at(member, &w.active(v).await)
            .body(json!({ "roles": ["marketing"] })),
        ("PUT", "/api/v1/orgs/{org}/members/{member}/groups", _) => call
            .at(member, &w.active(v).await)
            .body(json!({ "groups": [w.group] })),
        ("PUT", "/api/v1/orgs/{org}/members/{member}/customers", _) => call
            .at(member, &w.active(v).await)
            .body(json!({ "customers": [w.customer] })),
        ("PUT", "/api/v1/orgs/{org}/members/{member}/entity", _) => {
            // Into Paris (for a member of Paris already there: within reach, unchanged);
            // `to-lyon` moves a member of Paris out of the scoped admin's reach.
            let to = if v == "to-lyon" { &w.lyon } else { &w.paris };
            call.at(member, &w.active(v).await)
                .body(json!({ "entity": to }))
        }
        ("PUT", "/api/v1/orgs/{org}/members/{member}/admin-scope", _) => {
            // An admin of the whole organization (in Paris, or outside it) gets scope Paris.
            let active = MembershipStatus::Active;
            let target = match v {
                "outsider" => {
                    let admin = [BuiltinRole::Admin];
                    w.member("acme", &admin, active, None).await
                }
                _ => w.target("paris-admin", active).await,
            };
            let target = target.id;
            call.at(member, &target)
                .body(json!({ "entities": [w.paris] }))
        }
        // --- invitations
        ("POST", "/api/v1/orgs/{org}/invitations", _) => {
            let entity = (v != "no-entity").then(|| w.paris.clone());
            call.body(json!({
                "email": format!("invited-{}@acme.example", w.next()),
                "roles": ["user"],
                "entity": entity,
            }))
        }
        ("POST", "/api/v1/orgs/{org}/members/{member}/invitation/resend", _) => {
            let (id, _) = w.invitation(v).await;
            // Past the resend cooldown, without sleeping.
            w.app.clock.advance(chrono::Duration::seconds(31));
            call.at(member, &id)
        }
        ("DELETE", "/api/v1/orgs/{org}/members/{member}/invitation", _) => {
            call.at(member, &w.invitation(v).await.0)
        }
        // --- roles and groups
        ("GET", "/api/v1/orgs/{org}/roles" | "/api/v1/orgs/{org}/groups", "-") => call,
        ("POST", "/api/v1/orgs/{org}/roles", "-") => call.body(json!({
            "name": w.unique("Role"),
            "permissions": ["users.read"],
        })),
        ("GET", "/api/v1/orgs/{org}/roles/{role}", "-") => call.at("{role}", &w.role),
        ("PATCH" | "DELETE", "/api/v1/orgs/{org}/roles/{role}", "-") => {
            let body = json!({ "name": w.unique("Role"), "permissions": ["users.read"] });
            let call = call.at("{role}", &w.create("roles", body).await);
            match row.method {
                "PATCH" => call.body(json!({ "description": "changed" })),
                _ => call,
            }
        }
        ("POST", "/api/v1/orgs/{org}/groups", "-") => {
            call.body(json!({ "name": w.unique("Group"), "roles": ["user"] }))
        }
        ("GET", "/api/v1/orgs/{org}/groups/{group}", "-") => call.at("{group}", &w.group),
        ("PATCH" | "DELETE", "/api/v1/orgs/{org}/groups/{group}", "-") => {
            let body = json!({ "name": w.unique("Group"), "roles": ["user"] });
            let call = call.at("{group}", &w.create("groups", body).await);
            match row.method {
                "PATCH" => call.body(json!({ "description": "changed" })),
                _ => call,
            }
        }
        // --- customers
        ("GET", "/api/v1/orgs/{org}/customers", "-") => call,
        ("POST", "/api/v1/orgs/{org}/customers", "-") => {
            call.body(json!({ "name": w.unique("Customer") }))
        }
        ("GET", "/api/v1/orgs/{org}/customers/{customer}", "-") => {
            call.at("{customer}", &w.customer)
        }
        ("PATCH" | "DELETE", "/api/v1/orgs/{org}/customers/{customer}", "-") => {
            let body = json!({ "name": w.unique("Customer") });
            let call = call.at("{customer}", &w.create("customers", body).await);
            match row.method {
                "PATCH" => call.body(json!({ "name": w.unique("Renamed customer") })),
                _ => call,
            }
        }
        // --- entities
        ("GET", "/api/v1/orgs/{org}/entities", "-") => call,
        ("POST", "/api/v1/orgs/{org}/entities", "-") => {
            call.body(json!({ "name": w.unique("Entity") }))
        }
        ("GET", "/api/v1/orgs/{org}/entities/{entity}", "-") => call.at("{entity}", &w.paris),
        ("PATCH" | "DELETE", "/api/v1/orgs/{org}/entities/{entity}", "-") => {
            let body = json!({ "name": w.unique("Entity") });
            let call = call.at("{entity}", &w.create("entities", body).await);
            match row.method {
                "PATCH" => call.body(json!({ "name": w.unique("Renamed entity") })),
                _ => call,
            }
        }
        // --- the check API
        ("POST", "/api/v1/orgs/{org}/check" | "/api/v1/orgs/{org}/check/explain", "-") => call
            .body(json!({
                "identity_id": w.account(Caller::User).session.identity,
                "permission": "customers.read",
            })),
        // --- tasks
        ("POST", "/api/v1/orgs/{org}/tasks", "-") => call.body(json!({
            "category": "renewals",
            "title": w.unique("Renew"),
        })),
        ("GET", "/api/v1/orgs/{org}/tasks" | "/api/v1/orgs/{org}/task-categories", "-") => call,
        ("GET", "/api/v1/orgs/{org}/audit", "-") => call,
        // A connection exists before each call (the DELETE of the previous cell removed
        // it); its issuer refuses connections at once, so the test answers fast.
        (
            "GET" | "PUT" | "DELETE" | "POST",
            "/api/v1/orgs/{org}/sso" | "/api/v1/orgs/{org}/sso/test",
            "-",
        ) => {
            let body = json!({
                "issuer": "http://127.0.0.1:9",
                "client_id": "roster",
                "client_secret": "matrix secret",
                "domains": ["sso-matrix.example"],
                "default_role": "user",
            });
            w.as_admin("PUT", &format!("{ACME}/sso"), body.clone())
                .await;
            match row.method {
                "PUT" => call.body(body),
                _ => call,
            }
        }
        ("GET", "/api/v1/orgs/{org}/tasks/{task}", "-") => call.at("{task}", &w.task),
        ("PATCH", "/api/v1/orgs/{org}/tasks/{task}", "-") => {
            let body = json!({ "category": "renewals", "title": w.unique("Renew") });
            call.at("{task}", &w.create("tasks", body).await)
                .body(json!({ "status": "done" }))
        }
        // --- API tokens
        ("POST", "/api/v1/orgs/{org}/tokens", "-") => call.body(json!({
            "name": w.unique("token"),
            "permissions": ["users.read"],
        })),
        ("GET", "/api/v1/orgs/{org}/tokens", "-") => call,
        ("DELETE", "/api/v1/orgs/{org}/tokens/{id}", "-") => {
            let body = json!({ "name": w.unique("token"), "permissions": ["users.read"] });
            let created = w.as_admin("POST", &format!("{ACME}/tokens"), body).await;
            call.at("{id}", created["id"].as_str().unwrap())
        }
        _ => panic!("no fixture for the matrix row {row}: add one to `call`"),
    }
}

/// Every documented operation, as `METHOD path`.
async fn documented(app: &TestApp) -> BTreeSet<String> {
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_policy_says() {
    let w = World::new().await;
    let rows = rows();

    // The table covers exactly the documented operations, each once: a new route without
    // a row fails here.
    let documented = documented(&w.app).await;
    let main: Vec<String> = rows
        .iter()
        .filter(|r| r.variant == "-")
        .map(Row::operation)
        .collect();
    let tabled: BTreeSet<String> = main.iter().cloned().collect();
    assert_eq!(main.len(), tabled.len(), "an operation has two `-` rows");
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let unknown: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the matrix must list every documented operation: missing {missing:?}, not \
         documented {unknown:?}"
    );
    for row in &rows {
        assert!(tabled.contains(&row.operation()), "{row} has no `-` row");
    }
    for (route, caller, _) in DEVIATIONS {
        assert!(
            rows.iter().any(|r| r.to_string() == *route),
            "deviation for {caller} on {route}, which has no row"
        );
    }

    // Before the rows add members: the list is known exactly.
    a_scoped_admin_lists_only_the_members_of_their_entities(&w).await;

    let mut mismatches = vec![];
    for row in &rows {
        for (i, caller) in CALLERS.into_iter().enumerate() {
            let request = call(&w, row, caller).await;
            let (status, body) = w.send(row.method, &request).await;
            let expected = row.expected(i);
            if status != expected {
                let body: String = body.chars().take(160).collect();
                mismatches.push(format!(
                    "{row} as {caller}: expected {expected}, got {status} ({body})"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} cell(s) of the authorization matrix differ:\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
}

/// A scoped admin's member list holds the members of Paris only (themselves and the
/// member of Paris), where the admin of the whole organization sees the outsider too.
async fn a_scoped_admin_lists_only_the_members_of_their_entities(w: &World) {
    let list = |caller| Call {
        path: format!("{ACME}/members?limit=200"),
        body: None,
        who: w.who(caller),
    };
    let ids = |text: &str| -> Vec<(String, Value)> {
        let page: Value = serde_json::from_str(text).unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_str().unwrap().to_owned(), m["entity"].clone()))
            .collect()
    };

    let (status, text) = w.send("GET", &list(Caller::Scoped)).await;
    assert_eq!(status, 200, "{text}");
    let scoped = ids(&text);
    assert!(
        scoped.iter().all(|(_, entity)| *entity == json!(w.paris)),
        "a member outside Paris in {text}"
    );
    assert!(scoped.iter().any(|(id, _)| *id == w.paris_member));
    assert!(!scoped.iter().any(|(id, _)| *id == w.outsider));
    assert_eq!(
        scoped.len(),
        2,
        "the scoped admin and the member of Paris: {text}"
    );
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["total"], 2, "the total counts only what they see");

    let (status, text) = w.send("GET", &list(Caller::Admin)).await;
    assert_eq!(status, 200, "{text}");
    let all = ids(&text);
    assert!(all.iter().any(|(id, _)| *id == w.outsider));
    assert!(all.len() > scoped.len());
}
