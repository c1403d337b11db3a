"""Write ScaiHub webhook plugins in Python: filters that decide whether a
webhook receives an event, and transforms that rewrite the request it
receives.

A plugin is a module with one function decorated `@filter` or `@transform`;
`scaihub-plugin build app.py --kind filter -o plugin.wasm` turns it into a
WebAssembly component (componentize-py, against the `scaidrive:hooks@0.1.0`
WIT package bundled in `wit/`), ready to upload.

Layout:
- `Event`, `Category` (event.py): the event, with its payload as JSON
  (`payload_json`) and a JSON-pointer reader (`pointer`).
- `Request` (request.py): the outgoing request a transform rewrites.
- `Config` (config.py): the webhook's configuration for the plugin, parsed
  into a checked dataclass with `parse`.
- `InvalidConfig`, `InvalidEvent`, `Failed` (errors.py): what a plugin
  raises; the WIT `plugin-error` cases.
- `filter`, `transform`, `Verdict` (plugin.py): exporting a function.
- `pointer`, `jsontext`: JSON pointers and JSON text, read and written the
  way the Rust SDK does.
- `dispatch`: calls a plugin function as the component does (for tests).
- `build` (the `scaihub-plugin` command) and `_guest` (the component's
  side): building; neither is imported by the above.
"""

from . import jsontext, pointer
from .config import Config
from .dispatch import call_filter, call_transform
from .errors import Failed, InvalidConfig, InvalidEvent, PluginError
from .event import Category, Event
from .plugin import Verdict, filter, transform
from .pointer import MISSING
from .request import APPLICATION_JSON, Request

__version__ = "0.1.0"

__all__ = [
    "APPLICATION_JSON",
    "Category",
    "Config",
    "Event",
    "Failed",
    "InvalidConfig",
    "InvalidEvent",
    "MISSING",
    "PluginError",
    "Request",
    "Verdict",
    "call_filter",
    "call_transform",
    "filter",
    "jsontext",
    "pointer",
    "transform",
]
