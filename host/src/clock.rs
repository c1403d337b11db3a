//! Time, injected. Nothing in ScaiHub reads the wall clock directly: the
//! server takes a [`Clock`], so tests can run a 31-hour retry schedule in
//! milliseconds with [`ManualClock`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

/// Milliseconds since the Unix epoch, the unit every stored time uses.
pub type Millis = i64;

/// A source of the current time and of timers that follow it.
pub trait Clock: Send + Sync + 'static {
    /// The current time in milliseconds since the epoch.
    fn now_ms(&self) -> Millis;

    /// Resolves once [`Clock::now_ms`] has reached `deadline`.
    fn sleep_until(&self, deadline: Millis) -> futures_util::future::BoxFuture<'static, ()>;
}

/// A shareable clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        Utc::now().timestamp_millis()
    }

    fn sleep_until(&self, deadline: Millis) -> futures_util::future::BoxFuture<'static, ()> {
        let wait = (deadline - self.now_ms()).max(0) as u64;
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

/// A clock that only moves when a test tells it to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Millis>>,
    // Sleepers watch this channel and re-check their deadline on each change.
    tick: watch::Sender<Millis>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Millis) -> Self {
        let (tick, _) = watch::channel(start);
        ManualClock {
            now: Arc::new(Mutex::new(start)),
            tick,
        }
    }

    /// A clock standing at a fixed, realistic date.
    pub fn at_fixed_date() -> Self {
        Self::new(
            Utc.with_ymd_and_hms(2026, 5, 12, 14, 0, 0)
                .unwrap()
                .timestamp_millis(),
        )
    }

    /// Moves the clock forward and wakes every sleeper whose deadline passed.
    pub fn advance(&self, by: Duration) {
        let now = {
            let mut now = self.now.lock().expect("clock lock");
            *now += by.as_millis() as Millis;
            *now
        };
        self.tick.send_replace(now);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        *self.now.lock().expect("clock lock")
    }

    fn sleep_until(&self, deadline: Millis) -> futures_util::future::BoxFuture<'static, ()> {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= deadline {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The clock is gone; nothing will ever wake us.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// Formats stored milliseconds as RFC 3339 UTC with a `Z` suffix.
pub fn rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 timestamp into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced_past_deadline() {
        let clock = ManualClock::new(1_000);
        let sleeper = tokio::spawn(clock.sleep_until(61_000));
        clock.advance(Duration::from_secs(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(30));
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn rfc3339_round_trips() {
        let ms = parse_rfc3339("2026-05-12T14:23:01Z").unwrap();
        assert_eq!(rfc3339(ms), "2026-05-12T14:23:01Z");
    }
}
