use super::UnknownValue;
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{OrgId, OutboxId};
use serde::{Deserialize, Serialize};

/// What an email says, as data. The mail crate renders it; core decides only that it is
/// sent, to whom, and with which facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// An invitation to join an organization with a new identity.
    Invitation {
        org_name: String,
        inviter_name: Option<String>,
        link: String,
        expires_at: Timestamp,
    },
    /// An identity that can already sign in was given access to an organization.
    AccessGranted {
        org_name: String,
        inviter_name: Option<String>,
        link: String,
    },
    /// A link to choose a new password. `org_name` is set when an admin of that
    /// organization sent it (seed 001, *Send a reset link*).
    PasswordReset {
        org_name: Option<String>,
        link: String,
        expires_at: Timestamp,
    },
    /// The password of the account was changed (by a reset or by the person).
    PasswordChanged { at: Timestamp, link: String },
    /// Sent to the new address: confirm it to make it the sign-in email.
    EmailChangeConfirm {
        new_email: String,
        link: String,
        expires_at: Timestamp,
    },
    /// Sent to the old address when a change to another address was requested.
    EmailChangeNotice { new_email: String, at: Timestamp },
    /// The person's membership of an organization was removed (by an admin, or by
    /// themself leaving); their identity and other memberships are untouched.
    AccessRevoked { org_name: String },
    /// The member's digest of open tasks (seed 002, *Manage notifications*).
    Digest {
        org_name: String,
        /// `daily` or `weekly`.
        frequency: String,
        /// The day the period starts, in the member's time zone, e.g. `2026-11-23`.
        period_start: String,
        tasks: Vec<DigestLine>,
        /// Open tasks beyond those listed.
        more: u64,
        /// Where to open Roster (and change these settings).
        link: String,
    },
}

/// One task as a digest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLine {
    /// The category's label.
    pub category: String,
    pub title: String,
    pub url: Option<String>,
    pub customer: Option<String>,
}

impl Notice {
    /// Whether the content carries a single-use link (invitation, reset, email change):
    /// such a message is scrubbed once it fails for good, and cannot be retried; the
    /// person is sent a new link instead.
    pub fn holds_live_token(&self) -> bool {
        matches!(
            self,
            Notice::Invitation { .. }
                | Notice::PasswordReset { .. }
                | Notice::EmailChangeConfirm { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Invitation { .. } => "invitation",
            Notice::AccessGranted { .. } => "access_granted",
            Notice::PasswordReset { .. } => "password_reset",
            Notice::PasswordChanged { .. } => "password_changed",
            Notice::EmailChangeConfirm { .. } => "email_change_confirm",
            Notice::EmailChangeNotice { .. } => "email_change_notice",
            Notice::AccessRevoked { .. } => "access_revoked",
            Notice::Digest { .. } => "digest",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    Sent,
    /// Gave up after the last retry.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "pending" => Ok(OutboxStatus::Pending),
            "sent" => Ok(OutboxStatus::Sent),
            "failed" => Ok(OutboxStatus::Failed),
            other => Err(UnknownValue {
                what: "outbox status",
                value: other.to_owned(),
                expected: "pending, sent, failed",
            }),
        }
    }
}

/// One email waiting in (or gone through) the durable outbox. Written in the same
/// transaction as the change that causes it, so an email exists exactly when its change
/// does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: OutboxId,
    pub org_id: Option<OrgId>,
    pub recipient: Email,
    /// The notice kind, kept after the content is scrubbed.
    pub kind: String,
    /// The content. Dropped once the message is sent, because it may carry a link with a
    /// live token, and the outbox must not be a second place to find one.
    pub notice: Option<Notice>,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    /// While set and in the future, one worker owns the message.
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

impl OutboxMessage {
    pub fn new(org_id: Option<OrgId>, recipient: Email, notice: Notice, now: Timestamp) -> Self {
        Self {
            id: OutboxId::new(),
            org_id,
            recipient,
            kind: notice.kind().to_owned(),
            notice: Some(notice),
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        }
    }
}
