"""The three plugin errors: kinds as in the WIT, messages as in Rust."""

from scaihub_plugin import Failed, InvalidConfig, InvalidEvent, PluginError


def test_each_error_names_its_wit_case():
    assert InvalidConfig("x").kind == "invalid-config"
    assert InvalidEvent("x").kind == "invalid-event"
    assert Failed("x").kind == "failed"
    assert all(issubclass(c, PluginError) for c in (InvalidConfig, InvalidEvent, Failed))


def test_message_and_display():
    e = InvalidConfig("missing field `pointer`")
    assert e.message == "missing field `pointer`"
    assert str(e) == "invalid config: missing field `pointer`"
    assert str(InvalidEvent(42)) == "invalid event: 42"
    assert str(Failed("boom")) == "failed: boom"


def test_errors_compare_by_kind_and_message():
    assert InvalidConfig("a") == InvalidConfig("a")
    assert InvalidConfig("a") != InvalidEvent("a")
    assert InvalidConfig("a") != InvalidConfig("b")
