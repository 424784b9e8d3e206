//! The storage port. Implemented once per backend (SQLite, PostgreSQL), each with SQL that
//! suits its engine, and proven by one shared conformance suite.
//!
//! Reads go through [`Reads`]; every change goes through a [`Tx`], so a use case writes its
//! rows, its audit event and its outbox emails in one transaction: either all of them exist
//! afterwards or none does. Dropping a `Tx` without [`Tx::commit`] rolls it back.
//!
//! Every method that touches tenant data takes the organization id and matches on it, so a
//! call with organization A's id can never see or change organization B's rows.

use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{
    ApiTokenId, CustomerId, EntityId, GroupId, IdentityId, IdentityTokenId, InvitationId,
    MembershipId, OrgId, OutboxId, RoleId, SessionId, TaskId,
};
use crate::model::{
    ApiToken, AuditEvent, AuditQuery, BuiltinRole, CustomRole, Customer, DigestCustomers,
    DigestDue, DigestRecord, DigestTask, Entity, Group, Identity, IdentityToken, Invitation,
    Membership, MembershipStatus, NotificationPrefs, Organization, OutboxMessage, OutboxStatus,
    Page, PageRequest, Session, SignInAttempt, SsoConnection, SsoLogin, Task, TaskCategory,
    TaskFilter, ThrottleState, TokenPurpose,
};
use crate::names::Slug;
use crate::secrets::SecretHash;
use async_trait::async_trait;
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an organization with this slug exists")]
    SlugTaken,
    #[error("an identity with this email exists")]
    EmailTaken,
    #[error("this identity already has a membership in this organization")]
    AlreadyMember,
    #[error("a row with this id or token exists")]
    Duplicate,
    /// A role, group, customer or entity of the organization has this name (ignoring
    /// case), or a customer has this external id.
    #[error("this name is taken in the organization")]
    NameTaken,
    /// Another organization's SSO connection claims this email domain.
    #[error("another organization claims this email domain")]
    DomainClaimed,
    #[error("the database is busy; try again")]
    Busy,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The custom roles and groups a membership's permissions come from; see
/// [`Reads::access_sources`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessSources {
    pub custom_roles: Vec<CustomRole>,
    pub groups: Vec<Group>,
}

/// Everything an organization's permissions are made of beside built-in roles, as of
/// `version` ([`crate::model::Organization::access_version`]); see
/// [`Reads::access_definitions`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessDefinitions {
    pub version: u64,
    /// By name.
    pub custom_roles: Vec<CustomRole>,
    /// By name, without member counts (`members` reads 0).
    pub groups: Vec<Group>,
}

/// What a permission check needs about one person in an organization; see
/// [`Reads::member_access`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAccess {
    /// Their membership that is not removed.
    pub membership: Membership,
    /// The organization's [`crate::model::Organization::access_version`], read in the same
    /// statement as the membership.
    pub access_version: u64,
    /// The customer asked about, as [`Reads::customer_assignment`] answers: `None` when
    /// none was asked about or the organization has no such customer.
    pub customer: Option<CustomerAssignment>,
}

/// What a permission check asked with an organization token needs, in one read; see
/// [`Reads::token_check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCheck {
    pub token: ApiToken,
    /// The creator's membership in the token's organization (not removed), with that
    /// organization, as [`Reads::api_token_with_creator`] answers.
    pub creator: Option<(Membership, Organization)>,
    /// The person asked about in the token's organization, as [`Reads::member_access`]
    /// answers; `None` for a token of no organization (an operator's).
    pub member: Option<MemberAccess>,
}

/// A session, the identity holding it, and that identity's memberships (removed ones left
/// out), each with its organization, in membership id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionHolder {
    pub session: Session,
    pub identity: Identity,
    pub memberships: Vec<(Membership, Organization)>,
}

/// A member as listed: the membership and the identity's public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub membership: Membership,
    pub email: Email,
    pub name: Option<String>,
}

/// Which members a listing holds. Removed members are never listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberFilter {
    /// Matches anywhere in the email or the name, case-insensitively; already folded with
    /// [`crate::names::search_key`].
    pub q: Option<String>,
    pub status: Option<MembershipStatus>,
    pub role: Option<BuiltinRole>,
    pub custom_role: Option<RoleId>,
    pub group: Option<GroupId>,
    pub entity: Option<EntityId>,
    /// Members with this customer assigned.
    pub customer: Option<CustomerId>,
    /// A scoped admin's reach: only members whose entity is one of these.
    pub within: Option<Vec<EntityId>>,
}

impl MemberFilter {
    /// A filtered list counts its matches up to this many and then reports the count as
    /// capped: an exact count of a million members costs hundreds of milliseconds on every
    /// page, and nobody pages through more than a thousand matches of a search.
    pub const COUNT_CAP: u64 = 1_000;

    /// Whether anything but the status narrows the list. Lists filtered by status alone are
    /// counted exactly from the organization's kept member counts.
    pub fn narrows_beyond_status(&self) -> bool {
        self.q.is_some()
            || self.role.is_some()
            || self.custom_role.is_some()
            || self.group.is_some()
            || self.entity.is_some()
            || self.customer.is_some()
            || self.within.is_some()
    }
}

/// One customer seen from one membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomerAssignment {
    pub assigned: bool,
    /// Customers assigned to the membership in all.
    pub assigned_total: u64,
}

/// How many live members and groups hold a custom role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoleUsage {
    pub members: u64,
    pub groups: u64,
}

/// Filter for outbox listings (operators' `roster mail list`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
    pub limit: u32,
}

/// The outbox's backlog, for `/metrics`: what waits and what gave up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub failed: u64,
    pub oldest_pending_at: Option<Timestamp>,
}

/// Whether the store can serve: reachable, and its schema is the one this build expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub reachable: bool,
    /// Migrations this build has that the database has not applied.
    pub pending_migrations: Vec<i64>,
    /// Migrations the database has that this build does not know (a newer Roster ran).
    pub unknown_migrations: Vec<i64>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.reachable && self.pending_migrations.is_empty() && self.unknown_migrations.is_empty()
    }
}

/// Queries. Available on a plain connection and inside a transaction.
#[async_trait]
pub trait Reads: Send {
    /// Whether these reads run inside a write transaction, and so may see its writes
    /// before (or without) their commit. What they answer must then not be kept beyond
    /// the transaction ([`crate::access::DefinitionsCache`]).
    fn in_transaction(&self) -> bool;

    async fn org(&mut self, id: OrgId) -> StoreResult<Option<Organization>>;
    async fn org_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Organization>>;
    async fn list_orgs(&mut self, page: PageRequest) -> StoreResult<Page<Organization>>;

    async fn identity(&mut self, id: IdentityId) -> StoreResult<Option<Identity>>;
    /// Case-insensitive on the whole address.
    async fn identity_by_email(&mut self, email: &Email) -> StoreResult<Option<Identity>>;

    async fn membership(&mut self, org: OrgId, id: MembershipId)
        -> StoreResult<Option<Membership>>;
    /// The identity's membership in `org` that is not removed, if any.
    async fn membership_of(
        &mut self,
        org: OrgId,
        identity: IdentityId,
    ) -> StoreResult<Option<Membership>>;
    /// Every membership of an identity that is not removed, across organizations.
    async fn memberships_of_identity(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<Membership>>;
    /// Every membership of an identity that is not removed, each with its organization, in
    /// one query (what `GET /me` shows).
    async fn memberships_with_orgs(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<(Membership, Organization)>>;
    /// How many memberships of `org` are active and hold the Admin role without an admin
    /// scope (admins of the whole organization). A change that may lower it takes
    /// [`Tx::org_for_update`] before counting, so of two such changes the second counts only
    /// after the first has committed.
    async fn count_active_admins(&mut self, org: OrgId) -> StoreResult<u64>;
    /// Members of one organization that match `filter`, removed ones excluded, in
    /// membership-id (creation) order. `total` is exact when only the status filters (from
    /// the kept member counts); otherwise it counts up to [`MemberFilter::COUNT_CAP`] and
    /// sets `total_capped` when more match.
    async fn list_members(
        &mut self,
        org: OrgId,
        filter: &MemberFilter,
        page: PageRequest,
    ) -> StoreResult<Page<MemberView>>;
    /// The newest invitation of a membership of `org`, whatever its state.
    async fn latest_invitation_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<Invitation>>;
    /// The organization's custom roles, by name.
    async fn custom_roles(&mut self, org: OrgId) -> StoreResult<Vec<CustomRole>>;
    async fn custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<Option<CustomRole>>;
    /// Who holds a custom role: live members directly, and groups.
    async fn role_usage(&mut self, org: OrgId, id: RoleId) -> StoreResult<RoleUsage>;
    /// The organization's groups with their roles, by name.
    async fn groups(&mut self, org: OrgId) -> StoreResult<Vec<Group>>;
    async fn group(&mut self, org: OrgId, id: GroupId) -> StoreResult<Option<Group>>;
    /// What a membership's permissions are made of besides built-in roles, in one
    /// statement: of `groups`, those of `org`, by name; of the organization's custom roles,
    /// those in `roles` or held by one of these groups, by name. Ids that name nothing in
    /// `org` are left out. The groups come without member counts (`members` reads 0):
    /// a permission check has no use for them, and each would count the group's members.
    async fn access_sources(
        &mut self,
        org: OrgId,
        roles: &[RoleId],
        groups: &[GroupId],
    ) -> StoreResult<AccessSources>;
    /// The organization's customers by id (creation order); with `assigned_to`, only those
    /// assigned to that membership.
    async fn list_customers(
        &mut self,
        org: OrgId,
        assigned_to: Option<MembershipId>,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>>;
    async fn customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<Option<Customer>>;
    /// Whether `customer` is one of the organization's, and if so whether it is assigned to
    /// the membership and how many customers are, in one query (what a check needs).
    async fn customer_assignment(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        customer: CustomerId,
    ) -> StoreResult<Option<CustomerAssignment>>;
    /// [`Reads::membership_of`] with its organization's `access_version` and, for
    /// `customer`, [`Reads::customer_assignment`], in one statement: what a check or a
    /// caller's permissions need besides the organization's definitions, which
    /// [`crate::access::DefinitionsCache`] keeps. `None` when the identity has no
    /// membership in `org` that is not removed.
    async fn member_access(
        &mut self,
        org: OrgId,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<MemberAccess>>;
    /// All of the organization's custom roles and groups (with their roles) and the
    /// `access_version` they are at, in one statement, so the version never runs ahead of
    /// the rows. Groups come without member counts.
    async fn access_definitions(&mut self, org: OrgId) -> StoreResult<AccessDefinitions>;
    /// The customers assigned to a membership of `org`.
    async fn customer_assignments(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Vec<CustomerId>>;
    /// The organization's entities, by name.
    async fn entities(&mut self, org: OrgId) -> StoreResult<Vec<Entity>>;
    async fn entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<Option<Entity>>;
    /// How many live admins have this entity in their admin scope.
    async fn entity_in_scopes(&mut self, org: OrgId, id: EntityId) -> StoreResult<u64>;
    /// When the identity last signed in successfully with its password.
    async fn last_sign_in_at(&mut self, identity: IdentityId) -> StoreResult<Option<Timestamp>>;

    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>>;
    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>>;
    /// The session with this token hash, the identity holding it and that identity's
    /// memberships with their organizations (as [`Reads::memberships_with_orgs`]), in one
    /// statement: every request with a session cookie starts here.
    async fn session_with_holder(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<SessionHolder>>;
    /// Every session of an identity that is not revoked (expired ones included), newest
    /// first.
    async fn sessions_of_identity(&mut self, identity: IdentityId) -> StoreResult<Vec<Session>>;
    /// The token with this hash and, when it has a creator, the creator's membership in
    /// the token's organization (not removed) with that organization, in one statement:
    /// every request with a bearer token starts here.
    async fn api_token_with_creator(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<(ApiToken, Option<(Membership, Organization)>)>>;
    /// [`Reads::api_token_with_creator`] and, in the token's organization,
    /// [`Reads::member_access`] for `identity` and `customer`: everything a check asked with
    /// an organization token reads, the host products' most frequent call. `None` when no
    /// token has this hash. Both stores answer it in one statement; this
    /// default makes the two reads one after the other.
    async fn token_check(
        &mut self,
        hash: &SecretHash,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<TokenCheck>> {
        let Some((token, creator)) = self.api_token_with_creator(hash).await? else {
            return Ok(None);
        };
        let member = match token.org_id {
            Some(org) => self.member_access(org, identity, customer).await?,
            None => None,
        };
        Ok(Some(TokenCheck {
            token,
            creator,
            member,
        }))
    }
    /// An organization's token by id, revoked ones included; `None` for another
    /// organization's token.
    async fn api_token(&mut self, org: OrgId, id: ApiTokenId) -> StoreResult<Option<ApiToken>>;
    /// An organization's tokens, revoked ones included, newest first.
    async fn list_api_tokens(&mut self, org: OrgId) -> StoreResult<Vec<ApiToken>>;

    /// A single-use identity link by the hash of its token, only for `purpose`.
    async fn identity_token_by_hash(
        &mut self,
        hash: &SecretHash,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>>;
    /// The identity's most recently created link for `purpose`, used or not.
    async fn latest_identity_token(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>>;

    /// A throttling counter; `None` when nothing was counted for the key.
    async fn throttle(&mut self, scope: &str, key: &str) -> StoreResult<Option<ThrottleState>>;
    /// Sign-in attempts for an identity, newest first.
    async fn sign_in_attempts_of(
        &mut self,
        identity: IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<SignInAttempt>>;

    /// Newest first.
    async fn list_audit(&mut self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;

    async fn outbox_message(&mut self, id: OutboxId) -> StoreResult<Option<OutboxMessage>>;
    /// Newest first.
    async fn list_outbox(&mut self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxMessage>>;
    async fn outbox_counts(&mut self) -> StoreResult<OutboxCounts>;

    async fn task(&mut self, org: OrgId, id: TaskId) -> StoreResult<Option<Task>>;
    /// Oldest first (by id), with the total of matching tasks.
    async fn list_tasks(
        &mut self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Task>>;
    /// By key.
    async fn task_categories(&mut self, org: OrgId) -> StoreResult<Vec<TaskCategory>>;

    /// The membership's notification settings; `None` when there is no such membership in
    /// the organization.
    async fn notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<NotificationPrefs>>;
    /// Memberships whose planned digest time has come (`due_at <= now`), earliest first.
    async fn digests_due(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<DigestDue>>;
    /// Active memberships with no digest planned yet (new, or whose settings or time zone
    /// changed); `due_at` is the time they were read at.
    async fn digests_unplanned(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>>;
    /// The open tasks a digest lists for `membership`: in `categories` (`None`: all),
    /// unassigned or assigned to the membership, of the customers `customers` admits; the
    /// oldest `limit` of them, with how many there are in all.
    async fn digest_tasks(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        categories: Option<&BTreeSet<String>>,
        customers: &DigestCustomers,
        limit: u32,
    ) -> StoreResult<(Vec<DigestTask>, u64)>;
    async fn digest_record(
        &mut self,
        membership: MembershipId,
        period: &str,
    ) -> StoreResult<Option<DigestRecord>>;

    /// The organization's single sign-on connection, if it has one.
    async fn sso_connection(&mut self, org: OrgId) -> StoreResult<Option<SsoConnection>>;
    /// The identity an organization's provider knows by (`issuer`, `subject`), linked at
    /// the person's first SSO sign-in.
    async fn sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityId>>;
    /// The connection that claims `domain` (lowercase), in whichever organization.
    async fn sso_connection_for_domain(
        &mut self,
        domain: &str,
    ) -> StoreResult<Option<SsoConnection>>;

    /// What an invitation reads of an address: its identity ([`Self::identity_by_email`])
    /// and the single sign-on connection that claims its domain
    /// ([`Self::sso_connection_for_domain`]). The same as those two reads; a backend whose
    /// every call costs a handoff answers both in one (SQLite), the rest read them in turn.
    async fn identity_and_sso_by_email(
        &mut self,
        email: &Email,
    ) -> StoreResult<(Option<Identity>, Option<SsoConnection>)> {
        let identity = self.identity_by_email(email).await?;
        let sso = match crate::model::email_domain(email.as_str()) {
            Some(domain) => self.sso_connection_for_domain(&domain).await?,
            None => None,
        };
        Ok((identity, sso))
    }
}

/// Changes, inside one transaction.
///
/// A write that returns nothing (`StoreResult<()>`) may be sent to the database with the
/// next call that needs an answer, or with `commit` (SQLite does so, to save a handoff to
/// its connection's thread per statement). Its failure, mapped as usual (a taken address
/// is still [`StoreError::EmailTaken`]), then comes from that later call, and the
/// transaction ends as for any failure, leaving nothing. A use case that must act on one
/// write's own failure uses a write that answers (`StoreResult<bool>` and the like).
#[async_trait]
pub trait Tx: Reads {
    async fn insert_org(&mut self, org: &Organization) -> StoreResult<()>;
    /// Reads an organization and holds it against concurrent change until this
    /// transaction ends (PostgreSQL: `FOR UPDATE`; SQLite: the write lock already held), so
    /// a read-modify-write of its settings cannot lose a concurrent change.
    async fn org_for_update(&mut self, id: OrgId) -> StoreResult<Option<Organization>>;
    /// [`Self::org_for_update`], then `identity`'s access in that organization
    /// ([`Reads::member_access`] without a customer; `None` without an identity or without
    /// the organization): how a change to an organization's members begins. The same as
    /// those two reads in that order; a backend whose every call costs a handoff answers
    /// both in one (SQLite).
    async fn org_for_update_with_access(
        &mut self,
        id: OrgId,
        identity: Option<IdentityId>,
    ) -> StoreResult<(Option<Organization>, Option<MemberAccess>)> {
        let Some(org) = self.org_for_update(id).await? else {
            return Ok((None, None));
        };
        let access = match identity {
            Some(identity) => self.member_access(id, identity, None).await?,
            None => None,
        };
        Ok((Some(org), access))
    }
    /// Name and settings; the id, slug and kind never change. False when absent.
    async fn update_org(&mut self, org: &Organization) -> StoreResult<bool>;

    async fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()>;
    async fn set_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Sets the first password of an identity that has none. False when it already has
    /// one, so of two racing first-time accepts only one sets the password.
    async fn set_initial_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn mark_email_verified(&mut self, id: IdentityId, at: Timestamp) -> StoreResult<bool>;
    /// Reads an identity and holds it against concurrent change until this transaction
    /// ends (PostgreSQL: `FOR UPDATE`; SQLite: the write lock already held). Serialises
    /// per-person checks such as the reset-link cooldown across instances.
    async fn identity_for_update(&mut self, id: IdentityId) -> StoreResult<Option<Identity>>;
    /// Replaces the sign-in email and marks it verified at `at`. `EmailTaken` when another
    /// identity has it (case-insensitively); false when the identity is absent.
    async fn set_identity_email(
        &mut self,
        id: IdentityId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Name, time zone and locale. False when the identity is absent.
    async fn update_identity_profile(
        &mut self,
        id: IdentityId,
        name: Option<&str>,
        timezone: Option<&str>,
        locale: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Inserts the membership with its roles.
    async fn insert_membership(&mut self, membership: &Membership) -> StoreResult<()>;
    /// Replaces the roles of a membership of `org` that is not removed. False when absent.
    async fn set_membership_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[BuiltinRole],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the custom roles a membership of `org` holds directly. False when absent.
    async fn set_membership_custom_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[RoleId],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the groups a membership of `org` is in. False when absent.
    async fn set_membership_groups(
        &mut self,
        org: OrgId,
        id: MembershipId,
        groups: &[GroupId],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Sets or clears the entity of a membership of `org`. False when absent.
    async fn set_membership_entity(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entity: Option<EntityId>,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the admin scope of a membership of `org` (empty: the whole organization).
    /// False when absent.
    async fn set_admin_scope(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entities: &[EntityId],
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Replaces the customers assigned to a membership of `org`. False when absent.
    async fn set_customer_assignments(
        &mut self,
        org: OrgId,
        id: MembershipId,
        customers: &[CustomerId],
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// `NameTaken` when the organization has a role of that name.
    async fn insert_custom_role(&mut self, role: &CustomRole) -> StoreResult<()>;
    /// Name, description, permissions and customer scoping. False when absent.
    async fn update_custom_role(&mut self, role: &CustomRole) -> StoreResult<bool>;
    /// Deletes a role no live member or group holds (removed members' holdings go with
    /// it). False when absent.
    async fn delete_custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<bool>;
    /// Inserts a group with its roles.
    async fn insert_group(&mut self, group: &Group) -> StoreResult<()>;
    /// Name, description and roles. False when absent.
    async fn update_group(&mut self, group: &Group) -> StoreResult<bool>;
    /// Deletes a group; its members leave it. False when absent.
    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> StoreResult<bool>;
    async fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()>;
    /// Name and external id. False when absent.
    async fn update_customer(&mut self, customer: &Customer) -> StoreResult<bool>;
    /// Deletes a customer assigned to no live member (removed members' assignments go with
    /// it). False when absent.
    async fn delete_customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<bool>;
    async fn insert_entity(&mut self, entity: &Entity) -> StoreResult<()>;
    /// The name. False when absent.
    async fn update_entity(&mut self, entity: &Entity) -> StoreResult<bool>;
    /// Deletes an entity no live member is in and no live admin scope names (removed
    /// members' references go with it). False when absent.
    async fn delete_entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<bool>;

    /// Moves a membership of `org` from `from` to `to` (a compare-and-set, so two racing
    /// changes cannot both apply). False when no such membership is in state `from`.
    async fn set_membership_status(
        &mut self,
        org: OrgId,
        id: MembershipId,
        from: MembershipStatus,
        to: MembershipStatus,
        at: Timestamp,
    ) -> StoreResult<bool>;

    async fn insert_invitation(&mut self, invitation: &Invitation) -> StoreResult<()>;
    /// Revokes every open (not accepted, not revoked) invitation of a membership of `org`;
    /// returns how many. Their links stop working at once.
    async fn revoke_invitations_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        at: Timestamp,
    ) -> StoreResult<u64>;
    /// Marks an open invitation of `org` accepted. False when it was already accepted or
    /// revoked, so of two concurrent accepts exactly one gets true.
    async fn consume_invitation(
        &mut self,
        org: OrgId,
        id: InvitationId,
        at: Timestamp,
    ) -> StoreResult<bool>;

    async fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    async fn touch_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<()>;
    async fn revoke_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<bool>;
    /// Revokes every live session of the identity except `keep`; returns how many.
    async fn revoke_sessions_of_identity(
        &mut self,
        identity: IdentityId,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> StoreResult<u64>;

    async fn insert_api_token(&mut self, token: &ApiToken) -> StoreResult<()>;
    /// Revokes a token of `org`. False when absent, another organization's, or already
    /// revoked.
    async fn revoke_api_token(
        &mut self,
        org: OrgId,
        id: ApiTokenId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Revokes every live token the identity created — in `org` only, when given; returns
    /// how many.
    async fn revoke_api_tokens_of_identity(
        &mut self,
        identity: IdentityId,
        org: Option<OrgId>,
        at: Timestamp,
    ) -> StoreResult<u64>;
    async fn touch_api_token(&mut self, id: ApiTokenId, at: Timestamp) -> StoreResult<()>;

    async fn insert_identity_token(&mut self, token: &IdentityToken) -> StoreResult<()>;
    /// Marks a link used. A compare-and-set: true only when it was unused, not revoked and
    /// not expired at `at`, so of two concurrent redeems exactly one gets true.
    async fn consume_identity_token(
        &mut self,
        id: IdentityTokenId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Revokes every unused link of the identity for `purpose`; returns how many.
    async fn revoke_identity_tokens(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<u64>;

    /// Counts one attempt against a fixed-window counter, atomically: a window that started
    /// at or before `window_started_before` (or none) restarts at `now` with a count of 1;
    /// otherwise the
    /// count grows by one. Returns the counter after the change, so of many concurrent
    /// hits each sees a distinct count.
    async fn hit_throttle(
        &mut self,
        scope: &str,
        key: &str,
        now: Timestamp,
        window_started_before: Timestamp,
    ) -> StoreResult<ThrottleState>;
    /// Takes one attempt back (never below zero): a sign-in that succeeded was not a
    /// failure.
    async fn release_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()>;
    /// Forgets a counter.
    async fn clear_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()>;
    async fn insert_sign_in_attempt(&mut self, attempt: &SignInAttempt) -> StoreResult<()>;

    async fn append_audit(&mut self, event: &AuditEvent) -> StoreResult<()>;

    async fn enqueue_outbox(&mut self, message: &OutboxMessage) -> StoreResult<()>;
    /// Leases up to `limit` due pending messages (next attempt reached, no live lease) to
    /// the caller until `lease_until`, counting the attempt. Safe with several workers.
    async fn claim_outbox(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Sent: status `sent`, lease cleared, content scrubbed. Applies only while the caller
    /// still holds the lease it claimed (`lease_until` as claimed); false otherwise, because
    /// another worker has taken the message over.
    async fn outbox_sent(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Failed this time: back to pending at `next_attempt_at`, or `failed` for good when
    /// `next_attempt_at` is `None`. A failed message keeps its content so an operator can
    /// retry it (`roster mail retry`), unless `scrub` (its content holds a live link: the
    /// outbox must not be a second place to find one). Like [`Tx::outbox_sent`], only while
    /// the caller holds the lease.
    async fn outbox_failed(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        error: &str,
        next_attempt_at: Option<Timestamp>,
        scrub: bool,
    ) -> StoreResult<bool>;

    /// Not delivered after all (the worker is stopping): the lease is cleared and the attempt
    /// the claim counted is taken back, so the message is due again at once for another
    /// worker or the next start rather than when the lease runs out. Like
    /// [`Tx::outbox_sent`], only while the caller holds the lease.
    async fn release_outbox(&mut self, id: OutboxId, lease_until: Timestamp) -> StoreResult<bool>;

    /// A message that failed for good goes back to pending, due now, with a fresh count of
    /// attempts. False when it is not failed or has no content left to send.
    async fn retry_outbox(&mut self, id: OutboxId, now: Timestamp) -> StoreResult<bool>;

    async fn insert_task(&mut self, task: &Task) -> StoreResult<()>;
    /// Title, url, status and times; false when there is no such task in the organization.
    async fn update_task(&mut self, task: &Task) -> StoreResult<bool>;
    /// Adds the category when the organization does not have it yet; a given label
    /// replaces the stored one.
    async fn put_task_category(
        &mut self,
        org: OrgId,
        category: &TaskCategory,
        relabel: bool,
    ) -> StoreResult<()>;

    /// Also forgets the planned digest time, so the scheduler plans it from the new
    /// settings, unless it is already due at `now` (that digest is then handled with the
    /// new settings). False when there is no such membership in the organization.
    async fn set_notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        prefs: &NotificationPrefs,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Moves the membership's next digest time from `expected` (as the caller read it) to
    /// `due_at` (`None`: plan it again). False when it was no longer `expected` (settings
    /// changed meanwhile, or another instance got there first): the caller must then do
    /// nothing for it.
    async fn plan_digest(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        expected: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// The identity's time zone changed: plan its memberships' digests again (those not
    /// already due at `now`).
    async fn replan_digests_of_identity(
        &mut self,
        identity: IdentityId,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// The organization's time zone changed: plan its memberships' digests again (those
    /// not already due at `now`).
    async fn replan_digests_of_org(&mut self, org: OrgId, now: Timestamp) -> StoreResult<()>;
    /// Records that the membership's digest for the period was handled. False when it
    /// already was (by this or another instance): the caller must then send nothing.
    async fn record_digest(&mut self, record: &DigestRecord) -> StoreResult<bool>;
    /// Forgets digest records made before `before` (a period that old cannot come round
    /// again); how many went.
    async fn prune_digests(&mut self, before: Timestamp) -> StoreResult<u64>;

    /// Creates or replaces the organization's connection, with exactly its claimed
    /// domains. `DomainClaimed` (and nothing changed) when another organization claims
    /// one of them.
    async fn put_sso_connection(&mut self, connection: &SsoConnection) -> StoreResult<()>;
    /// Removes the connection and its domain claims; false when there is none.
    async fn delete_sso_connection(&mut self, org: OrgId) -> StoreResult<bool>;
    /// Links (`org`, `issuer`, `subject`) to `identity`, replacing an earlier link of the
    /// same subject.
    async fn link_sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
        identity: IdentityId,
        at: Timestamp,
    ) -> StoreResult<()>;
    async fn insert_sso_login(&mut self, login: &SsoLogin) -> StoreResult<()>;
    /// Takes the sign-in whose state has this hash: deletes it and returns it when it has
    /// not expired at `now`, so a state is used at most once. Also forgets every sign-in
    /// that expired before `now`.
    async fn take_sso_login(
        &mut self,
        state_hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SsoLogin>>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Ends the transaction without its changes, and waits until the store has let go of
    /// what it held. Dropping a transaction rolls back too, but on the connection's next
    /// use, so its row locks outlive it briefly.
    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        drop(self);
        Ok(())
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A connection for queries.
    async fn reads(&self) -> StoreResult<Box<dyn Reads>>;
    /// A write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// checks made inside hold until commit.
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    async fn readiness(&self) -> StoreResult<Readiness>;
    /// Closes the connections; used at shutdown.
    async fn close(&self);
}
