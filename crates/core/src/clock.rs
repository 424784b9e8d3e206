//! The clock port. Use cases never read the system time themselves, so tests can move time
//! (a 72-hour invitation expiry, a 30-second cooldown) without sleeping.

use chrono::{DateTime, Duration, DurationRound, Utc};
use std::sync::{Arc, Mutex};

/// A point in time as Roster stores it: UTC, truncated to milliseconds so that every backend
/// round-trips it exactly.
pub type Timestamp = DateTime<Utc>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Truncates to whole milliseconds (what both stores keep).
/// Whole seconds from `now` until `until`, rounded up and at least 1: what a `Retry-After`
/// says ("wait 1 s" when 200 ms remain, never "wait 0 s").
pub fn seconds_until(until: Timestamp, now: Timestamp) -> u64 {
    let ms = (until - now).num_milliseconds();
    u64::try_from(ms.saturating_add(999) / 1000)
        .unwrap_or(0)
        .max(1)
}

pub fn truncate_ms(t: Timestamp) -> Timestamp {
    t.duration_trunc(Duration::milliseconds(1)).unwrap_or(t)
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_ms(Utc::now())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(truncate_ms(start))),
        }
    }

    /// Starts at the current system time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = truncate_ms(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_now();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::hours(72));
        assert_eq!(clock.now() - t0, Duration::hours(72));
    }

    #[test]
    fn system_clock_is_millisecond_precise() {
        let t = SystemClock.now();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = chrono::Utc::now();
        assert_eq!(seconds_until(now + Duration::milliseconds(200), now), 1);
        assert_eq!(seconds_until(now + Duration::seconds(30), now), 30);
        assert_eq!(seconds_until(now + Duration::milliseconds(29_001), now), 30);
        assert_eq!(seconds_until(now - Duration::seconds(5), now), 1);
    }
}
