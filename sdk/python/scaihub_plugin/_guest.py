"""The WebAssembly side of a plugin: the class componentize-py exports,
converting between the bindings it generates for our WIT (`wit_world`,
`componentize_py_types`) and the SDK's own types around `dispatch`.

Only the entry module `scaihub-plugin build` writes imports this, inside a
component build; the rest of the SDK never needs the generated bindings.
Plugin authors do not name anything here.
"""

import importlib
from types import ModuleType
from typing import Any

from . import dispatch, plugin
from .errors import PluginError
from .event import Category, Event
from .request import Request


def world_class(app: str, kind: str) -> type:
    """The `WitWorld` class exporting the one decorated function of module
    `app`, which must be of `kind` (the world being built). Raises at build
    time, while componentize-py imports the entry module, when it is not."""
    module = importlib.import_module(app)
    found, function = plugin.exported(module)
    if found != kind:
        raise RuntimeError(
            f"module `{app}` exports a {found} (@{found}), but the build is for a {kind}"
        )
    import componentize_py_types
    import wit_world
    from wit_world.imports import types

    return make_world_class(kind, function, wit_world.WitWorld, types, componentize_py_types.Err)


def make_world_class(kind: str, function: Any, base: type, types: ModuleType, err: type) -> type:
    """The class for `kind`: a subclass of the generated world protocol
    `base`, using the generated `types` module and `Err` exception (passed
    in so tests can use bindings generated for CPython)."""

    def to_wit_error(e: Any) -> Any:
        case = {
            "invalid-config": types.PluginError_InvalidConfig,
            "invalid-event": types.PluginError_InvalidEvent,
        }.get(e.kind, types.PluginError_Failed)
        return err(case(e.message))

    if kind == "filter":

        class FilterWorld(base):  # type: ignore[misc,valid-type]
            def filter(self, event: Any, config: str) -> Any:
                try:
                    verdict = dispatch.call_filter(function, event_from_wit(event), config)
                except PluginError as e:
                    raise to_wit_error(e) from None
                if verdict is plugin.Verdict.DELIVER:
                    return types.Verdict.DELIVER
                return types.Verdict.SKIP

        return FilterWorld

    if kind == "transform":

        class TransformWorld(base):  # type: ignore[misc,valid-type]
            def transform(self, event: Any, request: Any, config: str) -> Any:
                ours = Request(
                    body=bytes(request.body),
                    headers=[(n, v) for n, v in request.headers],
                    content_type=request.content_type,
                )
                try:
                    out = dispatch.call_transform(function, event_from_wit(event), ours, config)
                except PluginError as e:
                    raise to_wit_error(e) from None
                return types.OutgoingRequest(
                    body=bytes(out.body),
                    headers=list(out.headers),
                    content_type=out.content_type,
                )

        return TransformWorld

    raise ValueError(f"unknown plugin kind {kind!r}")


def event_from_wit(event: Any) -> Event:
    """The SDK's event from the generated `types.Event`."""
    return Event(
        event_id=event.event_id,
        timestamp=event.timestamp,
        category=Category[event.category.name],
        action=event.action,
        user_id=event.user_id,
        resource_id=event.resource_id,
        payload=event.payload,
        ip_address=event.ip_address,
        share_id=event.share_id,
        service_account=event.service_account,
    )
