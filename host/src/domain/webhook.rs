//! Webhook settings as the API takes them, validated field by field, and
//! the matching of events against them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FieldError;
use super::event::{ActionPattern, Category, Event};
use crate::ids::{self, IdKind};

/// The most a paused webhook may queue.
pub const MAX_QUEUE_LIMIT: i64 = 1_000_000;
/// What a paused webhook queues unless told otherwise (the page's default).
pub const DEFAULT_QUEUE_LIMIT: i64 = 1000;

/// Optional narrowing: any-of within a list, all-of across lists; an event
/// without the field does not pass a non-empty list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    pub share_ids: Vec<String>,
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// CIDR ranges, IPv4 and IPv6; a bare address is a /32 or /128.
    #[serde(default)]
    pub ip_ranges: Vec<String>,
}

/// Filters parsed for matching.
#[derive(Debug, Clone, Default)]
pub struct CompiledFilters {
    share_ids: Vec<String>,
    user_ids: Vec<String>,
    ip_ranges: Vec<IpNet>,
}

impl Filters {
    /// Validates and normalises (CIDRs to their canonical text).
    pub fn validate(mut self) -> Result<Filters, FieldError> {
        for (i, id) in self.share_ids.iter().enumerate() {
            if !ids::is_valid_reference(id) {
                return Err(FieldError::new(
                    format!("filters.share_ids[{i}]"),
                    "must be 1-120 of [A-Za-z0-9_-]",
                ));
            }
        }
        for (i, id) in self.user_ids.iter().enumerate() {
            if !ids::is_valid(IdKind::User, id) {
                return Err(FieldError::new(
                    format!("filters.user_ids[{i}]"),
                    "must be a user id (usr_…)",
                ));
            }
        }
        let mut ranges = Vec::with_capacity(self.ip_ranges.len());
        for (i, text) in self.ip_ranges.iter().enumerate() {
            let net = parse_cidr(text).ok_or_else(|| {
                FieldError::new(
                    format!("filters.ip_ranges[{i}]"),
                    "must be a CIDR range such as 203.0.113.0/24 or 2001:db8::/32",
                )
            })?;
            ranges.push(net.trunc().to_string());
        }
        self.ip_ranges = ranges;
        for list in [&self.share_ids, &self.user_ids, &self.ip_ranges] {
            if list.len() > 1000 {
                return Err(FieldError::new(
                    "filters",
                    "each list holds at most 1000 entries",
                ));
            }
        }
        Ok(self)
    }

    pub fn compile(&self) -> CompiledFilters {
        CompiledFilters {
            share_ids: self.share_ids.clone(),
            user_ids: self.user_ids.clone(),
            ip_ranges: self
                .ip_ranges
                .iter()
                .filter_map(|t| parse_cidr(t))
                .collect(),
        }
    }
}

fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl CompiledFilters {
    pub fn matches(&self, event: &Event) -> bool {
        // A share filter looks at the share context, or at the resource when
        // the resource is itself a share (SHARING events).
        let share = event.share_id.as_deref().or(event
            .resource_id
            .as_deref()
            .filter(|r| r.starts_with("shr_")));
        let share_ok = self.share_ids.is_empty()
            || share.is_some_and(|s| self.share_ids.iter().any(|x| x == s));
        let user_ok = self.user_ids.is_empty()
            || event
                .user_id
                .as_deref()
                .is_some_and(|u| self.user_ids.iter().any(|x| x == u));
        let ip_ok = self.ip_ranges.is_empty()
            || event
                .ip_address
                .as_deref()
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .is_some_and(|ip| self.ip_ranges.iter().any(|net| net_contains(net, ip)));
        share_ok && user_ok && ip_ok
    }
}

fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    // An IPv4-mapped IPv6 address matches IPv4 ranges too.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    net.contains(&ip)
}

/// A plugin attached to a webhook with its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    pub plugin_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Value,
}

/// How deliveries are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// `X-ScaiDrive-Signature: sha256=<hex>`, HMAC-SHA256 of the body with
    /// the whole secret string as key, plus `X-ScaiDrive-Timestamp`.
    #[default]
    Scaidrive,
    /// The Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64>` over `id.timestamp.body`), keyed by
    /// the bytes the `whsec_` secret encodes in base64.
    Standard,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Scaidrive => "scaidrive",
            SignatureScheme::Standard => "standard",
        }
    }
    pub fn parse(text: &str) -> Option<SignatureScheme> {
        match text {
            "scaidrive" => Some(SignatureScheme::Scaidrive),
            "standard" => Some(SignatureScheme::Standard),
            _ => None,
        }
    }
}

/// What happens to a delivery when a plugin fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnPluginError {
    #[default]
    Skip,
    DeliverOriginal,
}

impl OnPluginError {
    pub fn as_str(self) -> &'static str {
        match self {
            OnPluginError::Skip => "skip",
            OnPluginError::DeliverOriginal => "deliver_original",
        }
    }
    pub fn parse(text: &str) -> OnPluginError {
        if text == "deliver_original" {
            OnPluginError::DeliverOriginal
        } else {
            OnPluginError::Skip
        }
    }
}

/// In which order a webhook's deliveries go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Each delivery is sent as soon as it is due, many at once (within
    /// the webhook's limits); a failing one does not hold the others.
    #[default]
    Unordered,
    /// One at a time, in event order, across every process: the next is
    /// sent only once the one before it has succeeded or ended (dropped,
    /// filtered, plugin failed); a retrying one holds those behind it.
    Fifo,
}

impl Ordering {
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::Unordered => "unordered",
            Ordering::Fifo => "fifo",
        }
    }
    pub fn parse(text: &str) -> Option<Ordering> {
        match text {
            "unordered" => Some(Ordering::Unordered),
            "fifo" => Some(Ordering::Fifo),
            _ => None,
        }
    }
}

/// `POST /webhooks` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub filters: Filters,
    /// Generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub queue_limit: Option<i64>,
    #[serde(default)]
    pub filter_plugins: Vec<PluginRef>,
    #[serde(default)]
    pub transform_plugin: Option<PluginRef>,
    #[serde(default)]
    pub on_plugin_error: OnPluginError,
    /// `scaidrive` (the default) or `standard` (Standard Webhooks); the
    /// latter needs a secret of the form `whsec_<base64 of 24-64 bytes>`.
    #[serde(default)]
    pub signature_scheme: SignatureScheme,
    /// Deliveries per second this webhook's receiver is sent at most,
    /// across every process (1–10000); unlimited when absent.
    #[serde(default)]
    pub rate_limit: Option<i64>,
    /// Attempts sent to this webhook's receiver at once, across every
    /// process (1–1000); the process setting when absent.
    #[serde(default)]
    pub max_in_flight: Option<i64>,
    /// `unordered` (the default) or `fifo`: one delivery at a time, in
    /// event order, a failing one holding those behind it.
    #[serde(default)]
    pub ordering: Ordering,
}

/// `PATCH /webhooks/{id}` body: every field optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub filters: Option<Filters>,
    pub headers: Option<BTreeMap<String, String>>,
    pub queue_limit: Option<i64>,
    pub filter_plugins: Option<Vec<PluginRef>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PluginRef>)]
    pub transform_plugin: Option<Option<PluginRef>>,
    pub on_plugin_error: Option<OnPluginError>,
    pub signature_scheme: Option<SignatureScheme>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "double_option_i64")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit: Option<Option<i64>>,
    /// `null` returns to the process setting.
    #[serde(default, deserialize_with = "double_option_i64")]
    #[schema(value_type = Option<i64>)]
    pub max_in_flight: Option<Option<i64>>,
    pub ordering: Option<Ordering>,
}

fn double_option_i64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<PluginRef>>, D::Error> {
    Option::<PluginRef>::deserialize(d).map(Some)
}

/// The validated, storable settings of a webhook (secret excluded).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub name: String,
    pub url: String,
    pub events: Vec<Category>,
    pub actions: Vec<String>,
    pub filters: Filters,
    pub headers: BTreeMap<String, String>,
    pub queue_limit: i64,
    pub filter_plugins: Vec<PluginRef>,
    pub transform_plugin: Option<PluginRef>,
    pub on_plugin_error: OnPluginError,
    pub signature_scheme: SignatureScheme,
    pub rate_limit: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub ordering: Ordering,
}

/// The most deliveries per second a webhook's `rate_limit` may name.
pub const MAX_RATE_LIMIT: i64 = 10_000;
/// The most a webhook's `max_in_flight` may name.
pub const MAX_IN_FLIGHT: i64 = 1_000;

fn validate_limit(value: Option<i64>, field: &str, max: i64) -> Result<Option<u32>, FieldError> {
    match value {
        None => Ok(None),
        Some(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(FieldError::new(
            field,
            format!("must be between 1 and {max}, or null for none"),
        )),
    }
}

pub fn validate_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(FieldError::new("name", "must be 1-200 characters"));
    }
    Ok(name.to_string())
}

/// Syntax only; whether the destination may be reached is checked by
/// [`crate::destinations`], which needs DNS.
pub fn validate_url(text: &str) -> Result<url::Url, FieldError> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| FieldError::new("url", format!("is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FieldError::new("url", "must use http or https"));
    }
    if url.host().is_none() {
        return Err(FieldError::new("url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            "url",
            "must not carry credentials; use a custom header instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(FieldError::new("url", "must not have a fragment"));
    }
    if text.len() > 2048 {
        return Err(FieldError::new("url", "must be at most 2048 characters"));
    }
    Ok(url)
}

pub fn validate_events(items: &[String]) -> Result<Vec<Category>, FieldError> {
    if items.is_empty() {
        return Err(FieldError::new("events", "must name at least one category"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let c = Category::parse(item).ok_or_else(|| {
            FieldError::new(
                format!("events[{i}]"),
                "must be one of AUTHENTICATION AUTHORIZATION FILE_ACCESS FILE_MODIFICATION SHARING ADMIN SECURITY COMPLIANCE",
            )
        })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

pub fn validate_actions(items: &[String]) -> Result<Vec<String>, FieldError> {
    if items.len() > 100 {
        return Err(FieldError::new("actions", "at most 100 patterns"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            ActionPattern::parse(p, &format!("actions[{i}]")).map(|p| p.as_str().to_string())
        })
        .collect()
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub fn validate_headers(
    headers: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, FieldError> {
    if headers.len() > 30 {
        return Err(FieldError::new("headers", "at most 30 custom headers"));
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let parsed = axum::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FieldError::new(&field, "is not a valid header name"))?;
        let lower = parsed.as_str();
        if lower.starts_with("x-scaidrive-") {
            return Err(FieldError::new(
                &field,
                "X-ScaiDrive-* headers are set by ScaiHub and cannot be overridden",
            ));
        }
        if ["webhook-id", "webhook-timestamp", "webhook-signature"].contains(&lower) {
            return Err(FieldError::new(
                &field,
                "the Standard Webhooks headers are set by ScaiHub and cannot be overridden",
            ));
        }
        if lower == "traceparent" {
            return Err(FieldError::new(
                &field,
                "traceparent is set by ScaiHub for every attempt and cannot be overridden",
            ));
        }
        if lower == "host" || lower == "content-length" || HOP_BY_HOP.contains(&lower) {
            return Err(FieldError::new(
                &field,
                "this header is managed by the HTTP connection and cannot be set",
            ));
        }
        if value.len() > 4096 || axum::http::HeaderValue::from_str(value).is_err() {
            return Err(FieldError::new(
                &field,
                "value must be visible ASCII, at most 4096 bytes",
            ));
        }
        if out.insert(lower.to_string(), value.clone()).is_some() {
            return Err(FieldError::new(
                &field,
                "is given twice (header names are case-insensitive)",
            ));
        }
    }
    Ok(out)
}

pub fn validate_queue_limit(limit: Option<i64>) -> Result<i64, FieldError> {
    match limit {
        None => Ok(DEFAULT_QUEUE_LIMIT),
        Some(n) if (1..=MAX_QUEUE_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(FieldError::new(
            "queue_limit",
            format!("must be between 1 and {MAX_QUEUE_LIMIT}"),
        )),
    }
}

/// A secret the scheme can sign with: Standard Webhooks keys are the bytes
/// a `whsec_` secret encodes in base64, 24 to 64 of them.
pub fn validate_secret_for(
    scheme: SignatureScheme,
    secret: &str,
    field: &str,
) -> Result<(), FieldError> {
    if scheme == SignatureScheme::Standard && crate::signing::standard_key(secret).is_none() {
        return Err(FieldError::new(
            field,
            "must be whsec_ followed by the base64 of 24 to 64 bytes for the standard signature scheme",
        ));
    }
    Ok(())
}

pub fn validate_secret(secret: &str) -> Result<(), FieldError> {
    if secret.len() < 24 || secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "secret",
            "must be 24-256 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Shape only; whether the plugins exist and may be attached is checked by
/// the service, which can see the store.
fn validate_plugins(
    filters: &[PluginRef],
    transform: &Option<PluginRef>,
) -> Result<(), FieldError> {
    let refs = filters
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("filter_plugins[{i}]"), r))
        .chain(
            transform
                .iter()
                .map(|r| ("transform_plugin".to_string(), r)),
        );
    for (field, r) in refs {
        if !ids::is_valid(IdKind::Plugin, &r.plugin_id) {
            return Err(FieldError::new(
                format!("{field}.plugin_id"),
                "must be a plugin id (plg_…)",
            ));
        }
        if r.config.to_string().len() > 64 * 1024 {
            return Err(FieldError::new(
                format!("{field}.config"),
                "must be at most 64 KiB of JSON",
            ));
        }
    }
    Ok(())
}

impl WebhookInput {
    pub fn validate(self) -> Result<(WebhookSettings, Option<String>, bool), FieldError> {
        let name = validate_name(&self.name)?;
        let url = validate_url(&self.url)?;
        let events = validate_events(&self.events)?;
        let actions = validate_actions(&self.actions)?;
        let filters = self.filters.validate()?;
        if let Some(secret) = &self.secret {
            validate_secret(secret)?;
            validate_secret_for(self.signature_scheme, secret, "secret")?;
        }
        let headers = validate_headers(&self.headers)?;
        let queue_limit = validate_queue_limit(self.queue_limit)?;
        validate_plugins(&self.filter_plugins, &self.transform_plugin)?;
        let settings = WebhookSettings {
            name,
            url: url.to_string(),
            events,
            actions,
            filters,
            headers,
            queue_limit,
            filter_plugins: self.filter_plugins,
            transform_plugin: self.transform_plugin,
            on_plugin_error: self.on_plugin_error,
            signature_scheme: self.signature_scheme,
            rate_limit: validate_limit(self.rate_limit, "rate_limit", MAX_RATE_LIMIT)?,
            max_in_flight: validate_limit(self.max_in_flight, "max_in_flight", MAX_IN_FLIGHT)?,
            ordering: self.ordering,
        };
        Ok((settings, self.secret, self.paused))
    }
}

impl WebhookPatch {
    /// Applies the patch on top of `current`, validating what changed.
    pub fn apply(self, current: &WebhookSettings) -> Result<WebhookSettings, FieldError> {
        let mut next = current.clone();
        if let Some(name) = self.name {
            next.name = validate_name(&name)?;
        }
        if let Some(url) = self.url {
            next.url = validate_url(&url)?.to_string();
        }
        if let Some(events) = self.events {
            next.events = validate_events(&events)?;
        }
        if let Some(actions) = self.actions {
            next.actions = validate_actions(&actions)?;
        }
        if let Some(filters) = self.filters {
            next.filters = filters.validate()?;
        }
        if let Some(headers) = self.headers {
            next.headers = validate_headers(&headers)?;
        }
        if let Some(limit) = self.queue_limit {
            next.queue_limit = validate_queue_limit(Some(limit))?;
        }
        if let Some(fp) = self.filter_plugins {
            next.filter_plugins = fp;
        }
        if let Some(tp) = self.transform_plugin {
            next.transform_plugin = tp;
        }
        if let Some(scheme) = self.signature_scheme {
            next.signature_scheme = scheme;
        }
        if let Some(limit) = self.rate_limit {
            next.rate_limit = validate_limit(limit, "rate_limit", MAX_RATE_LIMIT)?;
        }
        if let Some(limit) = self.max_in_flight {
            next.max_in_flight = validate_limit(limit, "max_in_flight", MAX_IN_FLIGHT)?;
        }
        if let Some(p) = self.on_plugin_error {
            next.on_plugin_error = p;
        }
        if let Some(o) = self.ordering {
            next.ordering = o;
        }
        validate_plugins(&next.filter_plugins, &next.transform_plugin)?;
        Ok(next)
    }
}

/// What an event must satisfy to be delivered to a webhook.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub events: Vec<Category>,
    pub actions: Vec<ActionPattern>,
    pub filters: CompiledFilters,
}

impl Matcher {
    pub fn new(settings: &WebhookSettings) -> Matcher {
        Matcher {
            events: settings.events.clone(),
            actions: settings
                .actions
                .iter()
                .filter_map(|a| ActionPattern::parse(a, "actions").ok())
                .collect(),
            filters: settings.filters.compile(),
        }
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.events.contains(&event.category)
            && (self.actions.is_empty() || self.actions.iter().any(|p| p.matches(&event.action)))
            && self.filters.matches(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(extra: Value) -> Event {
        let mut v = json!({"event_id": "evt_1", "timestamp": "2026-05-12T14:23:01Z", "category": "SHARING",
            "action": "share.member_added", "payload": {}});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        Event::from_json(&v, "").unwrap()
    }

    fn filters(v: Value) -> CompiledFilters {
        serde_json::from_value::<Filters>(v)
            .unwrap()
            .validate()
            .unwrap()
            .compile()
    }

    #[test]
    fn filters_are_any_of_within_and_all_of_across_lists() {
        let f = filters(
            json!({"user_ids": ["usr_a", "usr_b"], "ip_ranges": ["10.0.0.0/8", "2001:db8::/32"]}),
        );
        assert!(f.matches(&event(
            json!({"user_id": "usr_b", "ip_address": "10.1.2.3"})
        )));
        assert!(f.matches(&event(
            json!({"user_id": "usr_a", "ip_address": "2001:db8::1"})
        )));
        assert!(f.matches(&event(
            json!({"user_id": "usr_a", "ip_address": "::ffff:10.9.9.9"})
        )));
        assert!(!f.matches(&event(
            json!({"user_id": "usr_c", "ip_address": "10.1.2.3"})
        )));
        assert!(!f.matches(&event(
            json!({"user_id": "usr_a", "ip_address": "192.0.2.1"})
        )));
        // Lacking the field does not pass a non-empty filter.
        assert!(!f.matches(&event(json!({"user_id": "usr_a"}))));
    }

    #[test]
    fn share_filter_uses_share_context_or_share_resource() {
        let f = filters(json!({"share_ids": ["shr_1"]}));
        assert!(f.matches(&event(json!({"share_id": "shr_1"}))));
        assert!(f.matches(&event(json!({"resource_id": "shr_1"}))));
        assert!(!f.matches(&event(json!({"resource_id": "fil_1"}))));
    }

    #[test]
    fn headers_may_set_content_type_but_not_reserved_ones() {
        let ok = BTreeMap::from([
            ("Content-Type".into(), "text/plain".into()),
            ("Authorization".into(), "Bearer x".into()),
        ]);
        assert!(validate_headers(&ok).is_ok());
        for bad in [
            "X-ScaiDrive-Signature",
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "bad header",
        ] {
            let h = BTreeMap::from([(bad.to_string(), "v".to_string())]);
            let err = validate_headers(&h).unwrap_err();
            assert_eq!(err.field, format!("headers.{bad}"));
        }
    }

    #[test]
    fn bad_cidr_is_named_by_index() {
        let err =
            serde_json::from_value::<Filters>(json!({"ip_ranges": ["10.0.0.0/8", "10.0.0.0/33"]}))
                .unwrap()
                .validate()
                .unwrap_err();
        assert_eq!(err.field, "filters.ip_ranges[1]");
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        assert!(validate_url("https://example.com/hook").is_ok());
        assert!(validate_url("ftp://example.com").is_err());
        assert!(validate_url("https://u:p@example.com").is_err());
        assert!(validate_url("not a url").is_err());
    }
}
