//! One delivery attempt over HTTP: build the signed request, send it, and
//! classify the answer. Redirects are failures, never followed.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::destinations::{DestinationPolicy, guarded_client};
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

/// The HTTP client all attempts share.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: DestinationPolicy,
    user_agent: HeaderValue,
}

impl Sender {
    pub fn new(policy: DestinationPolicy, timeout: Duration) -> Result<Sender, reqwest::Error> {
        let builder = guarded_client(&policy)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true);
        let user_agent = HeaderValue::from_str(&format!("ScaiHub/{}", env!("CARGO_PKG_VERSION")))
            .expect("ascii");
        Ok(Sender {
            client: builder.build()?,
            policy,
            user_agent,
        })
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
        let mut h = HeaderMap::new();
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
            h.insert("x-scaidrive-event", v);
        }
        if let Ok(v) = HeaderValue::from_str(delivery_id) {
            h.insert("x-scaidrive-delivery-id", v);
        }
        // W3C trace context: the receiver's work joins the attempt's trace.
        h.insert("traceparent", trace.header_value());
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
                    "x-scaidrive-signature",
                    HeaderValue::from_str(&signature).expect("hex is ascii"),
                );
                h.insert("x-scaidrive-timestamp", HeaderValue::from(timestamp));
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
                    h.insert("webhook-id", v);
                }
                h.insert("webhook-timestamp", HeaderValue::from(timestamp));
                h.insert(
                    "webhook-signature",
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
        let response = self
            .client
            .post(target.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return failure(started, describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = (status == 429 || status == 503)
            .then(|| response.headers().get(header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(RetryAfter::parse);
        let mut snippet = Vec::new();
        let mut body_error = None;
        while snippet.len() < SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet
                    .extend_from_slice(&chunk[..chunk.len().min(SNIPPET_BYTES - snippet.len())]),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(describe(&e));
                    break;
                }
            }
        }
        let error = if (300..400).contains(&status) {
            Some(format!("redirect ({status}) not followed"))
        } else if !(200..300).contains(&status) {
            Some(format!("receiver answered {status}"))
        } else {
            body_error.filter(|_| false)
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
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "error reading the answer".to_string()
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
    use super::RetryAfter;

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
