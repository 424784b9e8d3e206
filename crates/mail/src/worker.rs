//! The outbox worker: claims due messages with a lease, delivers them, records them sent
//! (what has gathered, in one transaction), and on failure retries with exponential backoff
//! and jitter until it gives up.
//!
//! Safe with several workers (and several Roster instances): a claim leases each message to
//! one worker, and a worker that dies only delays its messages until the lease runs out.

use crate::render::{build_message, MessageSettings, RenderError};
use crate::transport::Transport;
use chrono::Duration;
use roster_core::clock::Clock;
use roster_core::model::OutboxMessage;
use roster_core::secrets::random_bytes;
use roster_core::store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub batch: u32,
    /// How long a claimed message belongs to this worker.
    pub lease: Duration,
    /// Attempts before a message is marked failed for good.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubles each time, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Pause between polls when the outbox is empty.
    pub idle_poll: std::time::Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 20,
            lease: Duration::minutes(5),
            max_attempts: 10,
            first_backoff: Duration::seconds(30),
            max_backoff: Duration::hours(1),
            idle_poll: std::time::Duration::from_secs(2),
        }
    }
}

/// What became of one delivery: `Err((error, retryable))` when the message did not go.
type Outcome = Result<(), (String, bool)>;

pub struct OutboxWorker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    transport: Transport,
    message: MessageSettings,
    settings: WorkerSettings,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        transport: Transport,
        message: MessageSettings,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            store,
            clock,
            transport,
            message,
            settings,
        }
    }

    /// Claims and delivers one batch.
    ///
    /// Deliveries and records run side by side: each outcome goes to a recorder as soon as
    /// it is known, and the recorder writes whatever has gathered meanwhile in one
    /// transaction. On SQLite every commit waits for the disk and holds the only write lock
    /// that invitations and resets queue behind, so a batch of quick deliveries (a local
    /// relay, the file or log transport) costs one or two commits rather than one each,
    /// while a slow one is recorded message by message, as before: an outcome waits for
    /// no later delivery, however long that one hangs, so it is never written after its
    /// lease has passed to another worker, and a crash resends at most what was delivered
    /// in the last commit's time. If recording fails, delivering stops.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        self.pass(None).await
    }

    /// [`Self::run_once`], delivering no further message once `stop` turns true. What the
    /// pass claimed and did not reach is given back ([`Tx::release_outbox`]), due at once:
    /// a restart delays no email by the lease's five minutes.
    ///
    /// [`Tx::release_outbox`]: roster_core::store::Tx::release_outbox
    pub async fn run_once_until(&self, stop: &watch::Receiver<bool>) -> Result<Pass, StoreError> {
        self.pass(Some(stop)).await
    }

    async fn pass(&self, stop: Option<&watch::Receiver<bool>>) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let claimed = tx
            .claim_outbox(now, now + self.settings.lease, self.settings.batch)
            .await?;
        tx.commit().await?;
        let (outcomes, mut delivered) = mpsc::unbounded_channel();
        let deliveries = async move {
            let mut claimed = claimed.into_iter();
            for message in claimed.by_ref() {
                if stop.is_some_and(|s| *s.borrow()) {
                    // Not reached: back to the outbox, this one included.
                    return Ok(std::iter::once(message).chain(claimed).collect());
                }
                let outcome = self.deliver(&message).await;
                // The recorder stops only when a record failed, and then so do we; the
                // store is failing, so the rest wait for their lease to run out.
                if outcomes.send((message, outcome)).is_err() {
                    break;
                }
            }
            Ok::<Vec<OutboxMessage>, StoreError>(Vec::new())
        };
        let records = async {
            let mut pass = Pass::default();
            let mut gathered = Vec::new();
            while let Some(first) = delivered.recv().await {
                gathered.push(first);
                while let Ok(more) = delivered.try_recv() {
                    gathered.push(more);
                }
                if let Err(e) = self.record(&mut gathered, &mut pass).await {
                    delivered.close();
                    return Err(e);
                }
            }
            Ok(pass)
        };
        let (unreached, pass) = tokio::try_join!(deliveries, records)?;
        self.release(&unreached).await?;
        Ok(pass)
    }

    /// Gives back messages this worker claimed and will not deliver.
    async fn release(&self, unreached: &[OutboxMessage]) -> Result<(), StoreError> {
        if unreached.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        for message in unreached {
            if let Some(lease) = message.lease_until {
                tx.release_outbox(message.id, lease).await?;
            }
        }
        tx.commit().await?;
        tracing::info!(
            messages = unreached.len(),
            "outbox worker stopping; gave back the emails it had not sent"
        );
        Ok(())
    }

    /// Builds and sends one message.
    async fn deliver(&self, message: &OutboxMessage) -> Outcome {
        let outcome = match build_message(message, &self.message) {
            Ok(email) => self
                .transport
                .deliver(message.id, &email)
                .await
                .map_err(|e| (e.0, true)),
            // A message that cannot be built will not build next time either.
            Err(e @ (RenderError::Address(_) | RenderError::NoContent | RenderError::Build(_))) => {
                Err((e.to_string(), false))
            }
            Err(e) => Err((e.to_string(), true)),
        };
        // Errors come from mail servers and libraries; keep them printable and bounded
        // (PostgreSQL text refuses NUL bytes).
        outcome.map_err(|(error, retryable)| (clean_error(&error), retryable))
    }

    /// Records the outcomes in `delivered` in one transaction, and empties it.
    async fn record(
        &self,
        delivered: &mut Vec<(OutboxMessage, Outcome)>,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        if delivered.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        for (message, outcome) in delivered.drain(..) {
            // Every claimed message carries the lease this worker holds.
            let Some(lease) = message.lease_until else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    if !tx.outbox_sent(message.id, lease, now).await? {
                        tracing::warn!(outbox_id = %message.id, "lease lost before the send was recorded; another worker owns the message");
                        continue;
                    }
                    pass.sent += 1;
                    tracing::info!(outbox_id = %message.id, kind = %message.kind, "email sent");
                }
                Err((error, retryable)) => {
                    let next = (retryable && message.attempts < self.settings.max_attempts)
                        .then(|| now + self.backoff(message.attempts));
                    let scrub = message
                        .notice
                        .as_ref()
                        .is_some_and(|n| n.holds_live_token());
                    if !tx
                        .outbox_failed(message.id, lease, &error, next, scrub)
                        .await?
                    {
                        tracing::warn!(outbox_id = %message.id, "lease lost before the failure was recorded; another worker owns the message");
                        continue;
                    }
                    if next.is_some() {
                        pass.retried += 1;
                        tracing::warn!(outbox_id = %message.id, attempt = message.attempts, %error, "email delivery failed; will retry");
                    } else {
                        pass.failed += 1;
                        tracing::error!(outbox_id = %message.id, attempt = message.attempts, %error, "email delivery failed for good");
                    }
                }
            }
        }
        tx.commit().await
    }

    /// Exponential backoff with up to 20 % jitter, so retries of many messages spread out.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let base = self
            .settings
            .first_backoff
            .checked_mul(1 << exp)
            .unwrap_or(self.settings.max_backoff)
            .min(self.settings.max_backoff);
        let mut b = [0u8; 2];
        let jitter_permille = if random_bytes(&mut b).is_ok() {
            i32::from(u16::from_le_bytes(b) % 200)
        } else {
            0
        };
        base + base * jitter_permille / 1000
    }

    /// Runs until `shutdown` turns true. A pass in progress finishes its current message,
    /// records what it delivered and gives back what it had claimed but not reached.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let idle = match self.pass(Some(&shutdown)).await {
                Ok(pass) => pass == Pass::default(),
                Err(e) => {
                    tracing::error!(error = %e, "outbox pass failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.idle_poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!("outbox worker stopped");
    }
}

/// An error message fit to store: control characters replaced, at most 1,000 characters.
fn clean_error(error: &str) -> String {
    error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_errors_are_printable_and_bounded() {
        assert_eq!(
            super::clean_error("550\0 no\r\nsuch user"),
            "550  no  such user"
        );
        assert_eq!(super::clean_error(&"x".repeat(5000)).len(), 1000);
    }
}
