//! The digest scheduler (seed 002): daily at 08:00, or weekly on Monday at 08:00, in the
//! member's time zone (their own, else their organization's), one email listing the open
//! tasks of their chosen categories that they may see.
//!
//! How it stays cheap and exact with many members and many instances:
//! - Each membership carries when its next digest is due (`digest_next_at`). A pass plans
//!   memberships that have no time yet (new ones, and those whose settings or time zone
//!   changed, which clears it), then handles those whose time has come, through an index;
//!   nobody's time zone is computed on every pass.
//! - Handling one moves its due time on with a compare-and-set, and records
//!   `(membership, period)` with the email in the same transaction. Whichever instance
//!   moves it first handles it; the unique record keeps even a lost race or a restart from
//!   sending a second email for the period.
//! - A digest with nothing in it is not sent; a member without categories is not sent one
//!   either. A failure delays only that member, by 15 minutes.

use crate::access::profile_for;
use crate::access::CustomerReach;
use crate::clock::Timestamp;
use crate::model::{
    DigestCustomers, DigestDue, DigestFrequency, DigestLine, DigestRecord, Membership,
    MembershipStatus, Notice, OutboxMessage,
};
use crate::roster::Roster;
use crate::store::{Reads, StoreError, Tx};
use chrono::{Datelike, Days, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// Local hour digests go out at.
pub const DIGEST_HOUR: u32 = 8;
/// How long a digest record is kept: far longer than a weekly period and its retries.
const KEEP_RECORDS: chrono::Duration = chrono::Duration::days(35);
/// Tasks listed in one digest; the rest are counted.
pub const DIGEST_MAX_TASKS: u32 = 50;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DigestPass {
    /// Memberships given a due time.
    pub planned: usize,
    /// Digests queued in the outbox.
    pub queued: usize,
    /// Periods passed without an email (nothing to list, or no categories).
    pub empty: usize,
    /// Due memberships that were not active, or whose period another instance handled.
    pub skipped: usize,
    /// Due memberships whose digest failed this time (tried again 15 minutes later).
    pub failed: usize,
    /// Old digest records forgotten.
    pub pruned: u64,
}

/// 08:00 on `day` in `tz`. A zone that skips 08:00 that day (none does today) gets the
/// first instant after the gap.
fn at_eight(tz: Tz, day: NaiveDate) -> Timestamp {
    let mut hour = DIGEST_HOUR;
    loop {
        if let Some(t) = day
            .and_hms_opt(hour, 0, 0)
            .and_then(|local| tz.from_local_datetime(&local).earliest())
        {
            return t.with_timezone(&chrono::Utc);
        }
        if hour >= 23 {
            // Unreachable for real zones; fall back to the UTC reading of the day.
            return day
                .and_hms_opt(DIGEST_HOUR, 0, 0)
                .map(|l| l.and_utc())
                .unwrap_or_default();
        }
        hour += 1;
    }
}

/// The first day of the period `local` falls in, before checking the hour.
fn period_day(frequency: DigestFrequency, local: NaiveDate) -> NaiveDate {
    match frequency {
        DigestFrequency::Daily => local,
        DigestFrequency::Weekly => local
            .checked_sub_days(Days::new(u64::from(local.weekday().num_days_from_monday())))
            .unwrap_or(local),
    }
}

fn step(frequency: DigestFrequency) -> Days {
    match frequency {
        DigestFrequency::Daily => Days::new(1),
        DigestFrequency::Weekly => Days::new(7),
    }
}

/// The latest digest time at or before `now`, with its period key (`daily:2026-11-23`,
/// `weekly:2026-11-23` for the week starting that Monday).
pub fn current_slot(frequency: DigestFrequency, tz: Tz, now: Timestamp) -> (String, Timestamp) {
    let mut day = period_day(frequency, now.with_timezone(&tz).date_naive());
    let mut slot = at_eight(tz, day);
    if slot > now {
        day = day.checked_sub_days(step(frequency)).unwrap_or(day);
        slot = at_eight(tz, day);
    }
    (format!("{}:{day}", frequency.as_str()), slot)
}

/// The first digest time strictly after `now`.
pub fn next_slot(frequency: DigestFrequency, tz: Tz, now: Timestamp) -> Timestamp {
    let day = period_day(frequency, now.with_timezone(&tz).date_naive());
    let slot = at_eight(tz, day);
    if slot > now {
        return slot;
    }
    at_eight(tz, day.checked_add_days(step(frequency)).unwrap_or(day))
}

/// An active membership whose digest is due, with what its email needs, read once.
struct Recipient {
    membership: Membership,
    identity: crate::model::Identity,
    org: crate::model::Organization,
    tz: Tz,
    prefs: crate::model::NotificationPrefs,
}

/// The member's zone: their own, else the organization's, else UTC.
fn zone_of(identity_tz: Option<&str>, org_tz: &str) -> Tz {
    identity_tz
        .and_then(|z| z.parse().ok())
        .or_else(|| org_tz.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// Which customers' tasks the member may see: customer scope applies. A member limited to
/// assigned customers sees theirs (all when none is assigned); a notifications-only
/// member likewise; a member whose roles reach no customer data sees none.
async fn digest_customers(
    roster: &Roster,
    reads: &mut dyn Reads,
    m: &Membership,
) -> Result<DigestCustomers, StoreError> {
    let reach = if m.is_notifications_only() {
        CustomerReach::Assigned
    } else {
        profile_for(&roster.catalog, reads, m).await?.widest_reach()
    };
    Ok(match reach {
        CustomerReach::All => DigestCustomers::All,
        CustomerReach::None => DigestCustomers::None,
        CustomerReach::Assigned => {
            let assigned = reads.customer_assignments(m.org_id, m.id).await?;
            if assigned.is_empty() {
                DigestCustomers::All
            } else {
                DigestCustomers::Only(assigned.into_iter().collect())
            }
        }
    })
}

impl Roster {
    /// One pass of the scheduler: plans up to `batch` memberships and handles up to
    /// `batch` due ones. Safe to run on every instance at once.
    pub async fn run_digests(&self, batch: u32) -> Result<DigestPass, StoreError> {
        let now = self.clock.now();
        let mut pass = DigestPass::default();

        let unplanned = self
            .store
            .reads()
            .await?
            .digests_unplanned(now, batch)
            .await?;
        for due in &unplanned {
            let planned = async {
                let mut tx = self.store.begin().await?;
                // Not active any more (or unreadable): looked at again in 15 minutes, when
                // a handler that finds it inactive leaves it for the planner to take up
                // once it is active again.
                let next = self
                    .next_due(&mut *tx, due, now)
                    .await?
                    .unwrap_or(now + chrono::Duration::minutes(15));
                let moved = tx
                    .plan_digest(due.org_id, due.membership_id, None, Some(next))
                    .await?;
                tx.commit().await?;
                Ok::<bool, StoreError>(moved)
            }
            .await;
            match planned {
                Ok(true) => pass.planned += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(membership_id = %due.membership_id, error = %e, "planning a digest failed; retrying in 15 minutes");
                    pass.failed += 1;
                    self.park(due, None, now).await?;
                }
            }
        }

        let due = self.store.reads().await?.digests_due(now, batch).await?;
        for d in due {
            // Counted only once committed: a write may fail as late as the commit.
            let mut counted = pass;
            let handled = async {
                let mut tx = self.store.begin().await?;
                self.handle_due(&mut *tx, &d, now, &mut counted).await?;
                tx.commit().await
            }
            .await;
            if handled.is_ok() {
                pass = counted;
            }
            if let Err(e) = handled {
                // One member's failure must not hold up everyone after them: try theirs
                // again in a while (the period is not recorded, so it is not lost).
                tracing::error!(membership_id = %d.membership_id, error = %e, "digest failed; retrying in 15 minutes");
                pass.failed += 1;
                self.park(&d, Some(d.due_at), now).await?;
            }
        }

        // A record guards its period only while that period can come round: a week, and
        // a retry or two after it.
        let mut tx = self.store.begin().await?;
        pass.pruned = tx.prune_digests(now - KEEP_RECORDS).await?;
        tx.commit().await?;
        Ok(pass)
    }

    /// Puts a membership whose planning or digest failed 15 minutes ahead.
    async fn park(
        &self,
        due: &DigestDue,
        expected: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        tx.plan_digest(
            due.org_id,
            due.membership_id,
            expected,
            Some(now + chrono::Duration::minutes(15)),
        )
        .await?;
        tx.commit().await
    }

    /// When the membership's next digest is due; `None` for one that gets none now (not
    /// active, or gone), which the planner then leaves alone until it is active again.
    async fn next_due(
        &self,
        tx: &mut dyn Tx,
        due: &DigestDue,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .recipient(tx, due)
            .await?
            .map(|r| next_slot(r.prefs.frequency, r.tz, now)))
    }

    /// The active membership behind a due row, its zone and settings.
    async fn recipient(
        &self,
        tx: &mut dyn Tx,
        due: &DigestDue,
    ) -> Result<Option<Recipient>, StoreError> {
        let Some(m) = tx
            .membership(due.org_id, due.membership_id)
            .await?
            .filter(|m| m.status == MembershipStatus::Active)
        else {
            return Ok(None);
        };
        let (Some(identity), Some(org), Some(prefs)) = (
            tx.identity(m.identity_id).await?,
            tx.org(m.org_id).await?,
            tx.notification_prefs(m.org_id, m.id).await?,
        ) else {
            return Ok(None);
        };
        let tz = zone_of(identity.timezone.as_deref(), &org.settings.timezone);
        Ok(Some(Recipient {
            membership: m,
            identity,
            org,
            tz,
            prefs,
        }))
    }

    async fn handle_due(
        &self,
        tx: &mut dyn Tx,
        due: &DigestDue,
        now: Timestamp,
        pass: &mut DigestPass,
    ) -> Result<(), StoreError> {
        let Some(Recipient {
            membership: m,
            identity,
            org,
            tz,
            prefs,
        }) = self.recipient(tx, due).await?
        else {
            // Deactivated or gone: nothing due until the planner sees it active again.
            tx.plan_digest(due.org_id, due.membership_id, Some(due.due_at), None)
                .await?;
            pass.skipped += 1;
            return Ok(());
        };
        let (period, slot) = current_slot(prefs.frequency, tz, now);
        // Moving the plan on is what claims this membership's turn: an instance that finds
        // it moved already (another instance, or new settings) does nothing.
        let next = next_slot(prefs.frequency, tz, now);
        if !tx
            .plan_digest(m.org_id, m.id, Some(due.due_at), Some(next))
            .await?
        {
            pass.skipped += 1;
            return Ok(());
        }
        if slot > now {
            // Cannot happen (the plan came from the same rules), but never send early.
            pass.skipped += 1;
            return Ok(());
        }
        let mut record = DigestRecord {
            membership_id: m.id,
            org_id: m.org_id,
            period,
            task_count: 0,
            outbox_id: None,
            created_at: now,
        };
        if prefs.categories.as_ref().is_some_and(|c| c.is_empty()) {
            // No category chosen: no emails (seed 002), and nothing to record.
            pass.empty += 1;
            return Ok(());
        }
        let customers = digest_customers(self, &mut *tx, &m).await?;
        let (tasks, total) = tx
            .digest_tasks(
                m.org_id,
                m.id,
                prefs.categories.as_ref(),
                &customers,
                DIGEST_MAX_TASKS,
            )
            .await?;
        record.task_count = u32::try_from(total).unwrap_or(u32::MAX);
        if tasks.is_empty() {
            // Nothing to list: no email. The plan has moved on, so nothing repeats.
            pass.empty += 1;
            return Ok(());
        }
        let labels = tx.task_categories(m.org_id).await?;
        let label = |key: &str| {
            labels
                .iter()
                .find(|c| c.key == key)
                .map_or_else(|| key.to_owned(), |c| c.label.clone())
        };
        let period_start = record
            .period
            .split_once(':')
            .map(|(_, day)| day.to_owned())
            .unwrap_or_default();
        let notice = Notice::Digest {
            org_name: org.name.as_str().to_owned(),
            frequency: prefs.frequency.as_str().to_owned(),
            period_start,
            more: total.saturating_sub(tasks.len() as u64),
            tasks: tasks
                .into_iter()
                .map(|t| DigestLine {
                    category: label(&t.task.category),
                    title: t.task.title,
                    url: t.task.url,
                    customer: t.customer_name,
                })
                .collect(),
            link: self.links.org(&org.slug),
        };
        let message = OutboxMessage::new(Some(org.id), identity.email, notice, now);
        record.outbox_id = Some(message.id);
        if !tx.record_digest(&record).await? {
            // Another instance (or an earlier run) handled this period.
            pass.skipped += 1;
            return Ok(());
        }
        tx.enqueue_outbox(&message).await?;
        pass.queued += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_slots_are_eight_local() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // 06:59 UTC on 23 Nov is 07:59 in Paris (UTC+1): the slot is the day before.
        let (period, slot) =
            current_slot(DigestFrequency::Daily, paris, utc("2026-11-23T06:59:00Z"));
        assert_eq!(period, "daily:2026-11-22");
        assert_eq!(slot, utc("2026-11-22T07:00:00Z"));
        assert_eq!(
            next_slot(DigestFrequency::Daily, paris, utc("2026-11-23T06:59:00Z")),
            utc("2026-11-23T07:00:00Z")
        );
        let (period, _) = current_slot(DigestFrequency::Daily, paris, utc("2026-11-23T07:00:00Z"));
        assert_eq!(period, "daily:2026-11-23");
        assert_eq!(
            next_slot(DigestFrequency::Daily, paris, utc("2026-11-23T07:00:00Z")),
            utc("2026-11-24T07:00:00Z")
        );
    }

    #[test]
    fn weekly_slots_are_monday_eight_local_across_dst() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // Paris leaves summer time on Sunday 25 October 2026: Monday the 19th is 06:00 UTC,
        // Monday the 26th is 07:00 UTC.
        assert_eq!(
            next_slot(DigestFrequency::Weekly, paris, utc("2026-10-19T06:00:00Z")),
            utc("2026-10-26T07:00:00Z")
        );
        let (period, slot) =
            current_slot(DigestFrequency::Weekly, paris, utc("2026-10-28T12:00:00Z"));
        assert_eq!(
            (period.as_str(), slot),
            ("weekly:2026-10-26", utc("2026-10-26T07:00:00Z"))
        );
        // Los Angeles leaves it on Sunday 1 November: 15:00 UTC, then 16:00 UTC.
        assert_eq!(
            next_slot(DigestFrequency::Weekly, la, utc("2026-10-26T15:00:00Z")),
            utc("2026-11-02T16:00:00Z")
        );
        // Sunday evening in Los Angeles is Monday in UTC, but the week has not started there.
        let (period, _) = current_slot(DigestFrequency::Weekly, la, utc("2026-11-02T05:00:00Z"));
        assert_eq!(period, "weekly:2026-10-26");
        // Spring forward: 9 March 2026 in Los Angeles is the first Monday of summer time.
        assert_eq!(
            next_slot(DigestFrequency::Weekly, la, utc("2026-03-03T00:00:00Z")),
            utc("2026-03-09T15:00:00Z")
        );
    }

    #[test]
    fn zones_fall_back_from_the_person_to_the_organization_to_utc() {
        assert_eq!(zone_of(Some("Asia/Tokyo"), "Europe/Paris"), Tz::Asia__Tokyo);
        assert_eq!(zone_of(None, "Europe/Paris"), Tz::Europe__Paris);
        assert_eq!(zone_of(Some("Mars/Olympus"), "nowhere"), Tz::UTC);
    }
}
