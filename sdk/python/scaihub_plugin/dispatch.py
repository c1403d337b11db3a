"""Calling a plugin function the way the component does, in plain Python:
checks what it returns and turns any exception into a `PluginError`.

The WebAssembly glue (`scaihub_plugin._guest`) only converts between the
generated WIT types and the SDK's around these two functions, so everything
a call can do wrong is testable here without WebAssembly.
"""

import traceback
from typing import Callable, Union

from .config import Config
from .errors import Failed, PluginError
from .event import Event
from .plugin import Verdict
from .request import Request


def call_filter(function: Callable, event: Event, config: str) -> Verdict:
    """Runs a filter on `event` with the configuration text `config`."""
    try:
        verdict: Union[Verdict, bool] = function(event, Config(config))
    except PluginError:
        raise
    except Exception as e:  # noqa: BLE001 - every escape becomes the plugin's failure
        raise uncaught(e) from None
    if isinstance(verdict, Verdict):
        return verdict
    if isinstance(verdict, bool):
        return Verdict.deliver_if(verdict)
    raise Failed(f"the filter returned {_kind(verdict)}, not a Verdict or a bool")


def call_transform(function: Callable, event: Event, request: Request, config: str) -> Request:
    """Runs a transform on `event` and `request` with the configuration text
    `config`, and checks the request it returns."""
    try:
        out = function(event, request, Config(config))
    except PluginError:
        raise
    except Exception as e:  # noqa: BLE001 - every escape becomes the plugin's failure
        raise uncaught(e) from None
    if not isinstance(out, Request):
        raise Failed(f"the transform returned {_kind(out)}, not a Request")
    if not isinstance(out.body, (bytes, bytearray, memoryview)):
        raise Failed(f"the request body is {_kind(out.body)}, not bytes (set_body_text sets text)")
    if not isinstance(out.content_type, str):
        raise Failed(f"the content type is {_kind(out.content_type)}, not a str")
    for header in out.headers:
        if not (
            isinstance(header, tuple)
            and len(header) == 2
            and isinstance(header[0], str)
            and isinstance(header[1], str)
        ):
            raise Failed(f"a header is {header!r}, not a (name, value) pair of str")
    return out


def uncaught(error: BaseException) -> Failed:
    """The `Failed` an uncaught exception becomes: its type, message and the
    innermost line that raised it, so the delivery log points at the bug."""
    where = ""
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    message = str(error)
    return Failed(f"uncaught {type(error).__name__}{where}" + (f": {message}" if message else ""))


def _kind(value: object) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
