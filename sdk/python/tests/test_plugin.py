"""Exporting a function, and calling it as the component does."""

import types

import pytest

import scaihub_plugin as sp
from scaihub_plugin import Config, Event, Failed, InvalidConfig, Request, Verdict
from scaihub_plugin.plugin import exported


def module_with(**values):
    module = types.ModuleType("plugin_under_test")
    vars(module).update(values)
    return module


def test_decorators_return_the_function_and_mark_its_kind():
    def judge(event, config):
        return Verdict.SKIP

    assert sp.filter(judge) is judge
    assert exported(module_with(judge=judge, helper=len)) == ("filter", judge)

    def rewrite(event, request, config):
        return request

    sp.transform(rewrite)
    assert exported(module_with(rewrite=rewrite)) == ("transform", rewrite)


def test_a_module_must_export_exactly_one_function():
    with pytest.raises(LookupError, match="no function decorated"):
        exported(module_with(helper=len))

    @sp.filter
    def one(event, config):
        return True

    @sp.transform
    def two(event, request, config):
        return request

    with pytest.raises(LookupError, match="more than one function"):
        exported(module_with(one=one, two=two))
    # The same function under two names is still one export.
    assert exported(module_with(one=one, alias=one)) == ("filter", one)


def test_verdict_deliver_if():
    assert Verdict.deliver_if(True) is Verdict.DELIVER
    assert Verdict.deliver_if(False) is Verdict.SKIP


def test_filter_may_answer_a_verdict_or_a_bool():
    event = Event.sample()
    assert sp.call_filter(lambda e, c: Verdict.SKIP, event, "null") is Verdict.SKIP
    assert sp.call_filter(lambda e, c: True, event, "null") is Verdict.DELIVER
    assert sp.call_filter(lambda e, c: False, event, "null") is Verdict.SKIP


def test_filter_gets_the_config_text_wrapped():
    seen = []
    sp.call_filter(lambda e, c: seen.append(c) or True, Event.sample(), '{"a": 1}')
    assert seen == [Config('{"a": 1}')]


def test_filter_returning_something_else_fails():
    with pytest.raises(Failed, match="returned None, not a Verdict"):
        sp.call_filter(lambda e, c: None, Event.sample(), "null")
    with pytest.raises(Failed, match="returned a str"):
        sp.call_filter(lambda e, c: "deliver", Event.sample(), "null")


def test_plugin_errors_pass_through_unchanged():
    def bad_config(event, config):
        raise InvalidConfig("pointer must start with '/'")

    with pytest.raises(InvalidConfig) as caught:
        sp.call_filter(bad_config, Event.sample(), "{}")
    assert caught.value == InvalidConfig("pointer must start with '/'")


def test_any_other_exception_becomes_failed_with_its_type_and_line():
    def buggy(event, config):
        return {}["missing"]

    with pytest.raises(Failed) as caught:
        sp.call_filter(buggy, Event.sample(), "null")
    message = caught.value.message
    assert message.startswith("uncaught KeyError at test_plugin.py:")
    assert message.endswith(": 'missing'")


def test_transform_result_is_checked():
    event, request = Event.sample(), Request.from_json({"a": 1})
    assert sp.call_transform(lambda e, r, c: r, event, request, "null") is request
    with pytest.raises(Failed, match="not a Request"):
        sp.call_transform(lambda e, r, c: r.body, event, request, "null")
    with pytest.raises(Failed, match="not bytes"):
        sp.call_transform(lambda e, r, c: Request(body="text"), event, request, "null")
    with pytest.raises(Failed, match="not a .name, value. pair"):
        sp.call_transform(lambda e, r, c: Request(headers=[("X-A", 1)]), event, request, "null")
    with pytest.raises(Failed, match="uncaught ZeroDivisionError"):
        sp.call_transform(lambda e, r, c: 1 / 0, event, request, "null")
