"""`scaihub-plugin`: the one command that turns a plugin module into a
WebAssembly component, by running componentize-py with the WIT package
bundled here (a copy of the repository's `wit/`, kept equal by a test) and
the world of the plugin's kind.

    scaihub-plugin build app.py --kind filter -o plugin.wasm
    scaihub-plugin wit             # prints where the bundled WIT is

componentize-py is given an entry module written to a temporary directory,
which imports the plugin's module and exports its decorated function; the
plugin's own directory, the SDK and the site-packages of the Python running
the command are on the component's Python path.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

#: The WIT package the SDK was written against, shipped inside it.
WIT_DIR = Path(__file__).resolve().parent / "wit"
#: The name of the generated entry module (unlikely to clash with a plugin's).
ENTRY = "scaihub_plugin_entry"
#: How componentize-py is started: its console script, through the Python
#: running this command, so the one in this environment is used.
_COMPONENTIZE = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class BuildError(Exception):
    """A build that cannot start, with the reason for the user."""


def entry_source(app: str, kind: str) -> str:
    """The entry module componentize-py wraps for plugin module `app`."""
    return (
        '"""Written by scaihub-plugin build: exports the plugin of module '
        f'{app!r} as a {kind}."""\n'
        "from scaihub_plugin._guest import world_class\n\n"
        f"WitWorld = world_class({app!r}, {kind!r})\n"
    )


def componentize_command(
    app_file: Path, kind: str, output: Path, entry_dir: Path, wit: Path, extra_paths: List[Path]
) -> List[str]:
    """The componentize-py command line for a build (without running it).
    The Python path is the entry, the plugin's directory, any extra ones,
    the SDK, then this interpreter's own site-packages: the component gets
    the packages of the environment the command runs in, whichever
    environment componentize-py itself would have guessed."""
    sdk_parent = Path(__file__).resolve().parent.parent
    candidates = [entry_dir, app_file.resolve().parent, *extra_paths, sdk_parent, *_site_packages()]
    paths: List[Path] = []
    for path in candidates:
        if path not in paths:
            paths.append(path)
    command = [sys.executable, "-c", _COMPONENTIZE, "-d", str(wit), "-w", kind, "componentize"]
    for path in paths:
        command += ["-p", str(path)]
    command += [ENTRY, "-o", str(output)]
    return command


def build(app_file: Path, kind: str, output: Path, wit: Optional[Path] = None, extra_paths: Optional[List[Path]] = None, quiet: bool = False) -> int:
    """Builds `app_file` into the component `output`; returns its size."""
    if kind not in ("filter", "transform"):
        raise BuildError(f"--kind must be filter or transform, not {kind!r}")
    if not app_file.is_file():
        raise BuildError(f"{app_file}: no such file")
    app = app_file.stem
    if app_file.suffix != ".py" or not _MODULE_NAME.fullmatch(app):
        raise BuildError(f"{app_file}: the plugin must be a .py file whose name is a Python module name")
    if app == ENTRY:
        raise BuildError(f"{app_file}: the name {ENTRY} is the build's own")
    wit = (wit or WIT_DIR).resolve()
    if not wit.exists():
        raise BuildError(f"{wit}: no WIT package there")
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scaihub-plugin-") as tmp:
        entry_dir = Path(tmp)
        (entry_dir / f"{ENTRY}.py").write_text(entry_source(app, kind), encoding="utf-8")
        command = componentize_command(app_file, kind, output, entry_dir, wit, extra_paths or [])
        if quiet:
            command.insert(command.index("componentize"), "-q")
        started = time.monotonic()
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            raise BuildError(f"componentize-py failed (exit {result.returncode}); its messages are above")
    size = output.stat().st_size
    if not quiet:
        took = time.monotonic() - started
        print(f"{output}: {kind} component, {size} bytes, built in {took:.1f} s", file=sys.stderr)
    return size


def _site_packages() -> List[Path]:
    import site

    roots = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        roots.append(site.getusersitepackages())
    return [Path(r).resolve() for r in roots if r and Path(r).is_dir()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scaihub-plugin", description="Build ScaiHub webhook plugins written in Python."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="turn a plugin module into a WebAssembly component")
    b.add_argument("app", type=Path, help="the plugin's .py file (one function decorated @filter or @transform)")
    b.add_argument("--kind", required=True, choices=["filter", "transform"], help="the world to build for")
    b.add_argument("-o", "--output", type=Path, required=True, help="where to write the .wasm")
    b.add_argument("--wit", type=Path, help="a WIT package to use instead of the bundled one")
    b.add_argument("-p", "--python-path", type=Path, action="append", default=[], help="another directory of modules the plugin imports")
    b.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    commands.add_parser("wit", help="print the path of the bundled WIT package")
    args = parser.parse_args(argv)
    if args.command == "wit":
        print(WIT_DIR)
        return 0
    try:
        build(args.app, args.kind, args.output, args.wit, args.python_path, args.quiet)
    except BuildError as e:
        print(f"scaihub-plugin: {e}", file=sys.stderr)
        return 1
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
