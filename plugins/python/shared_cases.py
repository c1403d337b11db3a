"""The shared tables of cases, `plugins/cases/<plugin>.json`, run against the
Python twin of a plugin: the same inputs and expected outcomes the Rust
crate (through `plugins/cases/src/lib.rs`) and the TypeScript twin are
tested with, so the three stay interchangeable. The table's format is
documented in `plugins/cases/src/lib.rs`; this module reads it the same way.
"""

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from scaihub_plugin import Category, Config, Event, PluginError, Request, Verdict, call_filter, call_transform, jsontext

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"

_EVENT_STRINGS = ("event_id", "timestamp", "action")
_EVENT_OPTIONALS = ("user_id", "resource_id", "ip_address", "share_id", "service_account")


def load(plugin: str, kind: str) -> List[Dict[str, Any]]:
    """The cases of `plugin`'s table, checked to be for a `kind`."""
    table = json.loads((CASES_DIR / f"{plugin}.json").read_text(encoding="utf-8"))
    assert table["kind"] == kind, f"the table of {plugin} is for a {table['kind']}, not a {kind}"
    assert table["cases"], f"the table of {plugin} has no cases"
    return table["cases"]


def ids(cases: List[Dict[str, Any]]) -> List[str]:
    """The cases' names, for pytest ids."""
    return [c.get("name", f"case {n}") for n, c in enumerate(cases)]


def event(case: Dict[str, Any]) -> Event:
    """`Event.sample()` with the case's overrides."""
    result = Event.sample({})
    for key, value in case.get("event", {}).items():
        if key == "payload":
            result.payload = jsontext.dumps(value)
        elif key == "payload_text":
            assert isinstance(value, str), "`payload_text` must be a string"
            result.payload = value
        elif key in _EVENT_STRINGS:
            assert isinstance(value, str), f"`{key}` must be a string"
            setattr(result, key, value)
        elif key == "category":
            result.category = Category(value)
        elif key in _EVENT_OPTIONALS:
            setattr(result, key, value if isinstance(value, str) else None)
        else:
            raise AssertionError(f"unknown event field `{key}`")
    return result


def config(case: Dict[str, Any]) -> str:
    """The configuration text the host would pass."""
    if isinstance(case.get("config_text"), str):
        return case["config_text"]
    if "config" in case:
        return jsontext.dumps(case["config"])
    return "null"


def request(case: Dict[str, Any], ev: Event) -> Request:
    """The case's request, or the host's first one (the event JSON)."""
    spec = case.get("request")
    if spec is None:
        return Request.from_json(ev.to_json())
    body = _body(spec)
    return Request(
        body=jsontext.dumps(ev.to_json()).encode() if body is None else body,
        headers=_headers(spec) or [],
        content_type=spec.get("content_type", "application/json"),
    )


def _body(spec: Dict[str, Any]) -> Optional[bytes]:
    if "body_json" in spec:
        return jsontext.dumps(spec["body_json"]).encode()
    if "body_text" in spec:
        return spec["body_text"].encode()
    if "body_bytes" in spec:
        return bytes(spec["body_bytes"])
    return None


def _headers(spec: Dict[str, Any]) -> Optional[List[Tuple[str, str]]]:
    if "headers" not in spec:
        return None
    return [(name, value) for name, value in spec["headers"]]


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality as serde_json's `Value` has it: an integer and a float
    differ, a boolean is not a number (Python's `==` says `1 == 1.0 == True`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _expected_error(error: PluginError, expect: Dict[str, Any]) -> Optional[str]:
    if "error" not in expect:
        return f"got error {error}, expected {expect}"
    if error.kind != expect["error"]:
        return f"got a {error.kind} error ({error.message}), expected {expect['error']}"
    if "contains" in expect and expect["contains"] not in error.message:
        return f"the error {error.message!r} does not contain {expect['contains']!r}"
    return None


def check_filter(function: Callable, case: Dict[str, Any]) -> Optional[str]:
    """`None` when the filter comes out as the case expects, else why not."""
    expect = case["expect"]
    try:
        verdict = call_filter(function, event(case), config(case))
    except PluginError as e:
        return _expected_error(e, expect)
    got = "deliver" if verdict is Verdict.DELIVER else "skip"
    return None if expect.get("verdict") == got else f"got verdict {got}, expected {expect}"


def check_transform(function: Callable, case: Dict[str, Any]) -> Optional[str]:
    """`None` when the transform comes out as the case expects, else why not."""
    expect = case["expect"]
    ev = event(case)
    try:
        out = call_transform(function, ev, request(case, ev), config(case))
    except PluginError as e:
        return _expected_error(e, expect)
    want = expect.get("request")
    if want is None:
        return f"got a request with body {out.body!r}, expected {expect}"
    problems = []
    if "body_json" in want:
        try:
            actual = jsontext.loads(out.body)
        except ValueError as e:
            problems.append(f"body is not JSON ({e}), expected {want['body_json']}")
        else:
            if not json_equal(actual, want["body_json"]):
                problems.append(f"body {jsontext.dumps(actual)} != expected {jsontext.dumps(want['body_json'])}")
    if "body_text" in want and bytes(out.body).decode("utf-8", "replace") != want["body_text"]:
        problems.append(f"body {out.body!r} != expected {want['body_text']!r}")
    if "headers" in want and list(out.headers) != _headers(want):
        problems.append(f"headers {out.headers} != expected {want['headers']}")
    if "content_type" in want and out.content_type != want["content_type"]:
        problems.append(f"content type {out.content_type!r} != expected {want['content_type']!r}")
    return "; ".join(problems) or None
