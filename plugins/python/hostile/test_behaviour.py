"""The hostile plugins' configuration and reports (the misbehaviours
themselves run only inside the sandbox)."""

import pytest

from behaviour import BEHAVIOURS, Behaviour, escape_report
from hostile_filter import hostile_filter
from hostile_transform import hostile_transform
from scaihub_plugin import Config, Event, Failed, InvalidConfig, Request, Verdict, call_filter, call_transform


def parse(raw):
    return Behaviour.from_config(Config(raw))


def test_behaviours_parse_with_defaults():
    assert parse('{"behaviour": "huge-output"}').bytes == 64 << 20
    assert parse('{"behaviour": "sleep"}').ms == 3_600_000
    assert parse('{"behaviour": "long-error", "chars": 3}').chars == 3
    assert parse('{"behaviour": "read-file", "path": "/x"}').path == "/x"
    assert parse('{"behaviour": "run-process"}').argv == ["/bin/sh", "-c", "id"]


def test_the_rust_behaviours_all_exist():
    rust = {"none", "infinite-loop", "memory-bomb", "deep-recursion", "panic", "unreachable",
            "huge-output", "sleep", "long-error", "read-env", "read-file", "connect-tcp"}
    assert rust <= set(BEHAVIOURS)


@pytest.mark.parametrize("raw", ["", '{"behaviour": "fork-bomb"}', '{"behaviour": "none", "x": 1}'])
def test_unknown_or_missing_behaviour_is_invalid_config(raw):
    with pytest.raises(InvalidConfig):
        parse(raw)


def test_escape_reports_say_whether_the_sandbox_held():
    def denied():
        raise PermissionError("denied")

    assert escape_report("reading x", denied) == Failed("sandbox held: reading x failed: PermissionError: denied")
    assert escape_report("reading x", lambda: "3 bytes").message == "sandbox breached: reading x succeeded (3 bytes)"


def test_none_behaves_in_both_worlds():
    assert call_filter(hostile_filter, Event.sample(), '{"behaviour": "none"}') is Verdict.DELIVER
    request = Request.from_json({"a": 1})
    assert call_transform(hostile_transform, Event.sample(), request, '{"behaviour": "none"}') is request


def test_small_outputs_and_errors_have_the_asked_size():
    with pytest.raises(Failed) as caught:
        call_filter(hostile_filter, Event.sample(), '{"behaviour": "huge-output", "bytes": 10}')
    assert caught.value.message == "x" * 10
    out = call_transform(hostile_transform, Event.sample(), Request(), '{"behaviour": "huge-output", "bytes": 7}')
    assert (out.body, out.content_type) == (b"xxxxxxx", "text/plain")
    with pytest.raises(Failed) as caught:
        call_filter(hostile_filter, Event.sample(), '{"behaviour": "long-error", "chars": 5}')
    assert caught.value.message == "€€€€€"


def test_panic_becomes_failed_through_the_sdk():
    with pytest.raises(Failed, match="uncaught RuntimeError at behaviour.py"):
        call_filter(hostile_filter, Event.sample(), '{"behaviour": "panic"}')
