//! The permission catalog: Roster's own codes plus the codes host products register in
//! `roster.toml`. Every permission a custom role holds, and every permission a host product
//! asks about, is a code of this catalog; anything else is refused as unknown.

use crate::model::{BuiltinRole, Permission};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A permission code: lowercase ASCII letters, digits and `.`, `_`, `:`, `-`, starting with
/// a letter, at most 100 characters (`users.invite`, `pim_user_user_create`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PermissionCode(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a permission code: use lowercase letters, digits and . _ : - (at most 100), starting with a letter")]
pub struct BadCode(pub String);

impl PermissionCode {
    pub fn parse(s: &str) -> Result<Self, BadCode> {
        let ok = (1..=100).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadCode(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Roster's own permission behind this code, when it is one.
    pub fn roster(&self) -> Option<Permission> {
        Permission::parse(&self.0).ok()
    }
}

/// Looks codes up by `&str`: ordering and hashing are the inner string's.
impl std::borrow::Borrow<str> for PermissionCode {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<Permission> for PermissionCode {
    fn from(p: Permission) -> Self {
        Self(p.code().to_owned())
    }
}

impl TryFrom<String> for PermissionCode {
    type Error = BadCode;
    fn try_from(s: String) -> Result<Self, BadCode> {
        Self::parse(&s)
    }
}

impl From<PermissionCode> for String {
    fn from(c: PermissionCode) -> Self {
        c.0
    }
}

impl fmt::Display for PermissionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSource {
    Roster,
    /// Registered by a host product in `roster.toml`.
    Host,
}

/// One entry of the catalog, as `GET /api/v1/permissions` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub code: PermissionCode,
    pub label: String,
    /// Groups the permission with its neighbours in the console's permission picker.
    pub area: String,
    pub source: CodeSource,
    /// Built-in roles that hold it. Admin holds every code.
    pub builtin_roles: Vec<BuiltinRole>,
}

/// A host product's permission as `roster.toml` registers it:
///
/// ```toml
/// [[permissions]]
/// code = "catalog.edit"
/// label = "Edit the catalog"
/// area = "Catalog"
/// roles = ["user"]   # built-in roles that hold it besides Admin; optional
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPermission {
    pub code: String,
    pub label: String,
    pub area: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    BadCode(#[from] BadCode),
    #[error("permission {0} is registered twice (or is one of Roster's own)")]
    Duplicate(String),
    #[error("permission {code}: {problem}")]
    Invalid { code: String, problem: String },
    #[error("the catalog holds at most {max} permissions")]
    TooMany { max: usize },
}

/// A code's place in the catalog: what a prepared member's permissions are kept as
/// ([`crate::access::AccessProfile`]), so preparing them copies no code.
pub(crate) type Position = u16;

/// Every permission this deployment knows, and what each built-in role holds.
#[derive(Clone, Debug)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    index: BTreeMap<PermissionCode, usize>,
    builtin: BTreeMap<BuiltinRole, BTreeSet<PermissionCode>>,
    /// The same as `builtin`, as positions in `entries`, ascending.
    builtin_positions: BTreeMap<BuiltinRole, Vec<Position>>,
    /// Roster's own permission behind each entry, when it is one.
    roster: Vec<Option<Permission>>,
}

fn roster_entry(p: Permission) -> (&'static str, &'static str) {
    match p {
        Permission::UsersInvite => ("Invite users", "Users"),
        Permission::UsersManage => ("Manage users: edit, roles, deactivate, delete", "Users"),
        Permission::UsersRead => ("See users", "Users"),
        Permission::RolesManage => ("Manage roles and groups", "Roles and groups"),
        Permission::CustomersRead => ("See customers", "Customers"),
        Permission::CustomersManage => ("Manage customers and assignments", "Customers"),
        Permission::PartnerKitRead => ("Open the partner kit", "Partner kit"),
        Permission::OrgSettings => ("Change organization settings and entities", "Organization"),
        Permission::AuditRead => ("Read the audit log", "Organization"),
        Permission::TokensManage => ("Manage API tokens", "Organization"),
        Permission::TasksWrite => ("Post tasks for digests", "Tasks"),
        Permission::AccessCheck => ("Ask whether a member may do something", "Access checks"),
    }
}

impl Catalog {
    /// Roster's own codes only.
    pub fn roster_only() -> Self {
        Self::with_host(&[]).unwrap_or_else(|_| unreachable_catalog())
    }

    /// Roster's own codes plus the host product's.
    pub fn with_host(host: &[HostPermission]) -> Result<Self, CatalogError> {
        let mut entries = Vec::new();
        for p in Permission::ALL {
            let (label, area) = roster_entry(*p);
            let builtin_roles = BuiltinRole::ALL
                .into_iter()
                .filter(|r| r.permissions().contains(p))
                .collect();
            entries.push(CatalogEntry {
                code: (*p).into(),
                label: label.to_owned(),
                area: area.to_owned(),
                source: CodeSource::Roster,
                builtin_roles,
            });
        }
        for h in host {
            let code = PermissionCode::parse(&h.code)?;
            let invalid = |problem: &str| CatalogError::Invalid {
                code: h.code.clone(),
                problem: problem.to_owned(),
            };
            if h.label.trim().is_empty() || h.area.trim().is_empty() {
                return Err(invalid("give it a label and an area"));
            }
            let mut builtin_roles = vec![BuiltinRole::Admin];
            for r in &h.roles {
                match BuiltinRole::parse(r) {
                    Ok(BuiltinRole::Notifications) => {
                        return Err(invalid("the Notifications role never holds a permission"))
                    }
                    Ok(BuiltinRole::Admin) => {}
                    Ok(role) => builtin_roles.push(role),
                    Err(e) => return Err(invalid(&e.to_string())),
                }
            }
            builtin_roles.sort();
            builtin_roles.dedup();
            entries.push(CatalogEntry {
                code,
                label: h.label.trim().to_owned(),
                area: h.area.trim().to_owned(),
                source: CodeSource::Host,
                builtin_roles,
            });
        }
        let max = usize::from(Position::MAX) + 1;
        if entries.len() > max {
            return Err(CatalogError::TooMany { max });
        }
        let mut index = BTreeMap::new();
        let mut builtin: BTreeMap<BuiltinRole, BTreeSet<PermissionCode>> = BuiltinRole::ALL
            .into_iter()
            .map(|r| (r, BTreeSet::new()))
            .collect();
        let mut builtin_positions: BTreeMap<BuiltinRole, Vec<Position>> = BTreeMap::new();
        for (position, (i, e)) in (0..=Position::MAX).zip(entries.iter().enumerate()) {
            if index.insert(e.code.clone(), i).is_some() {
                return Err(CatalogError::Duplicate(e.code.to_string()));
            }
            for r in &e.builtin_roles {
                builtin.entry(*r).or_default().insert(e.code.clone());
                builtin_positions.entry(*r).or_default().push(position);
            }
        }
        let roster = entries.iter().map(|e| e.code.roster()).collect();
        Ok(Self {
            entries,
            index,
            builtin,
            builtin_positions,
            roster,
        })
    }

    /// Where `code` is in the catalog; `None` for a code it does not hold.
    pub(crate) fn position(&self, code: &str) -> Option<Position> {
        self.index
            .get(code)
            .and_then(|i| Position::try_from(*i).ok())
    }

    /// The code at `position` (a position this catalog gave out).
    pub(crate) fn code_at(&self, position: Position) -> Option<&PermissionCode> {
        self.entries.get(usize::from(position)).map(|e| &e.code)
    }

    /// Roster's own permission at `position`, when it is one.
    pub(crate) fn roster_at(&self, position: Position) -> Option<Permission> {
        self.roster.get(usize::from(position)).copied().flatten()
    }

    /// [`Self::builtin`] as positions, ascending.
    pub(crate) fn builtin_positions(&self, role: BuiltinRole) -> &[Position] {
        self.builtin_positions.get(&role).map_or(&[], Vec::as_slice)
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub fn get(&self, code: &str) -> Option<&CatalogEntry> {
        self.index.get(code).map(|i| &self.entries[*i])
    }

    pub fn contains(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }

    /// What a built-in role holds in this deployment: Admin every code, the others their
    /// Roster codes plus the host codes registered for them.
    pub fn builtin(&self, role: BuiltinRole) -> &BTreeSet<PermissionCode> {
        static EMPTY: BTreeSet<PermissionCode> = BTreeSet::new();
        self.builtin.get(&role).unwrap_or(&EMPTY)
    }

    /// Parses codes a caller sent, refusing any that is not in the catalog.
    pub fn parse_codes(&self, codes: &[String]) -> Result<BTreeSet<PermissionCode>, String> {
        let unknown: Vec<&str> = codes
            .iter()
            .filter(|c| !self.contains(c))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown permission(s): {}; the catalog is at GET /api/v1/permissions",
                unknown.join(", ")
            ));
        }
        Ok(codes
            .iter()
            .filter_map(|c| PermissionCode::parse(c).ok())
            .collect())
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::roster_only()
    }
}

/// Roster's own codes are distinct and well-formed (a unit test proves it), so building
/// the catalog from them alone cannot fail; this keeps the signature infallible without a
/// panic path.
fn unreachable_catalog() -> Catalog {
    Catalog {
        entries: Vec::new(),
        index: BTreeMap::new(),
        builtin: BTreeMap::new(),
        builtin_positions: BTreeMap::new(),
        roster: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(code: &str, roles: &[&str]) -> HostPermission {
        HostPermission {
            code: code.into(),
            label: "Label".into(),
            area: "Area".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn roster_codes_build_and_admin_holds_everything() {
        let c = Catalog::with_host(&[]).unwrap();
        assert_eq!(c.entries().len(), Permission::ALL.len());
        for p in Permission::ALL {
            assert!(c
                .builtin(BuiltinRole::Admin)
                .contains(&PermissionCode::from(*p)));
        }
        assert!(c.builtin(BuiltinRole::Notifications).is_empty());
        assert_eq!(
            Catalog::roster_only().entries().len(),
            Permission::ALL.len()
        );
    }

    #[test]
    fn host_codes_join_admin_and_the_roles_named() {
        let c = Catalog::with_host(&[
            host("pim_user_user_create", &[]),
            host("catalog.edit", &["user", "marketing"]),
        ])
        .unwrap();
        let code = |s: &str| PermissionCode::parse(s).unwrap();
        assert!(c
            .builtin(BuiltinRole::Admin)
            .contains(&code("pim_user_user_create")));
        assert!(!c
            .builtin(BuiltinRole::User)
            .contains(&code("pim_user_user_create")));
        assert!(c.builtin(BuiltinRole::User).contains(&code("catalog.edit")));
        assert!(c
            .builtin(BuiltinRole::Marketing)
            .contains(&code("catalog.edit")));
        assert_eq!(c.get("catalog.edit").unwrap().source, CodeSource::Host);
    }

    #[test]
    fn bad_host_entries_are_refused() {
        for bad in [
            vec![host("Catalog.Edit", &[])],
            vec![host("users.invite", &[])],
            vec![host("a.b", &[]), host("a.b", &[])],
            vec![host("a.b", &["notifications"])],
            vec![host("a.b", &["root"])],
            vec![HostPermission {
                label: " ".into(),
                ..host("a.b", &[])
            }],
        ] {
            assert!(Catalog::with_host(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn positions_name_the_catalog_s_codes_and_roles() {
        let c =
            Catalog::with_host(&[host("catalog.edit", &["user"]), host("z.last", &[])]).unwrap();
        for (i, e) in c.entries().iter().enumerate() {
            let at = c.position(e.code.as_str()).unwrap();
            assert_eq!(usize::from(at), i);
            assert_eq!(c.code_at(at), Some(&e.code));
            assert_eq!(c.roster_at(at), e.code.roster(), "{}", e.code);
        }
        assert_eq!(c.position("not.there"), None);
        for role in BuiltinRole::ALL {
            let named: BTreeSet<&PermissionCode> = c
                .builtin_positions(role)
                .iter()
                .filter_map(|at| c.code_at(*at))
                .collect();
            assert_eq!(named, c.builtin(role).iter().collect(), "{role:?}");
        }
    }

    #[test]
    fn codes_parse_strictly() {
        for ok in [
            "users.invite",
            "pim_user_user_create",
            "a",
            "web_api:access-2",
        ] {
            assert!(PermissionCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "Users", "a b", "é", &"a".repeat(101)] {
            assert!(PermissionCode::parse(bad).is_err(), "{bad}");
        }
        let c = Catalog::roster_only();
        assert!(c.parse_codes(&["users.read".into()]).is_ok());
        let err = c
            .parse_codes(&["users.read".into(), "nope".into()])
            .unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
