//! Bearer tokens for programs. Operator tokens administer the deployment (create
//! organizations). Organization tokens act in one organization with a set of permissions
//! no larger than their creator's, and never beyond what the creator holds at the time of
//! each request.

use crate::access::{held, held_by_token, Caller, Held, OperatorGrant, OrgGrant};
use crate::clock::Timestamp;
use crate::ids::ApiTokenId;
use crate::model::{ApiToken, ApiTokenKind, AuditEvent, Membership, Organization, Permission};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{Reads, StoreError};
use serde_json::json;

/// Who a live bearer token stands for.
#[derive(Clone, Debug)]
pub struct Bearer {
    pub caller: Caller,
    /// What an organization token holds in its organization, as read to admit it (within
    /// its creator's permissions at this moment); `None` for an operator token.
    pub held: Option<Held>,
    /// An organization token's organization, when it was read with the creator's
    /// membership, so a request that names it by slug needs no read of its own.
    pub org: Option<Organization>,
}

pub const OPERATOR_TOKEN_PREFIX: &str = "roster_op_";
pub const ORG_TOKEN_PREFIX: &str = "roster_org_";
/// `last_used_at` is written at most this often.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// Input of [`Roster::create_org_token`].
#[derive(Clone, Debug)]
pub struct NewOrgToken {
    pub name: String,
    /// Permission codes, as given.
    pub permissions: Vec<String>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgTokenError {
    #[error("a token name has 1 to 100 characters without control characters")]
    InvalidName,
    #[error("{0}")]
    InvalidPermissions(String),
    #[error("the expiry must be in the future")]
    InvalidExpiry,
    /// The caller does not hold every permission asked for.
    #[error("you cannot give a token a permission you do not hold")]
    Forbidden,
    #[error("API tokens are created by people, not by other tokens")]
    TokenCannotMint,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control)
}

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
        if !valid_name(name) {
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
            created_by: None,
            permissions: Vec::new(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
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

    /// The caller a bearer token stands for, if it is live. An organization token whose
    /// creator is no longer admitted to the organization (deactivated, removed, demoted to
    /// Notifications) stops at once.
    pub async fn authenticate_bearer(&self, raw: &Secret) -> Result<Option<Bearer>, StoreError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let Some((token, creator)) = reads.api_token_with_creator(&raw.hash()).await? else {
            return Ok(None);
        };
        let bearer = self.bearer_of(&mut *reads, &token, creator, now).await?;
        drop(reads);
        if bearer.is_some() {
            self.touch_if_stale(&token, now).await?;
        }
        Ok(bearer)
    }

    /// Who `token` stands for at `now`, given its creator's membership in its organization
    /// as read with it; `None` when it is not live or its creator no longer admits it.
    pub(crate) async fn bearer_of(
        &self,
        reads: &mut dyn Reads,
        token: &ApiToken,
        creator: Option<(Membership, Organization)>,
        now: Timestamp,
    ) -> Result<Option<Bearer>, StoreError> {
        if !token.is_live(now) {
            return Ok(None);
        }
        Ok(match (token.kind, token.org_id) {
            (ApiTokenKind::Operator, _) => Some(Bearer {
                caller: Caller::Operator { token_id: token.id },
                held: None,
                org: None,
            }),
            (ApiTokenKind::Organization, Some(org_id)) => {
                let caller = Caller::Token {
                    token_id: token.id,
                    org_id,
                    created_by: token.created_by,
                    permissions: token.permissions.iter().cloned().collect(),
                };
                // The creator's membership comes with the token and its organization (one
                // statement, as for a session), so neither needs a read of its own.
                let (held, org) = match token.created_by {
                    Some(_) => {
                        let Some((m, org)) = creator else {
                            return Ok(None);
                        };
                        let held = held_by_token(
                            &self.catalog,
                            &self.definitions,
                            reads,
                            &caller,
                            &m,
                            org.access_version,
                        )
                        .await?;
                        (held, Some(org))
                    }
                    None => (
                        held(&self.catalog, &self.definitions, reads, &caller, org_id).await?,
                        None,
                    ),
                };
                held.map(|held| Bearer {
                    caller,
                    held: Some(held),
                    org,
                })
            }
            (ApiTokenKind::Organization, None) => None,
        })
    }

    /// Writes when `token` was last used, at most once a minute.
    pub(crate) async fn touch_if_stale(
        &self,
        token: &ApiToken,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at >= chrono::Duration::seconds(TOUCH_INTERVAL_SECONDS));
        if stale {
            let mut tx = self.store.begin().await?;
            tx.touch_api_token(token.id, now).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Creates an organization token with permissions the caller holds. The raw token is
    /// returned once and never stored.
    pub async fn create_org_token(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        new: NewOrgToken,
    ) -> Result<(ApiToken, Secret), OrgTokenError> {
        debug_assert_eq!(grant.permission(), Permission::TokensManage);
        // A token never mints tokens: a leaked short-lived token could otherwise leave a
        // long-lived child behind that outlives its revocation.
        if matches!(caller, Caller::Token { .. }) {
            return Err(OrgTokenError::TokenCannotMint);
        }
        let name = new.name.trim();
        if !valid_name(name) {
            return Err(OrgTokenError::InvalidName);
        }
        // Codes of the catalog, host products' included: a provisioning token may hand out a
        // role that carries them.
        let permissions = self
            .catalog
            .parse_codes(&new.permissions)
            .map_err(OrgTokenError::InvalidPermissions)?;
        if permissions.is_empty() {
            return Err(OrgTokenError::InvalidPermissions(
                "give the token at least one permission".to_owned(),
            ));
        }
        let now = self.clock.now();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(OrgTokenError::InvalidExpiry);
        }
        let secret = Secret::generate(ORG_TOKEN_PREFIX)?;
        let token = ApiToken {
            id: ApiTokenId::new(),
            kind: ApiTokenKind::Organization,
            org_id: Some(grant.org_id()),
            name: name.to_owned(),
            token_hash: secret.hash(),
            created_by: caller.identity(),
            permissions: permissions.iter().cloned().collect(),
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.store.begin().await?;
        // Checked inside the transaction, so a demotion that commits first is seen.
        let held = crate::access::held(
            &self.catalog,
            &self.definitions,
            &mut *tx,
            caller,
            grant.org_id(),
        )
        .await?
        .ok_or(OrgTokenError::NotFound)?;
        if !held.holds_all(permissions.iter()) {
            return Err(OrgTokenError::Forbidden);
        }
        tx.insert_api_token(&token).await?;
        tx.append_audit(&AuditEvent::new(
            Some(grant.org_id()),
            grant.actor(),
            "api_token.created",
            super::target("api_token", token.id.as_uuid()),
            json!({
                "kind": token.kind.as_str(),
                "name": token.name,
                "permissions": token.permissions,
                "expires_at": token.expires_at,
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok((token, secret))
    }

    /// The organization's tokens, revoked ones included, newest first.
    pub async fn list_org_tokens(&self, grant: &OrgGrant) -> Result<Vec<ApiToken>, StoreError> {
        let mut reads = self.store.reads().await?;
        reads.list_api_tokens(grant.org_id()).await
    }

    /// Revokes an organization token. Revoking a revoked token changes nothing.
    pub async fn revoke_org_token(
        &self,
        grant: &OrgGrant,
        id: ApiTokenId,
    ) -> Result<(), OrgTokenError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if tx.api_token(grant.org_id(), id).await?.is_none() {
            return Err(OrgTokenError::NotFound);
        }
        if tx.revoke_api_token(grant.org_id(), id, now).await? {
            tx.append_audit(&AuditEvent::new(
                Some(grant.org_id()),
                grant.actor(),
                "api_token.revoked",
                super::target("api_token", id.as_uuid()),
                json!({}),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
