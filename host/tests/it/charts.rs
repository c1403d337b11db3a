//! Delivery charts: real deliveries in known hours (on the manual clock)
//! — successes, failures retried and dropped, a filter plugin skipping
//! some, a plugin failing — counted per hour by the recorder, answered by
//! the stats endpoint on both stores, and drawn on the console's webhook
//! page as SVG that a real headless Chromium shows, with and without
//! JavaScript.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::plugins::upload;
use crate::support::{Backend, Options, Receiver, TestEnv, event};

both!(delivery_stats_count_each_outcome_in_its_hour_and_window);

/// What the scenario delivered, per bar, as the stats endpoint names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub succeeded: i64,
    pub retried: i64,
    pub failed: i64,
    pub filtered: i64,
    pub plugin_failed: i64,
}

impl Counts {
    pub(crate) fn of(bar: &Value) -> Counts {
        let n = |k: &str| bar[k].as_i64().unwrap_or_else(|| panic!("{k} in {bar}"));
        Counts {
            succeeded: n("succeeded"),
            retried: n("retried"),
            failed: n("failed"),
            filtered: n("filtered"),
            plugin_failed: n("plugin_failed"),
        }
    }

    pub(crate) fn get(&self, outcome: &str) -> i64 {
        match outcome {
            "succeeded" => self.succeeded,
            "retried" => self.retried,
            "failed" => self.failed,
            "filtered" => self.filtered,
            "plugin_failed" => self.plugin_failed,
            other => panic!("no outcome {other}"),
        }
    }

    pub(crate) fn total(&self) -> i64 {
        self.succeeded + self.retried + self.failed + self.filtered + self.plugin_failed
    }
}

/// The scenario's webhook and what it expects per hour.
pub(crate) struct Made {
    pub webhook_id: String,
    /// Two days before the rest: 14:00 UTC on 12 May.
    pub old_hour: Counts,
    /// 14:00, 16:00 and 17:00 UTC on 14 May; the clock ends in the last.
    pub hour_a: Counts,
    pub hour_b: Counts,
    pub hour_c: Counts,
}

fn with_role(id: &str, role: &str) -> Value {
    let mut e = event(id, "SHARING", "share.member_added");
    e["payload"]["role"] = json!(role);
    e
}

/// A server whose retry schedule is two steps (three attempts, then dropped).
pub(crate) async fn env(backend: Backend) -> TestEnv {
    TestEnv::with(
        backend,
        Options {
            retry_schedule: vec![Duration::from_secs(30), Duration::from_secs(60)],
            ..Options::default()
        },
    )
    .await
}

/// Makes real deliveries in known hours. The receiver's answer (status and
/// delay) is switched between phases.
pub(crate) async fn make_deliveries(env: &TestEnv) -> (Made, Receiver) {
    let status = Arc::new(AtomicU16::new(200));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (s, d) = (status.clone(), delay_ms.clone());
    let receiver = Receiver::start(move |_| {
        (
            s.load(Ordering::SeqCst),
            Duration::from_millis(d.load(Ordering::SeqCst)),
        )
    })
    .await;
    let filter = upload(
        env,
        &env.org_id,
        "payload_field_filter",
        "role-filter",
        "filter",
    )
    .await;
    let hostile = upload(env, &env.org_id, "hostile_filter", "broken", "filter").await;
    let (id, _) = env
        .webhook_with(
            json!({"name": "Charted", "url": receiver.url("/charted"), "events": ["SHARING"]}),
        )
        .await;
    let settled = |n: usize| {
        move |l: &[Value]| {
            l.len() == n
                && l.iter()
                    .all(|d| d["status"] != "pending" && d["status"] != "retrying")
        }
    };

    // 12 May, 14:00 UTC: four successes.
    env.ingest(json!(
        (0..4)
            .map(|i| with_role(&format!("evt_old_{i}"), "owner"))
            .collect::<Vec<_>>()
    ))
    .await;
    env.wait_deliveries(&id, "the old successes", settled(4))
        .await;

    // Two days later, 14:00 UTC on 14 May (hour A): five successes after
    // 60 ms each, then two deliveries failing three times (503), dropped.
    env.clock.advance(Duration::from_secs(48 * 3600));
    delay_ms.store(60, Ordering::SeqCst);
    env.ingest(json!(
        (0..5)
            .map(|i| with_role(&format!("evt_a_{i}"), "owner"))
            .collect::<Vec<_>>()
    ))
    .await;
    env.wait_deliveries(&id, "hour A's successes", settled(9))
        .await;
    status.store(503, Ordering::SeqCst);
    delay_ms.store(0, Ordering::SeqCst);
    env.ingest(json!([
        with_role("evt_fail_0", "owner"),
        with_role("evt_fail_1", "owner")
    ]))
    .await;
    for attempts in [1, 2] {
        env.wait_deliveries(&id, "a failed attempt", |l| {
            l.iter()
                .filter(|d| {
                    d["event_id"].as_str().unwrap().starts_with("evt_fail")
                        && d["attempt_count"] == attempts
                        && d["status"] == "retrying"
                })
                .count()
                == 2
        })
        .await;
        env.clock
            .advance(Duration::from_secs(if attempts == 1 { 30 } else { 60 }));
    }
    env.wait_deliveries(&id, "the drops", |l| {
        l.iter().filter(|d| d["status"] == "dropped").count() == 2
    })
    .await;

    // 16:00 (hour B): a filter lets contributors through; three answered
    // after 250 ms, two skipped.
    env.clock.advance(Duration::from_secs(2 * 3600));
    status.store(200, Ordering::SeqCst);
    delay_ms.store(250, Ordering::SeqCst);
    let (s, w) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"filter_plugins": [{"plugin_id": filter, "config": {"pointer": "/role", "allowed": ["contributor"]}}]})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    env.ingest(json!([
        with_role("evt_b_0", "contributor"),
        with_role("evt_b_1", "viewer"),
        with_role("evt_b_2", "contributor"),
        with_role("evt_b_3", "viewer"),
        with_role("evt_b_4", "contributor"),
    ]))
    .await;
    env.wait_deliveries(&id, "hour B", settled(16)).await;

    // 17:00 (hour C): a broken filter fails on every delivery.
    env.clock.advance(Duration::from_secs(3600));
    let (s, w) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"filter_plugins": [{"plugin_id": hostile, "config": {"behaviour": "panic"}}]})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    env.ingest(json!([
        with_role("evt_c_0", "owner"),
        with_role("evt_c_1", "owner")
    ]))
    .await;
    let list = env.wait_deliveries(&id, "hour C", settled(18)).await;
    let count = |status: &str| list.iter().filter(|d| d["status"] == status).count();
    assert_eq!(
        (
            count("succeeded"),
            count("dropped"),
            count("filtered"),
            count("plugin_failed")
        ),
        (12, 2, 2, 2),
        "{list:#?}"
    );
    let made = Made {
        webhook_id: id,
        old_hour: Counts {
            succeeded: 4,
            ..Counts::default()
        },
        hour_a: Counts {
            succeeded: 5,
            retried: 4,
            failed: 2,
            ..Counts::default()
        },
        hour_b: Counts {
            succeeded: 3,
            filtered: 2,
            ..Counts::default()
        },
        hour_c: Counts {
            plugin_failed: 2,
            ..Counts::default()
        },
    };
    (made, receiver)
}

pub(crate) async fn stats(env: &TestEnv, id: &str, window: &str) -> Value {
    let (s, body) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/stats?window={window}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

pub(crate) fn bar_at<'a>(stats: &'a Value, start: &str) -> &'a Value {
    stats["bars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["start"] == start)
        .unwrap_or_else(|| panic!("no bar at {start} in {stats}"))
}

async fn delivery_stats_count_each_outcome_in_its_hour_and_window(backend: Backend) {
    let env = env(backend).await;
    let (made, _receiver) = make_deliveries(&env).await;
    let id = &made.webhook_id;
    // Pruning keeps eight days of buckets: the 7-day chart still has 12 May.
    env.hub.prune_expired().await.unwrap();

    let day = stats(&env, id, "24h").await;
    assert_eq!(day["window"], "24h");
    assert_eq!(day["bar_seconds"], 3600);
    assert_eq!(day["from"], "2026-05-13T18:00:00Z", "{day}");
    let bars = day["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 24);
    assert_eq!(
        bars[23]["start"], "2026-05-14T17:00:00Z",
        "the hour now is last"
    );
    let a = bar_at(&day, "2026-05-14T14:00:00Z");
    assert_eq!(Counts::of(a), made.hour_a, "{a}");
    assert_eq!(
        Counts::of(bar_at(&day, "2026-05-14T16:00:00Z")),
        made.hour_b
    );
    assert_eq!(
        Counts::of(bar_at(&day, "2026-05-14T17:00:00Z")),
        made.hour_c
    );
    let others: i64 = bars
        .iter()
        .filter(|b| {
            ![
                "2026-05-14T14:00:00Z",
                "2026-05-14T16:00:00Z",
                "2026-05-14T17:00:00Z",
            ]
            .contains(&b["start"].as_str().unwrap())
        })
        .map(|b| Counts::of(b).total())
        .sum();
    assert_eq!(others, 0, "nothing else in the last day: {day}");
    // Answered: five successes and six 503s in A; the slowest took 60 ms
    // or more, so p99 lies in a bin above 50 ms.
    assert_eq!(a["answered"], 11, "{a}");
    assert!(a["p99_ms"].as_f64().unwrap() > 50.0, "{a}");
    // Every answer of B took 250 ms or more: bins above 200 ms.
    let b = bar_at(&day, "2026-05-14T16:00:00Z");
    assert_eq!(b["answered"], 3, "{b}");
    assert!(b["p50_ms"].as_f64().unwrap() > 200.0, "{b}");
    assert!(b["p50_ms"].as_f64() <= b["p99_ms"].as_f64(), "{b}");
    // A failing plugin reaches no receiver: no answer, no percentile.
    let c = bar_at(&day, "2026-05-14T17:00:00Z");
    assert_eq!(c["answered"], 0, "{c}");
    assert!(c["p50_ms"].is_null() && c["p99_ms"].is_null(), "{c}");
    let total = Counts::of(&day["total"]);
    assert_eq!(
        total,
        Counts {
            succeeded: 8,
            retried: 4,
            failed: 2,
            filtered: 2,
            plugin_failed: 2
        }
    );
    assert_eq!(day["total"]["answered"], 14);

    // Seven days in six-hour bars: 12 May 12:00 holds the old successes,
    // 14 May 12:00 everything since.
    let week = stats(&env, id, "7d").await;
    assert_eq!(week["bar_seconds"], 21600);
    let bars = week["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 28);
    assert_eq!(bars[27]["start"], "2026-05-14T12:00:00Z", "{week}");
    assert_eq!(week["from"], "2026-05-07T18:00:00Z", "{week}");
    assert_eq!(
        Counts::of(bar_at(&week, "2026-05-12T12:00:00Z")),
        made.old_hour
    );
    assert_eq!(Counts::of(&bars[27]), total);
    assert_eq!(Counts::of(&week["total"]).succeeded, 12);

    // Bad input names the field; another webhook id is a 404.
    let (s, err) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/stats?window=30d"),
            None,
        )
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("window")), "{err}");
    let (s, _) = env
        .call("GET", "/v1/orgs/{org}/webhooks/whk_missing/stats", None)
        .await;
    assert_eq!(s, 404);

    // Only what is counted changed: the health streak was not reset by the
    // plugin failures of hour C (the last receiver attempt succeeded) and
    // the rate counts receiver attempts only.
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["health"]["attempts_24h"], 14, "{w}");

    // Buckets go after eight days, not before.
    let hours = |env: &TestEnv| {
        let ids = vec![id.clone()];
        let store = env.hub.store.clone();
        let org = env.org_id.clone();
        async move {
            store
                .webhook_hour_counts(&org, &ids, 0)
                .await
                .unwrap()
                .iter()
                .map(|h| h.hour)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        hours(&env).await.len(),
        4,
        "12 May is kept for the 7-day chart"
    );
    env.clock.advance(Duration::from_secs(8 * 24 * 3600 + 3600));
    env.hub.prune_expired().await.unwrap();
    assert_eq!(hours(&env).await, Vec::<i64>::new());
    env.finish().await;
}

/// The charts as a real headless Chromium shows them, with JavaScript and
/// without: every bar's parts have the counts of the deliveries made and
/// heights in proportion, every point the stats endpoint's percentile.
mod in_a_browser {
    use base64::Engine;
    use serde_json::{Value, json};

    use super::{Counts, make_deliveries, stats};
    use crate::console::browser::{
        Client, chromedriver, click, fill, screenshots, start_driver, submit, text,
    };
    use crate::console::{PASSWORD, human};
    use crate::support::Backend;

    const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

    async fn attr(c: &Client, el: &str, name: &str) -> String {
        let v = c
            .element(el, "GET", &format!("attribute/{name}"), None)
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no {name} on the element: {v}"))
            .to_string()
    }

    async fn within(c: &Client, el: &str, css: &str) -> Vec<String> {
        let v = c
            .element(
                el,
                "POST",
                "elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_string())
            .collect()
    }

    async fn element_shot(c: &Client, css: &str, name: &str) {
        let el = c.find(css).await.unwrap();
        let png = c.element(&el, "GET", "screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    async fn implicit_wait(c: &Client, ms: u64) {
        c.call("POST", "/timeouts", Some(json!({"implicit": ms})))
            .await
            .unwrap();
    }

    /// The window's charts on the page against the stats endpoint's bars.
    async fn check_charts(c: &Client, stats: &Value, window: &str) {
        let svg = c.find(&format!("#outcomes-{window}")).await.unwrap();
        // The page is loaded: an empty bar's parts are found (none) at once
        // rather than after the session's wait for elements.
        implicit_wait(c, 0).await;
        let y_max: f64 = attr(c, &svg, "data-y-max").await.parse().unwrap();
        let plot_h: f64 = attr(c, &svg, "data-plot-height").await.parse().unwrap();
        let api_bars = stats["bars"].as_array().unwrap();
        let max_total = api_bars
            .iter()
            .map(|b| Counts::of(b).total())
            .max()
            .unwrap();
        assert!(
            y_max >= max_total as f64 && y_max < 2.0 * max_total as f64 + 1.0,
            "axis {y_max} for a tallest bar of {max_total}"
        );
        let bars = c.find_all(&format!("#outcomes-{window} g.bar")).await;
        assert_eq!(bars.len(), api_bars.len(), "{window}");
        for (el, bar) in bars.iter().zip(api_bars) {
            let want = Counts::of(bar);
            assert_eq!(
                attr(c, el, "data-start").await,
                bar["start"].as_str().unwrap()
            );
            assert_eq!(attr(c, el, "data-total").await, want.total().to_string());
            let mut drawn = Counts::default();
            for rect in within(c, el, "rect").await {
                let outcome = attr(c, &rect, "data-outcome").await;
                let count: i64 = attr(c, &rect, "data-count").await.parse().unwrap();
                let height: f64 = attr(c, &rect, "height").await.parse().unwrap();
                assert_eq!(count, want.get(&outcome), "{window} {bar} {outcome}");
                let expected = count as f64 * plot_h / y_max;
                assert!(
                    (height - expected).abs() <= 0.06,
                    "{window} {outcome}: height {height}, expected {expected}"
                );
                // Really drawn: the browser lays it out with a height.
                let shown = c.element(&rect, "GET", "rect", None).await;
                assert!(shown["height"].as_f64().unwrap() > 0.0, "{shown}");
                match outcome.as_str() {
                    "succeeded" => drawn.succeeded += count,
                    "retried" => drawn.retried += count,
                    "failed" => drawn.failed += count,
                    "filtered" => drawn.filtered += count,
                    "plugin_failed" => drawn.plugin_failed += count,
                    other => panic!("unknown outcome {other}"),
                }
            }
            assert_eq!(drawn, want, "{window} bar {bar}");
        }
        // One point per bar with answers, at the endpoint's percentile.
        for p in ["p50", "p99"] {
            let points = c
                .find_all(&format!("#latency-{window} circle[data-percentile={p}]"))
                .await;
            let answered: Vec<&Value> = api_bars
                .iter()
                .filter(|b| b["answered"].as_i64().unwrap() > 0)
                .collect();
            assert_eq!(points.len(), answered.len(), "{window} {p}");
            for (el, bar) in points.iter().zip(answered) {
                let ms: f64 = attr(c, el, "data-ms").await.parse().unwrap();
                let want = bar[format!("{p}_ms")].as_f64().unwrap();
                assert!((ms - want).abs() < 0.051, "{window} {p}: {ms} vs {want}");
            }
        }
        implicit_wait(c, 5000).await;
        // The text and the table say the same without the picture.
        let summary = text(c, &format!("#summary-{window}")).await;
        let total = Counts::of(&stats["total"]);
        assert!(
            summary.starts_with(&format!("{} in all", total.total())),
            "{summary}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_charts_match_the_deliveries_made() {
        let Some(path) = chromedriver() else { return };
        let env = super::env(Backend::Sqlite).await;
        let (made, _receiver) = make_deliveries(&env).await;
        let id = made.webhook_id.clone();
        let day = stats(&env, &id, "24h").await;
        let week = stats(&env, &id, "7d").await;
        let alice = human(&env, &["admin:read", "admin:write"]).await;
        let driver = start_driver(&path).await;
        for javascript in [true, false] {
            let c = Client::connect_with(&driver, javascript).await;
            let tag = if javascript { "" } else { "-no-js" };
            c.goto(&format!("{}/console/sign-in", env.base)).await;
            fill(&c, "#login", &alice).await;
            fill(&c, "#password", PASSWORD).await;
            submit(&c, "#sign-in").await;

            // The list: each webhook's last 24 hours.
            assert!(c.current_url().await.path().ends_with("/console/webhooks"));
            let spark = c.find("svg.sparkline").await.unwrap();
            assert_eq!(attr(&c, &spark, "data-total").await, "18");
            let mut totals = Vec::new();
            for r in within(&c, &spark, "rect.spark").await {
                totals.push(attr(&c, &r, "data-total").await);
            }
            assert_eq!(totals, ["11", "5", "2"], "hours A, B, C");
            let mut bad = Vec::new();
            for r in within(&c, &spark, "rect.spark-bad").await {
                bad.push(attr(&c, &r, "data-bad").await);
            }
            assert_eq!(bad, ["6", "2"], "A's failures, C's plugin failures");
            element_shot(&c, "#webhooks", &format!("11-webhooks-trend{tag}")).await;

            // The webhook's page: both windows.
            c.goto(&format!("{}/console/webhooks/{id}", env.base)).await;
            check_charts(&c, &day, "24h").await;
            check_charts(&c, &week, "7d").await;
            element_shot(&c, "#charts-24h", &format!("12-charts-24h{tag}")).await;
            element_shot(&c, "#charts-7d", &format!("13-charts-7d{tag}")).await;
            let table = text(&c, "#charts-24h details").await;
            assert!(table.contains("The numbers"), "{table}");

            // The copy button next to a new secret is the console's only
            // script: shown with JavaScript, hidden without — and the
            // charts are the same either way.
            submit(&c, "#rotate-secret").await;
            let copy = c.find("[data-copy]").await.unwrap();
            let displayed = c.element(&copy, "GET", "displayed", None).await;
            assert_eq!(displayed, json!(javascript), "JavaScript on: {javascript}");
            check_charts(&c, &day, "24h").await;
            click(&c, "#charts-24h details summary").await;
            element_shot(&c, "#charts-24h", &format!("14-charts-24h-table{tag}")).await;
            c.close().await;
        }
        drop(driver);
        env.finish().await;
    }
}
