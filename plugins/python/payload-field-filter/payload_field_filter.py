"""`payload-field-filter`: delivers an event only when a field of its payload
holds one of a list of allowed values. The Python twin of
`plugins/payload-field-filter` (Rust), answering the same on every input.

Config: `{"pointer": "/role", "allowed": ["contributor", "owner"]}`.
`pointer` is a JSON pointer (RFC 6901) into the event's payload; `allowed`
lists JSON values (strings, numbers, booleans, even objects). The event is
delivered when the field exists and equals one of them as a JSON value: `"1"`
and `1` differ, `1` and `1.0` are the same number, `true` is not `1`. An
event whose payload lacks the field, or is not JSON, is skipped.
"""

from dataclasses import dataclass
from typing import Any, List

from scaihub_plugin import MISSING, Config, Event, InvalidConfig, InvalidEvent, Verdict, filter, jsontext, pointer


@dataclass
class FieldRule:
    """The webhook's configuration for this filter."""

    #: Where the field is in the payload, as a JSON pointer.
    pointer: str
    #: The values that let the event through.
    allowed: List[Any]

    def __post_init__(self) -> None:
        if not self.pointer.startswith("/"):
            raise InvalidConfig(f"pointer {jsontext.dumps(self.pointer)} must start with '/'")
        if not self.allowed:
            raise InvalidConfig("allowed must list at least one value")

    def admits(self, payload: Any) -> bool:
        """Whether `payload` passes: the field exists and is an allowed value."""
        field = pointer.resolve(payload, self.pointer)
        return field is not MISSING and any(same_json_value(a, field) for a in self.allowed)


def same_json_value(a: Any, b: Any) -> bool:
    """JSON equality in which numbers compare by value at any depth (`1 ==
    1.0`, also inside arrays and objects), a boolean is never a number, and
    everything else compares structurally, as in the Rust plugin."""
    if _is_number(a) or _is_number(b):
        if not (_is_number(a) and _is_number(b)):
            return False
        if _is_integer(a) and _is_integer(b):
            return a == b  # integers compare exactly, never through floats
        return _as_float(a) == _as_float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    """An integer serde_json keeps as one: within i64 or u64 (larger ones it
    reads as floats)."""
    return isinstance(value, int) and -(2**63) <= value < 2**64


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


@filter
def payload_field_filter(event: Event, config: Config) -> Verdict:
    rule = config.parse(FieldRule)
    try:
        payload = event.payload_json()
    except InvalidEvent:
        # A payload that is not JSON has no fields, so it cannot match.
        return Verdict.SKIP
    return Verdict.deliver_if(rule.admits(payload))
