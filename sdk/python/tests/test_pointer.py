"""JSON pointers read as the Rust SDK (serde_json) reads them."""

from scaihub_plugin.pointer import MISSING, escape, locate, resolve, tokens

DOC = {"a": {"b": [10, 20, {"c": None}]}, "x/y": 1, "m~n": 2, "": 3, "01": 4}


def test_empty_pointer_is_the_whole_document():
    assert resolve(DOC, "") is DOC


def test_pointer_without_leading_slash_points_nowhere():
    assert resolve(DOC, "a") is MISSING
    assert tokens("a") is None


def test_keys_indices_and_escapes_resolve():
    assert resolve(DOC, "/a/b/1") == 20
    assert resolve(DOC, "/x~1y") == 1
    assert resolve(DOC, "/m~0n") == 2
    assert resolve(DOC, "/") == 3
    assert resolve(DOC, "/01") == 4  # in an object, "01" is just a key


def test_array_indices_follow_serde_json_rules():
    assert resolve(DOC, "/a/b/01") is MISSING
    assert resolve(DOC, "/a/b/+1") is MISSING
    assert resolve(DOC, "/a/b/3") is MISSING
    assert resolve(DOC, "/a/b/-") is MISSING
    assert resolve(DOC, "/a/b/0") == 10


def test_null_is_a_value_and_missing_is_not():
    assert resolve(DOC, "/a/b/2/c") is None
    assert resolve(DOC, "/a/b/2/d") is MISSING
    assert resolve(DOC, "/a/b/2/d", "fallback") == "fallback"
    assert not MISSING


def test_cannot_step_into_scalars():
    assert resolve(DOC, "/x~1y/0") is MISSING
    assert resolve("text", "/0") is MISSING


def test_locate_gives_container_and_key_for_replacing_in_place():
    doc = {"a": [1, {"b": 2}]}
    container, key = locate(doc, "/a/1/b")
    container[key] = "***"
    assert doc == {"a": [1, {"b": "***"}]}
    assert locate(doc, "/a/5") is None
    assert locate(doc, "") is None
    assert locate(doc, "/nope/x") is None


def test_escape_round_trips_through_tokens():
    for key in ["a/b", "~1", "~", "", "x~0/y"]:
        assert tokens("/" + escape(key)) == [key]
