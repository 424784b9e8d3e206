//! What every console page shares: the signed-in person (from the session cookie), the
//! organization in the URL with what the person may do there, the per-session form token
//! that every state-changing form carries, the urlencoded form reader, and rendering.
//!
//! Functions here return `Result<_, Response>`: the error is the whole page to answer
//! with, built once per request, so its size does not matter (hence the allowance of
//! clippy's `result_large_err` for this module and its callers).
//!
//! The console acts through the REST API's own handlers (see `console/mod.rs`), so the
//! pages never decide access themselves; what they decide is only what to *show* (the
//! navigation, the buttons), from the permissions the person holds right now.

use crate::auth::{cookie, Authed};
use crate::error::ApiError;
use crate::pages::{message, render};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{context, Value};
use roster_core::access::Caller;
use roster_core::model::{Identity, Membership, MembershipStatus, Organization, Permission};
use roster_core::secrets::Secret;
use std::collections::BTreeSet;

/// A signed-in person, as every console page needs them.
pub(crate) struct Person {
    /// The same caller the API sees for this session.
    pub authed: Authed,
    pub identity: Identity,
    /// The token this session's console forms carry (see [`form_token`]).
    pub csrf: String,
}

/// The token of a session's console forms: derived from the session cookie's secret, so
/// it needs no storage, is the same in every tab, dies with the session, and cannot be
/// computed by another site (which never sees the `HttpOnly` cookie). Distinct from the
/// stored hash of the session token, which it must not equal.
fn form_token(raw_session: &str) -> String {
    Secret::presented(format!("roster-console-form:{raw_session}"))
        .hash()
        .as_str()
        .to_owned()
}

/// Where a person who is not signed in goes: the sign-in page, coming back here after.
fn to_sign_in(parts: &Parts) -> Response {
    let path = parts.uri.path();
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
    let target = if safe && parts.method == axum::http::Method::GET {
        format!("/sign-in?next={path}")
    } else {
        "/sign-in".to_owned()
    };
    Redirect::to(&target).into_response()
}

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(raw) = cookie(&parts.headers, state.web.session_cookie_name()) else {
            return Err(to_sign_in(parts));
        };
        let auth = match state
            .roster
            .authenticate_session(&Secret::presented(raw))
            .await
        {
            Ok(Some(auth)) => auth,
            Ok(None) => return Err(to_sign_in(parts)),
            Err(e) => {
                tracing::error!(error = %e, "console session check failed");
                return Err(unavailable(state));
            }
        };
        let csrf = form_token(raw);
        Ok(Person {
            authed: Authed {
                caller: Caller::Person {
                    identity_id: auth.identity.id,
                    session_id: auth.session.id,
                },
                session: Some(auth.session),
                identity: Some(auth.identity.clone()),
                memberships: auth.memberships,
                held: Default::default(),
                token_org: None,
            },
            identity: auth.identity,
            csrf,
        })
    }
}

pub(crate) fn unavailable(state: &AppState) -> Response {
    message(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "Roster could not load this page just now.",
    )
}

pub(crate) fn not_found(state: &AppState) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no such page, or you are not a member of this organization.",
    )
}

/// A page with one sentence, for refusals that have no page of their own to return to.
pub(crate) fn message_page(state: &AppState, status: StatusCode, text: &str) -> Response {
    message(state, status, "This could not be done", text)
}

pub(crate) fn forbidden_page(state: &AppState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "You cannot open this page",
        "Your roles in this organization do not include what this page needs. An admin can change your roles.",
    )
}

/// The organization a console page is about, and what the person may do in it now.
pub(crate) struct Org {
    pub org: Organization,
    pub membership: Membership,
    pub permissions: BTreeSet<Permission>,
}

impl Org {
    pub fn slug(&self) -> &str {
        self.org.slug.as_str()
    }

    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

impl Person {
    /// Every organization the person belongs to, with the membership, as read to admit
    /// the session.
    pub fn memberships(&self) -> &[(Membership, Organization)] {
        &self.authed.memberships
    }

    /// The organization `{org}` (slug or id) if the person is an active member of it. A
    /// deactivated member learns that, in a sentence; anyone else gets "not found", as if
    /// the organization did not exist.
    pub async fn org(&self, state: &AppState, org: &str) -> Result<Org, Response> {
        let Some((membership, found)) = self
            .memberships()
            .iter()
            .find(|(_, o)| o.slug.as_str() == org || o.id.to_string() == org)
        else {
            return Err(not_found(state));
        };
        match membership.status {
            MembershipStatus::Active if membership.admits_person() => {}
            MembershipStatus::Deactivated => {
                return Err(message(
                    state,
                    StatusCode::FORBIDDEN,
                    "Your access is deactivated",
                    &format!(
                    "Your access to {} has been deactivated. An admin of {} can activate it again.",
                    found.name, found.name
                ),
                ))
            }
            _ => return Err(not_found(state)),
        }
        // Kept in the request's memo: the API handlers the page calls next ask the same.
        let held = crate::api::orgs::held_through(state, &self.authed, membership, found).await;
        let permissions = match held {
            Ok(Some(h)) => h.permissions().clone(),
            Ok(None) => return Err(not_found(state)),
            Err(e) => {
                tracing::error!(error = %e, "console permissions failed");
                return Err(unavailable(state));
            }
        };
        Ok(Org {
            org: found.clone(),
            membership: membership.clone(),
            permissions,
        })
    }

    /// The context every console page template gets as `shell`: who is signed in, the
    /// organization and the others to switch to, the navigation the person may use,
    /// which item is current, and the form token.
    pub fn shell(&self, org: Option<&Org>, current: &str) -> Value {
        let orgs: Vec<Value> = self
            .memberships()
            .iter()
            .filter(|(m, _)| m.status == MembershipStatus::Active && m.admits_person())
            .map(|(_, o)| context! { name => o.name.as_str(), slug => o.slug.as_str() })
            .collect();
        let org_ctx = org.map(|o| {
            context! {
                name => o.org.name.as_str(),
                slug => o.slug(),
                id => o.org.id.to_string(),
                membership_id => o.membership.id.to_string(),
                can_read_users => o.can(Permission::UsersRead),
                can_invite => o.can(Permission::UsersInvite),
                can_manage_users => o.can(Permission::UsersManage),
                can_read_audit => o.can(Permission::AuditRead),
                can_manage_org => o.can(Permission::OrgSettings),
                can_manage_roles => o.can(Permission::RolesManage),
                can_read_customers => o.can(Permission::CustomersRead),
                can_manage_customers => o.can(Permission::CustomersManage),
                can_manage_tokens => o.can(Permission::TokensManage),
            }
        });
        context! {
            email => self.identity.email.as_str(),
            name => self.identity.name.as_ref().map(|n| n.as_str()),
            org => org_ctx,
            orgs,
            current,
            csrf => self.csrf.as_str(),
        }
    }

    /// Whether a posted form carries this session's form token (compared in constant
    /// time). A refusal changes nothing and says so.
    pub fn check_form(&self, state: &AppState, form: &FormData) -> Result<(), Response> {
        let presented = form.get("csrf_token").unwrap_or_default();
        if !presented.is_empty()
            && Secret::presented(presented).matches(&Secret::presented(self.csrf.as_str()).hash())
        {
            Ok(())
        } else {
            Err(message(
                state,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your security the form could not be accepted. Open the page again and retry.",
            ))
        }
    }
}

/// A urlencoded form body, with repeated fields (checkboxes, multi-selects) kept.
#[derive(Debug, Default)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every non-empty value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// A console page with its shell.
pub(crate) fn page(state: &AppState, status: StatusCode, template: &str, ctx: Value) -> Response {
    render(&state.templates, status, template, ctx)
}

/// The sentence a page shows for a refusal of the API: its `detail`, which is written
/// for people, except where the API's answer is deliberately vague.
pub(crate) fn sentence(e: &ApiError) -> String {
    match e.code {
        "not_found" => "There is no such item here, or it is outside what you can see.".to_owned(),
        "forbidden" => "You do not have permission to do this.".to_owned(),
        _ if e.status.is_server_error() => {
            "Something went wrong on our side. Nothing was changed; please try again.".to_owned()
        }
        _ => e.detail.clone(),
    }
}

/// After a change: back to `to` (a path of ours) with a notice the page shows.
pub(crate) fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}done={notice}")).into_response()
}

/// Whether `presented` is the form token of the session the request's cookie holds (for
/// forms outside the console that a signed-in page shows, such as *Sign out*).
pub(crate) fn session_form_token_matches(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    presented: &str,
) -> bool {
    let Some(raw) = cookie(headers, state.web.session_cookie_name()) else {
        return false;
    };
    !presented.is_empty()
        && Secret::presented(presented).matches(&Secret::presented(form_token(raw)).hash())
}
