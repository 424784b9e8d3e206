//! The organization's audit log: who did what, when, to whom. Read-only; needs
//! `audit.read`. The console's *Audit log* page and its CSV export read the same answer.

use super::orgs::org_grant;
use crate::auth::Authed;
use crate::error::{ApiError, ApiPath, ApiQuery, Problem};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use roster_core::ids::{AuditEventId, IdentityId};
use roster_core::model::{Actor, Permission};
use roster_core::usecases::audit::{AuditError, AuditFilter, AuditPage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// 1–1000, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// An exact action, e.g. `membership.deactivated`.
    pub action: Option<String>,
    /// Events about this target id (a membership, a role, a token, ...).
    pub target: Option<String>,
    /// Events by this person (identity id).
    pub actor: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC) or instant (RFC 3339), inclusive.
    pub since: Option<String>,
    /// Until this day (`YYYY-MM-DD`, UTC, the whole day) or instant (RFC 3339), exclusive.
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditActorBody {
    /// `identity`, `api_token`, `operator`, `cli` or `system`.
    pub kind: String,
    pub id: Option<Uuid>,
    /// For a person: their email, when their identity still exists.
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventBody {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: AuditActorBody,
    /// Dotted verb, e.g. `membership.deactivated`.
    pub action: String,
    /// What the event is about: `membership`, `role`, `api_token`, ...
    pub target_kind: Option<String>,
    pub target_id: Option<Uuid>,
    /// Facts of the event (never a secret).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub items: Vec<AuditEventBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<&AuditPage> for AuditList {
    fn from(page: &AuditPage) -> Self {
        Self {
            items: page
                .events
                .iter()
                .map(|e| AuditEventBody {
                    id: e.id.as_uuid(),
                    at: e.at,
                    actor: AuditActorBody {
                        kind: e.actor.kind().to_owned(),
                        id: e.actor.id(),
                        email: match e.actor {
                            Actor::Identity(id) => page.actor_emails.get(&id).cloned(),
                            _ => None,
                        },
                    },
                    action: e.action.clone(),
                    target_kind: e.target.as_ref().map(|t| t.kind.clone()),
                    target_id: e.target.as_ref().map(|t| t.id),
                    details: e.details.clone(),
                })
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }
    }
}

/// A day (`YYYY-MM-DD`, midnight UTC, plus `extra_days`) or an RFC 3339 instant.
fn instant(what: &str, s: &str, extra_days: i64) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = day
            .checked_add_days(chrono::Days::new(extra_days.unsigned_abs()))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("{what} must be a day (YYYY-MM-DD) or an RFC 3339 time."),
            )
        })
}

/// Turns the query into the use case's filter, refusing what does not parse.
pub(crate) fn audit_filter(params: &AuditParams) -> Result<AuditFilter, ApiError> {
    let bad = |what: &str| ApiError::bad_request("invalid_query", format!("{what} is not valid."));
    let action = params
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            (a.len() <= 100
                && a.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)))
            .then(|| a.to_owned())
            .ok_or_else(|| bad("action"))
        })
        .transpose()?;
    Ok(AuditFilter {
        action,
        target_id: params
            .target
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<Uuid>().map_err(|_| bad("target")))
            .transpose()?,
        actor: params
            .actor
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<IdentityId>().map_err(|_| bad("actor")))
            .transpose()?,
        since: params
            .since
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| instant("since", s, 0))
            .transpose()?,
        until: params
            .until
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| instant("until", s, 1))
            .transpose()?,
        before: params
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse::<AuditEventId>().map_err(|_| {
                    ApiError::bad_request("invalid_cursor", "cursor is not one Roster gave out.")
                })
            })
            .transpose()?,
        limit: match params.limit {
            None => 50,
            Some(n @ 1..=1000) => n,
            Some(_) => return Err(bad("limit (1 to 1000)")),
        },
    })
}

/// The organization's audit log, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit", tag = "orgs",
    security(("session" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization id or slug"), AuditParams),
    responses(
        (status = 200, body = AuditList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: needs `audit.read`; `limited_reach`: the caller's access is limited to some entities or customers", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(org): ApiPath<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let filter = audit_filter(&params)?;
    let grant = org_grant(&state, &authed, &org, Permission::AuditRead).await?;
    match state.roster.audit_log(&grant, &filter).await {
        Ok(page) => Ok(Json((&page).into())),
        Err(AuditError::LimitedReach) => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "limited_reach",
            "The audit log covers the whole organization, and your access is limited to some entities or customers. An admin of the whole organization can read it.",
        )),
        Err(AuditError::Store(e)) => Err(e.into()),
    }
}
