//! Delivery statistics over a window: a webhook's outcomes and answer
//! times per bar (an hour over 24 hours, six hours over 7 days), as the
//! console's charts draw them and `GET …/webhooks/{id}/stats` answers
//! them; and the small 24-hour trend of each webhook in a list.
//!
//! Bars are aligned to UTC hours (a 7-day bar starts at 00, 06, 12 or
//! 18 h UTC); the last bar is the one `now` falls in, still filling.
//! Read from the hourly buckets (`storage/charts.rs`), so the cost is at
//! most 168 small rows per webhook whatever the traffic.

use std::collections::HashMap;

use super::{Hub, HubError, HubResult};
use crate::clock::Millis;
use crate::domain::FieldError;
use crate::domain::latency::Histogram;
use crate::storage::charts::HourCounts;
use crate::storage::health::HOUR_MS;

/// The span a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last 24 hours, one bar per hour.
    Day,
    /// The last 7 days, one bar per 6 hours.
    Week,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, FieldError> {
        match text {
            "24h" => Ok(Window::Day),
            "7d" => Ok(Window::Week),
            _ => Err(FieldError::new("window", "must be 24h or 7d")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    /// Hours per bar.
    pub fn bar_hours(self) -> i64 {
        match self {
            Window::Day => 1,
            Window::Week => 6,
        }
    }

    /// Bars in the window.
    pub fn bars(self) -> usize {
        match self {
            Window::Day => 24,
            Window::Week => 28,
        }
    }

    /// The first hour of the first bar, for a window ending at `now`.
    pub fn first_hour(self, now: Millis) -> i64 {
        let hour = now.div_euclid(HOUR_MS);
        let last_bar = hour - hour.rem_euclid(self.bar_hours());
        last_bar - (self.bars() as i64 - 1) * self.bar_hours()
    }
}

/// Outcome counts of a bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub succeeded: i64,
    pub retried: i64,
    pub failed: i64,
    pub filtered: i64,
    pub plugin_failed: i64,
}

impl Outcomes {
    /// The outcomes in stacking order, with their names as the API spells them.
    pub fn named(&self) -> [(&'static str, i64); 5] {
        [
            ("succeeded", self.succeeded),
            ("retried", self.retried),
            ("failed", self.failed),
            ("filtered", self.filtered),
            ("plugin_failed", self.plugin_failed),
        ]
    }

    pub fn total(&self) -> i64 {
        self.named().iter().map(|(_, n)| n).sum()
    }

    /// What went wrong: retried and failed attempts, plugin failures.
    pub fn bad(&self) -> i64 {
        self.retried + self.failed + self.plugin_failed
    }

    fn add(&mut self, h: &HourCounts) {
        self.succeeded += h.succeeded;
        self.retried += h.retried;
        self.failed += h.failed;
        self.filtered += h.filtered;
        self.plugin_failed += h.plugin_failed;
    }
}

/// One bar of a chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bar {
    /// When the bar's span starts (UTC milliseconds).
    pub start: Millis,
    pub outcomes: Outcomes,
    pub latency: Histogram,
}

impl Bar {
    pub fn p50(&self) -> Option<f64> {
        self.latency.quantile(0.5)
    }

    pub fn p99(&self) -> Option<f64> {
        self.latency.quantile(0.99)
    }
}

/// A webhook's statistics over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub window: Window,
    /// The start of the first bar, and the moment the series was read.
    pub from: Millis,
    pub until: Millis,
    pub bars: Vec<Bar>,
    /// The whole window in one.
    pub total: Bar,
}

/// Sums hourly counts (of one webhook) into `bars` bars of `bar_hours`
/// hours from `first_hour`; hours outside are ignored.
fn into_bars(rows: &[HourCounts], first_hour: i64, bar_hours: i64, bars: usize) -> Vec<Bar> {
    let mut out: Vec<Bar> = (0..bars)
        .map(|i| Bar {
            start: (first_hour + i as i64 * bar_hours) * HOUR_MS,
            ..Bar::default()
        })
        .collect();
    for r in rows {
        let i = (r.hour - first_hour).div_euclid(bar_hours);
        if let Some(bar) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            bar.outcomes.add(r);
            bar.latency.add(&r.latency);
        }
    }
    out
}

impl Hub {
    /// A webhook's statistics over `window` ending now; 404 for a webhook
    /// not of the organisation.
    pub async fn webhook_stats(
        &self,
        org_id: &str,
        webhook_id: &str,
        window: Window,
    ) -> HubResult<Series> {
        if self.store.get_webhook(org_id, webhook_id).await?.is_none() {
            return Err(HubError::NotFound("webhook"));
        }
        let now = self.now();
        let first = window.first_hour(now);
        let rows = self
            .store
            .webhook_hour_counts(org_id, &[webhook_id.to_string()], first)
            .await?;
        let bars = into_bars(&rows, first, window.bar_hours(), window.bars());
        let mut total = Bar {
            start: first * HOUR_MS,
            ..Bar::default()
        };
        for r in &rows {
            total.outcomes.add(r);
            total.latency.add(&r.latency);
        }
        Ok(Series {
            window,
            from: first * HOUR_MS,
            until: now,
            bars,
            total,
        })
    }

    /// The last 24 hours of each of some of the organisation's webhooks,
    /// hour by hour (one read for the whole list).
    pub async fn webhook_trends(
        &self,
        org_id: &str,
        webhook_ids: &[String],
    ) -> HubResult<HashMap<String, Vec<Bar>>> {
        let window = Window::Day;
        let first = window.first_hour(self.now());
        let rows = self
            .store
            .webhook_hour_counts(org_id, webhook_ids, first)
            .await?;
        let mut per: HashMap<&str, Vec<HourCounts>> = HashMap::new();
        for r in rows {
            if let Some(id) = webhook_ids.iter().find(|id| **id == r.webhook_id) {
                per.entry(id.as_str()).or_default().push(r);
            }
        }
        Ok(webhook_ids
            .iter()
            .map(|id| {
                let rows = per.remove(id.as_str()).unwrap_or_default();
                (
                    id.clone(),
                    into_bars(&rows, first, window.bar_hours(), window.bars()),
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = HOUR_MS;

    #[test]
    fn windows_end_with_the_bar_now_falls_in() {
        // 2026-05-12 14:20 UTC.
        let now = 494_054 * H + 20 * 60_000;
        assert_eq!(Window::Day.first_hour(now), 494_054 - 23);
        // 494,054 h is 14:00 UTC; the 6-hour bar holding it starts at 12:00.
        assert_eq!(494_054 % 24, 14);
        assert_eq!(Window::Week.first_hour(now), 494_052 - 27 * 6);
        assert_eq!(Window::parse("7d"), Ok(Window::Week));
        assert_eq!(Window::parse("1h").unwrap_err().field, "window");
    }

    #[test]
    fn hours_are_summed_into_their_bars() {
        let row = |hour, succeeded, ms: &[i64]| {
            let mut latency = Histogram::default();
            ms.iter().for_each(|m| latency.record(*m));
            HourCounts {
                webhook_id: "whk".into(),
                hour,
                succeeded,
                latency,
                ..HourCounts::default()
            }
        };
        let rows = [
            row(99, 7, &[]),
            row(100, 1, &[10]),
            row(105, 2, &[20, 30]),
            row(106, 4, &[]),
        ];
        let bars = into_bars(&rows, 100, 6, 2);
        assert_eq!(bars[0].start, 100 * H);
        assert_eq!(bars[0].outcomes.succeeded, 3, "hours 100..=105");
        assert_eq!(bars[0].latency.count(), 3);
        assert_eq!(bars[1].outcomes.succeeded, 4);
        assert_eq!(bars[1].p50(), None);
    }
}
