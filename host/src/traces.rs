//! Traces: the W3C `traceparent` that joins a producer, ScaiHub and a
//! receiver, and the optional OpenTelemetry export over OTLP/HTTP.
//!
//! Two spans are made, one per ingest request (`http/events.rs`) and one
//! per delivery attempt (`delivery/`), with the OpenTelemetry API itself
//! rather than through `tracing` spans: the attempt's trace id must be
//! chosen (stable across a delivery's retries) and its parent read from
//! the store, and with export off nothing of the SDK runs at all — no span
//! is built, nothing allocated for it, only the `traceparent` header of an
//! attempt is written.
//!
//! The trace an attempt belongs to: the context stored with its event at
//! ingest (the ingest span's when exporting, else the producer's own
//! `traceparent` passed through), so producer → ingest → every attempt is
//! one trace; an event without one (ScaiHub's own, or ingested without
//! either) gets a trace id derived from the delivery id, the same for every
//! attempt of the delivery. Spans end into the SDK's batch processor,
//! which exports from a thread of its own: nothing is sent on a request's
//! or a delivery's task.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler, SdkTracer,
    SdkTracerProvider, Span,
};
use sha2::Digest;

/// The route of the ingest span (low-cardinality, as HTTP spans name it).
pub const INGEST_ROUTE: &str = "/v1/orgs/{org_id}/events";
/// Name of the span of one ingest request.
pub const INGEST_SPAN: &str = "POST /v1/orgs/{org_id}/events";
/// Name of the span of one delivery attempt.
pub const ATTEMPT_SPAN: &str = "delivery attempt";

/// Where and how spans are exported.
#[derive(Clone)]
pub struct TraceSettings {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub traces_url: url::Url,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces sampled (0–1); a trace continued from a
    /// producer follows the producer's sampled flag.
    pub sample_ratio: f64,
    /// How long finished spans wait to be exported in a batch.
    pub export_delay: Duration,
}

impl fmt::Debug for TraceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceSettings")
            .field(
                "traces_url",
                &crate::config::redact_url(self.traces_url.as_str()),
            )
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .finish_non_exhaustive()
    }
}

/// The traces URL of an OTLP/HTTP endpoint setting: a base URL gets the
/// signal's path `/v1/traces` (as `OTEL_EXPORTER_OTLP_ENDPOINT` does); a
/// URL already ending in `/v1/traces` is used as it is.
pub fn traces_url(endpoint: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(endpoint.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if !url.path().trim_end_matches('/').ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

/// A W3C trace context (`traceparent`, version 00): the trace, the span
/// that is the parent of whatever receives it, and the sampled flag.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceParent {
    /// Reads a `traceparent` header value; `None` for anything the W3C
    /// rules say to ignore (then the trace starts afresh).
    pub fn parse(value: &str) -> Option<TraceParent> {
        let b = value.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        // Version 00 is exactly 55 characters; later versions may append
        // fields after another dash, which are ignored.
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span_id = [0u8; 8];
        for (i, byte) in span_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The header value, `00-<trace id>-<span id>-<flags>`, written
    /// without going through a `String`.
    pub fn header_value(&self) -> axum::http::HeaderValue {
        let mut out = [0u8; 55];
        self.write(&mut out);
        axum::http::HeaderValue::from_bytes(&out).expect("hex and dashes are a valid header")
    }

    fn write(&self, out: &mut [u8; 55]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut at = 0;
        let mut put = |bytes: &[u8], dash: bool| {
            for byte in bytes {
                out[at] = HEX[(byte >> 4) as usize];
                out[at + 1] = HEX[(byte & 15) as usize];
                at += 2;
            }
            if dash {
                out[at] = b'-';
                at += 1;
            }
        };
        put(&[0], true);
        put(&self.trace_id, true);
        put(&self.span_id, true);
        put(&[u8::from(self.sampled)], false);
    }

    fn of(sc: &SpanContext) -> TraceParent {
        TraceParent {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
        }
    }

    /// A context whose remote parent this is.
    fn context(&self) -> Context {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            flags,
            true,
            TraceState::NONE,
        ))
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 55];
        self.write(&mut out);
        f.write_str(std::str::from_utf8(&out).expect("ascii"))
    }
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

/// The trace id of a delivery whose event carries no trace: the same for
/// every attempt, so a receiver and an operator see its retries together.
pub fn delivery_trace_id(delivery_id: &str) -> [u8; 16] {
    let digest = sha2::Sha256::new()
        .chain_update(b"scaihub delivery trace\0")
        .chain_update(delivery_id.as_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

thread_local! {
    /// The trace id the next root span built on this thread takes (see
    /// [`ChosenIds`]): the SDK takes a root span's trace id from its id
    /// generator only.
    static NEXT_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Random ids, except a root span's trace id chosen just before it is
/// built on the same thread.
#[derive(Debug, Default)]
struct ChosenIds(RandomIdGenerator);

impl IdGenerator for ChosenIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// This process's tracing: exporting, or off.
#[derive(Debug, Default)]
pub struct Traces {
    export: Option<(SdkTracerProvider, SdkTracer)>,
}

impl Traces {
    /// Nothing exported; attempts still carry a `traceparent`.
    pub fn off() -> Traces {
        Traces::default()
    }

    /// Starts the exporter: spans are batched and posted from the batch
    /// processor's own thread.
    pub fn start(settings: &TraceSettings) -> Result<Traces, String> {
        crate::install_crypto_provider();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(settings.traces_url.as_str())
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(settings.export_delay)
                    .build(),
            )
            .build();
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sample_ratio,
            ))))
            .with_id_generator(ChosenIds::default())
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("scaihub");
        Ok(Traces {
            export: Some((provider, tracer)),
        })
    }

    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    /// Exports what is left and stops the exporter (at graceful shutdown).
    pub async fn shutdown(&self) {
        if let Some((provider, _)) = &self.export {
            let provider = provider.clone();
            let done = tokio::task::spawn_blocking(move || {
                provider.shutdown_with_timeout(Duration::from_secs(10))
            })
            .await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "exporting the last spans failed");
            }
        }
    }

    /// The span of one ingest request, continuing the producer's trace
    /// when it sent a valid `traceparent`.
    pub fn ingest(&self, org_id: &str, producer: Option<TraceParent>) -> IngestSpan {
        let Some((_, tracer)) = &self.export else {
            return IngestSpan {
                span: None,
                stored: producer,
            };
        };
        let parent = producer.map_or_else(Context::new, |p| p.context());
        let builder = tracer
            .span_builder(INGEST_SPAN)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", INGEST_ROUTE),
                KeyValue::new("scaihub.org_id", org_id.to_string()),
            ]);
        let span = tracer.build_with_context(builder, &parent);
        IngestSpan {
            stored: Some(TraceParent::of(span.span_context())),
            span: Some(span),
        }
    }

    /// The span of one delivery attempt, child of the trace stored with
    /// its event (`parent`), or the root of its delivery's own trace.
    pub fn attempt(&self, delivery: &AttemptOf<'_>, parent: Option<TraceParent>) -> AttemptSpan {
        let Some((_, tracer)) = &self.export else {
            // Not recording: pass the producer's context through as it
            // is, or name the delivery's trace with a span of this attempt.
            let header = parent.unwrap_or_else(|| TraceParent {
                trace_id: delivery_trace_id(delivery.delivery_id),
                span_id: nonzero_span_id(),
                sampled: false,
            });
            return AttemptSpan { span: None, header };
        };
        let builder = tracer
            .span_builder(ATTEMPT_SPAN)
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("scaihub.org_id", delivery.org_id.to_string()),
                KeyValue::new("scaihub.webhook_id", delivery.webhook_id.to_string()),
                KeyValue::new("scaihub.delivery_id", delivery.delivery_id.to_string()),
                KeyValue::new("scaihub.event_id", delivery.event_id.to_string()),
                KeyValue::new("scaihub.attempt", delivery.attempt),
            ]);
        let span = match parent {
            Some(p) => tracer.build_with_context(builder, &p.context()),
            None => {
                NEXT_TRACE.with(|next| {
                    next.set(Some(TraceId::from_bytes(delivery_trace_id(
                        delivery.delivery_id,
                    ))))
                });
                let span = tracer.build_with_context(builder, &Context::new());
                NEXT_TRACE.with(Cell::take);
                span
            }
        };
        AttemptSpan {
            header: TraceParent::of(span.span_context()),
            span: Some(span),
        }
    }
}

fn nonzero_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// Which delivery an attempt is of.
pub struct AttemptOf<'a> {
    pub org_id: &'a str,
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub event_id: &'a str,
    pub attempt: i64,
}

/// An ingest request's span (when exporting) and the context its events
/// are stored with.
pub struct IngestSpan {
    span: Option<Span>,
    stored: Option<TraceParent>,
}

impl IngestSpan {
    /// What the request's events carry to their deliveries.
    pub fn context(&self) -> Option<TraceParent> {
        self.stored
    }

    /// Ends the span with the answer's status and, when stored, the
    /// request's events.
    pub fn finish(self, status: u16, events: Option<(usize, usize)>) {
        let Some(mut span) = self.span else { return };
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if let Some((accepted, duplicates)) = events {
            span.set_attributes([
                KeyValue::new("scaihub.event_count", (accepted + duplicates) as i64),
                KeyValue::new("scaihub.events_accepted", accepted as i64),
                KeyValue::new("scaihub.events_duplicate", duplicates as i64),
            ]);
        }
        if status >= 500 {
            span.set_status(Status::error(format!("answered {status}")));
        }
        span.end();
    }
}

/// A delivery attempt's span (when exporting) and the `traceparent` it
/// sends.
pub struct AttemptSpan {
    span: Option<Span>,
    header: TraceParent,
}

/// What an attempt came to, for its span.
pub struct AttemptEnd<'a> {
    /// The delivery's status after the attempt (`succeeded`, `retrying`…).
    pub outcome: &'a str,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    /// A transform's failure when the original was sent instead.
    pub plugin_error: Option<&'a str>,
    /// Time in the webhook's plugins, when it has any and they ran.
    pub plugin_time: Option<Duration>,
    /// Time of the HTTP request, when one was sent.
    pub send_time: Option<Duration>,
}

impl AttemptSpan {
    /// The `traceparent` the attempt sends.
    pub fn traceparent(&self) -> TraceParent {
        self.header
    }

    pub fn finish(self, end: AttemptEnd<'_>) {
        let Some(mut span) = self.span else { return };
        span.set_attribute(KeyValue::new("scaihub.outcome", end.outcome.to_string()));
        if let Some(code) = end.status_code {
            span.set_attribute(KeyValue::new("http.response.status_code", code));
        }
        if let Some(t) = end.plugin_time {
            span.set_attribute(KeyValue::new(
                "scaihub.plugin_time_ms",
                t.as_secs_f64() * 1000.0,
            ));
        }
        if let Some(e) = end.plugin_error {
            span.set_attribute(KeyValue::new("scaihub.plugin_error", e.to_string()));
        }
        if let Some(t) = end.send_time {
            span.set_attribute(KeyValue::new(
                "scaihub.send_time_ms",
                t.as_secs_f64() * 1000.0,
            ));
        }
        if let Some(error) = end.error {
            span.set_attribute(KeyValue::new("error.type", error.to_string()));
            span.set_status(Status::error(error.to_string()));
        } else if end.outcome == "succeeded" {
            span.set_status(Status::Ok);
        }
        span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_reads_and_writes_version_00() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(text).unwrap();
        assert!(tp.sampled);
        assert_eq!(tp.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(tp.to_string(), text);
        assert_eq!(tp.header_value().to_str().unwrap(), text);
        let unsampled = TraceParent::parse(&text.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn traceparent_refuses_what_the_rules_ignore() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
                .is_some()
        );
    }

    #[test]
    fn traces_url_appends_the_signal_path_unless_given() {
        let url = |s: &str| traces_url(s).unwrap().to_string();
        assert_eq!(
            url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(url("http://c:4318/otlp/"), "http://c:4318/otlp/v1/traces");
        assert_eq!(url("https://c/v1/traces"), "https://c/v1/traces");
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("ftp://c").is_err());
    }

    #[test]
    fn a_delivery_keeps_its_trace_id_across_attempts_when_not_exporting() {
        let traces = Traces::off();
        let of = AttemptOf {
            org_id: "org_1",
            webhook_id: "whk_1",
            delivery_id: "dlv_1",
            event_id: "evt_1",
            attempt: 1,
        };
        let first = traces.attempt(&of, None).traceparent();
        let second = traces
            .attempt(&AttemptOf { attempt: 2, ..of }, None)
            .traceparent();
        assert_eq!(first.trace_id, second.trace_id);
        assert_ne!(first.span_id, second.span_id);
        assert!(!first.sampled);
        let producer =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let of = AttemptOf {
            org_id: "org_1",
            webhook_id: "whk_1",
            delivery_id: "dlv_1",
            event_id: "evt_1",
            attempt: 1,
        };
        assert_eq!(
            traces.attempt(&of, producer).traceparent(),
            producer.unwrap()
        );
    }
}
