//! Request and response bodies of the API, and their conversions from the model. Kept apart
//! from the model so the wire format changes only on purpose, and never carries a hash.

use chrono::{DateTime, Utc};
use roster_core::model::{Identity, Membership, OrgSettings, Organization};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct OrgBody {
    pub id: Uuid,
    /// `provider`, `vendor` or `company`.
    pub kind: String,
    pub name: String,
    pub slug: String,
    pub settings: SettingsBody,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsBody {
    /// How long an invitation link works (1–720, default 72).
    pub invitation_lifetime_hours: u32,
    /// Minimum password length (12–128, default 12).
    pub password_min_length: u32,
    /// A session unused this long ends (5–10080, default 480).
    pub session_idle_timeout_minutes: u32,
    /// A session ends this long after sign-in (1–2160, default 168).
    pub session_lifetime_hours: u32,
}

impl From<&OrgSettings> for SettingsBody {
    fn from(s: &OrgSettings) -> Self {
        Self {
            invitation_lifetime_hours: s.invitation_lifetime_hours,
            password_min_length: s.password_min_length,
            session_idle_timeout_minutes: s.session_idle_timeout_minutes,
            session_lifetime_hours: s.session_lifetime_hours,
        }
    }
}

impl From<&Organization> for OrgBody {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.as_uuid(),
            kind: o.kind.as_str().to_owned(),
            name: o.name.to_string(),
            slug: o.slug.to_string(),
            settings: (&o.settings).into(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrgList {
    pub items: Vec<OrgBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub total: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    /// Derived from the name when absent.
    pub slug: Option<String>,
    /// `provider`, `vendor` or `company`.
    pub kind: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    pub name: Option<String>,
    /// Settings to change; the others stay as they are.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1–200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IdentityBody {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&Identity> for IdentityBody {
    fn from(i: &Identity) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.to_string(),
            name: i.name.as_ref().map(ToString::to_string),
            email_verified: i.email_verified_at.is_some(),
            timezone: i.timezone.clone(),
            locale: i.locale.clone(),
            created_at: i.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrgRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipBody {
    pub id: Uuid,
    pub org: OrgRef,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    pub roles: Vec<String>,
}

impl MembershipBody {
    pub fn new(m: &Membership, org: &Organization) -> Self {
        Self {
            id: m.id.as_uuid(),
            org: OrgRef {
                id: org.id.as_uuid(),
                slug: org.slug.to_string(),
                name: org.name.to_string(),
            },
            status: m.status.as_str().to_owned(),
            roles: m.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeBody {
    pub identity: IdentityBody,
    pub memberships: Vec<MembershipBody>,
}

/// Answer of a sign-in (and of accepting an invitation, which signs the person in).
#[derive(Serialize, ToSchema)]
pub struct SignedInBody {
    pub identity: IdentityBody,
    pub memberships: Vec<MembershipBody>,
    /// Echo in `X-CSRF-Token` on every unsafe request made with the session cookie.
    pub csrf_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationBody {
    pub org_name: String,
    pub email: String,
    /// True when the person already has a Roster sign-in: accepting then needs no
    /// password, only a session of that identity.
    pub existing_identity: bool,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    pub password: Option<String>,
    pub password_confirmation: Option<String>,
}
