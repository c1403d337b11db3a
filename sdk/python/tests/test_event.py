"""The event: payload JSON, pointers, the delivered shape."""

import pytest

from scaihub_plugin import MISSING, Category, Event, InvalidEvent


def test_category_is_its_json_name():
    assert Category.FILE_ACCESS == "FILE_ACCESS"
    assert str(Category.FILE_MODIFICATION) == "FILE_MODIFICATION"
    assert Category("SHARING") is Category.SHARING
    with pytest.raises(ValueError):
        Category("sharing")
    assert len(Category) == 8


def test_pointer_reads_into_payload():
    event = Event.sample({"role": "viewer", "n": [1, 2], "gone": None})
    assert event.pointer("/role") == "viewer"
    assert event.pointer("/n/1") == 2
    assert event.pointer("/missing") is None
    assert event.pointer("/missing", "x") == "x"
    assert event.pointer("/gone", MISSING) is None
    assert event.pointer("/missing", MISSING) is MISSING


def test_non_json_payload_is_invalid_event_and_has_no_pointers():
    event = Event.sample()
    event.payload = "not json"
    with pytest.raises(InvalidEvent, match="payload is not JSON"):
        event.payload_json()
    assert event.pointer("", MISSING) is MISSING
    assert event.to_json()["payload"] == "not json"


def test_to_json_has_the_delivered_shape():
    out = Event.sample({"role": "viewer"}).to_json()
    assert out["category"] == "SHARING"
    assert out["payload"] == {"role": "viewer"}
    assert out["share_id"] == "shr_01SAMPLE"
    assert "service_account" not in out


def test_from_json_reverses_to_json_and_names_bad_fields():
    event = Event.sample({"a": [1]})
    assert Event.from_json(event.to_json()) == event
    with pytest.raises(InvalidEvent, match="`action`"):
        Event.from_json({"event_id": "e", "timestamp": "t", "category": "ADMIN"})
    with pytest.raises(InvalidEvent, match="`category`"):
        Event.from_json({"event_id": "e", "timestamp": "t", "category": "admin", "action": "a"})
