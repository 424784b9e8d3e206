//! Browser sessions: starting one, recognising it on each request, ending it.
//!
//! The full rules (sign-in, throttling, revocation everywhere) come with the sign-in work;
//! this is what accepting an invitation needs to hand the person a working session.

use crate::clock::Timestamp;
use crate::ids::{IdentityId, OrgId, SessionId};
use crate::model::{Actor, AuditEvent, Identity, Membership, OrgSettings, Organization, Session};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{StoreError, Tx};
use chrono::Duration;
use serde_json::json;

pub const SESSION_TOKEN_PREFIX: &str = "";

/// A session just started: the record plus the two secrets its holder receives once.
#[derive(Debug)]
pub struct NewSession {
    pub session: Session,
    /// Goes into the session cookie.
    pub token: Secret,
    /// Must accompany every state-changing request made with the cookie.
    pub csrf_token: Secret,
}

/// `last_seen_at` is written at most this often, so reads do not turn into writes.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum StartSessionError {
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A recognised session and who holds it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub session: Session,
    pub identity: Identity,
}

impl Roster {
    pub(crate) async fn start_session_in(
        &self,
        tx: &mut dyn Tx,
        identity_id: IdentityId,
        settings: &OrgSettings,
        org: Option<OrgId>,
        now: Timestamp,
    ) -> Result<NewSession, StartSessionError> {
        let token = Secret::generate(SESSION_TOKEN_PREFIX)?;
        let csrf_token = Secret::generate("")?;
        let session = Session {
            id: SessionId::new(),
            identity_id,
            token_hash: token.hash(),
            csrf_hash: csrf_token.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(i64::from(settings.session_lifetime_hours)),
            idle_timeout_minutes: settings.session_idle_timeout_minutes,
            revoked_at: None,
        };
        tx.insert_session(&session).await?;
        tx.append_audit(&AuditEvent::new(
            org,
            Actor::Identity(identity_id),
            "session.started",
            super::target("identity", identity_id.as_uuid()),
            json!({ "session_id": session.id }),
            now,
        ))
        .await?;
        Ok(NewSession {
            session,
            token,
            csrf_token,
        })
    }

    /// The live session a cookie holds, if any.
    pub async fn authenticate_session(
        &self,
        token: &Secret,
    ) -> Result<Option<Authenticated>, StoreError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let Some(session) = reads.session_by_token(&token.hash()).await? else {
            return Ok(None);
        };
        if !session.is_live(now) {
            return Ok(None);
        }
        let Some(identity) = reads.identity(session.identity_id).await? else {
            return Ok(None);
        };
        drop(reads);
        if now - session.last_seen_at >= Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            let mut tx = self.store.begin().await?;
            tx.touch_session(session.id, now).await?;
            tx.commit().await?;
        }
        Ok(Some(Authenticated { session, identity }))
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, session: &Session) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if tx.revoke_session(session.id, now).await? {
            tx.append_audit(&AuditEvent::new(
                None,
                Actor::Identity(session.identity_id),
                "session.ended",
                super::target("identity", session.identity_id.as_uuid()),
                json!({ "session_id": session.id }),
                now,
            ))
            .await?;
        }
        tx.commit().await
    }

    /// The identity and the organizations it belongs to (removed memberships excluded).
    pub async fn me(
        &self,
        identity_id: IdentityId,
    ) -> Result<Option<(Identity, Vec<(Membership, Organization)>)>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(identity) = reads.identity(identity_id).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for m in reads.memberships_of_identity(identity_id).await? {
            if let Some(org) = reads.org(m.org_id).await? {
                out.push((m, org));
            }
        }
        Ok(Some((identity, out)))
    }
}
