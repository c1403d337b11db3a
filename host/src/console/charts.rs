//! The delivery charts, drawn by the server as inline SVG: stacked bars of
//! outcomes per hour (24 h) or per six hours (7 d), a line chart of the
//! receiver's p50/p99 answer times, and each webhook's 24-hour sparkline
//! in the list. This file computes the shapes (positions in the SVG's
//! own units); `templates/console/charts.html` and `webhooks.html` draw
//! them. Nothing runs in the browser: every number is also in a text
//! summary and a table under the chart, and each bar and point carries a
//! `<title>` (a tooltip without script) and `data-` attributes with its
//! figures. Colours come from `style.css` (the Okabe–Ito palette, told
//! apart with colour blindness); the p99 line is dashed as well.

use askama::Template;
use chrono::{DateTime, Utc};

use crate::clock::Millis;
use crate::hub::stats::{Bar, Series, Window};

/// The SVG's size in its own units (it scales to the page's width).
const WIDTH: f64 = 720.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;
const BARS_HEIGHT: f64 = 220.0;
const LINES_HEIGHT: f64 = 180.0;

/// One coloured part of a stacked bar.
pub struct Segment {
    pub outcome: &'static str,
    pub count: i64,
    pub y: String,
    pub height: String,
}

pub struct BarShape {
    pub x: String,
    pub width: String,
    /// RFC 3339 start, for `data-start`.
    pub start: String,
    pub total: i64,
    /// "14:00–15:00 UTC: 5 succeeded, 1 retried".
    pub title: String,
    pub segments: Vec<Segment>,
}

pub struct Tick {
    pub at: String,
    pub label: String,
}

pub struct Point {
    pub x: String,
    pub y: String,
    pub ms: String,
    pub title: String,
}

/// A percentile's line: its runs (broken where a bar had no answer) and points.
pub struct Line {
    pub runs: Vec<String>,
    pub points: Vec<Point>,
}

/// A row of the table under the charts.
pub struct TableRow {
    pub span: String,
    pub succeeded: i64,
    pub retried: i64,
    pub failed: i64,
    pub filtered: i64,
    pub plugin_failed: i64,
    pub p50: String,
    pub p99: String,
}

/// Both charts of one window, with their text.
#[derive(Template)]
#[template(path = "console/charts.html")]
pub struct Charts {
    /// `24h` or `7d`, for ids.
    pub window: &'static str,
    pub heading: &'static str,
    pub per: &'static str,
    pub summary: String,
    pub latency_summary: String,
    pub width: f64,
    pub bars_height: f64,
    pub lines_height: f64,
    pub left: f64,
    pub top: f64,
    pub plot_width: String,
    pub bars_plot_height: String,
    pub lines_plot_height: String,
    /// The count at the top of the bars' axis, and at the lines' (ms).
    pub y_max: i64,
    pub ms_max: i64,
    pub y_ticks: Vec<Tick>,
    pub ms_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub bars_axis_y: String,
    pub lines_axis_y: String,
    pub bars_label_y: String,
    pub lines_label_y: String,
    pub bars: Vec<BarShape>,
    pub p50: Line,
    pub p99: Line,
    pub rows: Vec<TableRow>,
    pub outcomes: [(&'static str, &'static str); 5],
}

/// The outcomes in stacking order, with the legend's words.
pub const OUTCOMES: [(&str, &str); 5] = [
    ("succeeded", "succeeded"),
    ("retried", "retried"),
    ("failed", "failed (dropped)"),
    ("filtered", "filtered"),
    ("plugin_failed", "plugin failed"),
];

fn num(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The smallest 1, 2 or 5 × 10ⁿ step that covers `max` in at most four
/// steps; answers (top of the axis, step).
pub fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let mut magnitude = 1.0;
    while magnitude * 10.0 <= max / 4.0 {
        magnitude *= 10.0;
    }
    while magnitude > max / 4.0 && magnitude > 1.0 {
        magnitude /= 10.0;
    }
    for m in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
        let step = magnitude * m;
        let top = (max / step).ceil() * step;
        if top / step <= 4.0 {
            return (top, step);
        }
    }
    let step = magnitude * 100.0;
    ((max / step).ceil() * step, step)
}

fn utc(ms: Millis) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// "12 May 14:00–15:00 UTC": a bar's span.
fn span(window: Window, start: Millis) -> String {
    let end = start + window.bar_hours() * 3_600_000;
    format!(
        "{}–{} UTC",
        utc(start).format("%d %b %H:00"),
        utc(end).format("%H:00")
    )
}

fn ms_text(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

fn describe(b: &Bar) -> String {
    let parts: Vec<String> = b
        .outcomes
        .named()
        .iter()
        .zip(OUTCOMES)
        .filter(|((_, n), _)| *n > 0)
        .map(|((_, n), (_, words))| format!("{n} {words}"))
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(", ")
    }
}

impl Charts {
    pub fn new(s: &Series) -> Charts {
        let window = s.window;
        let plot_w = WIDTH - LEFT - RIGHT;
        let bars_h = BARS_HEIGHT - TOP - BOTTOM;
        let lines_h = LINES_HEIGHT - TOP - BOTTOM;
        let n = s.bars.len().max(1) as f64;
        let slot = plot_w / n;
        let max_total = s.bars.iter().map(|b| b.outcomes.total()).max().unwrap_or(0);
        let (y_max, y_step) = nice_axis(max_total as f64);
        let scale = bars_h / y_max;
        let bars: Vec<BarShape> = s
            .bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut below = 0.0;
                let segments = b
                    .outcomes
                    .named()
                    .iter()
                    .filter(|(_, c)| *c > 0)
                    .map(|(outcome, count)| {
                        let height = *count as f64 * scale;
                        below += height;
                        Segment {
                            outcome,
                            count: *count,
                            y: num(TOP + bars_h - below),
                            height: num(height),
                        }
                    })
                    .collect();
                BarShape {
                    x: num(LEFT + slot * i as f64 + slot * 0.1),
                    width: num(slot * 0.8),
                    start: crate::clock::rfc3339(b.start),
                    total: b.outcomes.total(),
                    title: format!("{}: {}", span(window, b.start), describe(b)),
                    segments,
                }
            })
            .collect();
        let y_ticks = (0..=((y_max / y_step).round() as i64))
            .map(|k| {
                let v = k as f64 * y_step;
                Tick {
                    at: num(TOP + bars_h - v * scale),
                    label: num(v),
                }
            })
            .collect();
        // A label every 3 hours (24 h) or at each day's start (7 d).
        let every = match window {
            Window::Day => 3,
            Window::Week => 4,
        };
        let x_ticks = s
            .bars
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                let t = utc(b.start);
                match window {
                    Window::Day => {
                        t.format("%H").to_string().parse::<u32>().unwrap_or(0) % every == 0
                    }
                    Window::Week => t.format("%H").to_string() == "00",
                }
            })
            .map(|(i, b)| Tick {
                at: num(LEFT + slot * i as f64),
                label: match window {
                    Window::Day => utc(b.start).format("%H:00").to_string(),
                    Window::Week => utc(b.start).format("%d %b").to_string(),
                },
            })
            .collect();

        let max_ms = s.bars.iter().filter_map(Bar::p99).fold(0.0, f64::max);
        let (ms_max, ms_step) = nice_axis(max_ms);
        let ms_scale = lines_h / ms_max;
        let line = |pick: fn(&Bar) -> Option<f64>, name: &str| {
            let mut runs = Vec::new();
            let mut run: Vec<String> = Vec::new();
            let mut points = Vec::new();
            for (i, b) in s.bars.iter().enumerate() {
                match pick(b) {
                    Some(v) => {
                        let x = num(LEFT + slot * (i as f64 + 0.5));
                        let y = num(TOP + lines_h - v * ms_scale);
                        run.push(format!("{x},{y}"));
                        points.push(Point {
                            x,
                            y,
                            ms: format!("{v:.1}"),
                            title: format!(
                                "{}: {name} {}",
                                span(window, b.start),
                                ms_text(Some(v))
                            ),
                        });
                    }
                    None if !run.is_empty() => runs.push(std::mem::take(&mut run).join(" ")),
                    None => {}
                }
            }
            if !run.is_empty() {
                runs.push(run.join(" "));
            }
            Line { runs, points }
        };
        let p50 = line(Bar::p50, "p50");
        let p99 = line(Bar::p99, "p99");
        let ms_ticks = (0..=((ms_max / ms_step).round() as i64))
            .map(|k| {
                let v = k as f64 * ms_step;
                Tick {
                    at: num(TOP + lines_h - v * ms_scale),
                    label: num(v),
                }
            })
            .collect();

        let t = &s.total;
        let summary = if t.outcomes.total() == 0 {
            "Nothing was delivered in this window.".to_string()
        } else {
            let busiest = s
                .bars
                .iter()
                .max_by_key(|b| (b.outcomes.total(), std::cmp::Reverse(b.start)))
                .expect("a window has bars");
            format!(
                "{} in all: {}. Busiest: {} with {}.",
                t.outcomes.total(),
                describe(t),
                span(window, busiest.start),
                busiest.outcomes.total()
            )
        };
        let latency_summary = if t.latency.is_empty() {
            "No answers from the receiver in this window.".to_string()
        } else {
            format!(
                "Over the window, {} answers: p50 {}, p99 {}.",
                t.latency.count(),
                ms_text(t.p50()),
                ms_text(t.p99())
            )
        };
        let rows = s
            .bars
            .iter()
            .rev()
            .filter(|b| b.outcomes.total() > 0)
            .map(|b| TableRow {
                span: span(window, b.start),
                succeeded: b.outcomes.succeeded,
                retried: b.outcomes.retried,
                failed: b.outcomes.failed,
                filtered: b.outcomes.filtered,
                plugin_failed: b.outcomes.plugin_failed,
                p50: ms_text(b.p50()),
                p99: ms_text(b.p99()),
            })
            .collect();
        let (heading, per) = match window {
            Window::Day => ("Last 24 hours", "per hour"),
            Window::Week => ("Last 7 days", "per 6 hours"),
        };
        Charts {
            window: window.as_str(),
            heading,
            per,
            summary,
            latency_summary,
            width: WIDTH,
            bars_height: BARS_HEIGHT,
            lines_height: LINES_HEIGHT,
            left: LEFT,
            top: TOP,
            plot_width: num(plot_w),
            bars_plot_height: num(bars_h),
            lines_plot_height: num(lines_h),
            y_max: y_max as i64,
            ms_max: ms_max as i64,
            y_ticks,
            ms_ticks,
            x_ticks,
            bars_axis_y: num(TOP + bars_h),
            lines_axis_y: num(TOP + lines_h),
            bars_label_y: num(BARS_HEIGHT - 6.0),
            lines_label_y: num(LINES_HEIGHT - 6.0),
            bars,
            p50,
            p99,
            rows,
            outcomes: OUTCOMES,
        }
    }
}

/// A webhook's 24-hour trend in the list: a bar per hour, its failures
/// (retried, dropped, plugin failed) drawn over it in the failure colour.
pub struct Sparkline {
    pub label: String,
    pub total: i64,
    pub bars: Vec<SparkBar>,
}

pub struct SparkBar {
    pub x: String,
    pub y: String,
    pub height: String,
    pub bad_y: String,
    pub bad_height: String,
    pub total: i64,
    pub bad: i64,
}

/// The sparkline's size in its own units.
pub const SPARK_WIDTH: f64 = 96.0;
pub const SPARK_HEIGHT: f64 = 24.0;

impl Sparkline {
    pub fn new(bars: &[Bar]) -> Sparkline {
        let max = bars
            .iter()
            .map(|b| b.outcomes.total())
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let slot = SPARK_WIDTH / bars.len().max(1) as f64;
        let total: i64 = bars.iter().map(|b| b.outcomes.total()).sum();
        let bad: i64 = bars.iter().map(|b| b.outcomes.bad()).sum();
        let shapes = bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let h = b.outcomes.total() as f64 / max * (SPARK_HEIGHT - 1.0);
                let bh = b.outcomes.bad() as f64 / max * (SPARK_HEIGHT - 1.0);
                SparkBar {
                    x: num(slot * i as f64 + slot * 0.1),
                    y: num(SPARK_HEIGHT - h),
                    height: num(h),
                    bad_y: num(SPARK_HEIGHT - bh),
                    bad_height: num(bh),
                    total: b.outcomes.total(),
                    bad: b.outcomes.bad(),
                }
            })
            .collect();
        Sparkline {
            label: if total == 0 {
                "no deliveries in the last 24 hours".into()
            } else {
                format!("{total} in the last 24 hours, {bad} failed or retried")
            },
            total,
            bars: shapes,
        }
    }

    pub fn bar_width(&self) -> String {
        num(SPARK_WIDTH / self.bars.len().max(1) as f64 * 0.8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_a_round_number_in_at_most_four_steps() {
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert_eq!(nice_axis(1.0), (1.0, 1.0));
        assert_eq!(nice_axis(3.0), (3.0, 1.0));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(13.0), (15.0, 5.0));
        assert_eq!(nice_axis(380.0), (400.0, 100.0));
        assert_eq!(nice_axis(1234.0), (1500.0, 500.0));
        for max in [0.4, 2.5, 9.0, 41.0, 99.0, 101.0, 5_000.0, 49_999.0] {
            let (top, step) = nice_axis(max);
            assert!(
                top >= max && top / step <= 4.0 + 1e-9,
                "{max}: {top} {step}"
            );
        }
    }
}
