"""`pii-redact`: removes or masks fields of the outgoing JSON body. The Python
twin of `plugins/pii-redact` (Rust), answering the same on every input.

Config: `{"remove": ["/payload/email"], "mask": ["/payload/phone",
"/user_id"], "keep_last": 4}`. Each entry is a JSON pointer (RFC 6901) into
the body, which before any other transform is the event JSON, so event
fields are `/user_id`, payload fields `/payload/...`.
- `remove`: the field is deleted (an array element is taken out).
- `mask`: a string longer than `keep_last` characters becomes `***`
  followed by its last `keep_last` characters (`+1 555 0100` → `***0100`);
  any shorter string, and any number, boolean, object or array, becomes
  `***`. `keep_last` defaults to 4; 0 masks everything.

Pointers that lead nowhere are ignored: not every event has every field. A
body that is not JSON is an error, never sent unredacted by this plugin.
The body is written back as compact JSON with sorted keys, the bytes the
Rust plugin writes.
"""

import re
from dataclasses import dataclass, field
from typing import Any, List

from scaihub_plugin import Config, Event, InvalidConfig, Request, jsontext, pointer, transform

#: What replaces masked content.
MASK = "***"

#: An array index as `remove` reads it (Rust's `usize` parsing: an optional
#: `+`, then digits, leading zeros allowed).
_REMOVE_INDEX = re.compile(r"\+?[0-9]+")


@dataclass
class Redaction:
    """What to hide, as configured on the webhook."""

    #: Pointers to fields to delete.
    remove: List[str] = field(default_factory=list)
    #: Pointers to fields to mask.
    mask: List[str] = field(default_factory=list)
    #: How many trailing characters a masked string keeps.
    keep_last: int = 4

    def __post_init__(self) -> None:
        if self.keep_last < 0:
            raise InvalidConfig(f"keep_last must not be negative, found {self.keep_last}")
        for p in self.remove + self.mask:
            if not p.startswith("/"):
                raise InvalidConfig(f"pointer {jsontext.dumps(p)} must start with '/'")

    def apply(self, body: Any) -> None:
        """Applies the redaction to `body` in place: masks first, then removals."""
        for p in self.mask:
            found = pointer.locate(body, p)
            if found is not None:
                container, key = found
                container[key] = mask(container[key], self.keep_last)
        for p in self.remove:
            remove(body, p)


def mask(value: Any, keep_last: int) -> str:
    """The masked form of `value`."""
    if isinstance(value, str) and keep_last > 0 and len(value) > keep_last:
        return MASK + value[-keep_last:]
    return MASK


def remove(body: Any, at: str) -> None:
    """Deletes the field at pointer `at` (which starts with '/'), if there is one."""
    parent_pointer, _, last = at.rpartition("/")
    key = pointer.unescape(last)
    parent = pointer.resolve(body, parent_pointer)
    if isinstance(parent, dict):
        parent.pop(key, None)
    elif isinstance(parent, list) and _REMOVE_INDEX.fullmatch(key):
        index = int(key)
        if index < len(parent):
            del parent[index]


@transform
def pii_redact(event: Event, request: Request, config: Config) -> Request:
    redaction = config.parse(Redaction)
    body = request.body_json()
    redaction.apply(body)
    request.body = jsontext.dumps(body).encode("utf-8")
    return request
