"""JSON text in and out, with the same rules as the Rust SDK (serde_json).

Reading refuses what JSON does not allow but Python's `json` module accepts
by default (`NaN`, `Infinity`). Writing is compact, with object keys sorted
and non-ASCII characters left as they are: the bytes a webhook receives from
a Python plugin are then the bytes the same plugin in Rust would send.
"""

import json
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: "str | bytes") -> Any:
    """Parses JSON text (bytes must be UTF-8: `json` alone would also guess
    UTF-16 and UTF-32); raises `ValueError` when it is not JSON."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8")
    return json.loads(text, parse_constant=_refuse_constant)


def dumps(value: Any) -> str:
    """Writes `value` as compact JSON, keys sorted; `ValueError` for values
    JSON cannot hold (NaN, infinities), `TypeError` for non-JSON types."""
    return json.dumps(
        value,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
        sort_keys=True,
    )
