//! Changes, inside a `BEGIN IMMEDIATE` transaction.

use crate::access::{self, Link};
use crate::convert::{ms, opt_ms, permissions_json};
use crate::reads::outbox;
use crate::{map_err, sign_in, sso, tasks, Conn, SqliteConn};
use async_trait::async_trait;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::search_key;
use roster_core::secrets::SecretHash;
use roster_core::store::{MemberAccess, Reads, StoreResult, Tx};
use std::collections::BTreeSet;

fn done(r: sqlx::sqlite::SqliteQueryResult) -> bool {
    r.rows_affected() > 0
}

#[async_trait]
impl Tx for SqliteConn {
    async fn insert_org(&mut self, org: &Organization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organizations (id, kind, name, slug, settings, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(org.id.to_string())
        .bind(org.kind.as_str())
        .bind(org.name.as_str())
        .bind(org.slug.as_str())
        .bind(settings_json(&org.settings)?)
        .bind(ms(org.created_at))
        .bind(ms(org.updated_at))
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn org_for_update(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        Reads::org(self, id).await
    }

    async fn org_for_update_with_access(
        &mut self,
        id: OrgId,
        identity: Option<IdentityId>,
    ) -> StoreResult<(Option<Organization>, Option<MemberAccess>)> {
        access::org_with_access(self, id, identity).await
    }

    async fn update_org(&mut self, org: &Organization) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE organizations SET name = ?, settings = ?, updated_at = ? WHERE id = ?",
        )
        .bind(org.name.as_str())
        .bind(settings_json(&org.settings)?)
        .bind(ms(org.updated_at))
        .bind(org.id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_identity(&mut self, i: &Identity) -> StoreResult<()> {
        self.defer(
            "INSERT INTO identities (id, email, email_key, name, name_key, password_hash, \
             email_verified_at, timezone, locale, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i.id.to_string())
        .bind(i.email.as_str().to_owned())
        .bind(i.email.key().to_owned())
        .bind(i.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(i.name.as_ref().map(|n| search_key(n.as_str())))
        .bind(i.password_hash.clone())
        .bind(opt_ms(i.email_verified_at))
        .bind(i.timezone.clone())
        .bind(i.locale.clone())
        .bind(ms(i.created_at))
        .bind(ms(i.updated_at));
        Ok(())
    }

    async fn set_password_hash(
        &mut self,
        id: IdentityId,
        hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE identities SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(hash)
            .bind(ms(at))
            .bind(id.to_string())
            .execute(self.c().await?)
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
        let r = sqlx::query(
            "UPDATE identities SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash IS NULL",
        )
        .bind(hash)
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn mark_email_verified(&mut self, id: IdentityId, at: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE identities SET email_verified_at = coalesce(email_verified_at, ?1), \
             updated_at = ?1 WHERE id = ?2",
        )
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn identity_for_update(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        // BEGIN IMMEDIATE already holds SQLite's single write lock.
        Reads::identity(self, id).await
    }

    async fn set_identity_email(
        &mut self,
        id: IdentityId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool> {
        // The unique index on email_key turns a taken address into `EmailTaken` (map_err).
        let r = sqlx::query(
            "UPDATE identities SET email = ?1, email_key = ?2, email_verified_at = ?3, \
             updated_at = ?3 WHERE id = ?4",
        )
        .bind(email.as_str())
        .bind(email.key())
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.c().await?)
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
            "UPDATE identities SET name = ?, name_key = ?, timezone = ?, locale = ?, updated_at = ? \
             WHERE id = ?",
        )
        .bind(name)
        .bind(name.map(search_key))
        .bind(timezone)
        .bind(locale)
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_membership(&mut self, m: &Membership) -> StoreResult<()> {
        self.defer(
            "INSERT INTO memberships (id, org_id, identity_id, status, created_at, updated_at, \
             removed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(m.org_id.to_string())
        .bind(m.identity_id.to_string())
        .bind(m.status.as_str())
        .bind(ms(m.created_at))
        .bind(ms(m.updated_at))
        .bind(opt_ms(m.removed_at));
        for role in &m.roles {
            self.defer(
                "INSERT INTO membership_roles (membership_id, org_id, role) VALUES (?, ?, ?)",
            )
            .bind(m.id.to_string())
            .bind(m.org_id.to_string())
            .bind(role.as_str());
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
                access::replace_links(self.c().await?, m.org_id, m.id, link, &ids, None).await?;
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
        // Touching the membership first checks it (this org, not removed); the write lock
        // of BEGIN IMMEDIATE keeps the delete-and-insert below from interleaving.
        let r = sqlx::query(
            "UPDATE memberships SET updated_at = ? WHERE org_id = ? AND id = ? AND status <> 'removed'",
        )
        .bind(ms(at))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        if !done(r) {
            return Ok(false);
        }
        sqlx::query("DELETE FROM membership_roles WHERE org_id = ? AND membership_id = ?")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(self.c().await?)
            .await
            .map_err(map_err)?;
        for role in roles.iter().collect::<BTreeSet<_>>() {
            sqlx::query(
                "INSERT INTO membership_roles (membership_id, org_id, role) VALUES (?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(org.to_string())
            .bind(role.as_str())
            .execute(self.c().await?)
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
        access::replace_links(self.c().await?, org, id, Link::CustomRoles, &ids, Some(at)).await
    }
    async fn set_membership_groups(
        &mut self,
        org: OrgId,
        id: MembershipId,
        groups: &[GroupId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = groups.iter().map(|g| g.as_uuid()).collect();
        access::replace_links(self.c().await?, org, id, Link::Groups, &ids, Some(at)).await
    }
    async fn set_membership_entity(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entity: Option<EntityId>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = entity.iter().map(|e| e.as_uuid()).collect();
        access::replace_links(self.c().await?, org, id, Link::Entity, &ids, Some(at)).await
    }
    async fn set_admin_scope(
        &mut self,
        org: OrgId,
        id: MembershipId,
        entities: &[EntityId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = entities.iter().map(|e| e.as_uuid()).collect();
        access::replace_links(self.c().await?, org, id, Link::AdminScope, &ids, Some(at)).await
    }
    async fn set_customer_assignments(
        &mut self,
        org: OrgId,
        id: MembershipId,
        customers: &[CustomerId],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let ids: Vec<_> = customers.iter().map(|c| c.as_uuid()).collect();
        access::replace_links(self.c().await?, org, id, Link::Customers, &ids, Some(at)).await
    }

    async fn insert_custom_role(&mut self, role: &CustomRole) -> StoreResult<()> {
        access::insert_custom_role(self.c().await?, role).await
    }
    async fn update_custom_role(&mut self, role: &CustomRole) -> StoreResult<bool> {
        access::update_custom_role(self.c().await?, role).await
    }
    async fn delete_custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<bool> {
        access::delete_custom_role(self.c().await?, org, id).await
    }
    async fn insert_group(&mut self, group: &Group) -> StoreResult<()> {
        access::insert_group(self.c().await?, group).await
    }
    async fn update_group(&mut self, group: &Group) -> StoreResult<bool> {
        access::update_group(self.c().await?, group).await
    }
    async fn delete_group(&mut self, org: OrgId, id: GroupId) -> StoreResult<bool> {
        access::delete_group(self.c().await?, org, id).await
    }
    async fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
        access::insert_customer(self.c().await?, customer).await
    }
    async fn update_customer(&mut self, customer: &Customer) -> StoreResult<bool> {
        access::update_customer(self.c().await?, customer).await
    }
    async fn delete_customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<bool> {
        access::delete_customer(self.c().await?, org, id).await
    }
    async fn insert_entity(&mut self, entity: &Entity) -> StoreResult<()> {
        access::insert_entity(self.c().await?, entity).await
    }
    async fn update_entity(&mut self, entity: &Entity) -> StoreResult<bool> {
        access::update_entity(self.c().await?, entity).await
    }
    async fn delete_entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<bool> {
        access::delete_entity(self.c().await?, org, id).await
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
        let removed_at = (to == MembershipStatus::Removed).then_some(ms(at));
        let r = sqlx::query(
            "UPDATE memberships SET status = ?1, updated_at = ?2, removed_at = coalesce(?3, removed_at) \
             WHERE org_id = ?4 AND id = ?5 AND status = ?6",
        )
        .bind(to.as_str())
        .bind(ms(at))
        .bind(removed_at)
        .bind(org.to_string())
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_invitation(&mut self, inv: &Invitation) -> StoreResult<()> {
        self.defer(
            "INSERT INTO invitations (id, org_id, membership_id, identity_id, token_hash, \
             invited_by_kind, invited_by_id, created_at, expires_at, accepted_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(inv.id.to_string())
        .bind(inv.org_id.to_string())
        .bind(inv.membership_id.to_string())
        .bind(inv.identity_id.to_string())
        .bind(inv.token_hash.as_str().to_owned())
        .bind(inv.invited_by.kind())
        .bind(inv.invited_by.id().map(|i| i.to_string()))
        .bind(ms(inv.created_at))
        .bind(ms(inv.expires_at))
        .bind(opt_ms(inv.accepted_at))
        .bind(opt_ms(inv.revoked_at));
        Ok(())
    }

    async fn revoke_invitations_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE invitations SET revoked_at = ?1 WHERE org_id = ?2 AND membership_id = ?3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(org.to_string())
        .bind(membership.to_string())
        .execute(self.c().await?)
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
            "UPDATE invitations SET accepted_at = ?1 WHERE org_id = ?2 AND id = ?3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
        self.defer(
            "INSERT INTO sessions (id, identity_id, token_hash, csrf_hash, created_at, last_seen_at, \
             expires_at, idle_timeout_minutes, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.identity_id.to_string())
        .bind(s.token_hash.as_str().to_owned())
        .bind(s.csrf_hash.as_str().to_owned())
        .bind(ms(s.created_at))
        .bind(ms(s.last_seen_at))
        .bind(ms(s.expires_at))
        .bind(i64::from(s.idle_timeout_minutes))
        .bind(opt_ms(s.revoked_at));
        Ok(())
    }

    async fn touch_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<()> {
        self.defer("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?")
            .bind(ms(at))
            .bind(id.to_string());
        Ok(())
    }

    async fn revoke_session(&mut self, id: SessionId, at: Timestamp) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(ms(at))
                .bind(id.to_string())
                .execute(self.c().await?)
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
            "UPDATE sessions SET revoked_at = ?1 WHERE identity_id = ?2 AND revoked_at IS NULL \
             AND (?3 IS NULL OR id <> ?3)",
        )
        .bind(ms(at))
        .bind(identity.to_string())
        .bind(keep.map(|k| k.to_string()))
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn insert_api_token(&mut self, t: &ApiToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, kind, org_id, name, token_hash, created_by, permissions, \
             created_at, expires_at, revoked_at, last_used_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(t.id.to_string())
        .bind(t.kind.as_str())
        .bind(t.org_id.map(|o| o.to_string()))
        .bind(&t.name)
        .bind(t.token_hash.as_str())
        .bind(t.created_by.map(|i| i.to_string()))
        .bind(permissions_json(&t.permissions)?)
        .bind(ms(t.created_at))
        .bind(opt_ms(t.expires_at))
        .bind(opt_ms(t.revoked_at))
        .bind(opt_ms(t.last_used_at))
        .execute(self.c().await?)
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
            "UPDATE api_tokens SET revoked_at = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(self.c().await?)
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
            "UPDATE api_tokens SET revoked_at = ?1 WHERE created_by = ?2 AND revoked_at IS NULL \
             AND (?3 IS NULL OR org_id = ?3)",
        )
        .bind(ms(at))
        .bind(identity.to_string())
        .bind(org.map(|o| o.to_string()))
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn touch_api_token(&mut self, id: ApiTokenId, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2",
        )
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn insert_identity_token(&mut self, token: &IdentityToken) -> StoreResult<()> {
        sign_in::insert_identity_token(self.c().await?, token).await
    }

    async fn consume_identity_token(
        &mut self,
        id: IdentityTokenId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        sign_in::consume_identity_token(self.c().await?, id, at).await
    }

    async fn revoke_identity_tokens(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<u64> {
        sign_in::revoke_identity_tokens(self.c().await?, identity, purpose, at).await
    }

    async fn hit_throttle(
        &mut self,
        scope: &str,
        key: &str,
        now: Timestamp,
        window_started_before: Timestamp,
    ) -> StoreResult<ThrottleState> {
        sign_in::hit_throttle(self.c().await?, scope, key, now, window_started_before).await
    }

    async fn release_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        sign_in::release_throttle(self.c().await?, scope, key).await
    }

    async fn clear_throttle(&mut self, scope: &str, key: &str) -> StoreResult<()> {
        sign_in::clear_throttle(self.c().await?, scope, key).await
    }

    async fn insert_sign_in_attempt(&mut self, attempt: &SignInAttempt) -> StoreResult<()> {
        self.defer(
            "INSERT INTO sign_in_attempts (id, reference, at, email, identity_id, client_ip, code) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(attempt.id.to_string())
        .bind(attempt.reference.clone())
        .bind(ms(attempt.at))
        .bind(attempt.email.clone())
        .bind(attempt.identity_id.map(|i| i.to_string()))
        .bind(attempt.client_ip.clone())
        .bind(attempt.code.as_str());
        Ok(())
    }

    async fn append_audit(&mut self, e: &AuditEvent) -> StoreResult<()> {
        self.defer(
            "INSERT INTO audit_events (id, org_id, at, actor_kind, actor_id, action, target_kind, \
             target_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.id.to_string())
        .bind(e.org_id.map(|o| o.to_string()))
        .bind(ms(e.at))
        .bind(e.actor.kind())
        .bind(e.actor.id().map(|i| i.to_string()))
        .bind(e.action.clone())
        .bind(e.target.as_ref().map(|t| t.kind.clone()))
        .bind(e.target.as_ref().map(|t| t.id.to_string()))
        .bind(e.details.to_string());
        Ok(())
    }

    async fn enqueue_outbox(&mut self, m: &OutboxMessage) -> StoreResult<()> {
        let payload = m
            .notice
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| roster_core::store::StoreError::Corrupt(e.to_string()))?;
        self.defer(
            "INSERT INTO outbox (id, org_id, recipient, kind, payload, status, attempts, \
             next_attempt_at, lease_until, last_error, created_at, sent_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(m.org_id.map(|o| o.to_string()))
        .bind(m.recipient.as_str().to_owned())
        .bind(m.kind.clone())
        .bind(payload)
        .bind(m.status.as_str())
        .bind(i64::from(m.attempts))
        .bind(ms(m.next_attempt_at))
        .bind(opt_ms(m.lease_until))
        .bind(m.last_error.clone())
        .bind(ms(m.created_at))
        .bind(opt_ms(m.sent_at));
        Ok(())
    }

    async fn claim_outbox(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let rows = sqlx::query(
            "UPDATE outbox SET lease_until = ?2, attempts = attempts + 1 WHERE id IN ( \
               SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1 \
               AND (lease_until IS NULL OR lease_until <= ?1) \
               ORDER BY next_attempt_at, id LIMIT ?3) RETURNING *",
        )
        .bind(ms(now))
        .bind(ms(lease_until))
        .bind(i64::from(limit))
        .fetch_all(self.c().await?)
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
            "UPDATE outbox SET status = 'sent', sent_at = ?1, lease_until = NULL, payload = NULL, \
             last_error = NULL WHERE id = ?2 AND status = 'pending' AND lease_until = ?3",
        )
        .bind(ms(at))
        .bind(id.to_string())
        .bind(ms(lease_until))
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn release_outbox(&mut self, id: OutboxId, lease_until: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE outbox SET lease_until = NULL, attempts = max(attempts - 1, 0) \
             WHERE id = ?1 AND status = 'pending' AND lease_until = ?2",
        )
        .bind(id.to_string())
        .bind(ms(lease_until))
        .execute(self.c().await?)
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
               status = CASE WHEN ?2 IS NULL THEN 'failed' ELSE 'pending' END, \
               next_attempt_at = coalesce(?2, next_attempt_at), \
                              payload = CASE WHEN ?2 IS NULL AND ?5 THEN NULL ELSE payload END, \
               last_error = ?1, lease_until = NULL \
             WHERE id = ?3 AND status = 'pending' AND lease_until = ?4",
        )
        .bind(error)
        .bind(opt_ms(next_attempt_at))
        .bind(id.to_string())
        .bind(ms(lease_until))
        .bind(scrub)
        .execute(self.c().await?)
        .await
        .map_err(map_err)?;
        Ok(done(r))
    }

    async fn retry_outbox(&mut self, id: OutboxId, now: Timestamp) -> StoreResult<bool> {
        tasks::retry_outbox(self.c().await?, id, now).await
    }
    async fn insert_task(&mut self, task: &Task) -> StoreResult<()> {
        tasks::insert_task(self.c().await?, task).await
    }
    async fn update_task(&mut self, task: &Task) -> StoreResult<bool> {
        tasks::update_task(self.c().await?, task).await
    }
    async fn put_task_category(
        &mut self,
        org: OrgId,
        category: &TaskCategory,
        relabel: bool,
    ) -> StoreResult<()> {
        tasks::put_task_category(self.c().await?, org, category, relabel).await
    }
    async fn set_notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        prefs: &NotificationPrefs,
        now: Timestamp,
    ) -> StoreResult<bool> {
        tasks::set_notification_prefs(self.c().await?, org, membership, prefs, now).await
    }
    async fn plan_digest(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        expected: Option<Timestamp>,
        due_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        tasks::plan_digest(self.c().await?, org, membership, expected, due_at).await
    }
    async fn replan_digests_of_identity(
        &mut self,
        identity: IdentityId,
        now: Timestamp,
    ) -> StoreResult<()> {
        tasks::replan_digests_of_identity(self.c().await?, identity, now).await
    }
    async fn replan_digests_of_org(&mut self, org: OrgId, now: Timestamp) -> StoreResult<()> {
        tasks::replan_digests_of_org(self.c().await?, org, now).await
    }
    async fn record_digest(&mut self, record: &DigestRecord) -> StoreResult<bool> {
        tasks::record_digest(self.c().await?, record).await
    }
    async fn prune_digests(&mut self, before: Timestamp) -> StoreResult<u64> {
        tasks::prune_digests(self.c().await?, before).await
    }
    async fn put_sso_connection(&mut self, connection: &SsoConnection) -> StoreResult<()> {
        sso::put_connection(self.c().await?, connection).await
    }
    async fn delete_sso_connection(&mut self, org: OrgId) -> StoreResult<bool> {
        sso::delete_connection(self.c().await?, org).await
    }
    async fn link_sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
        identity: IdentityId,
        at: Timestamp,
    ) -> StoreResult<()> {
        sso::link_subject(self.c().await?, org, issuer, subject, identity, at).await
    }
    async fn insert_sso_login(&mut self, login: &SsoLogin) -> StoreResult<()> {
        sso::insert_login(self.c().await?, login).await
    }
    async fn take_sso_login(
        &mut self,
        state_hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SsoLogin>> {
        sso::take_login(self.c().await?, state_hash, now).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let SqliteConn {
            conn,
            mut deferred,
            broken,
        } = *self;
        if broken {
            return Err(crate::broken());
        }
        match conn {
            Conn::Write(tx) => tx.commit(&mut deferred).await,
            Conn::Read(_) => Ok(()),
        }
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        // Writes still deferred never reach SQLite.
        match self.conn {
            Conn::Write(tx) => tx.rollback().await,
            Conn::Read(_) => Ok(()),
        }
    }
}

fn settings_json(s: &OrgSettings) -> StoreResult<String> {
    serde_json::to_string(s).map_err(|e| roster_core::store::StoreError::Corrupt(e.to_string()))
}
