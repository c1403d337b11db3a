//! One delivery attempt over HTTP: build the signed request, send it, and
//! classify the answer. Redirects are failures, never followed.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::destinations::{DestinationPolicy, GuardedDns, guarded_tls};
use crate::domain::webhook::SignatureScheme;
use crate::signing;

/// How much of a receiver's answer is kept in the delivery log.
pub const SNIPPET_BYTES: usize = 1024;

/// What a webhook needs to be sent to, with its secrets opened.
#[derive(Clone)]
pub struct Target {
    pub webhook_id: String,
    /// The webhook's organisation: plugin slots are shared fairly by these.
    pub org_id: String,
    pub version: i64,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub scheme: SignatureScheme,
    /// The HMAC key of the scheme (see `signing`), and the previous one
    /// with the end of its grace period.
    pub secret: Vec<u8>,
    pub previous_secret: Option<(Vec<u8>, crate::clock::Millis)>,
    /// Filter plugins (id, config JSON), all of which must deliver.
    pub filters: Vec<(String, String)>,
    /// The transform plugin (id, config JSON), if any.
    pub transform: Option<(String, String)>,
    pub on_plugin_error: crate::domain::webhook::OnPluginError,
    pub paused: bool,
    /// Until then the receiver asked (`Retry-After`) not to be sent to;
    /// deliveries that come due meanwhile wait, their attempts uncounted.
    pub held_until: Option<crate::clock::Millis>,
    /// The webhook's own limits (see `delivery::limits`).
    pub rate_limit: Option<u32>,
    pub max_in_flight: Option<u32>,
    /// When these settings were read from the store.
    pub fetched_at: std::time::Instant,
}

impl Target {
    pub fn has_plugins(&self) -> bool {
        !self.filters.is_empty() || self.transform.is_some()
    }
}

/// What a transform changed about the request.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    pub content_type: Option<HeaderValue>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("webhook_id", &self.webhook_id)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The result of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub duration: Duration,
    pub error: Option<String>,
    pub snippet: Option<String>,
    /// A `429` or `503` answer's `Retry-After`: when the receiver asks to
    /// be tried again.
    pub retry_after: Option<RetryAfter>,
}

/// The two forms of `Retry-After` (RFC 9110 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    /// An HTTP date, in milliseconds since 1970.
    At(crate::clock::Millis),
}

impl RetryAfter {
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(RetryAfter::Seconds(secs));
        }
        // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") reads as RFC 2822.
        chrono::DateTime::parse_from_rfc2822(value)
            .ok()
            .map(|t| RetryAfter::At(t.timestamp_millis()))
    }

    /// The moment asked for, from `now`.
    pub fn at(self, now: crate::clock::Millis) -> crate::clock::Millis {
        match self {
            RetryAfter::Seconds(s) => now.saturating_add((s.min(u32::MAX as u64) * 1000) as i64),
            RetryAfter::At(t) => t,
        }
    }
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

// The headers every attempt carries, named once (a name given as a string
// is parsed again on every insert).
const EVENT: HeaderName = HeaderName::from_static("x-scaidrive-event");
const DELIVERY_ID: HeaderName = HeaderName::from_static("x-scaidrive-delivery-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const SIGNATURE: HeaderName = HeaderName::from_static("x-scaidrive-signature");
const TIMESTAMP: HeaderName = HeaderName::from_static("x-scaidrive-timestamp");
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedDns>>;

/// The HTTP client all attempts share: hyper's pooled HTTP/1.1 client over
/// a connector that applies the destination policy to every address it
/// connects to. Redirects are never followed (hyper does not).
#[derive(Clone)]
pub struct Sender {
    client: Client<Connector, Full<Bytes>>,
    policy: DestinationPolicy,
    user_agent: HeaderValue,
    /// The whole attempt: connecting, sending, and reading the answer.
    timeout: Duration,
}

impl Sender {
    pub fn new(policy: DestinationPolicy, timeout: Duration) -> Sender {
        let mut http = HttpConnector::new_with_resolver(GuardedDns(policy.clone()));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let tls = guarded_tls().unwrap_or_else(|| {
            tracing::warn!("no platform TLS roots; HTTPS receivers will fail to verify");
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        let user_agent = HeaderValue::from_str(&format!("ScaiHub/{}", env!("CARGO_PKG_VERSION")))
            .expect("ascii");
        Sender {
            client,
            policy,
            user_agent,
            timeout,
        }
    }

    /// The headers of one attempt. Custom headers come after the defaults
    /// (so they may replace `Content-Type`) and before ours (so nothing can
    /// replace an `X-ScaiDrive-*` header or the attempt's `traceparent`).
    #[allow(clippy::too_many_arguments)]
    pub fn headers(
        &self,
        target: &Target,
        rewrite: &Rewrite,
        delivery_id: &str,
        action: &str,
        body: &[u8],
        now: crate::clock::Millis,
        trace: &crate::traces::TraceParent,
    ) -> HeaderMap {
        // Room for ours and a few of the webhook's own without regrowing.
        let mut h = HeaderMap::with_capacity(16);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::USER_AGENT, self.user_agent.clone());
        for (name, value) in &target.headers {
            h.insert(name.clone(), value.clone());
        }
        for (name, value) in &rewrite.headers {
            h.insert(name.clone(), value.clone());
        }
        if let Some(ct) = &rewrite.content_type {
            h.insert(header::CONTENT_TYPE, ct.clone());
        }
        if let Ok(v) = HeaderValue::from_str(action) {
            h.insert(EVENT, v);
        }
        if let Ok(v) = HeaderValue::from_str(delivery_id) {
            h.insert(DELIVERY_ID, v);
        }
        // W3C trace context: the receiver's work joins the attempt's trace.
        h.insert(TRACEPARENT, trace.header_value());
        let previous = target
            .previous_secret
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(s, _)| s.as_slice());
        // Seconds since the epoch, as both schemes' timestamps are.
        let timestamp = now.div_euclid(1000);
        match target.scheme {
            SignatureScheme::Scaidrive => {
                let signature = signing::signature_header(&target.secret, previous, body);
                h.insert(
                    SIGNATURE,
                    HeaderValue::from_str(&signature).expect("hex is ascii"),
                );
                h.insert(TIMESTAMP, HeaderValue::from(timestamp));
            }
            SignatureScheme::Standard => {
                let signature = signing::standard_header(
                    &target.secret,
                    previous,
                    delivery_id,
                    timestamp,
                    body,
                );
                if let Ok(v) = HeaderValue::from_str(delivery_id) {
                    h.insert(WEBHOOK_ID, v);
                }
                h.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
                h.insert(
                    WEBHOOK_SIGNATURE,
                    HeaderValue::from_str(&signature).expect("base64 is ascii"),
                );
            }
        }
        h
    }

    pub async fn attempt(
        &self,
        target: &Target,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> AttemptResult {
        let started = Instant::now();
        // IP literals bypass the resolver, so they are checked here.
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = target.url.host() {
            let host = target.url.host_str().unwrap_or_default();
            if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse()
                && let Err(e) = self.policy.check_ip(ip)
            {
                return failure(started, format!("destination refused: {e}"));
            }
        }
        let uri: Uri = match target.url.as_str().parse() {
            Ok(uri) => uri,
            Err(_) => return failure(started, "request failed: the URL is not a valid URI".into()),
        };
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        // One deadline for the whole attempt. Once the status is in, the
        // answer is the status: a body cut short or late only ends the
        // snippet.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return failure(started, describe(&e)),
            Err(_) => return failure(started, "timed out".into()),
        };
        let status = response.status().as_u16();
        let retry_after = (status == 429 || status == 503)
            .then(|| response.headers().get(header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse);
        let mut body = response.into_body();
        let mut snippet = Vec::new();
        while snippet.len() < SNIPPET_BYTES {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Some(chunk) = frame.data_ref() {
                        snippet.extend_from_slice(
                            &chunk[..chunk.len().min(SNIPPET_BYTES - snippet.len())],
                        );
                    }
                }
                _ => break,
            }
        }
        let error = if (300..400).contains(&status) {
            Some(format!("redirect ({status}) not followed"))
        } else if !(200..300).contains(&status) {
            Some(format!("receiver answered {status}"))
        } else {
            None
        };
        AttemptResult {
            status_code: Some(status),
            duration: started.elapsed(),
            error,
            snippet: (!snippet.is_empty()).then(|| String::from_utf8_lossy(&snippet).into_owned()),
            retry_after,
        }
    }
}

fn failure(started: Instant, error: String) -> AttemptResult {
    AttemptResult {
        status_code: None,
        duration: started.elapsed(),
        error: Some(error),
        snippet: None,
        retry_after: None,
    }
}

/// A short, secret-free description of a transport error.
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    // The innermost cause says what happened (refused, reset, DNS, policy).
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver on port 0 that reads a request, then writes `answer`
    /// and holds the connection open.
    async fn receiver(answer: &'static [u8]) -> url::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            socket.write_all(answer).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        url::Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap()
    }

    fn target(url: url::Url) -> Target {
        Target {
            webhook_id: "wh_1".into(),
            org_id: "org_1".into(),
            version: 1,
            url,
            headers: Vec::new(),
            scheme: SignatureScheme::Scaidrive,
            secret: b"secret".to_vec(),
            previous_secret: None,
            filters: Vec::new(),
            transform: None,
            on_plugin_error: Default::default(),
            paused: false,
            held_until: None,
            rate_limit: None,
            max_in_flight: None,
            fetched_at: Instant::now(),
        }
    }

    fn sender(timeout_ms: u64) -> Sender {
        let allow = vec!["127.0.0.0/8".parse().unwrap()];
        let policy = DestinationPolicy::new(
            allow,
            std::sync::Arc::new(crate::destinations::SystemResolver),
        );
        Sender::new(policy, Duration::from_millis(timeout_ms))
    }

    /// Once the status is in, a body that stalls past the deadline only
    /// ends the snippet; a receiver that never answers times out.
    #[tokio::test]
    async fn the_status_stands_when_the_body_stalls_and_silence_times_out() {
        let sender = sender(300);
        let stalled = receiver(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial").await;
        let r = sender
            .attempt(&target(stalled), HeaderMap::new(), b"{}".to_vec())
            .await;
        assert!(r.succeeded(), "{r:?}");
        assert_eq!(r.snippet.as_deref(), Some("partial"));
        let silent = receiver(b"").await;
        let r = sender
            .attempt(&target(silent), HeaderMap::new(), b"{}".to_vec())
            .await;
        assert_eq!(
            (r.status_code, r.error.as_deref()),
            (None, Some("timed out"))
        );
        assert!(r.duration >= Duration::from_millis(300), "{r:?}");
    }

    /// Redirects are answers, not followed; an address outside the
    /// allowed ranges is refused before anything is sent.
    #[tokio::test]
    async fn redirects_are_not_followed_and_internal_literals_are_refused() {
        let moved = receiver(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let r = sender(2_000)
            .attempt(&target(moved), HeaderMap::new(), b"{}".to_vec())
            .await;
        assert_eq!(r.status_code, Some(302));
        assert_eq!(r.error.as_deref(), Some("redirect (302) not followed"));
        let guarded = Sender::new(
            DestinationPolicy::new(
                Vec::new(),
                std::sync::Arc::new(crate::destinations::SystemResolver),
            ),
            Duration::from_secs(2),
        );
        let r = guarded
            .attempt(
                &target(url::Url::parse("http://127.0.0.1:9/").unwrap()),
                HeaderMap::new(),
                b"{}".to_vec(),
            )
            .await;
        assert!(
            r.error
                .as_deref()
                .unwrap_or_default()
                .starts_with("destination refused"),
            "{r:?}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(RetryAfter::parse("120"), Some(RetryAfter::Seconds(120)));
        assert_eq!(RetryAfter::parse(" 0 "), Some(RetryAfter::Seconds(0)));
        assert_eq!(
            RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(RetryAfter::At(784_111_777_000))
        );
        assert_eq!(RetryAfter::parse("soon"), None);
        assert_eq!(RetryAfter::parse("-5"), None);
        assert_eq!(RetryAfter::Seconds(2).at(1_000), 3_000);
    }
}
