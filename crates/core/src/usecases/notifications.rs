//! Notification settings (seed 002, *Manage notifications*): how often a member gets the
//! digest of open tasks, and about which of the organization's task categories. Every
//! member edits their own; whoever manages a member edits theirs too.

use super::members::{live_member, lock_as_manager, may_manage, Locked, MemberError};
use super::target;
use crate::access::{Caller, OrgGrant, OrgView};
use crate::ids::MembershipId;
use crate::model::{
    AuditEvent, DigestFrequency, MembershipStatus, NotificationPrefs, TaskCategory,
};
use crate::roster::Roster;
use crate::store::{Reads, StoreError, Tx};
use serde_json::json;
use std::collections::BTreeSet;

/// Settings as written: `categories: None` follows every category, present and future.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefsInput {
    pub frequency: DigestFrequency,
    pub categories: Option<Vec<String>>,
}

/// A member's settings with the organization's categories to choose from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationSettings {
    pub prefs: NotificationPrefs,
    pub available: Vec<TaskCategory>,
}

impl NotificationSettings {
    /// The categories the digest lists now.
    pub fn effective_categories(&self) -> Vec<String> {
        match &self.prefs.categories {
            None => self.available.iter().map(|c| c.key.clone()).collect(),
            Some(chosen) => chosen.iter().cloned().collect(),
        }
    }
}

async fn settings_of(
    reads: &mut dyn Reads,
    view_org: crate::ids::OrgId,
    member: MembershipId,
) -> Result<Option<NotificationSettings>, StoreError> {
    let Some(prefs) = reads.notification_prefs(view_org, member).await? else {
        return Ok(None);
    };
    Ok(Some(NotificationSettings {
        prefs,
        available: reads.task_categories(view_org).await?,
    }))
}

/// Each chosen category must be one of the organization's.
async fn chosen(
    tx: &mut dyn Tx,
    org: crate::ids::OrgId,
    input: &PrefsInput,
) -> Result<NotificationPrefs, MemberError> {
    let categories = match &input.categories {
        None => None,
        Some(keys) => {
            let known: BTreeSet<String> = tx
                .task_categories(org)
                .await?
                .into_iter()
                .map(|c| c.key)
                .collect();
            if let Some(unknown) = keys.iter().find(|k| !known.contains(*k)) {
                return Err(MemberError::UnknownReference {
                    what: "task category",
                    id: unknown.clone(),
                });
            }
            Some(keys.iter().cloned().collect())
        }
    };
    Ok(NotificationPrefs {
        frequency: input.frequency,
        categories,
    })
}

async fn write(
    tx: &mut dyn Tx,
    locked_org: crate::ids::OrgId,
    actor: crate::model::Actor,
    member: MembershipId,
    before: NotificationPrefs,
    after: &NotificationPrefs,
    now: crate::clock::Timestamp,
) -> Result<(), MemberError> {
    if before == *after {
        return Ok(());
    }
    if !tx
        .set_notification_prefs(locked_org, member, after, now)
        .await?
    {
        return Err(MemberError::NotFound);
    }
    let shown = |p: &NotificationPrefs| json!({ "frequency": p.frequency.as_str(), "categories": p.categories });
    tx.append_audit(&AuditEvent::new(
        Some(locked_org),
        actor,
        "membership.notifications_changed",
        target("membership", member.as_uuid()),
        json!({ "from": shown(&before), "to": shown(after) }),
        now,
    ))
    .await?;
    Ok(())
}

impl Roster {
    /// A member's settings; `None` when absent, removed or beyond the viewer's reach.
    pub async fn notification_settings(
        &self,
        view: &OrgView,
        member: MembershipId,
    ) -> Result<Option<NotificationSettings>, StoreError> {
        let mut reads = self.store.reads().await?;
        let visible = reads
            .membership(view.org_id(), member)
            .await?
            .is_some_and(|m| m.status != MembershipStatus::Removed && view.scope().admits(&m));
        if !visible {
            return Ok(None);
        }
        settings_of(&mut *reads, view.org_id(), member).await
    }

    /// The caller's own settings in the organization they are viewing.
    pub async fn set_own_notification_settings(
        &self,
        view: &OrgView,
        caller: &Caller,
        input: PrefsInput,
    ) -> Result<NotificationSettings, MemberError> {
        let identity = match caller {
            Caller::Person { identity_id, .. } => *identity_id,
            _ => return Err(MemberError::NotFound),
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let member = tx
            .membership_of(view.org_id(), identity)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed)
            .ok_or(MemberError::NotFound)?;
        let before = tx
            .notification_prefs(view.org_id(), member.id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let after = chosen(&mut *tx, view.org_id(), &input).await?;
        write(
            &mut *tx,
            view.org_id(),
            caller.actor(),
            member.id,
            before,
            &after,
            now,
        )
        .await?;
        let settings = settings_of(&mut *tx, view.org_id(), member.id)
            .await?
            .ok_or(MemberError::NotFound)?;
        tx.commit().await?;
        Ok(settings)
    }

    /// Another member's settings, by someone who manages them (`users.manage`, within
    /// their reach, not above their own standing).
    pub async fn set_notification_settings(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        input: PrefsInput,
    ) -> Result<NotificationSettings, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked: Locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let target = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &target).await?;
        let before = tx
            .notification_prefs(locked.org.id, member)
            .await?
            .ok_or(MemberError::NotFound)?;
        let after = chosen(&mut *tx, locked.org.id, &input).await?;
        write(
            &mut *tx,
            locked.org.id,
            grant.actor(),
            member,
            before,
            &after,
            now,
        )
        .await?;
        let settings = settings_of(&mut *tx, locked.org.id, member)
            .await?
            .ok_or(MemberError::NotFound)?;
        tx.commit().await?;
        Ok(settings)
    }
}
