//! Traces: the server exports a span per ingest request and per delivery
//! attempt over OTLP/HTTP to a real collector on port 0 (which decodes the
//! protobuf it gets), every attempt carries a W3C `traceparent` naming its
//! span, and with export off the header is still sent and nothing is
//! exported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use scaihub::traces::{ATTEMPT_SPAN, INGEST_SPAN, TraceParent, TraceSettings};
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event, plugin_wasm};

both!(
    ingest_and_attempts_are_exported_as_one_trace_the_receivers_can_join,
    without_export_attempts_still_carry_a_traceparent_and_nothing_is_exported,
);

/// A span as the collector got it, with its service's name.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    span: Span,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&AnyValue> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.attr(key) {
            Some(AnyValue::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.attr(key) {
            Some(AnyValue::IntValue(i)) => Some(*i),
            _ => None,
        }
    }

    fn float(&self, key: &str) -> Option<f64> {
        match self.attr(key) {
            Some(AnyValue::DoubleValue(f)) => Some(*f),
            _ => None,
        }
    }
}

/// A real OTLP/HTTP collector: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, decoded and kept.
struct Collector {
    base: String,
    spans: Arc<Mutex<Vec<Got>>>,
    requests: Arc<Mutex<usize>>,
}

#[derive(Clone)]
struct CollectorState {
    spans: Arc<Mutex<Vec<Got>>>,
    requests: Arc<Mutex<usize>>,
}

impl Collector {
    async fn start() -> Collector {
        let state = CollectorState {
            spans: Arc::default(),
            requests: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(collect))
            .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Collector {
            base,
            spans: state.spans,
            requests: state.requests,
        }
    }

    fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}

async fn collect(
    State(state): State<CollectorState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (
    axum::http::StatusCode,
    [(&'static str, &'static str); 1],
    Vec<u8>,
) {
    *state.requests.lock().unwrap() += 1;
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    let mut spans = state.spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Got {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    (
        axum::http::StatusCode::OK,
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ingests with a `traceparent` header (or none); asserts 202.
async fn ingest_traced(env: &TestEnv, events: Value, traceparent: Option<&str>) {
    let mut req = env
        .http
        .post(env.url("/v1/orgs/{org}/events"))
        .bearer_auth(&env.admin_key)
        .json(&events);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
}

async fn upload_transform(env: &TestEnv, file: &str, name: &str) -> String {
    let res = env
        .http
        .post(env.url(&format!(
            "/v1/orgs/{{org}}/plugins?name={name}&kind=transform"
        )))
        .bearer_auth(&env.admin_key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(plugin_wasm(file)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

const PRODUCER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

async fn ingest_and_attempts_are_exported_as_one_trace_the_receivers_can_join(backend: Backend) {
    let collector = Collector::start().await;
    let mut env = TestEnv::with(
        backend,
        Options {
            traces: Some(TraceSettings {
                // The base URL: the exporter posts to `/v1/traces` under it.
                traces_url: scaihub::traces::traces_url(&collector.base).unwrap(),
                service_name: "scaihub-under-test".into(),
                sample_ratio: 1.0,
                export_delay: Duration::from_millis(100),
            }),
            ..Options::default()
        },
    )
    .await;
    assert!(env.hub.traces.exporting());
    let ok = Receiver::ok().await;
    // Fails the first attempt, takes the retry.
    let flaky = Receiver::start(|n| (if n == 0 { 500 } else { 200 }, Duration::ZERO)).await;
    let chatty = Receiver::ok().await;
    let (ok_hook, ok_secret) = env.webhook(&ok.url("/ok"), &["SHARING"]).await;
    let (flaky_hook, flaky_secret) = env.webhook(&flaky.url("/flaky"), &["SHARING"]).await;
    let chat = upload_transform(&env, "chat_message", "chat").await;
    let (chat_hook, chat_secret) = env
        .webhook_with(json!({
            "name": "chat", "url": chatty.url("/chat"), "events": ["SHARING"],
            "transform_plugin": {"plugin_id": chat, "config": {}}
        }))
        .await;

    // The producer's trace is continued; a second request starts its own.
    ingest_traced(
        &env,
        event("evt_traced", "SHARING", "share.member_added"),
        Some(PRODUCER),
    )
    .await;
    let ok_got = ok.wait_for(1).await;
    chatty.wait_for(1).await;
    flaky.wait_for(1).await;
    env.wait_deliveries(&flaky_hook, "the first attempt recorded", |l| {
        l.iter().any(|d| d["status"] == "retrying")
    })
    .await;
    env.clock.advance(Duration::from_secs(30));
    let flaky_got = flaky.wait_for(2).await;
    env.wait_deliveries(&flaky_hook, "the retry recorded", |l| {
        l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    ingest_traced(
        &env,
        event("evt_untraced", "SHARING", "share.member_added"),
        None,
    )
    .await;
    ok.wait_for(2).await;
    let chat_got = chatty.wait_for(2).await;
    flaky.wait_for(3).await;
    for hook in [&ok_hook, &chat_hook, &flaky_hook] {
        env.wait_deliveries(hook, "both events delivered", |l| {
            l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    }
    // A graceful stop exports what the batch still holds.
    env.shutdown().await;
    assert!(collector.requests() >= 1);
    let spans = collector.spans();
    assert!(spans.iter().all(|s| s.service == "scaihub-under-test"));

    // The ingest span of the traced request: a server span, child of the
    // producer's span, in the producer's trace.
    let producer = TraceParent::parse(PRODUCER).unwrap();
    let ingests: Vec<&Got> = spans
        .iter()
        .filter(|s| s.span.name == INGEST_SPAN)
        .collect();
    assert_eq!(ingests.len(), 2, "{ingests:#?}");
    let traced = ingests
        .iter()
        .find(|s| s.span.trace_id == producer.trace_id)
        .expect("the ingest span continues the producer's trace");
    assert_eq!(traced.span.parent_span_id, producer.span_id);
    assert_eq!(traced.span.kind, SpanKind::Server as i32);
    assert_eq!(traced.text("scaihub.org_id"), Some(env.org_id.as_str()));
    assert_eq!(traced.int("http.response.status_code"), Some(202));
    assert_eq!(traced.int("scaihub.event_count"), Some(1));
    assert_eq!(traced.int("scaihub.events_accepted"), Some(1));
    assert_eq!(traced.text("http.route"), Some("/v1/orgs/{org_id}/events"));
    assert!(traced.span.end_time_unix_nano > traced.span.start_time_unix_nano);
    let untraced = ingests
        .iter()
        .find(|s| s.span.trace_id != producer.trace_id)
        .unwrap();
    assert!(
        untraced.span.parent_span_id.is_empty(),
        "a request without traceparent starts a trace"
    );

    // Every attempt: a client span, child of its ingest request's span.
    let attempts: Vec<&Got> = spans
        .iter()
        .filter(|s| s.span.name == ATTEMPT_SPAN)
        .collect();
    assert_eq!(attempts.len(), 7, "{attempts:#?}");
    for a in &attempts {
        assert_eq!(a.span.kind, SpanKind::Client as i32);
        let parent = ingests
            .iter()
            .find(|i| i.span.span_id == a.span.parent_span_id)
            .expect("an attempt's parent is its ingest span");
        assert_eq!(a.span.trace_id, parent.span.trace_id);
        let expected_event = if parent.span.trace_id == producer.trace_id {
            "evt_traced"
        } else {
            "evt_untraced"
        };
        assert_eq!(a.text("scaihub.event_id"), Some(expected_event));
        assert!(a.text("scaihub.delivery_id").unwrap().starts_with("dlv_"));
        assert_eq!(a.text("scaihub.org_id"), Some(env.org_id.as_str()));
    }
    let of_hook = |hook: &str| -> Vec<&Got> {
        let mut list: Vec<&Got> = attempts
            .iter()
            .copied()
            .filter(|a| a.text("scaihub.webhook_id") == Some(hook))
            .collect();
        list.sort_by_key(|a| a.span.start_time_unix_nano);
        list
    };
    // The failing attempt and its retry: same delivery, attempts 1 and 2,
    // one trace, the failure marked.
    let flaky_spans: Vec<&Got> = of_hook(&flaky_hook)
        .into_iter()
        .filter(|a| a.text("scaihub.event_id") == Some("evt_traced"))
        .collect();
    assert_eq!(flaky_spans.len(), 2);
    let (failed, retried) = (flaky_spans[0], flaky_spans[1]);
    assert_eq!(failed.int("scaihub.attempt"), Some(1));
    assert_eq!(failed.int("http.response.status_code"), Some(500));
    assert_eq!(failed.text("scaihub.outcome"), Some("retrying"));
    assert_eq!(failed.text("error.type"), Some("receiver answered 500"));
    assert_eq!(
        failed.span.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(retried.int("scaihub.attempt"), Some(2));
    assert_eq!(retried.int("http.response.status_code"), Some(200));
    assert_eq!(retried.text("scaihub.outcome"), Some("succeeded"));
    assert_eq!(
        retried.text("scaihub.delivery_id"),
        failed.text("scaihub.delivery_id")
    );
    assert_eq!(retried.span.trace_id, failed.span.trace_id);
    assert!(failed.float("scaihub.send_time_ms").unwrap() >= 0.0);
    assert_eq!(failed.float("scaihub.plugin_time_ms"), None);
    // The plugin's time is on the attempts of the webhook that has one.
    for a in of_hook(&chat_hook) {
        assert!(a.float("scaihub.plugin_time_ms").unwrap() > 0.0, "{a:#?}");
        assert_eq!(a.text("scaihub.outcome"), Some("succeeded"));
    }

    // What each receiver got names an exported attempt span of its delivery.
    let named = |r: &crate::support::Received| {
        let tp = TraceParent::parse(r.header("traceparent"))
            .unwrap_or_else(|| panic!("bad traceparent {:?}", r.header("traceparent")));
        assert!(tp.sampled);
        let span = attempts
            .iter()
            .find(|a| a.span.span_id == tp.span_id)
            .expect("the traceparent names an exported span");
        assert_eq!(span.span.trace_id, tp.trace_id);
        assert_eq!(
            span.text("scaihub.delivery_id"),
            Some(r.header("x-scaidrive-delivery-id"))
        );
        tp
    };
    for r in ok_got.iter().chain(&chat_got).chain(&flaky_got) {
        named(r);
    }
    let (first, second) = (named(&flaky_got[0]), named(&flaky_got[1]));
    assert_eq!(first.trace_id, second.trace_id);
    assert_ne!(first.span_id, second.span_id);
    assert_eq!(named(&ok_got[0]).trace_id, producer.trace_id);

    // No secret reaches a span.
    let texts: Vec<String> = spans
        .iter()
        .flat_map(|s| s.span.attributes.iter().map(|kv| format!("{:?}", kv.value)))
        .collect();
    for secret in [&ok_secret, &flaky_secret, &chat_secret, &env.admin_key] {
        assert!(
            texts.iter().all(|t| !t.contains(secret.as_str())),
            "a secret was exported"
        );
    }
    env.db.drop_db().await;
}

async fn without_export_attempts_still_carry_a_traceparent_and_nothing_is_exported(
    backend: Backend,
) {
    let collector = Collector::start().await;
    let env = TestEnv::start(backend).await;
    assert!(!env.hub.traces.exporting());
    let flaky = Receiver::start(|n| (if n < 2 { 500 } else { 200 }, Duration::ZERO)).await;
    let (hook, _) = env.webhook(&flaky.url("/flaky"), &["SHARING"]).await;
    // A producer's context is passed through as it is, through the store
    // (the retry is claimed from it, not handed over in memory).
    ingest_traced(
        &env,
        event("evt_traced", "SHARING", "share.member_added"),
        Some(PRODUCER),
    )
    .await;
    // An invalid header is ignored, as the W3C rules say.
    ingest_traced(
        &env,
        event("evt_plain", "SHARING", "share.member_added"),
        Some("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"),
    )
    .await;
    flaky.wait_for(2).await;
    env.wait_deliveries(&hook, "both failed once", |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "retrying")
    })
    .await;
    env.clock.advance(Duration::from_secs(30));
    let got = flaky.wait_for(4).await;
    env.wait_deliveries(&hook, "both delivered", |l| {
        l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let by_event = |id: &str| -> Vec<TraceParent> {
        got.iter()
            .filter(|r| r.json()["event_id"] == id)
            .map(|r| TraceParent::parse(r.header("traceparent")).expect("a valid traceparent"))
            .collect()
    };
    let traced = by_event("evt_traced");
    assert_eq!(traced.len(), 2);
    for tp in &traced {
        assert_eq!(tp.to_string(), PRODUCER);
    }
    // Without a trace to continue: the delivery's own, the same for its
    // retry, each attempt a span of its own, not sampled.
    let plain = by_event("evt_plain");
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[0].trace_id, plain[1].trace_id);
    assert_ne!(plain[0].span_id, plain[1].span_id);
    assert_ne!(hex(&plain[0].trace_id), hex(&traced[0].trace_id));
    assert!(!plain[0].sampled && !plain[1].sampled);

    // A webhook cannot set the header itself.
    let (status, err) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(
                json!({"name": "x", "url": flaky.url("/x"), "events": ["SHARING"],
                "headers": {"traceparent": PRODUCER}}),
            ),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("headers.traceparent")),
        "{err}"
    );
    env.finish().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(collector.requests(), 0);
}

#[test]
fn the_endpoint_setting_is_checked_at_start() {
    use clap::Parser;
    let settings = |extra: &[&str]| {
        let mut args = vec!["scaihub", "serve"];
        args.extend_from_slice(extra);
        let scaihub::config::Cli {
            command: scaihub::config::Command::Serve(args),
        } = scaihub::config::Cli::try_parse_from(args).unwrap()
        else {
            unreachable!()
        };
        scaihub::server::hub_settings(&args)
    };
    let err = settings(&["--otlp-endpoint", "collector:4318"]).unwrap_err();
    assert_eq!(err.setting, "SCAIHUB_OTLP_ENDPOINT");
    let err = settings(&[
        "--otlp-endpoint",
        "http://collector:4318",
        "--otlp-sample-ratio",
        "2",
    ])
    .unwrap_err();
    assert_eq!(err.setting, "SCAIHUB_OTLP_SAMPLE_RATIO");
    let ok = settings(&["--otlp-endpoint", "http://collector:4318"]).unwrap();
    assert_eq!(
        ok.traces.unwrap().traces_url.as_str(),
        "http://collector:4318/v1/traces"
    );
    assert!(settings(&[]).unwrap().traces.is_none());
}
