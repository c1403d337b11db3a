"""JSON text in and out, with the same rules as the Rust SDK (serde_json).

Reading refuses what JSON does not allow but Python's `json` module accepts
by default (`NaN`, `Infinity`), and a number beyond the float range
(`1e400`) is an error, as in serde_json, not infinity. (One difference is
kept for speed: an integer beyond 64 bits stays an exact Python int, where
serde_json reads it as a float; checking every integer would cost a Python
call each.) Writing
is compact, with object keys sorted and non-ASCII characters left as they
are: the bytes a webhook receives from a Python plugin are then the bytes
the same plugin in Rust would send.
"""

import json
import math
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


# One decoder for the process: `json.loads` with hooks would build a new one
# per call, a measurable share of a small plugin call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float)


def loads(text: "str | bytes") -> Any:
    """Parses JSON text (bytes must be UTF-8: `json` alone would also guess
    UTF-16 and UTF-32); raises `ValueError` when it is not JSON."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8")
    return _DECODER.decode(text)


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
