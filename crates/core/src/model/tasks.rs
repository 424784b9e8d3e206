//! Tasks and notification digests (seeds 002, 003). Host products post an organization's
//! outstanding work items as tasks; each member chooses how often (daily or weekly) and about
//! which task categories Roster emails them a digest of the open ones they may see.

use super::UnknownValue;
use crate::clock::Timestamp;
use crate::ids::{CustomerId, MembershipId, OrgId, OutboxId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "open" => Ok(TaskStatus::Open),
            "done" => Ok(TaskStatus::Done),
            other => Err(UnknownValue {
                what: "task status",
                value: other.to_owned(),
                expected: "open, done",
            }),
        }
    }
}

/// An outstanding work item of one organization, posted by a host product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub org_id: OrgId,
    /// The key of one of the organization's task categories.
    pub category: String,
    pub title: String,
    /// Where the work is done, in the host product (`http`/`https` only).
    pub url: Option<String>,
    /// The customer it concerns; only members who may see that customer see the task.
    pub customer_id: Option<CustomerId>,
    /// The member it is assigned to; an assigned task is that member's digest's alone.
    pub assignee_id: Option<MembershipId>,
    pub status: TaskStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

/// One of an organization's task categories, known from the tasks posted in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCategory {
    /// Short stable key, e.g. `renewals`.
    pub key: String,
    /// What people read, e.g. `Contract renewals`.
    pub label: String,
    pub created_at: Timestamp,
}

/// A valid category key: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn valid_category_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Which tasks a listing holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub category: Option<String>,
    pub customer: Option<CustomerId>,
    pub assignee: Option<MembershipId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestFrequency {
    /// Every day at 08:00 in the member's time zone.
    Daily,
    /// Every Monday at 08:00 in the member's time zone.
    Weekly,
}

impl DigestFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestFrequency::Daily => "daily",
            DigestFrequency::Weekly => "weekly",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "daily" => Ok(DigestFrequency::Daily),
            "weekly" => Ok(DigestFrequency::Weekly),
            other => Err(UnknownValue {
                what: "digest frequency",
                value: other.to_owned(),
                expected: "daily, weekly",
            }),
        }
    }
}

/// A membership's notification settings (seed 002, *Manage notifications*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub frequency: DigestFrequency,
    /// The categories the digest lists; `None` until the member chooses, meaning every
    /// category the organization has, including ones that appear later. An empty set means
    /// no digest at all.
    pub categories: Option<BTreeSet<String>>,
}

impl Default for NotificationPrefs {
    /// A member who never chose gets a weekly digest of everything they may see.
    fn default() -> Self {
        Self {
            frequency: DigestFrequency::Weekly,
            categories: None,
        }
    }
}

/// Which customers' tasks a digest may list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestCustomers {
    All,
    /// Tasks of these customers, and tasks of no customer.
    Only(BTreeSet<CustomerId>),
    /// Tasks of no customer only.
    None,
}

/// One open task as a digest lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestTask {
    pub task: Task,
    pub customer_name: Option<String>,
}

/// The record that a membership's digest for one period was handled: exactly one per
/// membership and period, whichever instance got there first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestRecord {
    pub membership_id: MembershipId,
    pub org_id: OrgId,
    /// `daily:2026-11-23` or `weekly:2026-11-23` (the Monday), in the member's time zone.
    pub period: String,
    pub task_count: u32,
    /// The email, when there was anything to send.
    pub outbox_id: Option<OutboxId>,
    pub created_at: Timestamp,
}

/// What the digest scheduler needs to know about one due membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestDue {
    pub membership_id: MembershipId,
    pub org_id: OrgId,
    /// When the scheduler planned it to be handled.
    pub due_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_keys() {
        for ok in ["renewals", "a", "q4.review", "sla_breach", "7-day"] {
            assert!(valid_category_key(ok), "{ok}");
        }
        for bad in ["", "Renewals", "-x", "a b", "über", &"x".repeat(65)] {
            assert!(!valid_category_key(bad), "{bad}");
        }
    }

    #[test]
    fn enums_round_trip() {
        for s in [TaskStatus::Open, TaskStatus::Done] {
            assert_eq!(TaskStatus::parse(s.as_str()), Ok(s));
        }
        for f in [DigestFrequency::Daily, DigestFrequency::Weekly] {
            assert_eq!(DigestFrequency::parse(f.as_str()), Ok(f));
        }
        assert!(DigestFrequency::parse("hourly").is_err());
        assert!(TaskStatus::parse("closed").is_err());
    }
}
