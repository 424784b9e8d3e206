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
    /// IANA time zone for members without their own: digests go out at 08:00 in it
    /// (default `UTC`).
    pub timezone: String,
}

impl From<&OrgSettings> for SettingsBody {
    fn from(s: &OrgSettings) -> Self {
        Self {
            invitation_lifetime_hours: s.invitation_lifetime_hours,
            password_min_length: s.password_min_length,
            session_idle_timeout_minutes: s.session_idle_timeout_minutes,
            session_lifetime_hours: s.session_lifetime_hours,
            timezone: s.timezone.clone(),
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
            roles: m
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .chain(m.custom_roles.iter().map(|r| r.to_string()))
                .collect(),
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

/// `Some(None)` for an explicit `null`, `None` for an absent field.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResetBody {
    /// The token from the reset link.
    pub token: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailChangeBody {
    /// The token from the confirmation link.
    pub token: String,
}

/// Fields to change; absent ones stay, `null` clears.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// IANA time zone, e.g. `Europe/Paris`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub timezone: Option<Option<String>>,
    /// BCP 47 tag, e.g. `fr-FR`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailBody {
    pub new_email: String,
    pub current_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session making this request.
    pub current: bool,
}

impl SessionBody {
    pub fn new(s: &roster_core::model::Session, current: bool) -> Self {
        Self {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    pub name: String,
    /// Permission codes; each must be one the caller holds.
    pub permissions: Vec<String>,
    /// Never expires when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
    /// The person the token acts for; null when an operator created it.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&roster_core::model::ApiToken> for TokenBody {
    fn from(t: &roster_core::model::ApiToken) -> Self {
        Self {
            id: t.id.as_uuid(),
            name: t.name.clone(),
            permissions: t.permissions.iter().map(|p| p.to_string()).collect(),
            created_by: t.created_by.map(|i| i.as_uuid()),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedTokenBody {
    #[serde(flatten)]
    pub token: TokenBody,
    /// Send as `Authorization: Bearer <token>`. Shown once; Roster keeps only a hash.
    #[serde(rename = "token")]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenBody>,
}

#[derive(Serialize, ToSchema)]
pub struct SignInAttemptBody {
    pub id: Uuid,
    /// The reference the person was shown, to match a support request.
    pub reference: String,
    pub at: DateTime<Utc>,
    /// What happened, precisely (admins see more than the person was told):
    /// `succeeded`, `wrong_password`, `no_password`, `membership_deactivated`,
    /// `notifications_only`, `throttled`.
    pub code: String,
    /// What the person was told.
    pub public_code: String,
    /// The email as typed.
    pub email: String,
    pub client_ip: Option<String>,
}

impl From<&roster_core::model::SignInAttempt> for SignInAttemptBody {
    fn from(a: &roster_core::model::SignInAttempt) -> Self {
        Self {
            id: a.id.as_uuid(),
            reference: a.reference.clone(),
            at: a.at,
            code: a.code.as_str().to_owned(),
            public_code: a.code.public_code().to_owned(),
            email: a.email.clone(),
            client_ip: a.client_ip.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignInAttemptList {
    pub items: Vec<SignInAttemptBody>,
}

/// A member of an organization: the membership and the person's public fields.
#[derive(Serialize, ToSchema)]
pub struct MemberBody {
    /// The membership id (`{member}` in paths).
    pub id: Uuid,
    pub identity_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    /// Built-in role names (`admin`, `user`, `marketing`, `notifications`), then the ids
    /// of custom roles; what `PUT .../roles` takes.
    pub roles: Vec<String>,
    /// Ids of the groups the member is in.
    pub groups: Vec<Uuid>,
    /// The member's entity.
    pub entity: Option<Uuid>,
    /// For an admin: the entities whose members they manage; empty for the whole
    /// organization.
    pub admin_scope: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&roster_core::store::MemberView> for MemberBody {
    fn from(v: &roster_core::store::MemberView) -> Self {
        let m = &v.membership;
        Self {
            id: m.id.as_uuid(),
            identity_id: m.identity_id.as_uuid(),
            email: v.email.to_string(),
            name: v.name.clone(),
            status: m.status.as_str().to_owned(),
            roles: m
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .chain(m.custom_roles.iter().map(|r| r.to_string()))
                .collect(),
            groups: m.groups.iter().map(|g| g.as_uuid()).collect(),
            entity: m.entity.map(|e| e.as_uuid()),
            admin_scope: m.admin_scope.iter().map(|e| e.as_uuid()).collect(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberBody>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Members matching the query, on every page. Exact when at most `status` filters;
    /// a search or any other filter counts up to 1,000 and then sets `total_capped`.
    pub total: u64,
    /// True when more than `total` members match; the console then says "More than 1000
    /// users match" rather than a count.
    pub total_capped: bool,
}

/// The complete new set of a member's roles.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    /// At least one: `admin`, `user`, `marketing`, `notifications`, or a custom role's id.
    pub roles: Vec<String>,
}

/// The groups a member is in, replaced as a whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupsBody {
    pub groups: Vec<Uuid>,
}

/// The customers assigned to a member, replaced as a whole (*Confirm selection*); none
/// means all customers for customer-scoped roles.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomersBody {
    pub customers: Vec<Uuid>,
}

/// A member's entity; null clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityBody {
    pub entity: Option<Uuid>,
}

/// An admin's scope: the entities whose members they manage; empty for the whole
/// organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminScopeBody {
    pub entities: Vec<Uuid>,
}

/// Which members to list, and which page.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MemberListParams {
    /// 1–200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Matches anywhere in the email or the name, ignoring case.
    pub q: Option<String>,
    /// `invited`, `active` or `deactivated`.
    pub status: Option<String>,
    /// A built-in role (`admin`, `user`, `marketing`, `notifications`) or a custom role's id.
    pub role: Option<String>,
    /// A group's id.
    pub group: Option<String>,
    /// An entity's id.
    pub entity: Option<String>,
    /// A customer's id: members it is assigned to.
    pub customer: Option<String>,
}

/// Who to invite. Roles are applied unchanged when the invitation is accepted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    /// For a person Roster does not know yet; an existing account keeps its own name.
    pub name: Option<String>,
    /// At least one: `admin`, `user`, `marketing`, `notifications`, or a custom role's id.
    pub roles: Vec<String>,
    /// Ids of groups to put the member in.
    #[serde(default)]
    pub groups: Vec<Uuid>,
    /// Ids of customers to assign (seed 002); none means all of them.
    #[serde(default)]
    pub customers: Vec<Uuid>,
    /// The member's entity (seed 004). A scoped admin must give one of theirs.
    pub entity: Option<Uuid>,
}

/// Changes to a member; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatchBody {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Who did something: `identity` (a person), `api_token`, `operator`, `cli` or `system`.
#[derive(Serialize, ToSchema)]
pub struct ActorBody {
    pub kind: String,
    pub id: Option<Uuid>,
    /// The person's name or email, for `identity`.
    pub name: Option<String>,
}

/// One member, as the member page shows them.
#[derive(Serialize, ToSchema)]
pub struct MemberDetailBody {
    #[serde(flatten)]
    pub member: MemberBody,
    /// When the newest invitation was sent; null for a member who never had one.
    pub invited_at: Option<DateTime<Utc>>,
    pub invited_by: Option<ActorBody>,
    /// When the pending link stops working; null unless the member is `invited`.
    pub invitation_expires_at: Option<DateTime<Utc>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// The customers assigned in this organization that the reader may see (a reader
    /// limited to some customers sees only those); no assignment at all means every
    /// customer for customer-scoped roles.
    pub customers: Vec<Uuid>,
    /// All the customers assigned, seen or not.
    pub customer_count: usize,
}

impl From<&roster_core::usecases::members::MemberDetail> for MemberDetailBody {
    fn from(d: &roster_core::usecases::members::MemberDetail) -> Self {
        Self {
            member: MemberBody::from(&d.member),
            invited_at: d.invited_at,
            invited_by: d.invited_by.map(|a| ActorBody {
                kind: a.kind().to_owned(),
                id: a.id(),
                name: d.invited_by_name.clone(),
            }),
            invitation_expires_at: d.invitation_expires_at,
            last_sign_in_at: d.last_sign_in_at,
            customers: d.customers.iter().map(|c| c.as_uuid()).collect(),
            customer_count: d.customers.len(),
        }
    }
}

/// A member after an edit.
#[derive(Serialize, ToSchema)]
pub struct MemberEditedBody {
    #[serde(flatten)]
    pub member: MemberBody,
    /// Set when the email is to change: a confirmation link went to this address, and the
    /// change applies (ending every session of the person) when it is used.
    pub pending_email: Option<String>,
}
