"""payload-field-filter: the Rust plugin's tests, in Python."""

import pytest

import shared_cases

from payload_field_filter import payload_field_filter, same_json_value
from scaihub_plugin import Config, Event, InvalidConfig, Verdict, call_filter

ROLES = '{"pointer": "/role", "allowed": ["contributor", "owner"]}'


def verdict(payload, config):
    return call_filter(payload_field_filter, Event.sample(payload), config)


def test_allowed_string_is_delivered():
    assert verdict({"role": "owner"}, ROLES) is Verdict.DELIVER


def test_other_value_or_missing_field_is_skipped():
    assert verdict({"role": "viewer"}, ROLES) is Verdict.SKIP
    assert verdict({"other": "owner"}, ROLES) is Verdict.SKIP


def test_non_json_payload_is_skipped():
    event = Event.sample()
    event.payload = "role=owner"
    assert call_filter(payload_field_filter, event, ROLES) is Verdict.SKIP


def test_numbers_and_bools_compare_as_json_values():
    config = '{"pointer": "/item/size", "allowed": [10, true]}'
    assert verdict({"item": {"size": 10.0}}, config) is Verdict.DELIVER
    assert verdict({"item": {"size": True}}, config) is Verdict.DELIVER
    assert verdict({"item": {"size": "10"}}, config) is Verdict.SKIP
    assert verdict({"item": {"size": 11}}, config) is Verdict.SKIP
    # Python's own True == 1 must not leak in: JSON true is not 1.
    assert verdict({"item": {"size": 1}}, '{"pointer": "/item/size", "allowed": [true]}') is Verdict.SKIP


def test_nested_values_compare_numbers_by_value_as_the_rust_plugin_does():
    assert same_json_value({"a": 1}, {"a": 1})
    assert same_json_value({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2.0}]})
    assert not same_json_value({"a": 1}, {"a": 1.5})
    assert not same_json_value({"a": 1}, {"a": 1, "b": 2})
    assert not same_json_value([True], [1])
    assert same_json_value(2**64 - 1, 2**64 - 1)
    assert not same_json_value(2**63, 2**63 + 1)


@pytest.mark.parametrize(
    "config",
    [
        "",
        '{"pointer": "role", "allowed": ["x"]}',
        '{"pointer": "/role", "allowed": []}',
        '{"pointer": "/role"}',
        '{"pointer": "/role", "allowed": ["x"], "extra": 1}',
    ],
)
def test_bad_config_is_invalid_config(config):
    with pytest.raises(InvalidConfig):
        verdict({"role": "x"}, config)


CASES = shared_cases.load("payload-field-filter", "filter")


@pytest.mark.parametrize("case", CASES, ids=shared_cases.ids(CASES))
def test_shared_case(case):
    """plugins/cases/payload-field-filter.json, shared with the Rust and
    TypeScript versions."""
    assert shared_cases.check_filter(payload_field_filter, case) is None
