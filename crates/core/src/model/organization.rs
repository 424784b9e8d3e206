use super::UnknownValue;
use crate::clock::Timestamp;
use crate::ids::OrgId;
use crate::names::{DisplayName, Slug};
use serde::{Deserialize, Serialize};

/// The kinds of collaborating organizations (seed 003: provider and vendor accounts; a
/// customer company of a B2B portal otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Provider,
    Vendor,
    Company,
}

impl OrgKind {
    pub const ALL: [OrgKind; 3] = [OrgKind::Provider, OrgKind::Vendor, OrgKind::Company];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Provider => "provider",
            OrgKind::Vendor => "vendor",
            OrgKind::Company => "company",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "organization kind",
                value: s.to_owned(),
                expected: "provider, vendor, company",
            })
    }
}

/// Per-organization settings. Stored as one JSON document; unknown keys are refused so a
/// typo never silently does nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgSettings {
    /// How long an invitation link works.
    pub invitation_lifetime_hours: u32,
    /// Minimum password length for members of this organization.
    pub password_min_length: u32,
    /// A session unused this long ends.
    pub session_idle_timeout_minutes: u32,
    /// A session ends this long after sign-in, used or not.
    pub session_lifetime_hours: u32,
    /// IANA time zone for members who have not set their own: digests go out at 08:00 in it.
    pub timezone: String,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            invitation_lifetime_hours: 72,
            password_min_length: 12,
            session_idle_timeout_minutes: 8 * 60,
            session_lifetime_hours: 7 * 24,
            timezone: "UTC".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("setting '{setting}' must be between {min} and {max}")]
    OutOfRange {
        setting: &'static str,
        min: u32,
        max: u32,
    },
    #[error("setting 'timezone' must be an IANA time zone such as Europe/Paris or UTC")]
    TimeZone,
}

impl OrgSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let check = |setting, value: u32, min, max| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(SettingsError::OutOfRange { setting, min, max })
            }
        };
        check(
            "invitation_lifetime_hours",
            self.invitation_lifetime_hours,
            1,
            30 * 24,
        )?;
        check("password_min_length", self.password_min_length, 12, 128)?;
        check(
            "session_idle_timeout_minutes",
            self.session_idle_timeout_minutes,
            5,
            7 * 24 * 60,
        )?;
        check(
            "session_lifetime_hours",
            self.session_lifetime_hours,
            1,
            90 * 24,
        )?;
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(SettingsError::TimeZone);
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub kind: OrgKind,
    pub name: DisplayName,
    pub slug: Slug,
    pub settings: OrgSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The version of what the organization's permissions are made of beside built-in
    /// roles: its custom roles, its groups and their roles. The store gives it a new
    /// random value in the same transaction as every change to those, and nothing else
    /// writes it; a copy of them kept in memory ([`crate::access::DefinitionsCache`])
    /// holds while it is equal.
    pub access_version: u64,
}

impl Organization {
    /// Whether `org`, as a request's path names an organization (its id or its slug),
    /// names this one.
    pub fn is_named(&self, org: &str) -> bool {
        match org.parse::<OrgId>() {
            Ok(id) => self.id == id,
            Err(_) => Slug::parse(org).is_ok_and(|slug| self.slug == slug),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_refuse() {
        for k in OrgKind::ALL {
            assert_eq!(OrgKind::parse(k.as_str()), Ok(k));
        }
        let err = OrgKind::parse("customer").unwrap_err();
        assert!(err.to_string().contains("provider, vendor, company"));
    }

    #[test]
    fn default_settings_are_valid_and_match_the_product() {
        let s = OrgSettings::default();
        s.validate().unwrap();
        assert_eq!(s.invitation_lifetime_hours, 72);
        assert_eq!(s.password_min_length, 12);
    }

    #[test]
    fn settings_refuse_out_of_range_and_unknown_keys() {
        let s = OrgSettings {
            password_min_length: 8,
            ..OrgSettings::default()
        };
        assert!(matches!(
            s.validate().unwrap_err(),
            SettingsError::OutOfRange {
                setting: "password_min_length",
                ..
            }
        ));
        let s = OrgSettings {
            timezone: "Europe/Pariss".into(),
            ..OrgSettings::default()
        };
        assert_eq!(s.validate(), Err(SettingsError::TimeZone));
        assert_eq!(OrgSettings::default().timezone, "UTC");
        assert!(serde_json::from_str::<OrgSettings>(r#"{"pasword_min_length": 20}"#).is_err());
        let partial: OrgSettings =
            serde_json::from_str(r#"{"invitation_lifetime_hours": 24}"#).unwrap();
        assert_eq!(partial.invitation_lifetime_hours, 24);
        assert_eq!(partial.password_min_length, 12);
    }
}
