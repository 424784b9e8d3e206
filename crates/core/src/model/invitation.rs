use super::Actor;
use crate::clock::Timestamp;
use crate::ids::{IdentityId, InvitationId, MembershipId, OrgId};
use crate::secrets::SecretHash;

/// A single-use link to join one organization as one identity. Only the hash of the link's
/// token is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub membership_id: MembershipId,
    pub identity_id: IdentityId,
    pub token_hash: SecretHash,
    pub invited_by: Actor,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationState {
    Open,
    Expired,
    Accepted,
    Revoked,
}

impl Invitation {
    pub fn state(&self, now: Timestamp) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn expiry_is_exclusive_and_use_wins() {
        let now = chrono::Utc::now();
        let mut inv = Invitation {
            id: InvitationId::new(),
            org_id: OrgId::new(),
            membership_id: MembershipId::new(),
            identity_id: IdentityId::new(),
            token_hash: SecretHash::from_stored("00"),
            invited_by: Actor::System,
            created_at: now,
            expires_at: now + Duration::hours(72),
            accepted_at: None,
            revoked_at: None,
        };
        assert_eq!(inv.state(now), InvitationState::Open);
        assert_eq!(
            inv.state(now + Duration::hours(72) - Duration::milliseconds(1)),
            InvitationState::Open
        );
        assert_eq!(
            inv.state(now + Duration::hours(72)),
            InvitationState::Expired
        );
        inv.revoked_at = Some(now);
        assert_eq!(inv.state(now), InvitationState::Revoked);
        inv.accepted_at = Some(now);
        assert_eq!(inv.state(now), InvitationState::Accepted);
    }
}
