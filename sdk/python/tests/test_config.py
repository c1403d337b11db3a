"""Config: absent reads as {}, dataclasses are checked field by field."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional

import pytest

from scaihub_plugin import Config, InvalidConfig


@dataclass
class Inner:
    name: str


@dataclass
class Rule:
    pointer: str
    allowed: List[Any]
    keep_last: int = 4
    ratio: float = 0.5
    label: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    mode: Literal["strict", "loose"] = "strict"
    inner: Optional[Inner] = None

    def __post_init__(self):
        if self.keep_last < 0:
            raise ValueError("keep_last must not be negative")


@dataclass
class AllOptional:
    template: Optional[str] = None


@pytest.mark.parametrize("raw", ["", "  ", "null"])
def test_absent_config_parses_as_empty_object(raw):
    config = Config(raw)
    assert config.is_absent()
    assert config.json() == {}
    assert config.parse(AllOptional) == AllOptional()


def test_fields_parse_with_defaults_and_conversions():
    rule = Config('{"pointer": "/role", "allowed": ["a", 1], "ratio": 1, "headers": {"X": "y"}}').parse(Rule)
    assert rule == Rule(pointer="/role", allowed=["a", 1], ratio=1.0, headers={"X": "y"})
    assert isinstance(rule.ratio, float)
    nested = Config.of({"pointer": "/x", "allowed": [], "inner": {"name": "n"}, "mode": "loose"}).parse(Rule)
    assert nested.inner == Inner("n") and nested.mode == "loose"


@pytest.mark.parametrize(
    "value, message",
    [
        ({"allowed": []}, "missing field `pointer`"),
        ({"pointer": "/r", "allowed": [], "other": 1}, "unknown field `other`"),
        ({"pointer": 5, "allowed": []}, "field `pointer`: expected a string, found a number 5"),
        ({"pointer": "/r", "allowed": "x"}, "field `allowed`: expected an array"),
        ({"pointer": "/r", "allowed": [], "keep_last": True}, "field `keep_last`: expected an integer, found a boolean"),
        ({"pointer": "/r", "allowed": [], "keep_last": 2.0}, "field `keep_last`: expected an integer"),
        ({"pointer": "/r", "allowed": [], "keep_last": -1}, "keep_last must not be negative"),
        ({"pointer": "/r", "allowed": [], "headers": {"X": 1}}, "field `headers.X`: expected a string"),
        ({"pointer": "/r", "allowed": [], "mode": "lax"}, "field `mode`: expected one of 'strict', 'loose'"),
        ({"pointer": "/r", "allowed": [], "inner": {}}, "missing field `inner.name`"),
        ({"pointer": "/r", "allowed": [], "label": 3}, "field `label`: expected a string"),
    ],
)
def test_mismatches_are_invalid_config_naming_the_field(value, message):
    with pytest.raises(InvalidConfig) as caught:
        Config.of(value).parse(Rule)
    assert message in caught.value.message


def test_unknown_fields_can_be_allowed():
    assert Config('{"template": "t", "extra": 1}').parse(AllOptional, allow_unknown=True).template == "t"


def test_malformed_or_non_object_config_is_invalid_config():
    with pytest.raises(InvalidConfig, match="not JSON"):
        Config("{not json").json()
    with pytest.raises(InvalidConfig, match="expected a JSON object, found an array"):
        Config("[1]").parse(AllOptional)
    assert Config("[1]").json() == [1]


def test_postponed_annotations_are_resolved():
    import importlib.util
    import sys
    import textwrap

    source = textwrap.dedent(
        """
        from __future__ import annotations
        from dataclasses import dataclass
        from typing import List, Optional

        @dataclass
        class Later:
            names: List[str]
            limit: Optional[int] = None
        """
    )
    spec = importlib.util.spec_from_loader("later_config", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules["later_config"] = module
    exec(source, module.__dict__)
    assert Config('{"names": ["a"], "limit": 2}').parse(module.Later) == module.Later(["a"], 2)
    with pytest.raises(InvalidConfig, match="field `names\\[0\\]`: expected a string"):
        Config('{"names": [1]}').parse(module.Later)
