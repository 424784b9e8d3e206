//! The member list at scale (issue 9): N members in the bench organization, seeded with SQL
//! straight into the server's store while the server is stopped, then the list API asked
//! for its first page, a keyset page near the end, a prefix search and a substring search,
//! each compared with a primary-key point read on the same store in the same run. Beside
//! it, a small organization of `SMALL_ORG` of those identities is searched for a common
//! part of a name, which many of the deployment's identities share: what a tenant's search
//! costs on a deployment whose other tenants hold the million.
//!
//! The rows are those the product writes: identities with `email_key` from
//! [`Email::key`] and `name_key` from [`search_key`], memberships with their built-in
//! roles and a planned digest time (as the scheduler leaves an active member), and
//! sessions whose token hashes are [`Secret::hash`] of real tokens, so the harness can use
//! them. Before measuring, the harness asks the API once for each page and checks what it
//! answers against what was seeded, so the product's own queries find these rows exactly
//! as they find real ones.

use crate::load::Target;
use crate::report::{Limit, Row};
use crate::scenarios::{self, Timing};
use crate::seed::Person;
use crate::server::StoreSpec;
use anyhow::{anyhow, bail, ensure, Context};
use chrono::{DateTime, Utc};
use reqwest::{header, Client, StatusCode};
use roster_core::email::Email;
use roster_core::ids::{MembershipId, OrgId, SessionId};
use roster_core::model::{
    BuiltinRole, DigestFrequency, Identity, Membership, MembershipStatus, OrgSettings, Session,
};
use roster_core::names::{search_key, DisplayName};
use roster_core::passwords::{PasswordPolicy, Passwords, PolicyContext};
use roster_core::secrets::Secret;
use roster_core::usecases::digests::next_slot;
use roster_core::usecases::sessions::SESSION_TOKEN_PREFIX;
use sqlx::{Connection, Executor, PgConnection, QueryBuilder, SqliteConnection};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Members in the organization: issue 9's million, or enough for `--quick` to show that
/// every step works in a few seconds.
pub fn count(quick: bool) -> usize {
    if quick {
        20_000
    } else {
        1_000_000
    }
}

/// Members per page, as the console asks.
const PAGE: usize = 50;
/// Members a search should find: "a few hundred", whatever N is.
const HITS: usize = 300;
/// Rows per INSERT statement (11 bindings a row stays under SQLite's 32,766) and members
/// per transaction.
const ROWS_PER_STATEMENT: usize = 1_000;
const MEMBERS_PER_TRANSACTION: usize = 20_000;

/// The small organization beside the bench organization: its slug and how many of the
/// seeded identities are its members (and the bench admin, as its admin).
const SMALL_ORG_SLUG: &str = "bench-small";
const SMALL_ORG: usize = 100;
/// A part of a name many identities share (Umar, Marta, Omar, Xiomara: about one in
/// thirteen), searched in the small organization.
pub const COMMON_QUERY: &str = "mar";

/// The search that finds a few hundred members by the start of their name and email.
pub const PREFIX_QUERY: &str = "xiomar";
const PREFIX_FIRST_NAME: &str = "Xiomara";
/// The search that finds a few hundred members by a part inside their surname (and so
/// inside their name and email), never at the start of either.
pub const SUBSTRING_QUERY: &str = "stgaar";
const SUBSTRING_LAST_NAME: &str = "Kristgaard";

const FIRST_NAMES: [&str; 40] = [
    "Ada", "Ben", "Carla", "Dario", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wim", "Yara",
    "Zeno", "Alba", "Bruno", "Chloe", "Duc", "Emma", "Farah", "Gil", "Hana", "Ivo", "Jana", "Kofi",
    "Lena", "Marta", "Noor", "Omar", "Priya",
];
const LAST_NAMES: [&str; 40] = [
    "Adler",
    "Baker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Alvarez",
    "Berg",
    "Chen",
    "Dahl",
    "Evans",
    "Ferreira",
    "Gupta",
    "Horvat",
    "Ito",
    "Jovanovic",
    "Kim",
    "Lopez",
    "Meyer",
    "Nakamura",
    "Olsen",
];
const DOMAINS: [&str; 4] = ["example.com", "example.org", "example.net", "mail.example"];

/// `1,000,000`: counts in row names.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Who member `i` of `n` is. Every `stride`-th member (offset a third of the way in) is
/// named Xiomara, every other one (offset two thirds) is a Kristgaard, so each search finds
/// about `HITS` members spread over the whole id range; the rest are common names.
/// Every 50th member is deactivated (still listed), every 20th is also in Marketing, and
/// every 10th (all active) holds a session.
#[derive(Clone, Copy, Debug)]
struct Plan {
    stride: usize,
}

impl Plan {
    fn new(n: usize) -> Self {
        Self {
            stride: (n / HITS).max(3),
        }
    }

    fn name(&self, i: usize) -> (&'static str, &'static str) {
        let first = if i % self.stride == self.stride / 3 {
            PREFIX_FIRST_NAME
        } else {
            FIRST_NAMES[i % FIRST_NAMES.len()]
        };
        let last = if i % self.stride == 2 * self.stride / 3 {
            SUBSTRING_LAST_NAME
        } else {
            LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()]
        };
        (first, last)
    }

    fn email(&self, i: usize) -> String {
        let (first, last) = self.name(i);
        format!(
            "{}.{}{i}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            DOMAINS[i % DOMAINS.len()]
        )
    }

    fn status(i: usize) -> MembershipStatus {
        if i % 50 == 49 {
            MembershipStatus::Deactivated
        } else {
            MembershipStatus::Active
        }
    }

    fn roles(i: usize) -> Vec<BuiltinRole> {
        if i % 20 == 0 {
            vec![BuiltinRole::User, BuiltinRole::Marketing]
        } else {
            vec![BuiltinRole::User]
        }
    }

    fn has_session(i: usize) -> bool {
        i % 10 == 0
    }
}

/// What the organization and the product's settings give every seeded row.
struct Seeding {
    org: OrgId,
    settings: OrgSettings,
    now: DateTime<Utc>,
    /// The next weekly digest time in the organization's zone: an active member the
    /// scheduler has planned, so the server's scheduler has nothing to catch up on.
    digest_next_at: DateTime<Utc>,
    /// One argon2id hash for everyone: rows as long as real ones, hashed once.
    password_hash: String,
}

struct Member {
    identity: Identity,
    membership: Membership,
    digest_next_at: Option<DateTime<Utc>>,
    session: Option<(Session, Secret)>,
}

impl Seeding {
    fn member(&self, plan: &Plan, i: usize) -> anyhow::Result<Member> {
        let (first, last) = plan.name(i);
        let mut identity = Identity::new(
            Email::parse(&plan.email(i))?,
            Some(DisplayName::parse(&format!("{first} {last}"))?),
            self.now,
        );
        identity.password_hash = Some(self.password_hash.clone());
        identity.email_verified_at = Some(self.now);
        let status = Plan::status(i);
        let membership = Membership::new(self.org, identity.id, status, Plan::roles(i), self.now);
        let session = if Plan::has_session(i) {
            let token = Secret::generate(SESSION_TOKEN_PREFIX)?;
            let csrf = Secret::generate("")?;
            Some((
                Session {
                    id: SessionId::new(),
                    identity_id: identity.id,
                    token_hash: token.hash(),
                    csrf_hash: csrf.hash(),
                    created_at: self.now,
                    last_seen_at: self.now,
                    expires_at: self.now
                        + chrono::Duration::hours(i64::from(self.settings.session_lifetime_hours)),
                    idle_timeout_minutes: self.settings.session_idle_timeout_minutes,
                    revoked_at: None,
                },
                token,
            ))
        } else {
            None
        };
        Ok(Member {
            identity,
            membership,
            digest_next_at: (status == MembershipStatus::Active).then_some(self.digest_next_at),
            session,
        })
    }
}

/// What seeding left for the scenarios.
pub struct Seeded {
    pub members: usize,
    /// Every seeded membership id, in id order (the list's order).
    pub ids: Vec<MembershipId>,
    /// The session tokens, one per tenth member.
    pub session_tokens: Vec<String>,
    pub prefix_hits: usize,
    pub substring_hits: usize,
    /// The small organization's members that [`COMMON_QUERY`] finds.
    pub small_org_hits: usize,
    pub took: Duration,
}

/// The store's connection for seeding, one write transaction at a time.
enum Writer {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Writer {
    async fn open(store: &StoreSpec) -> anyhow::Result<Self> {
        use sqlx::ConnectOptions;
        Ok(match store.database_url() {
            None => Self::Sqlite(
                // The server is stopped, so this is the only connection; foreign keys are
                // checked as the store checks them. synchronous=NORMAL: the load is not
                // measured, and the final checkpoint makes it durable.
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(store.sqlite_file())
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .context("opening the server's SQLite file")?,
            ),
            Some(url) => Self::Postgres(PgConnection::connect(url).await?),
        })
    }

    /// The bench organization's id and settings.
    async fn org(&mut self) -> anyhow::Result<(OrgId, OrgSettings)> {
        let (id, settings): (OrgId, String) = match self {
            Self::Sqlite(c) => {
                let (id, settings): (String, String) =
                    sqlx::query_as("SELECT id, settings FROM organizations WHERE slug = 'bench'")
                        .fetch_one(&mut *c)
                        .await?;
                (id.parse()?, settings)
            }
            Self::Postgres(c) => {
                let (id, settings): (sqlx::types::Uuid, String) = sqlx::query_as(
                    "SELECT id, settings::text FROM organizations WHERE slug = 'bench'",
                )
                .fetch_one(&mut *c)
                .await?;
                (OrgId::from_uuid(id), settings)
            }
        };
        Ok((id, serde_json::from_str(&settings)?))
    }

    async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(c) => {
                c.execute(sql).await?;
            }
            Self::Postgres(c) => {
                c.execute(sql).await?;
            }
        }
        Ok(())
    }

    async fn begin(&mut self) -> anyhow::Result<()> {
        let sql = if matches!(self, Self::Sqlite(_)) {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        self.execute(sql).await
    }

    /// Inserts one batch: identities, memberships, their roles, sessions; the same columns
    /// the store's own inserts fill, with the same encodings.
    async fn insert(&mut self, batch: &[Member]) -> anyhow::Result<()> {
        self.insert_identities(batch).await?;
        let memberships: Vec<(&Membership, Option<DateTime<Utc>>)> = batch
            .iter()
            .map(|m| (&m.membership, m.digest_next_at))
            .collect();
        self.insert_memberships(&memberships).await
    }

    /// Inserts memberships of identities already there, with their built-in roles and
    /// planned digest times.
    async fn insert_memberships(
        &mut self,
        batch: &[(&Membership, Option<DateTime<Utc>>)],
    ) -> anyhow::Result<()> {
        let roles: Vec<(MembershipId, OrgId, BuiltinRole)> = batch
            .iter()
            .flat_map(|(m, _)| m.roles.iter().map(move |r| (m.id, m.org_id, *r)))
            .collect();
        const MEMBERSHIPS: &str = "INSERT INTO memberships (id, org_id, identity_id, status, \
             created_at, updated_at, removed_at, digest_next_at) ";
        const ROLES: &str = "INSERT INTO membership_roles (membership_id, org_id, role) ";
        match self {
            Self::Sqlite(c) => {
                let mut q = QueryBuilder::<sqlx::Sqlite>::new(MEMBERSHIPS);
                q.push_values(batch, |mut b, (x, digest_next_at)| {
                    b.push_bind(x.id.to_string())
                        .push_bind(x.org_id.to_string())
                        .push_bind(x.identity_id.to_string())
                        .push_bind(x.status.as_str())
                        .push_bind(ms(x.created_at))
                        .push_bind(ms(x.updated_at))
                        .push_bind(x.removed_at.map(ms))
                        .push_bind(digest_next_at.map(ms));
                });
                q.build().execute(&mut *c).await?;
                let mut q = QueryBuilder::<sqlx::Sqlite>::new(ROLES);
                q.push_values(&roles, |mut b, (id, org, role)| {
                    b.push_bind(id.to_string())
                        .push_bind(org.to_string())
                        .push_bind(role.as_str());
                });
                q.build().execute(&mut *c).await?;
            }
            Self::Postgres(c) => {
                let mut q = QueryBuilder::<sqlx::Postgres>::new(MEMBERSHIPS);
                q.push_values(batch, |mut b, (x, digest_next_at)| {
                    b.push_bind(x.id.as_uuid())
                        .push_bind(x.org_id.as_uuid())
                        .push_bind(x.identity_id.as_uuid())
                        .push_bind(x.status.as_str())
                        .push_bind(x.created_at)
                        .push_bind(x.updated_at)
                        .push_bind(x.removed_at)
                        .push_bind(*digest_next_at);
                });
                q.build().execute(&mut *c).await?;
                let mut q = QueryBuilder::<sqlx::Postgres>::new(ROLES);
                q.push_values(&roles, |mut b, (id, org, role)| {
                    b.push_bind(id.as_uuid())
                        .push_bind(org.as_uuid())
                        .push_bind(role.as_str());
                });
                q.build().execute(&mut *c).await?;
            }
        }
        Ok(())
    }

    /// A second organization, `SMALL_ORG_SLUG`, made like the bench organization (its kind
    /// and settings), with `members` and the bench admin as its admin, all active with the
    /// digest time the scheduler would have planned, as in the bench organization.
    async fn small_org(&mut self, members: &[Identity], seeding: &Seeding) -> anyhow::Result<()> {
        let now = seeding.now;
        let org = OrgId::new();
        const COPY: &str = "INSERT INTO organizations (id, kind, name, slug, settings, \
             created_at, updated_at) SELECT $1, kind, 'Bench small', $2, settings, created_at, \
             updated_at FROM organizations WHERE slug = 'bench'";
        const ADMIN: &str = "SELECT id FROM identities WHERE email_key = $1";
        let admin = crate::seed::ADMIN_EMAIL;
        let admin = match self {
            Self::Sqlite(c) => {
                let copy = COPY.replace('$', "?");
                sqlx::query(&copy)
                    .bind(org.to_string())
                    .bind(SMALL_ORG_SLUG)
                    .execute(&mut *c)
                    .await?;
                let id: String = sqlx::query_scalar(&ADMIN.replace('$', "?"))
                    .bind(admin)
                    .fetch_one(&mut *c)
                    .await?;
                id.parse()?
            }
            Self::Postgres(c) => {
                sqlx::query(COPY)
                    .bind(org.as_uuid())
                    .bind(SMALL_ORG_SLUG)
                    .execute(&mut *c)
                    .await?;
                let id: sqlx::types::Uuid = sqlx::query_scalar(ADMIN)
                    .bind(admin)
                    .fetch_one(&mut *c)
                    .await?;
                roster_core::ids::IdentityId::from_uuid(id)
            }
        };
        let active = MembershipStatus::Active;
        let mut memberships = vec![Membership::new(
            org,
            admin,
            active,
            [BuiltinRole::Admin],
            now,
        )];
        memberships.extend(
            members
                .iter()
                .map(|i| Membership::new(org, i.id, active, [BuiltinRole::User], now)),
        );
        let batch: Vec<_> = memberships
            .iter()
            .map(|m| (m, Some(seeding.digest_next_at)))
            .collect();
        self.insert_memberships(&batch).await
    }

    /// Inserts the identities of one batch, and the sessions of those that have one.
    async fn insert_identities(&mut self, batch: &[Member]) -> anyhow::Result<()> {
        let sessions: Vec<&Session> = batch
            .iter()
            .filter_map(|m| m.session.as_ref().map(|(s, _)| s))
            .collect();
        const IDENTITIES: &str = "INSERT INTO identities (id, email, email_key, name, name_key, \
             password_hash, email_verified_at, timezone, locale, created_at, updated_at) ";
        const SESSIONS: &str = "INSERT INTO sessions (id, identity_id, token_hash, csrf_hash, \
             created_at, last_seen_at, expires_at, idle_timeout_minutes, revoked_at) ";
        let name = |i: &Identity| i.name.as_ref().map(|n| n.as_str().to_owned());
        let name_key = |i: &Identity| i.name.as_ref().map(|n| search_key(n.as_str()));
        match self {
            Self::Sqlite(c) => {
                let mut q = QueryBuilder::<sqlx::Sqlite>::new(IDENTITIES);
                q.push_values(batch, |mut b, m| {
                    let i = &m.identity;
                    b.push_bind(i.id.to_string())
                        .push_bind(i.email.as_str().to_owned())
                        .push_bind(i.email.key())
                        .push_bind(name(i))
                        .push_bind(name_key(i))
                        .push_bind(i.password_hash.clone())
                        .push_bind(i.email_verified_at.map(ms))
                        .push_bind(i.timezone.clone())
                        .push_bind(i.locale.clone())
                        .push_bind(ms(i.created_at))
                        .push_bind(ms(i.updated_at));
                });
                q.build().execute(&mut *c).await?;
                if !sessions.is_empty() {
                    let mut q = QueryBuilder::<sqlx::Sqlite>::new(SESSIONS);
                    q.push_values(&sessions, |mut b, s| {
                        b.push_bind(s.id.to_string())
                            .push_bind(s.identity_id.to_string())
                            .push_bind(s.token_hash.as_str().to_owned())
                            .push_bind(s.csrf_hash.as_str().to_owned())
                            .push_bind(ms(s.created_at))
                            .push_bind(ms(s.last_seen_at))
                            .push_bind(ms(s.expires_at))
                            .push_bind(i64::from(s.idle_timeout_minutes))
                            .push_bind(s.revoked_at.map(ms));
                    });
                    q.build().execute(&mut *c).await?;
                }
            }
            Self::Postgres(c) => {
                let mut q = QueryBuilder::<sqlx::Postgres>::new(IDENTITIES);
                q.push_values(batch, |mut b, m| {
                    let i = &m.identity;
                    b.push_bind(i.id.as_uuid())
                        .push_bind(i.email.as_str().to_owned())
                        .push_bind(i.email.key())
                        .push_bind(name(i))
                        .push_bind(name_key(i))
                        .push_bind(i.password_hash.clone())
                        .push_bind(i.email_verified_at)
                        .push_bind(i.timezone.clone())
                        .push_bind(i.locale.clone())
                        .push_bind(i.created_at)
                        .push_bind(i.updated_at);
                });
                q.build().execute(&mut *c).await?;
                if !sessions.is_empty() {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new(SESSIONS);
                    q.push_values(&sessions, |mut b, s| {
                        b.push_bind(s.id.as_uuid())
                            .push_bind(s.identity_id.as_uuid())
                            .push_bind(s.token_hash.as_str().to_owned())
                            .push_bind(s.csrf_hash.as_str().to_owned())
                            .push_bind(s.created_at)
                            .push_bind(s.last_seen_at)
                            .push_bind(s.expires_at)
                            .push_bind(i32::try_from(s.idle_timeout_minutes).unwrap_or(i32::MAX))
                            .push_bind(s.revoked_at);
                    });
                    q.build().execute(&mut *c).await?;
                }
            }
        }
        Ok(())
    }

    /// Leaves the store as a long-running deployment has it: SQLite's WAL folded into the
    /// file; PostgreSQL's statistics gathered, as autovacuum does after a load this size.
    /// (SQLite gathers none by itself and the product runs no ANALYZE, so none is run.)
    async fn finish(mut self) -> anyhow::Result<()> {
        if matches!(self, Self::Sqlite(_)) {
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        } else {
            self.execute("ANALYZE identities, memberships, membership_roles, sessions")
                .await?;
        }
        match self {
            Self::Sqlite(c) => c.close().await?,
            Self::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

/// Seeds `n` members (and a session for every tenth) into the bench organization, in
/// transactions of `MEMBERS_PER_TRANSACTION`. The server must be stopped.
pub async fn seed(store: &StoreSpec, n: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let mut writer = Writer::open(store).await?;
    let (org, settings) = writer
        .org()
        .await
        .context("reading the bench organization")?;
    let now = Utc::now();
    let digest_next_at = settings
        .timezone
        .parse()
        .ok()
        .map(|tz| next_slot(DigestFrequency::Weekly, tz, now))
        .ok_or_else(|| anyhow!("the bench organization's time zone does not parse"))?;
    let password = crate::seed::random_password()?;
    let accepted = PasswordPolicy::default()
        .check(&password, &PolicyContext::default())
        .map_err(|v| anyhow!("the seeded password breaks the policy: {v:?}"))?;
    let password_hash = Passwords::new(1).hash(accepted).await?;
    let context = Seeding {
        org,
        settings,
        now,
        digest_next_at,
        password_hash,
    };
    let plan = Plan::new(n);

    let mut seeded = Seeded {
        members: n,
        ids: Vec::with_capacity(n),
        session_tokens: Vec::with_capacity(n / 10 + 1),
        prefix_hits: 0,
        substring_hits: 0,
        small_org_hits: 0,
        took: Duration::ZERO,
    };
    // Every `stride`-th identity, a stride that is no multiple of the forty first names,
    // so the small organization's names are as mixed as the deployment's.
    let stride = (n / SMALL_ORG).max(1) | 1;
    let mut small_org = Vec::with_capacity(SMALL_ORG);
    let mut reported = 0;
    let mut from = 0;
    while from < n {
        let to = (from + MEMBERS_PER_TRANSACTION).min(n);
        writer.begin().await?;
        let mut at = from;
        while at < to {
            let end = (at + ROWS_PER_STATEMENT).min(to);
            let batch = (at..end)
                .map(|i| context.member(&plan, i))
                .collect::<anyhow::Result<Vec<_>>>()?;
            writer
                .insert(&batch)
                .await
                .with_context(|| format!("inserting members {at}..{end}"))?;
            for m in batch {
                let name = m
                    .identity
                    .name
                    .as_ref()
                    .map(|n| search_key(n.as_str()))
                    .unwrap_or_default();
                let email = m.identity.email.key();
                let hit = |q: &str| name.contains(q) || email.contains(q);
                seeded.prefix_hits += usize::from(hit(PREFIX_QUERY));
                seeded.substring_hits += usize::from(hit(SUBSTRING_QUERY));
                if seeded.ids.len() % stride == 0 && small_org.len() < SMALL_ORG {
                    seeded.small_org_hits += usize::from(hit(COMMON_QUERY));
                    small_org.push(m.identity.clone());
                }
                seeded.ids.push(m.membership.id);
                if let Some((_, token)) = m.session {
                    seeded.session_tokens.push(token.expose().to_owned());
                }
            }
            at = end;
        }
        writer.execute("COMMIT").await?;
        from = to;
        if from - reported >= 100_000 || from == n {
            reported = from;
            crate::step(&format!(
                "  {} members seeded ({:.0} s)",
                thousands(from),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    writer.begin().await?;
    writer
        .small_org(&small_org, &context)
        .await
        .context("seeding the small organization")?;
    writer.execute("COMMIT").await?;
    writer.finish().await?;
    seeded.ids.sort_unstable();
    seeded.took = started.elapsed();
    Ok(seeded)
}

/// Waits until the server's outbox worker has sent every email that is due (the invitation
/// scenario can leave thousands), so its deliveries, two write transactions each, do not run
/// alongside the member-list scenarios. Returns how many were pending.
pub async fn wait_for_outbox(store: &StoreSpec, timeout: Duration) -> anyhow::Result<i64> {
    use sqlx::ConnectOptions;
    // Due ones only: the digest scenario's emails (PostgreSQL keeps them in the same
    // database) were queued by a clock set years ahead, and wait for it.
    const PENDING: &str = "SELECT count(*) FROM outbox WHERE status = 'pending' \
         AND next_attempt_at <= $1";
    let mut conn = match store.database_url() {
        None => Writer::Sqlite(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(store.sqlite_file())
                .busy_timeout(Duration::from_secs(10))
                .connect()
                .await?,
        ),
        Some(url) => Writer::Postgres(PgConnection::connect(url).await?),
    };
    let started = Instant::now();
    let mut first = None;
    loop {
        let pending: i64 = match &mut conn {
            Writer::Sqlite(c) => {
                sqlx::query_scalar(PENDING)
                    .bind(ms(Utc::now()))
                    .fetch_one(&mut *c)
                    .await?
            }
            Writer::Postgres(c) => {
                sqlx::query_scalar(PENDING)
                    .bind(Utc::now())
                    .fetch_one(&mut *c)
                    .await?
            }
        };
        let first = *first.get_or_insert(pending);
        if pending == 0 {
            break;
        }
        if started.elapsed() > timeout {
            bail!("{pending} of {first} emails still pending in the outbox after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match conn {
        Writer::Sqlite(c) => c.close().await?,
        Writer::Postgres(c) => c.close().await?,
    }
    Ok(first.unwrap_or(0))
}

/// Cursors as the API writes them (`next_cursor`: the id without hyphens).
fn cursor(id: MembershipId) -> String {
    id.to_string().replace('-', "")
}

/// One page of the scenario, as the seeded admin asks for it.
struct Page {
    what: &'static str,
    scenario: String,
    target: Target,
    goal_p99_ms: f64,
}

fn members_url(base: &str, query: &str) -> String {
    format!("{base}/api/v1/orgs/bench/members?limit={PAGE}{query}")
}

fn small_org_url(base: &str) -> String {
    format!("{base}/api/v1/orgs/{SMALL_ORG_SLUG}/members?limit={PAGE}&q={COMMON_QUERY}")
}

/// The keyset page 100 members before the end: its cursor is the id of the member before.
fn deep_cursor(seeded: &Seeded) -> anyhow::Result<(String, MembershipId)> {
    let n = seeded.ids.len();
    ensure!(n > 2 * PAGE, "too few members for a deep page");
    let before = seeded.ids[n - 2 * PAGE - 1];
    Ok((cursor(before), seeded.ids[n - 2 * PAGE]))
}

/// Asks once and checks the answer against the seed: the product's queries see the seeded
/// rows as they see real ones.
async fn check_page(
    client: &Client,
    url: &str,
    cookie: &str,
    expect: impl FnOnce(&serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let resp = client
        .get(url)
        .header(header::COOKIE, cookie)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if status != StatusCode::OK {
        bail!("GET {url} answered {status}: {body}");
    }
    expect(&body).with_context(|| {
        let text = body.to_string();
        let end = text.char_indices().nth(400).map_or(text.len(), |(i, _)| i);
        format!("GET {url} answered {}", &text[..end])
    })
}

async fn pages(
    client: &Client,
    base: &str,
    person: &Person,
    seeded: &Seeded,
) -> anyhow::Result<Vec<Page>> {
    let n = seeded.members;
    let (deep_cursor, deep_first) = deep_cursor(seeded)?;
    let urls = [
        members_url(base, ""),
        members_url(base, &format!("&cursor={deep_cursor}")),
        members_url(base, &format!("&q={PREFIX_QUERY}")),
        members_url(base, &format!("&q={SUBSTRING_QUERY}")),
        small_org_url(base),
    ];
    let cookie = person.session_cookie.as_str();
    let items = |body: &serde_json::Value| body["items"].as_array().map_or(0, Vec::len);
    let total = |body: &serde_json::Value| body["total"].as_u64().unwrap_or(0) as usize;
    check_page(client, &urls[0], cookie, |b| {
        ensure!(items(b) == PAGE, "the first page is not full");
        ensure!(
            total(b) >= n,
            "the total does not count the {n} seeded members"
        );
        Ok(())
    })
    .await?;
    check_page(client, &urls[1], cookie, |b| {
        ensure!(items(b) == PAGE, "the deep page is not full");
        ensure!(
            b["items"][0]["id"] == deep_first.to_string(),
            "the deep page does not start after its cursor"
        );
        ensure!(
            b["next_cursor"] == cursor(seeded.ids[n - PAGE - 1]),
            "the deep page's next cursor is not the seeded member's id"
        );
        Ok(())
    })
    .await?;
    ensure!(
        seeded.small_org_hits > 0,
        "the small organization holds no member that `{COMMON_QUERY}` finds"
    );
    for (url, hits, what) in [
        (&urls[2], seeded.prefix_hits, "prefix"),
        (&urls[3], seeded.substring_hits, "substring"),
        (&urls[4], seeded.small_org_hits, "small organization's"),
    ] {
        check_page(client, url, cookie, |b| {
            ensure!(
                total(b) == hits,
                "the {what} search found {} members, {hits} were seeded",
                total(b)
            );
            ensure!(
                items(b) == hits.min(PAGE),
                "the {what} search's page is short"
            );
            Ok(())
        })
        .await?;
    }
    let n = thousands(n);
    let scenarios = [
        ("first page", format!("members: first page ({n})"), 5.0),
        (
            "deep keyset page",
            format!("members: deep keyset page ({n})"),
            5.0,
        ),
        (
            "prefix search",
            format!("members: prefix search, {} hits", seeded.prefix_hits),
            5.0,
        ),
        (
            "substring search",
            format!("members: substring search, {} hits", seeded.substring_hits),
            25.0,
        ),
        (
            "small organization's search",
            format!(
                "members: '{COMMON_QUERY}' in a {SMALL_ORG}-member org beside them, {} hits",
                seeded.small_org_hits
            ),
            5.0,
        ),
    ];
    scenarios
        .into_iter()
        .zip(urls)
        .map(|((what, scenario, goal_p99_ms), url)| {
            Ok(Page {
                what,
                scenario,
                target: Target::get(&url)?.with_header(header::COOKIE, cookie)?,
                goal_p99_ms,
            })
        })
        .collect()
}

/// A page that takes longer than this alone is probed and measured over
/// `SLOW_PAGE_CONNECTIONS` callers rather than `HTTP_CONNECTIONS`.
const SLOW_PAGE: Duration = Duration::from_millis(20);
/// As many callers as the server's SQLite pool has connections (PostgreSQL's has 10): enough
/// to keep every core busy with pages that take tens of milliseconds or more. With 32, such
/// pages queue for a pooled connection longer than the store's 15-second acquire timeout
/// (at a million members), and the server answers 500 instead of the page.
const SLOW_PAGE_CONNECTIONS: usize = 8;

/// Requests in each latency run at least (five in each of its trials), however slow the
/// page: at a million members a page can take seconds, and a 20-second run at a fraction
/// of a request per second would hold a handful.
const MIN_LATENCY_SAMPLES: u32 = 30;

/// The member-list scenarios against a server started on the seeded store: a probe of
/// each between two probes of the point-read limit, then each one's latency run.
pub async fn measure(
    client: &Client,
    base: &str,
    store: &StoreSpec,
    person: &Person,
    seeded: &Seeded,
    timing: Timing,
) -> anyhow::Result<Vec<Row>> {
    crate::step("member list: checking each page's answer against the seed");
    let pages = pages(client, base, person, seeded).await?;
    let mut connections = Vec::new();
    for page in &pages {
        // The better of two, so one cold read does not decide it.
        let mut alone = Duration::MAX;
        for _ in 0..2 {
            let t = Instant::now();
            page.target.send(client).await?;
            alone = alone.min(t.elapsed());
        }
        let callers = if alone > SLOW_PAGE {
            SLOW_PAGE_CONNECTIONS
        } else {
            scenarios::HTTP_CONNECTIONS
        };
        crate::step(&format!(
            "  {}: {:.1} ms alone, so {callers} callers",
            page.what,
            alone.as_secs_f64() * 1000.0
        ));
        connections.push(callers);
    }
    let ids = Arc::new(seeded.ids.clone());

    crate::step(
        "probing point reads, first page, deep page, prefix search, substring search, \
         small organization's search, point reads",
    );
    let before =
        crate::limits::point_reads(store, ids.clone(), timing.warmup, timing.probe).await?;
    let mut maxes = Vec::new();
    for (page, callers) in pages.iter().zip(&connections) {
        maxes.push(scenarios::probe_http_with(client, &page.target, timing, *callers).await?);
    }
    let after = crate::limits::point_reads(store, ids, timing.warmup, timing.probe).await?;
    let limit = Limit::bracketing("PK read", before.per_s, after.per_s);

    let mut latencies = before.latency;
    latencies.add(&after.latency)?;
    let mut rows = vec![crate::limits::point_read_row(
        &format!(
            "PK point read, {} members (in process)",
            thousands(seeded.members)
        ),
        &limit,
        &latencies,
    )];
    for ((page, callers), max) in pages.iter().zip(connections).zip(maxes) {
        crate::step(&format!("latency of the member list: {}", page.what));
        let run = scenarios::http_latency_with(
            client,
            &page.target,
            max,
            timing,
            callers,
            MIN_LATENCY_SAMPLES,
        )
        .await?;
        rows.push(scenarios::member_list_row(
            &page.scenario,
            max,
            &run,
            limit.clone(),
            page.goal_p99_ms,
        ));
    }
    Ok(rows)
}

/// Sends `GET /api/v1/me` once with each seeded session, 32 at a time, so every session is
/// one the server has seen; returns how long it took.
pub async fn use_sessions(
    client: &Client,
    base: &str,
    person: &Person,
    seeded: &Seeded,
) -> anyhow::Result<Duration> {
    let cookie_name = person
        .session_cookie
        .split_once('=')
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| anyhow!("the session cookie has no name"))?;
    let tokens = Arc::new(seeded.session_tokens.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/api/v1/me");
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..scenarios::HTTP_CONNECTIONS {
        let (client, tokens, next, url, cookie_name) = (
            client.clone(),
            tokens.clone(),
            next.clone(),
            url.clone(),
            cookie_name.clone(),
        );
        callers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else {
                    break;
                };
                let resp = client
                    .get(&url)
                    .header(header::COOKIE, format!("{cookie_name}={token}"))
                    .send()
                    .await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                if status != StatusCode::OK {
                    bail!(
                        "GET /api/v1/me with seeded session {i} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined??;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_find_only_their_members_and_a_few_hundred_of_them() {
        for n in [1_000, 20_000, 1_000_000] {
            let plan = Plan::new(n);
            let (mut prefix, mut substring) = (0usize, 0usize);
            for i in 0..n {
                let (first, last) = plan.name(i);
                let name = search_key(&format!("{first} {last}"));
                let email = plan.email(i).to_lowercase();
                if i % 997 == 0 {
                    assert_eq!(Email::parse(&plan.email(i)).unwrap().key(), email);
                }
                if name.contains(PREFIX_QUERY) || email.contains(PREFIX_QUERY) {
                    assert!(name.starts_with(PREFIX_QUERY) && email.starts_with(PREFIX_QUERY));
                    prefix += 1;
                }
                if name.contains(SUBSTRING_QUERY) || email.contains(SUBSTRING_QUERY) {
                    assert!(!name.starts_with(SUBSTRING_QUERY));
                    assert!(!email.starts_with(SUBSTRING_QUERY));
                    substring += 1;
                }
            }
            let expected = n / plan.stride;
            assert!(
                n < 20_000 || (HITS..=HITS + 5).contains(&expected),
                "{n}: {expected}"
            );
            assert!(prefix.abs_diff(expected) <= 3, "{n}: {prefix} prefix hits");
            assert!(substring.abs_diff(expected) <= 3, "{n}: {substring} hits");
        }
    }

    #[test]
    fn every_session_holder_is_active() {
        for i in 0..1000 {
            if Plan::has_session(i) {
                assert_eq!(Plan::status(i), MembershipStatus::Active);
            }
        }
    }

    #[test]
    fn cursors_are_written_as_the_api_writes_them() {
        let id = MembershipId::new();
        let c = cursor(id);
        assert_eq!(c.len(), 32);
        assert_eq!(c, id.as_uuid().simple().to_string());
    }

    #[test]
    fn counts_read_with_thousands_separators() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(999), "999");
    }
}
