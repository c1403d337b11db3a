"""JSON text: strict in, compact and key-sorted out."""

import pytest

from scaihub_plugin import jsontext


def test_output_is_compact_sorted_and_keeps_non_ascii():
    assert jsontext.dumps({"b": 1, "a": ["ż", 1.5, None, True]}) == '{"a":["ż",1.5,null,true],"b":1}'


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_json_numbers_are_refused(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


def test_nan_cannot_be_written():
    with pytest.raises(ValueError):
        jsontext.dumps(float("nan"))


def test_bytes_parse_as_utf8():
    assert jsontext.loads('{"k":"é"}'.encode()) == {"k": "é"}


def test_bytes_other_than_utf8_are_not_json():
    with pytest.raises(ValueError):
        jsontext.loads('{"k": 1}'.encode("utf-16"))


def test_numbers_beyond_the_float_range_are_refused():
    assert jsontext.loads("18446744073709551615") == 2**64 - 1
    assert jsontext.loads("1.5e300") == 1.5e300
    for text in ["1e400", "-1e400", "[0.5, 2e999]"]:
        with pytest.raises(ValueError, match="out of range"):
            jsontext.loads(text)
