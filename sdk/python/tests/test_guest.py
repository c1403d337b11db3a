"""The component's glue over the bindings componentize-py really generates
for our WIT (run here in CPython, without WebAssembly): WIT types in, the
SDK's types to the plugin, WIT results and `plugin-error`s out."""

import importlib
import subprocess
import sys

import pytest

import scaihub_plugin as sp
from scaihub_plugin import _guest
from scaihub_plugin.build import WIT_DIR


@pytest.fixture(scope="module")
def bindings(tmp_path_factory):
    """The generated modules of each world, imported under distinct names."""
    worlds = {}
    for kind in ("filter", "transform"):
        out = tmp_path_factory.mktemp(kind)
        module = f"{kind}_world_for_test"
        subprocess.run(
            [sys.executable, "-c", "import sys; from componentize_py import script; sys.exit(script())",
             "-d", str(WIT_DIR), "-w", kind, "--world-module", module, "bindings", str(out)],
            check=True,
        )
        sys.path.insert(0, str(out))
        # With --world-module, the protocol class is named after the module.
        world = getattr(importlib.import_module(module), module.title().replace("_", ""))
        types = importlib.import_module(f"{module}.imports.types")
        err = importlib.import_module("componentize_py_types").Err
        worlds[kind] = (world, types, err)
    return worlds


def wit_event(types, payload='{"role": "owner"}'):
    return types.Event(
        event_id="evt_1", timestamp="2025-01-31T12:00:00Z", category=types.Category.FILE_ACCESS,
        action="file.read", user_id="usr_1", resource_id=None, payload=payload,
        ip_address=None, share_id=None, service_account="sa_1",
    )


def test_filter_world_converts_event_and_verdict(bindings):
    world, types, err = bindings["filter"]
    seen = []

    def judge(event, config):
        seen.append(event)
        return event.pointer("/role") in config.object()["roles"]

    cls = _guest.make_world_class("filter", judge, world, types, err)
    assert world in cls.__mro__
    assert cls().filter(wit_event(types), '{"roles": ["owner"]}') == types.Verdict.DELIVER
    assert cls().filter(wit_event(types), '{"roles": []}') == types.Verdict.SKIP
    assert seen[0].category is sp.Category.FILE_ACCESS
    assert seen[0].service_account == "sa_1" and seen[0].resource_id is None


@pytest.mark.parametrize(
    "raised, case",
    [
        (sp.InvalidConfig("bad"), "PluginError_InvalidConfig"),
        (sp.InvalidEvent("bad"), "PluginError_InvalidEvent"),
        (sp.Failed("bad"), "PluginError_Failed"),
    ],
)
def test_plugin_errors_become_the_wit_variant(bindings, raised, case):
    world, types, err = bindings["filter"]

    def judge(event, config):
        raise raised

    with pytest.raises(err) as caught:
        _guest.make_world_class("filter", judge, world, types, err)().filter(wit_event(types), "null")
    assert caught.value.value == getattr(types, case)("bad")


def test_uncaught_exception_becomes_failed(bindings):
    world, types, err = bindings["filter"]
    cls = _guest.make_world_class("filter", lambda e, c: e.payload_json()["nope"], world, types, err)
    with pytest.raises(err) as caught:
        cls().filter(wit_event(types), "{}")
    assert isinstance(caught.value.value, types.PluginError_Failed)
    assert caught.value.value.value.startswith("uncaught KeyError")


def test_transform_world_converts_request_both_ways(bindings):
    world, types, err = bindings["transform"]

    def rewrite(event, request, config):
        assert isinstance(request.body, bytes)
        request.set_header("X-Action", event.action)
        request.set_body_json({"was": request.body_json()})
        return request

    cls = _guest.make_world_class("transform", rewrite, world, types, err)
    incoming = types.OutgoingRequest(body=b'{"a":1}', headers=[("X-Keep", "k")], content_type="text/plain")
    out = cls().transform(wit_event(types), incoming, "null")
    assert isinstance(out, types.OutgoingRequest)
    assert out.body == b'{"was":{"a":1}}'
    assert out.headers == [("X-Keep", "k"), ("X-Action", "file.read")]
    assert out.content_type == "application/json"


def test_transform_errors_become_the_wit_variant(bindings):
    world, types, err = bindings["transform"]
    cls = _guest.make_world_class("transform", lambda e, r, c: r.body_json(), world, types, err)
    incoming = types.OutgoingRequest(body=b"plain", headers=[], content_type="text/plain")
    with pytest.raises(err) as caught:
        cls().transform(wit_event(types), incoming, "null")
    assert isinstance(caught.value.value, types.PluginError_InvalidEvent)
    assert "body is not JSON" in caught.value.value.value


def test_unknown_kind_is_refused(bindings):
    world, types, err = bindings["filter"]
    with pytest.raises(ValueError, match="unknown plugin kind"):
        _guest.make_world_class("mapper", len, world, types, err)
