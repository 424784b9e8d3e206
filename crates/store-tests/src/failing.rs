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

#[async_trait]
impl Reads for FailingTx {
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
    async fn list_members(
        &mut self,
        org: OrgId,
        page: PageRequest,
    ) -> StoreResult<Page<MemberView>> {
        self.inner.list_members(org, page).await
    }
    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>> {
        self.inner.invitation_by_token(hash).await
    }
    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>> {
        self.inner.session_by_token(hash).await
    }
    async fn api_token_by_hash(&mut self, hash: &SecretHash) -> StoreResult<Option<ApiToken>> {
        self.inner.api_token_by_hash(hash).await
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
}

#[async_trait]
impl Tx for FailingTx {
    async fn insert_org(&mut self, org: &Organization) -> StoreResult<()> {
        self.inner.insert_org(org).await
    }
    async fn org_for_update(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        self.inner.org_for_update(id).await
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
    async fn insert_membership(&mut self, membership: &Membership) -> StoreResult<()> {
        self.inner.insert_membership(membership).await
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
        if self.fail_on == FailOn::InsertInvitation {
            return Err(injected());
        }
        self.inner.insert_invitation(invitation).await
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
        self.inner.insert_session(session).await
    }
    async fn touch_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_session(id, at).await
    }
    async fn revoke_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<bool> {
        self.inner.revoke_session(id, at).await
    }
    async fn insert_api_token(&mut self, token: &ApiToken) -> StoreResult<()> {
        self.inner.insert_api_token(token).await
    }
    async fn append_audit(&mut self, event: &AuditEvent) -> StoreResult<()> {
        if self.fail_on == FailOn::AppendAudit {
            return Err(injected());
        }
        self.inner.append_audit(event).await
    }
    async fn enqueue_outbox(&mut self, message: &OutboxMessage) -> StoreResult<()> {
        if self.fail_on == FailOn::EnqueueOutbox {
            return Err(injected());
        }
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
    async fn outbox_failed(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        error: &str,
        next_attempt_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        self.inner
            .outbox_failed(id, lease_until, error, next_attempt_at)
            .await
    }
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.inner.commit().await
    }
}
