//! Bearer tokens for programs. Operator tokens administer the deployment (create
//! organizations); organization tokens arrive with the access-model work.

use crate::access::{Caller, OperatorGrant};
use crate::ids::ApiTokenId;
use crate::model::{ApiToken, ApiTokenKind, AuditEvent};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::StoreError;
use serde_json::json;

pub const OPERATOR_TOKEN_PREFIX: &str = "roster_op_";

#[derive(Debug, thiserror::Error)]
pub enum CreateTokenError {
    #[error("a token name has 1 to 100 characters without control characters")]
    InvalidName,
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Roster {
    /// Creates an operator token. The raw token is returned once and never stored.
    pub async fn create_operator_token(
        &self,
        grant: &OperatorGrant,
        name: &str,
    ) -> Result<(ApiToken, Secret), CreateTokenError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(CreateTokenError::InvalidName);
        }
        let secret = Secret::generate(OPERATOR_TOKEN_PREFIX)?;
        let now = self.clock.now();
        let token = ApiToken {
            id: ApiTokenId::new(),
            kind: ApiTokenKind::Operator,
            org_id: None,
            name: name.to_owned(),
            token_hash: secret.hash(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_api_token(&token).await?;
        tx.append_audit(&AuditEvent::new(
            None,
            grant.actor(),
            "api_token.created",
            super::target("api_token", token.id.as_uuid()),
            json!({ "kind": token.kind.as_str(), "name": token.name }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok((token, secret))
    }

    /// The caller a bearer token stands for, if it is live.
    pub async fn authenticate_bearer(&self, raw: &Secret) -> Result<Option<Caller>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(token) = reads.api_token_by_hash(&raw.hash()).await? else {
            return Ok(None);
        };
        if !token.is_live(self.clock.now()) {
            return Ok(None);
        }
        Ok(match token.kind {
            ApiTokenKind::Operator => Some(Caller::Operator { token_id: token.id }),
            // Organization tokens are not accepted until their permissions exist.
            ApiTokenKind::Organization => None,
        })
    }
}
