//! `chat-message`: replaces the body with a Slack-compatible chat message,
//! `{"text": "..."}` as `application/json`, so a webhook can point straight
//! at a Slack (or Mattermost, Rocket.Chat...) incoming-webhook URL.
//!
//! Config (optional): `{"template": "..."}`. The default template is
//! `[{category}] {action} by {user_id} on {resource_id}`, which reads
//! `[SHARING] share.member_added by usr_… on shr_…`. Placeholders:
//! `{category}`, `{action}`, `{user_id}`, `{resource_id}`, `{event_id}`,
//! `{timestamp}`, and, empty when the event has none, `{share_id}`,
//! `{ip_address}`, `{service_account}`. Any other text, braces included,
//! is kept as written. Headers the request already had are kept.

use scaihub_sdk::serde_json::json;
use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};
use serde::Deserialize;

/// The plugin.
pub struct ChatMessage;

/// The template used when the webhook configures none.
pub const DEFAULT_TEMPLATE: &str = "[{category}] {action} by {user_id} on {resource_id}";

/// The webhook's configuration for this transform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageConfig {
    #[serde(default = "default_template")]
    template: String,
}

fn default_template() -> String {
    DEFAULT_TEMPLATE.to_owned()
}

/// `template` with every placeholder replaced by the event's field.
pub fn render(template: &str, event: &Event) -> String {
    let optional = |field: &Option<String>| field.clone().unwrap_or_default();
    let fields = [
        ("category", event.category.as_str().to_owned()),
        ("action", event.action.clone()),
        ("user_id", optional(&event.user_id)),
        ("resource_id", optional(&event.resource_id)),
        ("event_id", event.event_id.clone()),
        ("timestamp", event.timestamp.clone()),
        ("share_id", optional(&event.share_id)),
        ("ip_address", optional(&event.ip_address)),
        ("service_account", optional(&event.service_account)),
    ];
    // One left-to-right pass, so a field's value is never itself expanded.
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let candidate = &rest[open..];
        let placeholder = candidate.find('}').and_then(|close| {
            let name = &candidate[1..close];
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (v, close))
        });
        match placeholder {
            Some((value, close)) => {
                out.push_str(value);
                rest = &candidate[close + 1..];
            }
            None => {
                out.push('{');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Transform for ChatMessage {
    fn transform(event: &Event, mut request: Request, config: &Config) -> Result<Request, Error> {
        let config: MessageConfig = config.parse_object()?;
        request.set_body_json(&json!({ "text": render(&config.template, event) }));
        Ok(request)
    }
}

export_transform!(ChatMessage);

#[cfg(test)]
mod tests {
    use scaihub_sdk::serde_json::{Value, json};

    use super::*;

    fn run(config: &str) -> Request {
        let event = Event::sample(&json!({"role": "viewer"}));
        let mut request = Request::json(&event.to_json());
        request.set_header("X-Team", "ops");
        ChatMessage::transform(&event, request, &Config::new(config)).unwrap()
    }

    fn text(request: &Request) -> Value {
        request.body_json().unwrap()["text"].clone()
    }

    #[test]
    fn default_template_names_category_action_user_and_resource() {
        let out = run("");
        assert_eq!(
            text(&out),
            "[SHARING] share.member_added by usr_01SAMPLE on shr_01SAMPLE"
        );
        assert_eq!(out.content_type, "application/json");
        assert_eq!(out.header("X-Team"), Some("ops"));
    }

    #[test]
    fn custom_template_fills_placeholders_and_keeps_other_braces() {
        let out = run(r#"{"template": "{action} from {ip_address} {sa}{ {unclosed"}"#);
        assert_eq!(
            text(&out),
            "share.member_added from 203.0.113.7 {sa}{ {unclosed"
        );
    }

    #[test]
    fn absent_optional_fields_render_empty_and_values_are_not_reexpanded() {
        let mut event = Event::sample(&json!({}));
        event.action = "{user_id}".into();
        assert_eq!(
            render("<{service_account}> {action}", &event),
            "<> {user_id}"
        );
    }

    #[test]
    fn unknown_config_key_is_invalid_config() {
        let event = Event::sample(&json!({}));
        let got =
            ChatMessage::transform(&event, Request::default(), &Config::new(r#"{"tmpl": "x"}"#));
        assert!(matches!(got, Err(Error::InvalidConfig(_))), "{got:?}");
    }

    /// The cases in `plugins/cases/chat-message.json`, which the TypeScript
    /// version in `plugins/js` must also pass.
    #[test]
    fn shared_cases_hold() {
        plugin_cases::check_transform::<ChatMessage>(include_str!("../../cases/chat-message.json"));
    }
}
