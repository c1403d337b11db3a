"""The build command: the WIT it carries, the componentize-py command line
it composes, and the mistakes it refuses before starting."""

import sys
from pathlib import Path

import pytest

from scaihub_plugin import build

REPO_WIT = Path(__file__).resolve().parents[3] / "wit"


def test_bundled_wit_is_the_repositorys_wit():
    """Fails when wit/ changes without the SDK's copy (copy it over)."""
    repo = sorted(p.name for p in REPO_WIT.glob("*.wit"))
    bundled = sorted(p.name for p in build.WIT_DIR.glob("*.wit"))
    assert repo, f"no WIT found in {REPO_WIT}"
    assert bundled == repo
    for name in repo:
        assert (build.WIT_DIR / name).read_bytes() == (REPO_WIT / name).read_bytes(), (
            f"sdk/python/scaihub_plugin/wit/{name} differs from wit/{name}"
        )


def test_entry_module_exports_the_app_as_the_world():
    source = build.entry_source("my_app", "transform")
    compile(source, "entry", "exec")
    assert "WitWorld = world_class('my_app', 'transform')" in source


def test_command_runs_componentize_py_for_the_world(tmp_path):
    app = tmp_path / "app.py"
    command = build.componentize_command(app, "filter", tmp_path / "o.wasm", tmp_path / "e", build.WIT_DIR, [Path("/extra")])
    assert command[0] == sys.executable
    assert command[command.index("-d") + 1] == str(build.WIT_DIR)
    assert command[command.index("-w") + 1] == "filter"
    paths = [command[i + 1] for i, a in enumerate(command) if a == "-p"]
    assert paths[:3] == [str(tmp_path / "e"), str(tmp_path), "/extra"]
    assert command[-3:] == [build.ENTRY, "-o", str(tmp_path / "o.wasm")]


@pytest.mark.parametrize(
    "name, kind, message",
    [
        ("app.py", "mapper", "--kind must be filter or transform"),
        ("missing.py", "filter", "no such file"),
        ("my-app.py", "filter", "Python module name"),
        ("app.txt", "filter", "Python module name"),
        ("scaihub_plugin_entry.py", "filter", "the build's own"),
    ],
)
def test_bad_inputs_are_refused_before_componentize_py_runs(tmp_path, name, kind, message):
    path = tmp_path / name
    if name != "missing.py":
        path.write_text("")
    with pytest.raises(build.BuildError, match=message):
        build.build(path, kind, tmp_path / "out.wasm")
    assert not (tmp_path / "out.wasm").exists()


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert build.main(["build", str(tmp_path / "nope.py"), "--kind", "filter", "-o", str(tmp_path / "x.wasm")]) == 1
    assert "scaihub-plugin: " in capsys.readouterr().err
    assert build.main(["wit"]) == 0
    assert capsys.readouterr().out.strip() == str(build.WIT_DIR)
