"""pii-redact: the Rust plugin's tests, in Python."""

import pytest

import shared_cases

from pii_redact import pii_redact
from scaihub_plugin import Config, Event, InvalidConfig, InvalidEvent, Request, call_transform


def run(body, config):
    out = call_transform(pii_redact, Event.sample(), Request.from_json(body), config)
    return out.body_json()


def test_removes_and_masks_configured_fields():
    body = {"user_id": "usr_01HXYZABCD", "payload": {"email": "a@b.example", "phone": "+1 555 0100", "keep": 1}}
    config = '{"remove": ["/payload/email"], "mask": ["/payload/phone", "/user_id"]}'
    assert run(body, config) == {"user_id": "***ABCD", "payload": {"phone": "***0100", "keep": 1}}


def test_short_strings_and_non_strings_are_fully_masked():
    body = {"pin": "1234", "age": 42, "tags": ["a"]}
    assert run(body, '{"mask": ["/pin", "/age", "/tags"]}') == {"pin": "***", "age": "***", "tags": "***"}


def test_keep_last_zero_masks_everything_and_counts_characters():
    body = {"a": "secret value", "b": "żółw-żółty"}
    assert run(body, '{"mask": ["/a"], "keep_last": 0}')["a"] == "***"
    assert run(body, '{"mask": ["/b"]}')["b"] == "***ółty"


def test_missing_fields_are_ignored_and_array_items_removed():
    body = {"list": [1, 2, 3], "a/b": True}
    config = '{"remove": ["/list/1", "/nothing/here", "/list/9", "/a~1b"]}'
    assert run(body, config) == {"list": [1, 3]}


def test_remove_reads_array_indices_as_rust_usize_does():
    # `remove` parses the last token like Rust's usize (a `+` and leading
    # zeros allowed); `mask` follows JSON-pointer rules (neither allowed).
    assert run({"l": [1, 2, 3]}, '{"remove": ["/l/+01"]}') == {"l": [1, 3]}
    assert run({"l": ["abcdef"]}, '{"mask": ["/l/00"]}') == {"l": ["abcdef"]}


def test_body_is_written_as_the_rust_plugin_writes_it():
    request = Request.from_json({"z": "ż", "a": {"y": 1, "b": 2}})
    request.body = b'{ "z": "\\u017c",  "a": {"y": 1, "b": 2} }'
    out = call_transform(pii_redact, Event.sample(), request, "{}")
    assert out.body == '{"a":{"b":2,"y":1},"z":"ż"}'.encode()
    assert out.content_type == "application/json"


def test_non_json_body_is_an_error():
    request = Request(body=b"email=a@b", content_type="text/plain")
    with pytest.raises(InvalidEvent):
        call_transform(pii_redact, Event.sample(), request, '{"remove": ["/x"]}')


@pytest.mark.parametrize(
    "config",
    ['{"mask": ["user_id"]}', '{"keep_last": -1}', '{"keep_last": 1.5}', '{"remove": "/x"}', '{"other": []}'],
)
def test_bad_config_is_invalid_config(config):
    with pytest.raises(InvalidConfig):
        run({}, config)


def test_absent_config_changes_nothing_but_the_layout():
    assert call_transform(pii_redact, Event.sample(), Request(body=b'{"b": 1, "a": 2}'), "null").body == b'{"a":2,"b":1}'


CASES = shared_cases.load("pii-redact", "transform")


@pytest.mark.parametrize("case", CASES, ids=shared_cases.ids(CASES))
def test_shared_case(case):
    """plugins/cases/pii-redact.json, shared with the Rust and TypeScript
    versions."""
    assert shared_cases.check_transform(pii_redact, case) is None
