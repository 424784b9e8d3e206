//! A store decorator that fails one kind of write, to prove that a use case interrupted
//! half-way leaves nothing behind: the real backend underneath must roll back every row the
//! transaction had already written.

use async_trait::async_trait;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::Slug;
use roster_core::secrets::SecretHash;
use roster_core::store::*;
use std::sync::Arc;

/// Which write fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    EnqueueOutbox,
    AppendAudit,
    InsertInvitation,
    SetPasswordHash,
    SetIdentityEmail,
    UpdateIdentityProfile,
    SetMembershipRoles,
    InsertSession,
    RevokeSessionsOfIdentity,
    InsertApiToken,
    RevokeApiToken,
    RevokeApiTokensOfIdentity,
    TouchApiToken,
    InsertIdentityToken,
    ConsumeIdentityToken,
    RevokeIdentityTokens,
    HitThrottle,
    ReleaseThrottle,
    ClearThrottle,
    InsertSignInAttempt,
    InsertTask,
}

pub struct FailingStore {
    inner: Arc<dyn Store>,
    fail_on: FailOn,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn Store>, fail_on: FailOn) -> Self {
        Self { inner, fail_on }
    }
}

fn injected() -> StoreError {
    StoreError::Backend("injected failure".into())
}

#[async_trait]
impl Store for FailingStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn reads(&self) -> StoreResult<Box<dyn Reads>> {
        self.inner.reads().await
    }
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(FailingTx {
            inner: self.inner.begin().await?,
            fail_on: self.fail_on,
        }))
    }
    async fn readiness(&self) -> StoreResult<Readiness> {
        self.inner.readiness().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

struct FailingTx {
    inner: Box<dyn Tx>,
    fail_on: FailOn,
}

impl FailingTx {
    /// The injected failure when `op` is the write to fail.
    fn check(&self, op: FailOn) -> StoreResult<()> {
        if self.fail_on == op {
            Err(injected())
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Reads for FailingTx {
    fn in_transaction(&self) -> bool {
        self.inner.in_transaction()
    }
    async fn org(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        self.inner.org(id).await
    }
    async fn org_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Organization>> {
        self.inner.org_by_slug(slug).await
    }
    async fn list_orgs(&mut self, page: PageRequest) -> StoreResult<Page<Organization>> {
        self.inner.list_orgs(page).await
    }
    async fn identity(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        self.inner.identity(id).await
    }
    async fn identity_by_email(&mut self, email: &Email) -> StoreResult<Option<Identity>> {
        self.inner.identity_by_email(email).await
    }
    async fn membership(
        &mut self,
        org: OrgId,
        id: MembershipId,
    ) -> StoreResult<Option<Membership>> {
        self.inner.membership(org, id).await
    }
    async fn membership_of(
        &mut self,
        org: OrgId,
        identity: IdentityId,
    ) -> StoreResult<Option<Membership>> {
        self.inner.membership_of(org, identity).await
    }
    async fn memberships_of_identity(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<Membership>> {
        self.inner.memberships_of_identity(identity).await
    }
    async fn count_active_admins(&mut self, org: OrgId) -> StoreResult<u64> {
        self.inner.count_active_admins(org).await
    }
    async fn list_members(
        &mut self,
        org: OrgId,
        filter: &MemberFilter,
        page: PageRequest,
    ) -> StoreResult<Page<MemberView>> {
        self.inner.list_members(org, filter, page).await
    }
    async fn latest_invitation_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<Invitation>> {
        self.inner.latest_invitation_of(org, membership).await
    }
    async fn custom_roles(&mut self, org: OrgId) -> StoreResult<Vec<CustomRole>> {
        self.inner.custom_roles(org).await
    }
    async fn custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<Option<CustomRole>> {
        self.inner.custom_role(org, id).await
    }
    async fn role_usage(&mut self, org: OrgId, id: RoleId) -> StoreResult<RoleUsage> {
        self.inner.role_usage(org, id).await
    }
    async fn groups(&mut self, org: OrgId) -> StoreResult<Vec<Group>> {
        self.inner.groups(org).await
    }
    async fn group(&mut self, org: OrgId, id: GroupId) -> StoreResult<Option<Group>> {
        self.inner.group(org, id).await
    }
    async fn access_sources(
        &mut self,
        org: OrgId,
        roles: &[RoleId],
        groups: &[GroupId],
    ) -> StoreResult<AccessSources> {
        self.inner.access_sources(org, roles, groups).await
    }
    async fn list_customers(
        &mut self,
        org: OrgId,
        assigned_to: Option<MembershipId>,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        self.inner.list_customers(org, assigned_to, page).await
    }
    async fn customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<Option<Customer>> {
        self.inner.customer(org, id).await
    }
    async fn customer_assignments(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Vec<CustomerId>> {
        self.inner.customer_assignments(org, membership).await
    }
    async fn customer_assignment(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        customer: CustomerId,
    ) -> StoreResult<Option<roster_core::store::CustomerAssignment>> {
        self.inner
            .customer_assignment(org, membership, customer)
            .await
    }
    async fn member_access(
        &mut self,
        org: OrgId,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<roster_core::store::MemberAccess>> {
        self.inner.member_access(org, identity, customer).await
    }
    async fn access_definitions(
        &mut self,
        org: OrgId,
    ) -> StoreResult<roster_core::store::AccessDefinitions> {
        self.inner.access_definitions(org).await
    }
    async fn memberships_with_orgs(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<(Membership, Organization)>> {
        self.inner.memberships_with_orgs(identity).await
    }
    async fn entities(&mut self, org: OrgId) -> StoreResult<Vec<Entity>> {
        self.inner.entities(org).await
    }
    async fn entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<Option<Entity>> {
        self.inner.entity(org, id).await
    }
    async fn entity_in_scopes(&mut self, org: OrgId, id: EntityId) -> StoreResult<u64> {
        self.inner.entity_in_scopes(org, id).await
    }
    async fn last_sign_in_at(&mut self, identity: IdentityId) -> StoreResult<Option<Timestamp>> {
        self.inner.last_sign_in_at(identity).await
    }
    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>> {
        self.inner.invitation_by_token(hash).await
    }
    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>> {
        self.inner.session_by_token(hash).await
    }
    async fn session_with_holder(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<roster_core::store::SessionHolder>> {
        self.inner.session_with_holder(hash).await
    }
    async fn sessions_of_identity(&mut self, identity: IdentityId) -> StoreResult<Vec<Session>> {
        self.inner.sessions_of_identity(identity).await
    }
    async fn api_token_with_creator(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<(ApiToken, Option<(Membership, Organization)>)>> {
        self.inner.api_token_with_creator(hash).await
    }
    async fn api_token(&mut self, org: OrgId, id: ApiTokenId) -> StoreResult<Option<ApiToken>> {
        self.inner.api_token(org, id).await
    }
    async fn list_api_tokens(&mut self, org: OrgId) -> StoreResult<Vec<ApiToken>> {
        self.inner.list_api_tokens(org).await
    }
    async fn identity_token_by_hash(
        &mut self,
        hash: &SecretHash,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>> {
        self.inner.identity_token_by_hash(hash, purpose).await
    }
    async fn latest_identity_token(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>> {
        self.inner.latest_identity_token(identity, purpose).await
    }
    async fn throttle(&mut self, scope: &str, key: &str) -> StoreResult<Option<ThrottleState>> {
        self.inner.throttle(scope, key).await
    }
    async fn sign_in_attempts_of(
        &mut self,
        identity: IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<SignInAttempt>> {
        self.inner.sign_in_attempts_of(identity, limit).await
    }
    async fn list_audit(&mut self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        self.inner.list_audit(query).await
    }
    async fn outbox_message(&mut self, id: OutboxId) -> StoreResult<Option<OutboxMessage>> {
        self.inner.outbox_message(id).await
    }
    async fn list_outbox(&mut self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxMessage>> {
        self.inner.list_outbox(filter).await
    }
    async fn outbox_counts(&mut self) -> StoreResult<OutboxCounts> {
        self.inner.outbox_counts().await
    }
    async fn task(&mut self, org: OrgId, id: TaskId) -> StoreResult<Option<Task>> {
        self.inner.task(org, id).await
    }
    async fn list_tasks(
        &mut self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Task>> {
        self.inner.list_tasks(org, filter, page).await
    }
    async fn task_categories(&mut self, org: OrgId) -> StoreResult<Vec<TaskCategory>> {
        self.inner.task_categories(org).await
    }
    async fn notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<NotificationPrefs>> {
        self.inner.notification_prefs(org, membership).await
    }
    async fn digests_due(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<DigestDue>> {
        self.inner.digests_due(now, limit).await
    }
    async fn digests_unplanned(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        self.inner.digests_unplanned(now, limit).await
    }
    async fn digest_tasks(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        categories: Option<&std::collections::BTreeSet<String>>,
        customers: &DigestCustomers,
        limit: u32,
    ) -> StoreResult<(Vec<DigestTask>, u64)> {
        self.inner
            .digest_tasks(org, membership, categories, customers, limit)
            .await
    }
    async fn digest_record(
        &mut self,
        membership: MembershipId,
        period: &str,
    ) -> StoreResult<Option<DigestRecord>> {
        self.inner.digest_record(membership, period).await
    }
    async fn sso_connection(&mut self, org: OrgId) -> StoreResult<Option<SsoConnection>> {
        self.inner.sso_connection(org).await
    }
    async fn sso_connection_for_domain(
        &mut self,
        domain: &str,
    ) -> StoreResult<Option<SsoConnection>> {
        self.inner.sso_connection_for_domain(domain).await
    }
    async fn identity_and_sso_by_email(
        &mut self,
        email: &Email,
    ) -> StoreResult<(Option<Identity>, Option<SsoConnection>)> {
        self.inner.identity_and_sso_by_email(email).await
    }
    async fn sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityId>> {
        self.inner.sso_subject(org, issuer, subject).await
    }
}

#[async_trait]
impl Tx for FailingTx {
    async fn insert_org(&mut self, org: &Organization) -> StoreResult<()> {
        self.inner.insert_org(org).await
    }
    async fn org_for_update(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        self.inner.org_for_update(id).await
    }
    async fn org_for_update_with_access(
        &mut self,
        id: OrgId,
        identity: Option<IdentityId>,
    ) -> StoreResult<(Option<Organization>, Option<MemberAccess>)> {
        self.inner.org_for_update_with_access(id, identity).await
    }
    async fn update_org(&mut self, org: &Organization) -> StoreResult<bool> {
        self.inner.update_org(org).await
    }
    async fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()> {
        self.inner.insert_identity(identity).await
    }
    async fn set_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::SetPasswordHash)?;
        self.inner.set_password_hash(id, hash, at).await
    }
    async fn set_initial_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.set_initial_password_hash(id, hash, at).await
    }
    async fn mark_email_verified(&mut self, id: IdentityId, at: Timestamp) -> StoreResult<bool> {
        self.inner.mark_email_verified(id, at).await
    }
    async fn identity_for_update(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        self.inner.identity_for_update(id).await
    }
    async fn set_identity_email(
        &mut self,
        id: IdentityId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::SetIdentityEmail)?;
        self.inner.set_identity_email(id, email, at).await
    }
    async fn update_identity_profile(
        &mut self,
        id: IdentityId,
        name: Option<&str>,
        timezone: Option<&str>,
        locale: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::UpdateIdentityProfile)?;
        self.inner
            .update_identity_profile(id, name, timezone, locale, at)
            .await
    }
    async fn insert_membership(&mut self, membership: &Membership) -> StoreResult<()> {
        self.inner.insert_membership(membership).await
    }
    async fn set_membership_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[BuiltinRole],
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::SetMembershipRoles)?;
        self.inner.set_membership_roles(org, id, roles, at).await
    }
    async fn set_membership_custom_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[RoleId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .set_membership_custom_roles(org, id, roles, at)
            .await
    }
    async fn set_membership_groups(
        &mut self,
        org: OrgId,
        id: MembershipId,
        groups: &[GroupId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.set_membership_groups(org, id, groups, at).await
    }
    async fn set_membership_entity(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entity: Option<EntityId>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.set_membership_entity(org, id, entity, at).await
    }
    async fn set_admin_scope(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entities: &[EntityId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.set_admin_scope(org, id, entities, at).await
    }
    async fn set_customer_assignments(
        &mut self,
        org: OrgId,
        id: MembershipId,
        customers: &[CustomerId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .set_customer_assignments(org, id, customers, at)
            .await
    }
    async fn insert_custom_role(&mut self, role: &CustomRole) -> StoreResult<()> {
        self.inner.insert_custom_role(role).await
    }
    async fn update_custom_role(&mut self, role: &CustomRole) -> StoreResult<bool> {
        self.inner.update_custom_role(role).await
    }
    async fn delete_custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<bool> {
        self.inner.delete_custom_role(org, id).await
    }
    async fn insert_group(&mut self, group: &Group) -> StoreResult<()> {
        self.inner.insert_group(group).await
    }
    async fn update_group(&mut self, group: &Group) -> StoreResult<bool> {
        self.inner.update_group(group).await
    }
    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> StoreResult<bool> {
        self.inner.delete_group(org, id).await
    }
    async fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        self.inner.insert_customer(customer).await
    }
    async fn update_customer(&mut self, customer: &Customer) -> StoreResult<bool> {
        self.inner.update_customer(customer).await
    }
    async fn delete_customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<bool> {
        self.inner.delete_customer(org, id).await
    }
    async fn insert_entity(&mut self, entity: &Entity) -> StoreResult<()> {
        self.inner.insert_entity(entity).await
    }
    async fn update_entity(&mut self, entity: &Entity) -> StoreResult<bool> {
        self.inner.update_entity(entity).await
    }
    async fn delete_entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<bool> {
        self.inner.delete_entity(org, id).await
    }
    async fn set_membership_status(
        &mut self,
        org: OrgId,
        id: MembershipId,
        from: MembershipStatus,
        to: MembershipStatus,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .set_membership_status(org, id, from, to, at)
            .await
    }
    async fn insert_invitation(&mut self, invitation: &Invitation) -> StoreResult<()> {
        self.check(FailOn::InsertInvitation)?;
        self.inner.insert_invitation(invitation).await
    }
    async fn revoke_invitations_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.inner.revoke_invitations_of(org, membership, at).await
    }
    async fn consume_invitation(
        &mut self,
        org: OrgId,
        id: InvitationId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.consume_invitation(org, id, at).await
    }
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()> {
        self.check(FailOn::InsertSession)?;
        self.inner.insert_session(session).await
    }
    async fn touch_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_session(id, at).await
    }
    async fn revoke_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<bool> {
        self.inner.revoke_session(id, at).await
    }
    async fn revoke_sessions_of_identity(
        &mut self,
        identity: IdentityId,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.check(FailOn::RevokeSessionsOfIdentity)?;
        self.inner
            .revoke_sessions_of_identity(identity, keep, at)
            .await
    }
    async fn insert_api_token(&mut self, token: &ApiToken) -> StoreResult<()> {
        self.check(FailOn::InsertApiToken)?;
        self.inner.insert_api_token(token).await
    }
    async fn revoke_api_token(
        &mut self,
        org: OrgId,
        id: ApiTokenId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::RevokeApiToken)?;
        self.inner.revoke_api_token(org, id, at).await
    }
    async fn revoke_api_tokens_of_identity(
        &mut self,
        identity: IdentityId,
        org: Option<OrgId>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.check(FailOn::RevokeApiTokensOfIdentity)?;
        self.inner
            .revoke_api_tokens_of_identity(identity, org, at)
            .await
    }
    async fn touch_api_token(&mut self, id: ApiTokenId, at: Timestamp) -> StoreResult<()> {
        self.check(FailOn::TouchApiToken)?;
        self.inner.touch_api_token(id, at).await
    }
    async fn insert_identity_token(&mut self, token: &IdentityToken) -> StoreResult<()> {
        self.check(FailOn::InsertIdentityToken)?;
        self.inner.insert_identity_token(token).await
    }
    async fn consume_identity_token(
        &mut self,
        id: IdentityTokenId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.check(FailOn::ConsumeIdentityToken)?;
        self.inner.consume_identity_token(id, at).await
    }
    async fn revoke_identity_tokens(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.check(FailOn::RevokeIdentityTokens)?;
        self.inner
            .revoke_identity_tokens(identity, purpose, at)
            .await
    }
    async fn hit_throttle(
        &mut self,
        scope: &str,
        key: &str,
        now: Timestamp,
        window_started_before: Timestamp,
    ) -> StoreResult<ThrottleState> {
        self.check(FailOn::HitThrottle)?;
        self.inner
            .hit_throttle(scope, key, now, window_started_before)
            .await
    }
    async fn release_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        self.check(FailOn::ReleaseThrottle)?;
        self.inner.release_throttle(scope, key).await
    }
    async fn clear_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        self.check(FailOn::ClearThrottle)?;
        self.inner.clear_throttle(scope, key).await
    }
    async fn insert_sign_in_attempt(&mut self, attempt: &SignInAttempt) -> StoreResult<()> {
        self.check(FailOn::InsertSignInAttempt)?;
        self.inner.insert_sign_in_attempt(attempt).await
    }
    async fn append_audit(&mut self, event: &AuditEvent) -> StoreResult<()> {
        self.check(FailOn::AppendAudit)?;
        self.inner.append_audit(event).await
    }
    async fn enqueue_outbox(&mut self, message: &OutboxMessage) -> StoreResult<()> {
        self.check(FailOn::EnqueueOutbox)?;
        self.inner.enqueue_outbox(message).await
    }
    async fn claim_outbox(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        self.inner.claim_outbox(now, lease_until, limit).await
    }
    async fn outbox_sent(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.outbox_sent(id, lease_until, at).await
    }
    async fn release_outbox(&mut self, id: OutboxId, lease_until: Timestamp) -> StoreResult<bool> {
        self.inner.release_outbox(id, lease_until).await
    }
    async fn outbox_failed(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        error: &str,
        next_attempt_at: Option<Timestamp>,
        scrub: bool,
    ) -> StoreResult<bool> {
        self.inner
            .outbox_failed(id, lease_until, error, next_attempt_at, scrub)
            .await
    }
    async fn retry_outbox(&mut self, id: OutboxId, now: Timestamp) -> StoreResult<bool> {
        self.inner.retry_outbox(id, now).await
    }
    async fn insert_task(&mut self, task: &Task) -> StoreResult<()> {
        self.check(FailOn::InsertTask)?;
        self.inner.insert_task(task).await
    }
    async fn update_task(&mut self, task: &Task) -> StoreResult<bool> {
        self.inner.update_task(task).await
    }
    async fn put_task_category(
        &mut self,
        org: OrgId,
        category: &TaskCategory,
        relabel: bool,
    ) -> StoreResult<()> {
        self.inner.put_task_category(org, category, relabel).await
    }
    async fn set_notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        prefs: &NotificationPrefs,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .set_notification_prefs(org, membership, prefs, now)
            .await
    }
    async fn plan_digest(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        expected: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        self.inner
            .plan_digest(org, membership, expected, due_at)
            .await
    }
    async fn replan_digests_of_identity(
        &mut self,
        identity: IdentityId,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.inner.replan_digests_of_identity(identity, now).await
    }
    async fn replan_digests_of_org(&mut self, org: OrgId, now: Timestamp) -> StoreResult<()> {
        self.inner.replan_digests_of_org(org, now).await
    }
    async fn record_digest(&mut self, record: &DigestRecord) -> StoreResult<bool> {
        self.inner.record_digest(record).await
    }
    async fn prune_digests(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.inner.prune_digests(before).await
    }
    async fn put_sso_connection(&mut self, connection: &SsoConnection) -> StoreResult<()> {
        self.inner.put_sso_connection(connection).await
    }
    async fn delete_sso_connection(&mut self, org: OrgId) -> StoreResult<bool> {
        self.inner.delete_sso_connection(org).await
    }
    async fn link_sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
        identity: IdentityId,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner
            .link_sso_subject(org, issuer, subject, identity, at)
            .await
    }
    async fn insert_sso_login(&mut self, login: &SsoLogin) -> StoreResult<()> {
        self.inner.insert_sso_login(login).await
    }
    async fn take_sso_login(
        &mut self,
        state_hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SsoLogin>> {
        self.inner.take_sso_login(state_hash, now).await
    }
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.inner.commit().await
    }
}
