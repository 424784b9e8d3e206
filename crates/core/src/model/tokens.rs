use super::UnknownValue;
use crate::clock::Timestamp;
use crate::ids::{ApiTokenId, IdentityId, OrgId, SessionId};
use crate::secrets::SecretHash;

/// A browser session. The cookie holds the raw token; only its hash is stored, and the
/// CSRF token likewise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub identity_id: IdentityId,
    pub token_hash: SecretHash,
    pub csrf_hash: SecretHash,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Absolute end, whatever the activity.
    pub expires_at: Timestamp,
    /// Idle timeout, in minutes, fixed at sign-in.
    pub idle_timeout_minutes: u32,
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    /// Whether the session still admits its holder at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none()
            && now < self.expires_at
            && now - self.last_seen_at
                < chrono::Duration::minutes(i64::from(self.idle_timeout_minutes))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiTokenKind {
    /// Deployment-wide: creates organizations, acts for the operator. No organization.
    Operator,
    /// Belongs to one organization.
    Organization,
}

impl ApiTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiTokenKind::Operator => "operator",
            ApiTokenKind::Organization => "organization",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "operator" => Ok(ApiTokenKind::Operator),
            "organization" => Ok(ApiTokenKind::Organization),
            other => Err(UnknownValue {
                what: "token kind",
                value: other.to_owned(),
                expected: "operator, organization",
            }),
        }
    }
}

/// A bearer token for programs. Shown once, stored as a hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub kind: ApiTokenKind,
    /// `None` exactly for operator tokens.
    pub org_id: Option<OrgId>,
    pub name: String,
    pub token_hash: SecretHash,
    /// The person who created an organization token. The token acts for them and never
    /// beyond what they currently hold: it stops working when their membership stops
    /// admitting them, and it ends with their password. `None` for operator tokens and
    /// tokens an operator created.
    pub created_by: Option<IdentityId>,
    /// What an organization token may do: codes of the catalog, Roster's and the host
    /// product's; empty for operator tokens.
    pub permissions: Vec<crate::access::PermissionCode>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Written at most once a minute.
    pub last_used_at: Option<Timestamp>,
}

impl ApiToken {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn session(now: Timestamp) -> Session {
        Session {
            id: SessionId::new(),
            identity_id: IdentityId::new(),
            token_hash: SecretHash::from_stored("a"),
            csrf_hash: SecretHash::from_stored("b"),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::days(7),
            idle_timeout_minutes: 480,
            revoked_at: None,
        }
    }

    #[test]
    fn sessions_end_when_idle_expired_or_revoked() {
        let now = chrono::Utc::now();
        let mut s = session(now);
        assert!(s.is_live(now + Duration::hours(7)));
        assert!(!s.is_live(now + Duration::hours(8)), "idle timeout");
        s.last_seen_at = now + Duration::days(6) + Duration::hours(23);
        assert!(!s.is_live(now + Duration::days(7)), "absolute lifetime");
        let mut s = session(now);
        s.revoked_at = Some(now);
        assert!(!s.is_live(now));
    }
}
