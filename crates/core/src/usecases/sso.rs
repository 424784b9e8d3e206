//! Single sign-on through an organization's OpenID Connect provider (seed 004).
//!
//! The web edge talks to the provider (discovery, the authorization redirect, the code
//! exchange and the ID token's signature, issuer, audience, expiry and nonce); these use
//! cases hold the rules: the connection's settings, which email goes where, and what a
//! verified sign-in does — match the identity by its verified email, create the member
//! just in time with the connection's default role, keep the name in sync, and refuse a
//! deactivated member whatever the provider says. Every refusal is a sign-in attempt with
//! a reference, like a password sign-in's.

use super::sessions::{may_hold_session, SessionLimits};
use super::sign_in::{new_reference, record_attempt, SignInError, SignInRefusal, SignedIn};
use super::target;
use crate::access::OrgGrant;
use crate::email::Email;
use crate::ids::SignInAttemptId;
use crate::model::{
    email_domain, valid_domain, Actor, AuditEvent, BuiltinRole, Identity, Membership,
    MembershipStatus, Organization, Permission, SignInAttempt, SignInCode, SsoConnection, SsoLogin,
};
use crate::names::DisplayName;
use crate::roster::Roster;
use crate::secrets::Secret;
use crate::store::{Reads, StoreError};
use chrono::Duration;
use serde_json::json;

/// How long a sign-in sent to the provider may take to come back.
pub const SSO_LOGIN_MINUTES: i64 = 10;

/// A connection as an admin sets it. `client_secret: None` keeps the stored one.
#[derive(Clone, Debug)]
pub struct SsoConnectionInput {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub domains: Vec<String>,
    pub default_role: Option<BuiltinRole>,
    pub enforce: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("you do not have permission to do this")]
    Forbidden,
    /// A field breaks its rule; the text says which and how.
    #[error("{0}")]
    Invalid(String),
    /// Another organization claims one of the domains.
    #[error("another organization claims one of these email domains")]
    DomainClaimed,
    #[error("this organization has no single sign-on connection")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SsoError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DomainClaimed => SsoError::DomainClaimed,
            e => SsoError::Store(e),
        }
    }
}

/// What the provider said about the person, after the web edge verified the ID token.
#[derive(Clone, Debug)]
pub struct SsoClaims {
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Whether an issuer URL is acceptable: https, or http on a loopback address (a provider
/// on the same machine, as in tests).
fn valid_issuer(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

fn clean_input(input: SsoConnectionInput) -> Result<SsoConnectionInput, SsoError> {
    // Kept exactly as entered (but for spaces): providers compare issuers as exact
    // strings, and some (Auth0) end theirs with a slash.
    let issuer = input.issuer.trim().to_owned();
    if !valid_issuer(&issuer) || issuer.len() > 500 {
        return Err(SsoError::Invalid(
            "issuer must be the provider's https URL (http only on this machine's loopback), without query or fragment".into(),
        ));
    }
    let client_id = input.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(char::is_control) {
        return Err(SsoError::Invalid(
            "client_id must be 1 to 255 characters, as the provider gave it".into(),
        ));
    }
    let client_secret = match input.client_secret {
        Some(s) if s.is_empty() || s.len() > 1000 || s.chars().any(char::is_control) => {
            return Err(SsoError::Invalid(
                "client_secret must be 1 to 1000 characters, as the provider gave it".into(),
            ))
        }
        other => other,
    };
    let scopes = match input.scopes {
        None => None,
        Some(scopes) => {
            let mut out: Vec<String> = Vec::new();
            for s in scopes {
                let s = s.trim().to_owned();
                if s.is_empty()
                    || s.len() > 100
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
                {
                    return Err(SsoError::Invalid(format!("'{s}' is not a scope")));
                }
                if s != "openid" && !out.contains(&s) {
                    out.push(s);
                }
            }
            Some(out)
        }
    };
    let mut domains: Vec<String> = Vec::new();
    for d in input.domains {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        if !valid_domain(&d) {
            return Err(SsoError::Invalid(format!(
                "'{d}' is not an email domain such as acme.example"
            )));
        }
        if PUBLIC_MAIL_DOMAINS.contains(&d.as_str()) {
            return Err(SsoError::Invalid(format!(
                "'{d}' is a public mail service: no organization can claim it"
            )));
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.is_empty() || domains.len() > 50 {
        return Err(SsoError::Invalid(
            "claim 1 to 50 email domains: the people of those domains sign in through this connection".into(),
        ));
    }
    domains.sort();
    match input.default_role {
        Some(BuiltinRole::Notifications) => {
            return Err(SsoError::Invalid(
                "default_role cannot be notifications: such members never sign in".into(),
            ))
        }
        // Whoever the provider vouches for would become a full admin, able to change this
        // very connection: admins are made one by one, by an admin.
        Some(BuiltinRole::Admin) => {
            return Err(SsoError::Invalid(
                "default_role cannot be admin: give Admin to members one by one".into(),
            ))
        }
        _ => {}
    }
    Ok(SsoConnectionInput {
        issuer,
        client_id,
        client_secret,
        scopes,
        domains,
        default_role: input.default_role,
        enforce: input.enforce,
    })
}

fn settings_grant(grant: &OrgGrant) -> Result<(), SsoError> {
    if grant.permission() == Permission::OrgSettings {
        Ok(())
    } else {
        Err(SsoError::Forbidden)
    }
}

/// Whether `connection`'s organization governs the person at `email`: nobody has the
/// address yet, or its identity belongs to no other organization (removed memberships do
/// not count). A claimed domain is not proof of owning it, so one organization's provider
/// must never speak for an account that other organizations share: it could otherwise
/// claim their people's domain and sign in as them everywhere.
pub(crate) async fn governs(
    reads: &mut dyn Reads,
    connection: &SsoConnection,
    email: &str,
) -> Result<bool, StoreError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(true);
    };
    let identity = reads.identity_by_email(&email).await?;
    governs_identity(reads, connection, identity.as_ref()).await
}

/// [`governs`] with the address's identity already read (`None`: nobody has it yet).
pub(crate) async fn governs_identity(
    reads: &mut dyn Reads,
    connection: &SsoConnection,
    identity: Option<&Identity>,
) -> Result<bool, StoreError> {
    let Some(identity) = identity else {
        return Ok(true);
    };
    Ok(reads
        .memberships_of_identity(identity.id)
        .await?
        .iter()
        .all(|m| m.org_id == connection.org_id || !belongs(m)))
}

/// Whether a membership makes the person part of its organization: active or deactivated.
/// A pending invitation does not (yet), nor does a removal.
fn belongs(m: &Membership) -> bool {
    matches!(
        m.status,
        MembershipStatus::Active | MembershipStatus::Deactivated
    )
}

/// Email domains of public mail services: nobody owns them for an organization, so no
/// connection may claim them.
const PUBLIC_MAIL_DOMAINS: [&str; 16] = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "mail.com",
];

/// What the audit trail keeps of a connection (never the secret).
fn audit_details(c: &SsoConnection) -> serde_json::Value {
    json!({
        "issuer": c.issuer,
        "client_id": c.client_id,
        "scopes": c.scopes,
        "domains": c.domains,
        "default_role": c.default_role.map(|r| r.as_str()),
        "enforce": c.enforce,
    })
}

impl Roster {
    /// The organization's connection (`org.settings`).
    pub async fn sso_connection(&self, grant: &OrgGrant) -> Result<SsoConnection, SsoError> {
        settings_grant(grant)?;
        let mut reads = self.store.reads().await?;
        reads
            .sso_connection(grant.org_id())
            .await?
            .ok_or(SsoError::NotFound)
    }

    /// Creates or replaces the organization's connection. The secret is required when
    /// there is none yet, and kept when not given.
    pub async fn put_sso_connection(
        &self,
        grant: &OrgGrant,
        input: SsoConnectionInput,
    ) -> Result<(SsoConnection, bool), SsoError> {
        settings_grant(grant)?;
        let input = clean_input(input)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let org = tx
            .org_for_update(grant.org_id())
            .await?
            .ok_or(SsoError::NotFound)?;
        let existing = tx.sso_connection(org.id).await?;
        let secret_changed = input.client_secret.is_some();
        let client_secret = match (input.client_secret, &existing) {
            (Some(s), _) => s,
            // The stored secret goes only to the provider it was given for: pointing the
            // connection elsewhere without it would hand it to that other server.
            (None, Some(e)) if e.issuer != input.issuer || e.client_id != input.client_id => {
                return Err(SsoError::Invalid(
                    "client_secret is required when the issuer or client_id changes".into(),
                ))
            }
            (None, Some(e)) => e.client_secret.clone(),
            (None, None) => {
                return Err(SsoError::Invalid(
                    "client_secret is required for a new connection".into(),
                ))
            }
        };
        let connection = SsoConnection {
            org_id: org.id,
            issuer: input.issuer,
            client_id: input.client_id,
            client_secret,
            scopes: input.scopes.unwrap_or_else(|| {
                existing.as_ref().map_or_else(
                    || vec!["email".to_owned(), "profile".to_owned()],
                    |e| e.scopes.clone(),
                )
            }),
            domains: input.domains,
            default_role: input.default_role,
            enforce: input.enforce,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        tx.put_sso_connection(&connection).await?;
        let mut details = audit_details(&connection);
        details["secret_changed"] = json!(secret_changed);
        tx.append_audit(&AuditEvent::new(
            Some(org.id),
            grant.actor(),
            if existing.is_some() {
                "sso.connection_updated"
            } else {
                "sso.connection_created"
            },
            super::org_target(&org),
            details,
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok((connection, existing.is_none()))
    }

    pub async fn delete_sso_connection(&self, grant: &OrgGrant) -> Result<(), SsoError> {
        settings_grant(grant)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let org = tx
            .org_for_update(grant.org_id())
            .await?
            .ok_or(SsoError::NotFound)?;
        let Some(existing) = tx.sso_connection(org.id).await? else {
            return Err(SsoError::NotFound);
        };
        tx.delete_sso_connection(org.id).await?;
        tx.append_audit(&AuditEvent::new(
            Some(org.id),
            grant.actor(),
            "sso.connection_deleted",
            super::org_target(&org),
            audit_details(&existing),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The connection that handles `email`, with its organization: the sign-in page sends
    /// such an email to the provider. `None` for an address no organization claims.
    pub async fn sso_for_email(
        &self,
        email: &str,
    ) -> Result<Option<(Organization, SsoConnection)>, StoreError> {
        let Some(domain) = email_domain(email) else {
            return Ok(None);
        };
        let mut reads = self.store.reads().await?;
        let Some(connection) = reads.sso_connection_for_domain(&domain).await? else {
            return Ok(None);
        };
        Ok(reads
            .org(connection.org_id)
            .await?
            .map(|org| (org, connection)))
    }

    /// Where the sign-in page sends `email`: the connection claiming its domain, when that
    /// organization governs the person (see [`governs`]). Someone who also belongs to
    /// other organizations keeps signing in with their password.
    pub async fn sso_route_for(
        &self,
        email: &str,
    ) -> Result<Option<(Organization, SsoConnection)>, StoreError> {
        let Some((org, connection)) = self.sso_for_email(email).await? else {
            return Ok(None);
        };
        let mut reads = self.store.reads().await?;
        Ok(governs(&mut *reads, &connection, email)
            .await?
            .then_some((org, connection)))
    }

    /// The organization that enforces SSO for `email`, if one does: passwords, resets and
    /// manual invitations are refused for it. Enforcement governs only the people the
    /// organization alone holds (see [`governs`]): someone who also belongs elsewhere keeps
    /// their password, so a connection can never lock out another organization's people.
    pub async fn sso_enforced_for(&self, email: &str) -> Result<Option<Organization>, StoreError> {
        let Some((org, connection)) = self.sso_for_email(email).await? else {
            return Ok(None);
        };
        if !connection.enforce {
            return Ok(None);
        }
        let mut reads = self.store.reads().await?;
        Ok(governs(&mut *reads, &connection, email)
            .await?
            .then_some(org))
    }

    /// Remembers a sign-in sent to the provider, for its callback.
    pub async fn begin_sso_login(&self, login: &SsoLogin) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        tx.insert_sso_login(login).await?;
        tx.commit().await
    }

    /// The sign-in the callback's `state` belongs to, taken so it is used once. `None`
    /// when unknown, used or expired.
    pub async fn take_sso_login(&self, state: &Secret) -> Result<Option<SsoLogin>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let login = tx.take_sso_login(&state.hash(), now).await?;
        tx.commit().await?;
        Ok(login)
    }

    /// A new sign-in record for `org`, expiring after [`SSO_LOGIN_MINUTES`].
    pub fn new_sso_login(
        &self,
        state: &Secret,
        org: &Organization,
        nonce: String,
        pkce_verifier: String,
        email_hint: &str,
        next: Option<String>,
    ) -> SsoLogin {
        let now = self.clock.now();
        SsoLogin {
            state_hash: state.hash(),
            org_id: org.id,
            nonce,
            pkce_verifier,
            email_hint: email_hint.trim().chars().take(320).collect(),
            next,
            created_at: now,
            expires_at: now + Duration::minutes(SSO_LOGIN_MINUTES),
        }
    }

    /// Records a refused SSO sign-in (the provider's error, a state that does not match,
    /// an ID token that does not verify, ...) and builds what the person is told.
    pub async fn refuse_sso(
        &self,
        email: &str,
        org: Option<&Organization>,
        client_ip: Option<String>,
        code: SignInCode,
    ) -> Result<SignInError, SignInError> {
        let now = self.clock.now();
        let identity = match Email::parse(email) {
            Ok(e) => {
                let mut reads = self.store.reads().await?;
                reads.identity_by_email(&e).await?.map(|i| i.id)
            }
            Err(_) => None,
        };
        let reference = new_reference()?;
        let mut tx = self.store.begin().await?;
        record_attempt(
            &mut *tx,
            SignInAttempt {
                id: SignInAttemptId::new(),
                reference: reference.clone(),
                at: now,
                email: email.to_owned(),
                identity_id: identity,
                client_ip,
                code,
            },
        )
        .await?;
        // The organization's admins see every refused sign-in through their connection in
        // their audit log, members or not (a person the provider knows but Roster does not).
        if let Some(org) = org {
            tx.append_audit(&AuditEvent::new(
                Some(org.id),
                Actor::System,
                "sso.sign_in_refused",
                super::org_target(org),
                json!({ "code": code.as_str(), "reference": reference, "email": email }),
                now,
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(SignInError::Refused(SignInRefusal {
            code,
            reference,
            at: now,
            email: email.to_owned(),
            retry_after_seconds: None,
            organization: org.map(|o| o.name.to_string()),
        }))
    }

    /// Finishes a sign-in whose ID token the web edge verified against the connection of
    /// `login`'s organization: the person is matched by verified email, becomes a member
    /// just in time when new, gets their name from the provider, and a session.
    pub async fn complete_sso_sign_in(
        &self,
        login: &SsoLogin,
        claims: SsoClaims,
        client_ip: Option<String>,
    ) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let shown_email = if claims.email.trim().is_empty() {
            login.email_hint.clone()
        } else {
            claims.email.trim().chars().take(320).collect()
        };
        let mut reads = self.store.reads().await?;
        let org = reads.org(login.org_id).await?;
        let connection = reads.sso_connection(login.org_id).await?;
        drop(reads);
        let (Some(org), Some(connection)) = (org, connection) else {
            return Err(self
                .refuse_sso(&shown_email, None, client_ip, SignInCode::SsoProviderError)
                .await?);
        };
        let refuse = |code| self.refuse_sso(&shown_email, Some(&org), client_ip.clone(), code);
        if !claims.email_verified {
            return Err(refuse(SignInCode::SsoEmailUnverified).await?);
        }
        let Ok(email) = Email::parse(&claims.email) else {
            return Err(refuse(SignInCode::SsoEmailUnverified).await?);
        };
        if !connection.claims(email.as_str()) {
            return Err(refuse(SignInCode::SsoDomainNotClaimed).await?);
        }
        let name = claims
            .name
            .as_deref()
            .and_then(|n| DisplayName::parse(n).ok());

        let mut tx = self.store.begin().await?;
        // Holding the organization serialises two first sign-ins of one person.
        tx.org_for_update(org.id).await?;
        // The person the provider knows by this subject (linked at their first sign-in),
        // else the one with this verified email.
        let linked = match tx
            .sso_subject(org.id, &connection.issuer, &claims.subject)
            .await?
        {
            Some(id) => tx.identity_for_update(id).await?,
            None => None,
        };
        let by_subject = linked.is_some();
        let identity = match linked {
            Some(identity) => Some(identity),
            None => match tx.identity_by_email(&email).await? {
                Some(found) => tx.identity_for_update(found.id).await?,
                None => None,
            },
        };
        let (identity, created_identity) = match identity {
            Some(identity) => {
                let elsewhere = tx
                    .memberships_of_identity(identity.id)
                    .await?
                    .iter()
                    .any(|m| m.org_id != org.id && belongs(m));
                if elsewhere {
                    drop(tx);
                    return Err(refuse(SignInCode::SsoAccountElsewhere).await?);
                }
                (identity, false)
            }
            None => {
                if connection.default_role.is_none() {
                    drop(tx);
                    return Err(refuse(SignInCode::SsoNoDefaultRole).await?);
                }
                let identity = Identity::new(email.clone(), name.clone(), now);
                tx.insert_identity(&identity).await?;
                (identity, true)
            }
        };
        let (membership, joined) = match tx.membership_of(org.id, identity.id).await? {
            Some(m) if m.status == MembershipStatus::Deactivated => {
                drop(tx);
                return Err(refuse(SignInCode::SsoMemberDeactivated).await?);
            }
            Some(m) if m.status == MembershipStatus::Invited => {
                // The provider vouches for the address the invitation went to: the
                // invitation is accepted, with the roles it carried.
                tx.set_membership_status(
                    org.id,
                    m.id,
                    MembershipStatus::Invited,
                    MembershipStatus::Active,
                    now,
                )
                .await?;
                tx.revoke_invitations_of(org.id, m.id, now).await?;
                (
                    Membership {
                        status: MembershipStatus::Active,
                        ..m
                    },
                    "invitation",
                )
            }
            Some(m) => (m, "existing"),
            None => {
                let Some(role) = connection.default_role else {
                    drop(tx);
                    return Err(refuse(SignInCode::SsoNoDefaultRole).await?);
                };
                let m = Membership::new(org.id, identity.id, MembershipStatus::Active, [role], now);
                tx.insert_membership(&m).await?;
                tx.append_audit(&AuditEvent::new(
                    Some(org.id),
                    Actor::Identity(identity.id),
                    "membership.granted",
                    target("membership", m.id.as_uuid()),
                    json!({
                        "email": identity.email.as_str(),
                        "roles": [role.as_str()],
                        "status": { "from": null, "to": "active" },
                        "via": "sso",
                    }),
                    now,
                ))
                .await?;
                (m, "just_in_time")
            }
        };
        if membership.is_notifications_only() {
            drop(tx);
            return Err(refuse(SignInCode::NotificationsOnly).await?);
        }
        // The provider's email and name win: they are kept in sync at each sign-in. The
        // email changes only for the person linked by subject (the provider says their
        // address changed), to a verified address of a claimed domain, and never onto
        // another account's address.
        let mut email_changed = false;
        if by_subject && identity.email.key() != email.key() {
            // Checked first: a refused write would end a PostgreSQL transaction.
            if tx.identity_by_email(&email).await?.is_none() {
                email_changed = tx.set_identity_email(identity.id, &email, now).await?;
            } else {
                tracing::info!(identity = %identity.id, "the provider's new email belongs to another account; not synced");
            }
        }
        tx.link_sso_subject(
            org.id,
            &connection.issuer,
            &claims.subject,
            identity.id,
            now,
        )
        .await?;
        let name_changed = name.is_some() && name != identity.name && !created_identity;
        if name_changed {
            tx.update_identity_profile(
                identity.id,
                name.as_ref().map(|n| n.as_str()),
                identity.timezone.as_deref(),
                identity.locale.as_deref(),
                now,
            )
            .await?;
        }
        if identity.email_verified_at.is_none() {
            tx.mark_email_verified(identity.id, now).await?;
        }
        let memberships = tx.memberships_of_identity(identity.id).await?;
        let mut with_orgs = Vec::with_capacity(memberships.len());
        for m in &memberships {
            if let Some(o) = tx.org(m.org_id).await? {
                with_orgs.push((m.clone(), o));
            }
        }
        if !may_hold_session(&memberships) {
            drop(tx);
            return Err(refuse(SignInCode::SsoMemberDeactivated).await?);
        }
        let limits = SessionLimits::strictest(
            with_orgs
                .iter()
                .filter(|(m, _)| m.admits_person())
                .map(|(_, o)| &o.settings),
        );
        let session = self
            .start_session_in(&mut *tx, identity.id, limits, Some(org.id), now)
            .await?;
        record_attempt(
            &mut *tx,
            SignInAttempt {
                id: SignInAttemptId::new(),
                reference: new_reference()?,
                at: now,
                email: email.to_string(),
                identity_id: Some(identity.id),
                client_ip,
                code: SignInCode::Succeeded,
            },
        )
        .await?;
        tx.append_audit(&AuditEvent::new(
            Some(org.id),
            Actor::Identity(identity.id),
            "sso.signed_in",
            target("membership", membership.id.as_uuid()),
            json!({
                "issuer": connection.issuer,
                "membership": joined,
                "name_synced": name_changed,
                "email_synced": email_changed,
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        let identity = Identity {
            name: if name_changed { name } else { identity.name },
            email: if email_changed { email } else { identity.email },
            ..identity
        };
        Ok(SignedIn {
            identity,
            memberships: with_orgs,
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback_http() {
        assert!(valid_issuer("https://login.acme.example"));
        assert!(valid_issuer("https://login.acme.example/realms/acme"));
        assert!(valid_issuer("http://127.0.0.1:4000"));
        assert!(valid_issuer("http://localhost:4000"));
        for bad in [
            "http://login.acme.example",
            "ftp://login.acme.example",
            "https://user:pw@login.acme.example",
            "https://login.acme.example/?x=1",
            "not a url",
        ] {
            assert!(!valid_issuer(bad), "{bad}");
        }
    }

    fn input() -> SsoConnectionInput {
        SsoConnectionInput {
            issuer: "https://login.acme.example/".into(),
            client_id: "roster".into(),
            client_secret: Some("s3cret".into()),
            scopes: None,
            domains: vec![
                "ACME.example".into(),
                "@eu.acme.example".into(),
                "acme.example".into(),
            ],
            default_role: Some(BuiltinRole::User),
            enforce: false,
        }
    }

    #[test]
    fn connections_are_cleaned_and_refused_with_reasons() {
        let clean = clean_input(input()).unwrap();
        assert_eq!(clean.issuer, "https://login.acme.example/");
        assert_eq!(clean.domains, ["acme.example", "eu.acme.example"]);
        for broken in [
            SsoConnectionInput {
                domains: vec![],
                ..input()
            },
            SsoConnectionInput {
                domains: vec!["not a domain".into()],
                ..input()
            },
            SsoConnectionInput {
                client_id: " ".into(),
                ..input()
            },
            SsoConnectionInput {
                client_secret: Some(String::new()),
                ..input()
            },
            SsoConnectionInput {
                issuer: "http://login.acme.example".into(),
                ..input()
            },
            SsoConnectionInput {
                default_role: Some(BuiltinRole::Notifications),
                ..input()
            },
            SsoConnectionInput {
                scopes: Some(vec!["a b".into()]),
                ..input()
            },
        ] {
            assert!(matches!(clean_input(broken), Err(SsoError::Invalid(_))));
        }
    }
}
