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


def test_numbers_read_as_serde_json_reads_them():
    assert jsontext.loads("18446744073709551615") == 2**64 - 1
    assert jsontext.loads("-9223372036854775808") == -(2**63)
    big = jsontext.loads("18446744073709551616")
    assert isinstance(big, float) and big == 2.0**64
    for text in ["1e400", "-1e400", "1" + "0" * 400]:
        with pytest.raises(ValueError, match="out of range"):
            jsontext.loads(text)
