//! Browser sessions: starting one, recognising it on each request, listing and ending them.
//!
//! Every request reads its session, its identity and the identity's memberships from the
//! store, with no cache in between: a revoked or expired session, a deactivation or a
//! changed role applies to the very next request on every instance.

use crate::clock::Timestamp;
use crate::ids::{IdentityId, OrgId, SessionId};
use crate::model::{
    Actor, AuditEvent, Identity, Membership, MembershipStatus, OrgSettings, Organization, Session,
};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{SessionHolder, StoreError, Tx};
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

/// How long a session may live. An identity in several organizations gets the strictest
/// of their settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_timeout_minutes: u32,
    pub lifetime_hours: u32,
}

impl From<&OrgSettings> for SessionLimits {
    fn from(s: &OrgSettings) -> Self {
        Self {
            idle_timeout_minutes: s.session_idle_timeout_minutes,
            lifetime_hours: s.session_lifetime_hours,
        }
    }
}

impl SessionLimits {
    /// The strictest limits among `settings`; the defaults when there are none.
    pub fn strictest<'a>(settings: impl IntoIterator<Item = &'a OrgSettings>) -> Self {
        settings
            .into_iter()
            .map(Self::from)
            .reduce(|a, b| Self {
                idle_timeout_minutes: a.idle_timeout_minutes.min(b.idle_timeout_minutes),
                lifetime_hours: a.lifetime_hours.min(b.lifetime_hours),
            })
            .unwrap_or_else(|| Self::from(&OrgSettings::default()))
    }
}

/// Whether an identity with these memberships may hold a session: at least one membership
/// admits them as a person, or is a pending invitation they may still accept. Deactivated
/// or removed everywhere, or Notifications-only, means no.
pub fn may_hold_session<'a>(memberships: impl IntoIterator<Item = &'a Membership>) -> bool {
    memberships
        .into_iter()
        .any(|m| m.admits_person() || m.status == MembershipStatus::Invited)
}

/// A recognised session and who holds it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub session: Session,
    pub identity: Identity,
    /// Every organization the person belongs to, each with the membership (removed ones
    /// excluded), as read to admit the session: whoever answers about the person's
    /// organizations in the same request need not read them again.
    pub memberships: Vec<(Membership, Organization)>,
}

impl Roster {
    pub(crate) async fn start_session_in(
        &self,
        tx: &mut dyn Tx,
        identity_id: IdentityId,
        limits: impl Into<SessionLimits>,
        org: Option<OrgId>,
        now: Timestamp,
    ) -> Result<NewSession, StartSessionError> {
        let limits = limits.into();
        let token = Secret::generate(SESSION_TOKEN_PREFIX)?;
        let csrf_token = Secret::generate("")?;
        let session = Session {
            id: SessionId::new(),
            identity_id,
            token_hash: token.hash(),
            csrf_hash: csrf_token.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(i64::from(limits.lifetime_hours)),
            idle_timeout_minutes: limits.idle_timeout_minutes,
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

    /// The live session a cookie holds, if any. A session whose person is no longer
    /// admitted anywhere (deactivated or removed everywhere) no longer counts.
    pub async fn authenticate_session(
        &self,
        token: &Secret,
    ) -> Result<Option<Authenticated>, StoreError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let Some(SessionHolder {
            session,
            identity,
            memberships,
        }) = reads.session_with_holder(&token.hash()).await?
        else {
            return Ok(None);
        };
        if !session.is_live(now) {
            return Ok(None);
        }
        if !may_hold_session(memberships.iter().map(|(m, _)| m)) {
            return Ok(None);
        }
        drop(reads);
        if now - session.last_seen_at >= Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            let mut tx = self.store.begin().await?;
            tx.touch_session(session.id, now).await?;
            tx.commit().await?;
        }
        Ok(Some(Authenticated {
            session,
            identity,
            memberships,
        }))
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

    /// The person's live sessions, newest first.
    pub async fn list_sessions(&self, identity: IdentityId) -> Result<Vec<Session>, StoreError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let mut sessions = reads.sessions_of_identity(identity).await?;
        sessions.retain(|s| s.is_live(now));
        Ok(sessions)
    }

    /// Ends one of the person's own sessions. False when the id is not one of their live
    /// sessions (another person's session is as absent as a made-up id).
    pub async fn end_own_session(
        &self,
        identity: IdentityId,
        id: SessionId,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let own = tx
            .sessions_of_identity(identity)
            .await?
            .into_iter()
            .any(|s| s.id == id && s.is_live(now));
        if !own || !tx.revoke_session(id, now).await? {
            return Ok(false);
        }
        tx.append_audit(&AuditEvent::new(
            None,
            Actor::Identity(identity),
            "session.revoked",
            super::target("identity", identity.as_uuid()),
            json!({ "session_id": id }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
