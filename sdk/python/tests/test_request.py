"""The outgoing request: body as bytes, text or JSON, and headers."""

import pytest

from scaihub_plugin import APPLICATION_JSON, InvalidEvent, Request


def test_json_body_round_trips_and_sets_content_type():
    request = Request(content_type="text/plain")
    request.set_body_json({"b": 1, "a": "é"})
    assert request.content_type == APPLICATION_JSON
    assert request.body == '{"a":"é","b":1}'.encode()
    assert request.body_json() == {"a": "é", "b": 1}
    assert Request.from_json([1]).body == b"[1]"


def test_non_json_or_non_utf8_body_is_invalid_event():
    with pytest.raises(InvalidEvent, match="body is not JSON"):
        Request(body=b"plain").body_json()
    with pytest.raises(InvalidEvent, match="not UTF-8"):
        Request(body=b"\xff").body_text()


def test_text_body_sets_its_content_type():
    request = Request()
    request.set_body_text("héllo")
    assert request.body == "héllo".encode()
    assert request.body_text() == "héllo"
    assert request.content_type == "text/plain; charset=utf-8"


def test_set_header_replaces_case_insensitively_and_goes_last():
    request = Request(headers=[("X-Tenant", "a"), ("X-Other", "o"), ("x-tenant", "a2")])
    request.set_header("X-TENANT", "b")
    assert request.headers == [("X-Other", "o"), ("X-TENANT", "b")]
    assert request.header("x-tenant") == "b"
    assert request.header("missing") is None
    request.remove_header("x-other")
    assert request.headers == [("X-TENANT", "b")]
