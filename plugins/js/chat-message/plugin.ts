// `chat-message`: replaces the body with a Slack-compatible chat message,
// `{"text": "..."}` as `application/json`, so a webhook can point straight
// at a Slack (or Mattermost, Rocket.Chat...) incoming-webhook URL. The
// TypeScript twin of plugins/chat-message (same configuration, same
// outcomes: both are tested against plugins/cases/chat-message.json).
//
// Config (optional): `{"template": "..."}`. The default template is
// `[{category}] {action} by {user_id} on {resource_id}`, which reads
// `[SHARING] share.member_added by usr_… on shr_…`. Placeholders:
// `{category}`, `{action}`, `{user_id}`, `{resource_id}`, `{event_id}`,
// `{timestamp}`, and, empty when the event has none, `{share_id}`,
// `{ip_address}`, `{service_account}`. Any other text, braces included,
// is kept as written. Headers the request already had are kept.

import { defineTransform, type Event } from '@scaihub/plugin-sdk';

/** The template used when the webhook configures none. */
export const DEFAULT_TEMPLATE = '[{category}] {action} by {user_id} on {resource_id}';

/** `template` with every placeholder replaced by the event's field. */
export function render(template: string, event: Event): string {
  const fields = new Map<string, string>([
    ['category', event.category],
    ['action', event.action],
    ['user_id', event.userId ?? ''],
    ['resource_id', event.resourceId ?? ''],
    ['event_id', event.eventId],
    ['timestamp', event.timestamp],
    ['share_id', event.shareId ?? ''],
    ['ip_address', event.ipAddress ?? ''],
    ['service_account', event.serviceAccount ?? ''],
  ]);
  // One left-to-right pass, so a field's value is never itself expanded.
  let out = '';
  let rest = template;
  for (let open = rest.indexOf('{'); open !== -1; open = rest.indexOf('{')) {
    out += rest.slice(0, open);
    const candidate = rest.slice(open);
    const close = candidate.indexOf('}');
    const value = close === -1 ? undefined : fields.get(candidate.slice(1, close));
    if (value !== undefined) {
      out += value;
      rest = candidate.slice(close + 1);
    } else {
      out += '{';
      rest = candidate.slice(1);
    }
  }
  return out + rest;
}

export const transform = defineTransform((event, request, config) => {
  const fields = config.fields();
  const template = fields.string('template', DEFAULT_TEMPLATE);
  fields.end();
  request.setBodyJson({ text: render(template, event) });
  return request;
});
