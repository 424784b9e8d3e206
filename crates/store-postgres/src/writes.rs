//! Changes, inside a READ COMMITTED transaction. Every change that guards an invariant is a
//! compare-and-set `UPDATE ... WHERE <expected state>`: a racing writer waits for the row
//! lock, then PostgreSQL re-checks the WHERE clause against the committed row, so of two
//! racing changes only one applies.

use crate::access::{self, Link};
use crate::convert::{int, permissions_json};
use crate::reads::{identity, org, outbox};
use crate::{map_err, sign_in, sso, tasks, Conn, PgConn};
use async_trait::async_trait;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::search_key;
use roster_core::secrets::SecretHash;
use roster_core::store::{StoreError, StoreResult, Tx};
use std::collections::BTreeSet;

fn done(r: sqlx::postgres::PgQueryResult) -> bool {
    r.rows_affected() > 0
}

#[async_trait]
impl Tx for PgConn {
    async fn insert_org(&mut self, org: &Organization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organizations (id, kind, name, slug, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org.id.as_uuid())
        .bind(org.kind.as_str())
        .bind(org.name.as_str())
        .bind(org.slug.as_str())
        .bind(settings_json(&org.settings)?)
        .bind(org.created_at)
        .bind(org.updated_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn org_for_update(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        // A second read-modify-write of the same organization waits here until this
        // transaction ends and then reads the committed settings, so neither change is lost.
        sqlx::query("SELECT * FROM organizations WHERE id = $1 FOR UPDATE")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn update_org(&mut self, org: &Organization) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE organizations SET name = $1, settings = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(org.name.as_str())
        .bind(settings_json(&org.settings)?)
        .bind(org.updated_at)
        .bind(org.id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_identity(&mut self, i: &Identity) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identities (id, email, email_key, name, name_key, password_hash, \
             email_verified_at, timezone, locale, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(i.id.as_uuid())
        .bind(i.email.as_str())
        .bind(i.email.key())
        .bind(i.name.as_ref().map(|n| n.as_str()))
        .bind(i.name.as_ref().map(|n| search_key(n.as_str())))
        .bind(i.password_hash.as_deref())
        .bind(i.email_verified_at)
        .bind(i.timezone.as_deref())
        .bind(i.locale.as_deref())
        .bind(i.created_at)
        .bind(i.updated_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn set_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE identities SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(at)
                .bind(id.as_uuid())
                .execute(self.c())
                .await
                .map_err(map_err)?;
        Ok(done(r))
    }

    async fn set_initial_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // Under READ COMMITTED a racing writer waits for the row lock, then re-checks the
        // WHERE clause against the committed row: only one first password can be set.
        let r = sqlx::query(
            "UPDATE identities SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash IS NULL",
        )
        .bind(hash)
        .bind(at)
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn mark_email_verified(&mut self, id: IdentityId, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE identities SET email_verified_at = coalesce(email_verified_at, $1), \
             updated_at = $1 WHERE id = $2",
        )
        .bind(at)
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn identity_for_update(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        // A second transaction locking the same identity waits here until this one ends.
        sqlx::query("SELECT * FROM identities WHERE id = $1 FOR UPDATE")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn set_identity_email(
        &mut self,
        id: IdentityId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // The identities_email_key constraint turns a taken address into `EmailTaken`
        // (map_err); the failed statement aborts the transaction, so nothing changed.
        let r = sqlx::query(
            "UPDATE identities SET email = $1, email_key = $2, email_verified_at = $3, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(email.as_str())
        .bind(email.key())
        .bind(at)
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn update_identity_profile(
        &mut self,
        id: IdentityId,
        name: Option<&str>,
        timezone: Option<&str>,
        locale: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE identities SET name = $1, name_key = $2, timezone = $3, locale = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(name)
        .bind(name.map(search_key))
        .bind(timezone)
        .bind(locale)
        .bind(at)
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_membership(&mut self, m: &Membership) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (id, org_id, identity_id, status, created_at, updated_at, \
             removed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(m.id.as_uuid())
        .bind(m.org_id.as_uuid())
        .bind(m.identity_id.as_uuid())
        .bind(m.status.as_str())
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(m.removed_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        for role in &m.roles {
            sqlx::query(
                "INSERT INTO membership_roles (membership_id, org_id, role) VALUES ($1, $2, $3)",
            )
            .bind(m.id.as_uuid())
            .bind(m.org_id.as_uuid())
            .bind(role.as_str())
            .execute(self.c())
            .await
            .map_err(map_err)?;
        }
        let links: [(Link, Vec<uuid::Uuid>); 4] = [
            (
                Link::CustomRoles,
                m.custom_roles.iter().map(|r| r.as_uuid()).collect(),
            ),
            (Link::Groups, m.groups.iter().map(|g| g.as_uuid()).collect()),
            (Link::Entity, m.entity.iter().map(|e| e.as_uuid()).collect()),
            (
                Link::AdminScope,
                m.admin_scope.iter().map(|e| e.as_uuid()).collect(),
            ),
        ];
        for (link, ids) in links {
            if !ids.is_empty() {
                access::replace_links(self.c(), m.org_id, m.id, link, &ids, None).await?;
            }
        }
        Ok(())
    }

    async fn set_membership_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[BuiltinRole],
        at: Timestamp,
    ) -> StoreResult<bool> {
        // Touching the membership first checks it (this org, not removed) and takes its
        // row lock, so two concurrent role changes of one membership apply one after the
        // other and the roles end up exactly as one of them set.
        let r = sqlx::query(
            "UPDATE memberships SET updated_at = $1 WHERE org_id = $2 AND id = $3 \
             AND status <> 'removed'",
        )
        .bind(at)
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        if !done(r) {
            return Ok(false);
        }
        sqlx::query("DELETE FROM membership_roles WHERE org_id = $1 AND membership_id = $2")
            .bind(org.as_uuid())
            .bind(id.as_uuid())
            .execute(self.c())
            .await
            .map_err(map_err)?;
        for role in roles.iter().collect::<BTreeSet<_>>() {
            sqlx::query(
                "INSERT INTO membership_roles (membership_id, org_id, role) VALUES ($1, $2, $3)",
            )
            .bind(id.as_uuid())
            .bind(org.as_uuid())
            .bind(role.as_str())
            .execute(self.c())
            .await
            .map_err(map_err)?;
        }
        Ok(true)
    }

    async fn set_membership_custom_roles(
        &mut self,
        org: OrgId,
        id: MembershipId,
        roles: &[RoleId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = roles.iter().map(|r| r.as_uuid()).collect();
        access::replace_links(self.c(), org, id, Link::CustomRoles, &ids, Some(at)).await
    }

    async fn set_membership_groups(
        &mut self,
        org: OrgId,
        id: MembershipId,
        groups: &[GroupId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = groups.iter().map(|g| g.as_uuid()).collect();
        access::replace_links(self.c(), org, id, Link::Groups, &ids, Some(at)).await
    }

    async fn set_membership_entity(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entity: Option<EntityId>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = entity.iter().map(|e| e.as_uuid()).collect();
        access::replace_links(self.c(), org, id, Link::Entity, &ids, Some(at)).await
    }

    async fn set_admin_scope(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entities: &[EntityId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = entities.iter().map(|e| e.as_uuid()).collect();
        access::replace_links(self.c(), org, id, Link::AdminScope, &ids, Some(at)).await
    }

    async fn set_customer_assignments(
        &mut self,
        org: OrgId,
        id: MembershipId,
        customers: &[CustomerId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = customers.iter().map(|c| c.as_uuid()).collect();
        access::replace_links(self.c(), org, id, Link::Customers, &ids, Some(at)).await
    }

    async fn insert_custom_role(&mut self, role: &CustomRole) -> StoreResult<()> {
        access::insert_custom_role(self.c(), role).await
    }

    async fn update_custom_role(&mut self, role: &CustomRole) -> StoreResult<bool> {
        access::update_custom_role(self.c(), role).await
    }

    async fn delete_custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<bool> {
        access::delete_custom_role(self.c(), org, id).await
    }

    async fn insert_group(&mut self, group: &Group) -> StoreResult<()> {
        access::insert_group(self.c(), group).await
    }

    async fn update_group(&mut self, group: &Group) -> StoreResult<bool> {
        access::update_group(self.c(), group).await
    }

    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> StoreResult<bool> {
        access::delete_group(self.c(), org, id).await
    }

    async fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        access::insert_customer(self.c(), customer).await
    }

    async fn update_customer(&mut self, customer: &Customer) -> StoreResult<bool> {
        access::update_customer(self.c(), customer).await
    }

    async fn delete_customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<bool> {
        access::delete_customer(self.c(), org, id).await
    }

    async fn insert_entity(&mut self, entity: &Entity) -> StoreResult<()> {
        access::insert_entity(self.c(), entity).await
    }

    async fn update_entity(&mut self, entity: &Entity) -> StoreResult<bool> {
        access::update_entity(self.c(), entity).await
    }

    async fn delete_entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<bool> {
        access::delete_entity(self.c(), org, id).await
    }

    async fn set_membership_status(
        &mut self,
        org: OrgId,
        id: MembershipId,
        from: MembershipStatus,
        to: MembershipStatus,
        at: Timestamp,
    ) -> StoreResult<bool> {
        if from.transition(to).is_err() {
            return Ok(false);
        }
        let removed_at = (to == MembershipStatus::Removed).then_some(at);
        let r = sqlx::query(
            "UPDATE memberships SET status = $1, updated_at = $2, removed_at = coalesce($3, removed_at) \
             WHERE org_id = $4 AND id = $5 AND status = $6",
        )
        .bind(to.as_str())
        .bind(at)
        .bind(removed_at)
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .bind(from.as_str())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_invitation(&mut self, inv: &Invitation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO invitations (id, org_id, membership_id, identity_id, token_hash, \
             invited_by_kind, invited_by_id, created_at, expires_at, accepted_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(inv.id.as_uuid())
        .bind(inv.org_id.as_uuid())
        .bind(inv.membership_id.as_uuid())
        .bind(inv.identity_id.as_uuid())
        .bind(inv.token_hash.as_str())
        .bind(inv.invited_by.kind())
        .bind(inv.invited_by.id())
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .bind(inv.accepted_at)
        .bind(inv.revoked_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_invitations_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE invitations SET revoked_at = $1 WHERE org_id = $2 AND membership_id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(org.as_uuid())
        .bind(membership.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn consume_invitation(
        &mut self,
        org: OrgId,
        id: InvitationId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE org_id = $2 AND id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, identity_id, token_hash, csrf_hash, created_at, last_seen_at, \
             expires_at, idle_timeout_minutes, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(s.id.as_uuid())
        .bind(s.identity_id.as_uuid())
        .bind(s.token_hash.as_str())
        .bind(s.csrf_hash.as_str())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(int(s.idle_timeout_minutes, "idle_timeout_minutes")?)
        .bind(s.revoked_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn touch_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2")
            .bind(at)
            .bind(id.as_uuid())
            .execute(self.c())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id.as_uuid())
                .execute(self.c())
                .await
                .map_err(map_err)?;
        Ok(done(r))
    }

    async fn revoke_sessions_of_identity(
        &mut self,
        identity: IdentityId,
        keep: Option<SessionId>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE identity_id = $2 AND revoked_at IS NULL \
             AND ($3::uuid IS NULL OR id <> $3)",
        )
        .bind(at)
        .bind(identity.as_uuid())
        .bind(keep.map(|k| k.as_uuid()))
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn insert_api_token(&mut self, t: &ApiToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, kind, org_id, name, token_hash, created_by, permissions, \
             created_at, expires_at, revoked_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(t.id.as_uuid())
        .bind(t.kind.as_str())
        .bind(t.org_id.map(|o| o.as_uuid()))
        .bind(&t.name)
        .bind(t.token_hash.as_str())
        .bind(t.created_by.map(|i| i.as_uuid()))
        .bind(permissions_json(&t.permissions))
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .bind(t.last_used_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_api_token(
        &mut self,
        org: OrgId,
        id: ApiTokenId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE org_id = $2 AND id = $3 \
             AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn revoke_api_tokens_of_identity(
        &mut self,
        identity: IdentityId,
        org: Option<OrgId>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL \
             AND ($3::uuid IS NULL OR org_id = $3)",
        )
        .bind(at)
        .bind(identity.as_uuid())
        .bind(org.map(|o| o.as_uuid()))
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn touch_api_token(&mut self, id: ApiTokenId, at: Timestamp) -> StoreResult<()> {
        // GREATEST ignores NULL: the first use sets it, a late writer never moves it back.
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id.as_uuid())
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn insert_identity_token(&mut self, token: &IdentityToken) -> StoreResult<()> {
        sign_in::insert_identity_token(self.c(), token).await
    }

    async fn consume_identity_token(
        &mut self,
        id: IdentityTokenId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        sign_in::consume_identity_token(self.c(), id, at).await
    }

    async fn revoke_identity_tokens(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<u64> {
        sign_in::revoke_identity_tokens(self.c(), identity, purpose, at).await
    }

    async fn hit_throttle(
        &mut self,
        scope: &str,
        key: &str,
        now: Timestamp,
        window_started_before: Timestamp,
    ) -> StoreResult<ThrottleState> {
        sign_in::hit_throttle(self.c(), scope, key, now, window_started_before).await
    }

    async fn release_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        sign_in::release_throttle(self.c(), scope, key).await
    }

    async fn clear_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        sign_in::clear_throttle(self.c(), scope, key).await
    }

    async fn insert_sign_in_attempt(&mut self, attempt: &SignInAttempt) -> StoreResult<()> {
        sign_in::insert_attempt(self.c(), attempt).await
    }

    async fn append_audit(&mut self, e: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, at, actor_kind, actor_id, action, target_kind, \
             target_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id.as_uuid())
        .bind(e.org_id.map(|o| o.as_uuid()))
        .bind(e.at)
        .bind(e.actor.kind())
        .bind(e.actor.id())
        .bind(&e.action)
        .bind(e.target.as_ref().map(|t| t.kind.as_str()))
        .bind(e.target.as_ref().map(|t| t.id))
        .bind(&e.details)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn enqueue_outbox(&mut self, m: &OutboxMessage) -> StoreResult<()> {
        let payload = m
            .notice
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO outbox (id, org_id, recipient, kind, payload, status, attempts, \
             next_attempt_at, lease_until, last_error, created_at, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(m.id.as_uuid())
        .bind(m.org_id.map(|o| o.as_uuid()))
        .bind(m.recipient.as_str())
        .bind(&m.kind)
        .bind(payload)
        .bind(m.status.as_str())
        .bind(int(m.attempts, "attempts")?)
        .bind(m.next_attempt_at)
        .bind(m.lease_until)
        .bind(m.last_error.as_deref())
        .bind(m.created_at)
        .bind(m.sent_at)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn claim_outbox(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        // SKIP LOCKED: a worker passes over rows another worker is claiming right now
        // instead of waiting for them, so concurrent claims never return the same message.
        // The order is not kept by UPDATE ... RETURNING, hence the sort below.
        let rows = sqlx::query(
            "UPDATE outbox SET lease_until = $2, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
               AND (lease_until IS NULL OR lease_until <= $1) \
               ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(self.c())
        .await
        .map_err(map_err)?;
        let mut claimed = rows.iter().map(outbox).collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(claimed)
    }

    async fn outbox_sent(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, lease_until = NULL, payload = NULL, \
             last_error = NULL WHERE id = $2 AND status = 'pending' AND lease_until = $3",
        )
        .bind(at)
        .bind(id.as_uuid())
        .bind(lease_until)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn release_outbox(&mut self, id: OutboxId, lease_until: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE outbox SET lease_until = NULL, attempts = greatest(attempts - 1, 0) \
             WHERE id = $1 AND status = 'pending' AND lease_until = $2",
        )
        .bind(id.as_uuid())
        .bind(lease_until)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn outbox_failed(
        &mut self,
        id: OutboxId,
        lease_until: Timestamp,
        error: &str,
        next_attempt_at: Option<Timestamp>,
        scrub: bool,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE outbox SET \
               status = CASE WHEN $2::timestamptz IS NULL THEN 'failed' ELSE 'pending' END, \
               next_attempt_at = coalesce($2, next_attempt_at), \
                              payload = CASE WHEN $2::timestamptz IS NULL AND $5 THEN NULL ELSE payload END, \
               last_error = $1, lease_until = NULL \
             WHERE id = $3 AND status = 'pending' AND lease_until = $4",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(id.as_uuid())
        .bind(lease_until)
        .bind(scrub)
        .execute(self.c())
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn retry_outbox(&mut self, id: OutboxId, now: Timestamp) -> StoreResult<bool> {
        tasks::retry_outbox(self.c(), id, now).await
    }
    async fn insert_task(&mut self, task: &Task) -> StoreResult<()> {
        tasks::insert_task(self.c(), task).await
    }
    async fn update_task(&mut self, task: &Task) -> StoreResult<bool> {
        tasks::update_task(self.c(), task).await
    }
    async fn put_task_category(
        &mut self,
        org: OrgId,
        category: &TaskCategory,
        relabel: bool,
    ) -> StoreResult<()> {
        tasks::put_task_category(self.c(), org, category, relabel).await
    }
    async fn set_notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        prefs: &NotificationPrefs,
        now: Timestamp,
    ) -> StoreResult<bool> {
        tasks::set_notification_prefs(self.c(), org, membership, prefs, now).await
    }
    async fn plan_digest(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        expected: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        tasks::plan_digest(self.c(), org, membership, expected, due_at).await
    }
    async fn replan_digests_of_identity(
        &mut self,
        identity: IdentityId,
        now: Timestamp,
    ) -> StoreResult<()> {
        tasks::replan_digests_of_identity(self.c(), identity, now).await
    }
    async fn replan_digests_of_org(&mut self, org: OrgId, now: Timestamp) -> StoreResult<()> {
        tasks::replan_digests_of_org(self.c(), org, now).await
    }
    async fn record_digest(&mut self, record: &DigestRecord) -> StoreResult<bool> {
        tasks::record_digest(self.c(), record).await
    }
    async fn prune_digests(&mut self, before: Timestamp) -> StoreResult<u64> {
        tasks::prune_digests(self.c(), before).await
    }
    async fn put_sso_connection(&mut self, connection: &SsoConnection) -> StoreResult<()> {
        sso::put_connection(self.c(), connection).await
    }
    async fn delete_sso_connection(&mut self, org: OrgId) -> StoreResult<bool> {
        sso::delete_connection(self.c(), org).await
    }
    async fn link_sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
        identity: IdentityId,
        at: Timestamp,
    ) -> StoreResult<()> {
        sso::link_subject(self.c(), org, issuer, subject, identity, at).await
    }
    async fn insert_sso_login(&mut self, login: &SsoLogin) -> StoreResult<()> {
        sso::insert_login(self.c(), login).await
    }
    async fn take_sso_login(
        &mut self,
        state_hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SsoLogin>> {
        sso::take_login(self.c(), state_hash, now).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        match self.conn {
            // A connection lost during COMMIT may or may not have committed: not "try
            // again", which could apply the change twice, but an error.
            Conn::Tx(tx) => tx.commit().await.map_err(|e| {
                if crate::convert::connection_lost(&e) {
                    StoreError::Backend(format!(
                        "the connection was lost during COMMIT; the outcome is unknown: {e}"
                    ))
                } else {
                    map_err(e)
                }
            }),
            Conn::Plain(_) => Ok(()),
        }
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        match self.conn {
            Conn::Tx(tx) => tx.rollback().await.map_err(map_err),
            Conn::Plain(_) => Ok(()),
        }
    }
}

fn settings_json(s: &OrgSettings) -> StoreResult<serde_json::Value> {
    serde_json::to_value(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}
