"""What a plugin is: a function decorated `@filter` or `@transform`, and the
filter's `Verdict`.

The decorators only mark the function (and give it back unchanged, so unit
tests call it directly); `scaihub-plugin build` exports the marked function
of the plugin's module as the component's `filter` or `transform`. A plugin
module holds exactly one marked function.
"""

import enum
from types import ModuleType
from typing import Callable, Dict, Tuple, TypeVar, Union

from .config import Config
from .event import Event
from .request import Request


class Verdict(enum.Enum):
    """A filter's answer for one event."""

    #: Send the event to the webhook.
    DELIVER = "deliver"
    #: Do not send it; the delivery is recorded as filtered.
    SKIP = "skip"

    @classmethod
    def deliver_if(cls, deliver: bool) -> "Verdict":
        """`DELIVER` when `deliver` holds, else `SKIP`."""
        return cls.DELIVER if deliver else cls.SKIP


#: A filter: the event and the webhook's configuration in, a verdict out
#: (`True` and `False` read as deliver and skip).
FilterFn = Callable[[Event, Config], Union[Verdict, bool]]
#: A transform: the event, the request built from it and the configuration
#: in, the request to send out.
TransformFn = Callable[[Event, Request, Config], Request]

F = TypeVar("F", bound=Callable)

#: The attribute the decorators set on a function: the kind it exports.
_MARK = "__scaihub_export__"


def _mark(kind: str, function: F) -> F:
    if not callable(function):
        raise TypeError(f"@{kind} decorates a function, not {function!r}")
    setattr(function, _MARK, kind)
    return function


def filter(function: F) -> F:  # noqa: A001 - the decorator is named for the WIT world
    """Exports `function(event, config) -> Verdict` as the plugin's filter."""
    return _mark("filter", function)


def transform(function: F) -> F:
    """Exports `function(event, request, config) -> Request` as the
    plugin's transform."""
    return _mark("transform", function)


def exported(module: ModuleType) -> Tuple[str, Callable]:
    """The one function `module` exports (decorated `@filter` or
    `@transform`, defined there or imported into it) and its kind; a
    `LookupError` saying what is wrong when there is not exactly one."""
    found: Dict[int, Tuple[str, Callable]] = {}
    for value in vars(module).values():
        kind = getattr(value, _MARK, None) if callable(value) else None
        if kind in ("filter", "transform"):
            found[id(value)] = (kind, value)
    if not found:
        raise LookupError(
            f"module `{module.__name__}` has no function decorated @filter or @transform"
        )
    if len(found) > 1:
        names = ", ".join(f"{_name(fn)} (@{kind})" for kind, fn in found.values())
        raise LookupError(f"module `{module.__name__}` exports more than one function: {names}")
    return next(iter(found.values()))


def _name(function: Callable) -> str:
    return f"`{getattr(function, '__qualname__', repr(function))}`"
