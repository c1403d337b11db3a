"""`Config`: the JSON configuration a webhook attaches to a plugin, parsed on
demand, into a plain value or into a dataclass whose field types are checked.

`parse` reads the dataclass's annotations: `str`, `bool`, `int`, `float`,
`Any`/`object`, `Optional[X]`, `List[X]`/`list[X]`, `Dict[str, X]`/
`dict[str, X]`, `Literal[...]` and nested dataclasses. A field without a
default is required. A mismatch, a missing field or (unless allowed) an
unknown one is `InvalidConfig` naming the field, as `serde` does for the
Rust SDK. `ValueError` or `TypeError` raised by the dataclass's own
`__post_init__` checks become `InvalidConfig` too.
"""

import dataclasses
import types
import typing
from typing import Any, Dict, List, Type, TypeVar

from . import jsontext
from .errors import InvalidConfig

T = TypeVar("T")


class Config:
    """The configuration text the host passed for this call. An absent
    configuration (empty text or `null`) reads as `{}`, so a dataclass whose
    fields all have defaults parses from nothing."""

    def __init__(self, raw: str = "null") -> None:
        self._raw = raw

    @classmethod
    def of(cls, value: Any) -> "Config":
        """The configuration holding `value` as JSON (for tests)."""
        return cls(jsontext.dumps(value))

    @property
    def raw(self) -> str:
        """The text exactly as received."""
        return self._raw

    def is_absent(self) -> bool:
        """Whether the webhook attached no configuration at all."""
        return self._raw.strip() in ("", "null")

    def json(self) -> Any:
        """The configuration as a JSON value (`{}` when absent);
        `InvalidConfig` when it is not JSON."""
        if self.is_absent():
            return {}
        try:
            return jsontext.loads(self._raw)
        except ValueError as e:
            raise InvalidConfig(f"not JSON: {e}") from None

    def object(self) -> Dict[str, Any]:
        """The configuration as a JSON object; `InvalidConfig` otherwise."""
        value = self.json()
        if not isinstance(value, dict):
            raise InvalidConfig(f"expected a JSON object, found {_describe(value)}")
        return value

    def parse(self, cls: Type[T], *, allow_unknown: bool = False) -> T:
        """The configuration as an instance of the dataclass `cls`, its
        fields checked against their annotations."""
        return _build(cls, self.object(), "", allow_unknown)

    def __repr__(self) -> str:
        return f"Config({self._raw!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and other._raw == self._raw


def _build(cls: Any, value: Dict[str, Any], path: str, allow_unknown: bool) -> Any:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = _hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    if not allow_unknown:
        for key in value:
            if key not in names:
                expected = ", ".join(f"`{n}`" for n in names)
                raise InvalidConfig(f"unknown field `{path}{key}`, expected one of {expected}")
    kwargs: Dict[str, Any] = {}
    for f in fields:
        if f.name in value:
            kwargs[f.name] = _check(value[f.name], hints[f.name], f"{path}{f.name}", allow_unknown)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InvalidConfig(f"missing field `{path}{f.name}`")
    try:
        return cls(**kwargs)
    except InvalidConfig:
        raise
    except (ValueError, TypeError) as e:
        where = f"`{path.rstrip('.')}`: " if path else ""
        raise InvalidConfig(f"{where}{e}") from None


#: Field types per dataclass, worked out once per process.
_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    """The field types of `cls`. The annotations dataclasses keep are used as
    they are; `typing.get_type_hints` (several times dearer: it is a large
    share of a call in a component, where every call starts afresh) runs
    only when some are strings (`from __future__ import annotations`)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        if any(isinstance(t, str) for t in hints.values()):
            hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _check(value: Any, hint: Any, path: str, allow_unknown: bool) -> Any:
    """`value` if it fits `hint` (converted where needed), else InvalidConfig."""
    # The plain types first: they are most fields, and cost no typing calls.
    if hint is str:
        if not isinstance(value, str):
            raise _mismatch(path, "a string", value)
        return value
    if hint is Any or hint is object:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _mismatch(path, "a boolean", value)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(path, "an integer", value)
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _mismatch(path, "a number", value)
        return float(value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _check(value, option, path, allow_unknown)
            except InvalidConfig:
                continue
        if len(options) == 1:
            return _check(value, options[0], path, allow_unknown)
        raise InvalidConfig(f"field `{path}`: {_describe(value)} fits none of {hint}")
    if origin is typing.Literal:
        for allowed in args:
            if value == allowed and type(value) is type(allowed):
                return value
        wanted = ", ".join(repr(a) for a in args)
        raise InvalidConfig(f"field `{path}`: expected one of {wanted}, found {_describe(value)}")
    if origin in (list, List):
        if not isinstance(value, list):
            raise _mismatch(path, "an array", value)
        item = args[0] if args else Any
        if item is Any or item is object:
            return value
        return [_check(v, item, f"{path}[{i}]", allow_unknown) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        item = args[1] if len(args) == 2 else Any
        return {k: _check(v, item, f"{path}.{k}", allow_unknown) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _mismatch(path, "an object", value)
        return _build(hint, value, f"{path}.", allow_unknown)
    raise TypeError(f"field `{path}`: config fields of type {hint!r} are not supported")


def _mismatch(path: str, expected: str, value: Any) -> InvalidConfig:
    return InvalidConfig(f"field `{path}`: expected {expected}, found {_describe(value)}")


def _describe(value: Any) -> str:
    """How a JSON value is named in messages: `a string "x"`, `null`..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"a number {value}"
    if isinstance(value, str):
        return f"a string {jsontext.dumps(value)}"
    if isinstance(value, list):
        return "an array"
    return "an object"
