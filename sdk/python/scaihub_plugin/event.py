"""`Event` and `Category`: the audit event a plugin is called about, with
helpers to read its JSON payload."""

import enum
from dataclasses import dataclass
from typing import Any, Dict, Optional

from . import jsontext, pointer as jp
from .errors import InvalidEvent


class Category(str, enum.Enum):
    """The kind of activity an event reports; the value is the name as it
    appears in event JSON (`"FILE_ACCESS"`), and compares equal to it."""

    AUTHENTICATION = "AUTHENTICATION"
    AUTHORIZATION = "AUTHORIZATION"
    FILE_ACCESS = "FILE_ACCESS"
    FILE_MODIFICATION = "FILE_MODIFICATION"
    SHARING = "SHARING"
    ADMIN = "ADMIN"
    SECURITY = "SECURITY"
    COMPLIANCE = "COMPLIANCE"

    def __str__(self) -> str:
        return self.value


@dataclass
class Event:
    """One audit event, as the host passes it to a plugin."""

    #: Prefixed unique id, `evt_...`.
    event_id: str
    #: When it happened, RFC 3339 in UTC.
    timestamp: str
    #: What kind of activity it reports.
    category: Category
    #: The action within the category, dotted (`share.member_added`).
    action: str
    #: The acting user, `usr_...`, when there is one.
    user_id: Optional[str]
    #: The resource acted upon, when there is one.
    resource_id: Optional[str]
    #: The event's own details as JSON text; see `payload_json`.
    payload: str
    #: The client's IP address, when known.
    ip_address: Optional[str] = None
    #: The share involved, when there is one.
    share_id: Optional[str] = None
    #: The service account acting for the user, when there is one.
    service_account: Optional[str] = None

    def payload_json(self) -> Any:
        """The payload parsed as JSON; `InvalidEvent` when it is not JSON."""
        try:
            return jsontext.loads(self.payload)
        except ValueError as e:
            raise InvalidEvent(f"payload is not JSON: {e}") from None

    def pointer(self, pointer: str, default: Any = None) -> Any:
        """The payload value at a JSON pointer (`/role`, `/items/0/name`), or
        `default` when nothing is there or the payload is not JSON. Pass
        `scaihub_plugin.MISSING` as `default` to tell a `null` field from an
        absent one."""
        try:
            payload = jsontext.loads(self.payload)
        except ValueError:
            return default
        return jp.resolve(payload, pointer, default)

    def to_json(self) -> Dict[str, Any]:
        """The event as the JSON object a webhook receives without
        transforms: the payload embedded as JSON (as a string when it is not
        JSON), optional fields left out when absent."""
        try:
            payload: Any = jsontext.loads(self.payload)
        except ValueError:
            payload = self.payload
        out: Dict[str, Any] = {
            "event_id": self.event_id,
            "timestamp": self.timestamp,
            "category": Category(self.category).value,
            "action": self.action,
            "payload": payload,
        }
        for key in ("user_id", "resource_id", "ip_address", "share_id", "service_account"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "Event":
        """An event from its JSON form (what `to_json` gives, or an event as
        a webhook receives it); for tests. Missing required fields are
        `InvalidEvent` naming the field."""
        if not isinstance(value, dict):
            raise InvalidEvent("an event is a JSON object")
        for key in ("event_id", "timestamp", "category", "action"):
            if not isinstance(value.get(key), str):
                raise InvalidEvent(f"field `{key}` must be a string")
        try:
            category = Category(value["category"])
        except ValueError:
            raise InvalidEvent(f"field `category`: unknown category {value['category']!r}") from None
        return cls(
            event_id=value["event_id"],
            timestamp=value["timestamp"],
            category=category,
            action=value["action"],
            user_id=value.get("user_id"),
            resource_id=value.get("resource_id"),
            payload=jsontext.dumps(value.get("payload", {})),
            ip_address=value.get("ip_address"),
            share_id=value.get("share_id"),
            service_account=value.get("service_account"),
        )

    @classmethod
    def sample(cls, payload: Any = None) -> "Event":
        """A plausible event for tests and examples: a `SHARING`
        `share.member_added` with `payload` (`{}` when not given)."""
        return cls(
            event_id="evt_01SAMPLE",
            timestamp="2025-01-31T12:00:00Z",
            category=Category.SHARING,
            action="share.member_added",
            user_id="usr_01SAMPLE",
            resource_id="shr_01SAMPLE",
            payload=jsontext.dumps({} if payload is None else payload),
            ip_address="203.0.113.7",
            share_id="shr_01SAMPLE",
            service_account=None,
        )
