use super::UnknownValue;
use crate::clock::Timestamp;
use crate::ids::{ApiTokenId, AuditEventId, IdentityId, OrgId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// Roster itself (a scheduler, a worker).
    System,
    /// Someone at the server's command line.
    Cli,
    /// A program holding an operator token.
    Operator(ApiTokenId),
    /// A person.
    Identity(IdentityId),
    /// A program holding an organization's API token.
    ApiToken(ApiTokenId),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::System => "system",
            Actor::Cli => "cli",
            Actor::Operator(_) => "operator",
            Actor::Identity(_) => "identity",
            Actor::ApiToken(_) => "api_token",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::System | Actor::Cli => None,
            Actor::Operator(id) => Some(id.as_uuid()),
            Actor::Identity(id) => Some(id.as_uuid()),
            Actor::ApiToken(id) => Some(id.as_uuid()),
        }
    }

    /// Rebuilds an actor from its stored columns.
    pub fn from_parts(kind: &str, id: Option<Uuid>) -> Result<Self, UnknownValue> {
        let bad = || UnknownValue {
            what: "actor",
            value: format!("{kind}:{id:?}"),
            expected: "system, cli, operator:<id>, identity:<id>, api_token:<id>",
        };
        match (kind, id) {
            ("system", None) => Ok(Actor::System),
            ("cli", None) => Ok(Actor::Cli),
            ("operator", Some(id)) => Ok(Actor::Operator(ApiTokenId::from_uuid(id))),
            ("identity", Some(id)) => Ok(Actor::Identity(IdentityId::from_uuid(id))),
            ("api_token", Some(id)) => Ok(Actor::ApiToken(ApiTokenId::from_uuid(id))),
            _ => Err(bad()),
        }
    }
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTarget {
    /// `organization`, `identity`, `membership`, `invitation`, `api_token`, ...
    pub kind: String,
    pub id: Uuid,
}

/// One append-only record of an administrative or security-relevant action. Never holds a
/// password, a token or a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    /// `None` for deployment-wide events (an operator token was created).
    pub org_id: Option<OrgId>,
    pub at: Timestamp,
    pub actor: Actor,
    /// Dotted verb, e.g. `organization.created`, `invitation.accepted`.
    pub action: String,
    pub target: Option<AuditTarget>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(
        org_id: Option<OrgId>,
        actor: Actor,
        action: &str,
        target: Option<AuditTarget>,
        details: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        Self {
            id: AuditEventId::new(),
            org_id,
            at,
            actor,
            action: action.to_owned(),
            target,
            details,
        }
    }
}

/// A filter over the audit log. `org_id` is exact: `Some(org)` returns that organization's
/// events only, `None` the deployment-wide ones only.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub org_id: Option<OrgId>,
    pub actor: Option<Actor>,
    pub target_id: Option<Uuid>,
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Newest first; continue below this id.
    pub before: Option<AuditEventId>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_parts() {
        for a in [
            Actor::System,
            Actor::Cli,
            Actor::Operator(ApiTokenId::new()),
            Actor::Identity(IdentityId::new()),
        ] {
            assert_eq!(Actor::from_parts(a.kind(), a.id()), Ok(a));
        }
        assert!(Actor::from_parts("identity", None).is_err());
        assert!(Actor::from_parts("root", None).is_err());
    }
}
