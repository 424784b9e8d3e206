//! Who is calling: a bearer token (programs, operators) or a session cookie (people).
//!
//! Cookie callers must echo their session's CSRF token in `X-CSRF-Token` on every unsafe
//! method; bearer callers need not, because browsers never attach bearer tokens on their own.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use roster_core::access::{Caller, Held};
use roster_core::ids::OrgId;
use roster_core::model::{Identity, Membership, Organization, Session};
use roster_core::secrets::Secret;
use std::sync::{Arc, Mutex, PoisonError};

pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller; the session is present for cookie callers.
#[derive(Clone, Debug)]
pub struct Authed {
    pub caller: Caller,
    pub session: Option<Session>,
    /// The person, as read with the session (cookie callers only), so a handler about
    /// the caller need not read it again.
    pub identity: Option<Identity>,
    /// The person's organizations with their memberships, as read to admit the session
    /// (empty for tokens).
    pub memberships: Vec<(Membership, Organization)>,
    /// What the caller holds in each organization this request has asked about: for an
    /// organization token, its own organization as read to admit it. Shared by the clones
    /// a console page hands to the API handlers it calls, so the page reads it once.
    pub held: HeldMemo,
    /// An organization token's organization, as read to admit the token (`None` for
    /// sessions and operator tokens), so a path naming it by slug needs no read.
    pub token_org: Option<Organization>,
}

/// What a caller holds, by organization, for the duration of one request (see
/// `api::orgs::held_in`).
#[derive(Clone, Debug, Default)]
pub struct HeldMemo(Arc<Mutex<Vec<(OrgId, Held)>>>);

impl HeldMemo {
    fn seeded(org: OrgId, held: Held) -> Self {
        Self(Arc::new(Mutex::new(vec![(org, held)])))
    }

    pub fn get(&self, org: OrgId) -> Option<Held> {
        let memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        memo.iter().find(|(o, _)| *o == org).map(|(_, h)| h.clone())
    }

    pub fn put(&self, org: OrgId, held: &Held) {
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !memo.iter().any(|(o, _)| *o == org) {
            memo.push((org, held.clone()));
        }
    }
}

impl Authed {
    /// The person's membership in `{org}` (an id or a slug, as `find_org` takes it) with its
    /// organization, as read with the session; `None` for tokens, and for organizations
    /// the person does not belong to.
    pub fn membership_in(&self, org: &str) -> Option<&(Membership, Organization)> {
        self.memberships.iter().find(|(_, o)| o.is_named(org))
    }

    /// The organization token's own organization when `{org}` names it; `None` otherwise
    /// and for other callers.
    pub fn token_org_named(&self, org: &str) -> Option<&Organization> {
        self.token_org.as_ref().filter(|o| o.is_named(org))
    }
}

/// An optional caller: `None` when the request carries no valid credentials.
#[derive(Clone, Debug)]
pub struct MaybeAuthed(pub Option<Authed>);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Ok(None)`: no credentials at all. `Err`: credentials that do not hold.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Authed>, ApiError> {
    if let Some(token) = bearer(&parts.headers) {
        return bearer_authed(state, &Secret::presented(token))
            .await
            .map(Some);
    }
    let Some(raw) = cookie(&parts.headers, state.web.session_cookie_name()) else {
        return Ok(None);
    };
    let Some(auth) = state
        .roster
        .authenticate_session(&Secret::presented(raw))
        .await?
    else {
        return Err(ApiError::unauthenticated());
    };
    if is_unsafe(&parts.method) {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Secret::presented);
        if !presented.is_some_and(|p| p.matches(&auth.session.csrf_hash)) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf_failed",
                "Send the CSRF token you received at sign-in in the X-CSRF-Token header.",
            ));
        }
    }
    Ok(Some(Authed {
        caller: Caller::Person {
            identity_id: auth.identity.id,
            session_id: auth.session.id,
        },
        session: Some(auth.session),
        identity: Some(auth.identity),
        memberships: auth.memberships,
        held: HeldMemo::default(),
        token_org: None,
    }))
}

/// The caller a bearer token stands for; `unauthenticated` unless it is live.
pub(crate) async fn bearer_authed(state: &AppState, raw: &Secret) -> Result<Authed, ApiError> {
    match state.roster.authenticate_bearer(raw).await? {
        Some(bearer) => Ok(Authed {
            held: match (&bearer.caller, bearer.held) {
                (Caller::Token { org_id, .. }, Some(held)) => HeldMemo::seeded(*org_id, held),
                _ => HeldMemo::default(),
            },
            caller: bearer.caller,
            session: None,
            identity: None,
            memberships: Vec::new(),
            token_org: bearer.org,
        }),
        None => Err(ApiError::unauthenticated()),
    }
}

/// Who asks a permission check. A bearer token is authenticated together with the check
/// ([`roster_core::Roster::check_by_token`]: one read of the store where authenticating
/// first makes two), since host products ask checks more than anything else; any other
/// caller as on every route.
pub enum CheckCaller {
    Bearer(Secret),
    Authed(Box<Authed>),
}

impl FromRequestParts<AppState> for CheckCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(&parts.headers) {
            Some(token) => Ok(Self::Bearer(Secret::presented(token))),
            None => Authed::from_request_parts(parts, state)
                .await
                .map(|authed| Self::Authed(Box::new(authed))),
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }
}

impl FromRequestParts<AppState> for MaybeAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await {
            Ok(a) => Ok(Self(a)),
            // A stale cookie or token is as good as none; a live session without its CSRF
            // token is refused rather than quietly ignored.
            Err(e) if e.code == "unauthenticated" => Ok(Self(None)),
            Err(e) => Err(e),
        }
    }
}
