//! Queries, on a plain connection or inside a transaction.

use crate::rows::{
    api_token, audit, get, identity, invitation, membership, org, outbox, parse, session,
};
use crate::{map_err, PgConn};
use async_trait::async_trait;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::Slug;
use roster_core::secrets::SecretHash;
use roster_core::store::{MemberView, OutboxFilter, Reads, StoreResult};

pub(crate) const MEMBERSHIP_SELECT: &str = "SELECT m.*, \
    (SELECT string_agg(r.role, ',') FROM membership_roles r WHERE r.membership_id = m.id) AS roles \
    FROM memberships m";

fn page_of<T>(mut items: Vec<T>, limit: u32, total: i64, id: impl Fn(&T) -> uuid::Uuid) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page {
        next_after: if more { items.last().map(id) } else { None },
        items,
        total: u64::try_from(total).unwrap_or(0),
    }
}

#[async_trait]
impl Reads for PgConn {
    async fn org(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn org_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn list_orgs(&mut self, page: PageRequest) -> StoreResult<Page<Organization>> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
            .fetch_one(self.c())
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT * FROM organizations WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.c())
        .await
        .map_err(map_err)?;
        let items = rows.iter().map(org).collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, total, |o| o.id.as_uuid()))
    }

    async fn identity(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn identity_by_email(&mut self, email: &Email) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE email_key = $1")
            .bind(email.key())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn membership(
        &mut self,
        org: OrgId,
        id: MembershipId,
    ) -> StoreResult<Option<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.id = $2"
        ))
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?
        .as_ref()
        .map(membership)
        .transpose()
    }

    async fn membership_of(
        &mut self,
        org: OrgId,
        identity: IdentityId,
    ) -> StoreResult<Option<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.identity_id = $2 AND m.status <> 'removed'"
        ))
        .bind(org.as_uuid())
        .bind(identity.as_uuid())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?
        .as_ref()
        .map(membership)
        .transpose()
    }

    async fn memberships_of_identity(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.identity_id = $1 AND m.status <> 'removed' ORDER BY m.id"
        ))
        .bind(identity.as_uuid())
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(membership)
        .collect()
    }

    async fn list_members(
        &mut self,
        org: OrgId,
        page: PageRequest,
    ) -> StoreResult<Page<MemberView>> {
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memberships WHERE org_id = $1 AND status <> 'removed'",
        )
        .bind(org.as_uuid())
        .fetch_one(self.c())
        .await
        .map_err(map_err)?;
        let rows = sqlx::query(&format!(
            "SELECT x.*, i.email AS identity_email, i.name AS identity_name FROM ({MEMBERSHIP_SELECT} \
             WHERE m.org_id = $1 AND m.status <> 'removed' AND ($2::uuid IS NULL OR m.id > $2)) x \
             JOIN identities i ON i.id = x.identity_id ORDER BY x.id LIMIT $3"
        ))
        .bind(org.as_uuid())
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.c())
        .await
        .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(MemberView {
                    membership: membership(row)?,
                    email: parse(Email::parse(&get::<String>(row, "identity_email")?))?,
                    name: get(row, "identity_name")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, total, |m| {
            m.membership.id.as_uuid()
        }))
    }

    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>> {
        sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(invitation)
            .transpose()
    }

    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(session)
            .transpose()
    }

    async fn api_token_by_hash(&mut self, hash: &SecretHash) -> StoreResult<Option<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(api_token)
            .transpose()
    }

    async fn list_audit(&mut self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let limit = q.limit.clamp(1, 1000);
        sqlx::query(
            "SELECT * FROM audit_events WHERE org_id IS NOT DISTINCT FROM $1 \
             AND ($2::text IS NULL OR actor_kind = $2) AND ($3::uuid IS NULL OR actor_id = $3) \
             AND ($4::uuid IS NULL OR target_id = $4) AND ($5::text IS NULL OR action = $5) \
             AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7) \
             AND ($8::uuid IS NULL OR id < $8) ORDER BY id DESC LIMIT $9",
        )
        .bind(q.org_id.map(|o| o.as_uuid()))
        .bind(q.actor.map(|a| a.kind()))
        .bind(q.actor.and_then(|a| a.id()))
        .bind(q.target_id)
        .bind(q.action.as_deref())
        .bind(q.since)
        .bind(q.until)
        .bind(q.before.map(|b| b.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(audit)
        .collect()
    }

    async fn outbox_message(&mut self, id: OutboxId) -> StoreResult<Option<OutboxMessage>> {
        sqlx::query("SELECT * FROM outbox WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(outbox)
            .transpose()
    }

    async fn list_outbox(&mut self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxMessage>> {
        sqlx::query(
            "SELECT * FROM outbox WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(filter.status.map(|s| s.as_str()))
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(outbox)
        .collect()
    }
}
