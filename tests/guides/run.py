#!/usr/bin/env python3
"""Runs the plugin guides (`docs/plugins/*.md`) as tests: every fenced block
of a guide is written, run or checked, in order, against a real ScaiHub, so
no snippet can rot. Python 3 standard library only.

The convention (info string of each fenced block):
- `<lang> file=<relative/path>`: the block is that file's whole content;
  written (directories created) in the guide's directory, replacing any
  earlier version.
- `sh run`: run with `bash -euo pipefail` in the guide's directory; a
  non-zero exit fails the guide.
- `text expect`: the stdout of the preceding `run` block contains it.
- `json expect`: the stdout of the preceding `run` block, parsed as JSON,
  contains every key and value of the block, recursively (objects: a subset
  of keys; arrays: the same length, item by item).
- Anything else (an unmarked block too) fails the guide.

Per guide: a fresh temporary directory, and a `scaihub serve` of its own on
a free loopback port with SQLite in a temporary data dir, a chosen admin key
and loopback destinations allowed. Run blocks get `SCAIHUB_URL`,
`SCAIHUB_KEY`, `ORG` (the admin's organisation, from `GET /v1/me`) and
`SCAIHUB_REPO` (this checkout).

A guide whose language's toolchain is missing is skipped with the reason
(rust.md: cargo with the wasm32-wasip2 target; javascript.md: node and npm;
python.md: python3 3.10+ with venv), unless SCAIHUB_REQUIRE_NODE or
SCAIHUB_REQUIRE_PYTHON (as CI sets) makes a missing toolchain a failure.

    tests/guides/run.py [--scaihub PATH] [--build] [GUIDE.md ...]
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

REPO = Path(__file__).resolve().parents[2]
#: How long one run block may take (a first build downloads and compiles).
BLOCK_TIMEOUT_S = 20 * 60
#: How long the server may take to answer after starting.
START_TIMEOUT_S = 60
#: Settings the runner decides for the server; inherited ones are dropped so
#: a developer's environment cannot point it at another store.
SERVER_ENV_DROP = re.compile(r"^SCAIHUB_")

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FILE_INFO = re.compile(r"^[A-Za-z0-9_+.-]+ file=(?P<path>\S+)$")


class GuideError(Exception):
    """A guide that cannot be run as written (a bad block, a bad path)."""


@dataclass
class Block:
    """One fenced block: its info string, text, and where it starts."""

    line: int
    info: str
    text: str

    @property
    def action(self) -> str:
        """`file`, `run`, `expect-text`, `expect-json`, or `bad`."""
        info = self.info
        if _FILE_INFO.match(info):
            return "file"
        return {"sh run": "run", "text expect": "expect-text", "json expect": "expect-json"}.get(info, "bad")

    @property
    def path(self) -> str:
        match = _FILE_INFO.match(self.info)
        assert match is not None
        return match.group("path")


def parse_blocks(text: str) -> List[Block]:
    """The fenced blocks of a Markdown document, in order."""
    blocks: List[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        info = opening.group("info").strip()
        start = i + 1
        body: List[str] = []
        i += 1
        while i < len(lines):
            closing = re.match(r"^ {0,3}(`{3,}|~{3,})\s*$", lines[i])
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                break
            line = lines[i]
            # Content lines lose up to the opening fence's indentation.
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            i += 1
        else:
            raise GuideError(f"line {start}: the block opened here is never closed")
        blocks.append(Block(line=start, info=info, text="\n".join(body) + ("\n" if body else "")))
        i += 1
    return blocks


def json_contains(actual: Any, expected: Any, where: str = "$") -> Optional[str]:
    """`None` when `actual` contains `expected` (objects: a subset of keys;
    arrays: same length, item by item; the rest: equal), else where not."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {json.dumps(actual)[:200]}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}: no key {key!r} (keys: {', '.join(actual)})"
            problem = json_contains(actual[key], value, f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected an array of {len(expected)}, got {json.dumps(actual)[:200]}"
        for n, (a, e) in enumerate(zip(actual, expected)):
            problem = json_contains(a, e, f"{where}[{n}]")
            if problem:
                return problem
        return None
    if type(actual) is not type(expected) and not (
        isinstance(actual, (int, float)) and isinstance(expected, (int, float))
        and not isinstance(actual, bool) and not isinstance(expected, bool)
    ):
        return f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)[:200]}"
    if actual != expected:
        return f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)[:200]}"
    return None


# ---------------------------------------------------------------- toolchains


def _has_wasip2_target() -> bool:
    if shutil.which("rustup"):
        out = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True)
        return "wasm32-wasip2" in out.stdout.split()
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
    return bool(sysroot) and (Path(sysroot) / "lib" / "rustlib" / "wasm32-wasip2").is_dir()


def missing_toolchain(guide: Path) -> Optional[str]:
    """Why `guide` cannot run on this machine, or `None` when it can."""
    name = guide.stem
    if name == "rust":
        if not shutil.which("cargo"):
            return "cargo is not installed"
        if not _has_wasip2_target():
            return "the wasm32-wasip2 target is not installed (rustup target add wasm32-wasip2)"
    elif name == "javascript":
        for tool in ("node", "npm"):
            if not shutil.which(tool):
                return f"{tool} is not installed"
    elif name == "python":
        python = shutil.which("python3")
        if not python:
            return "python3 is not installed"
        check = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))"],
            capture_output=True,
        )
        if check.returncode != 0:
            return "python3 is older than 3.10 or lacks venv/ensurepip"
    return None


def required(guide: Path) -> bool:
    """Whether a missing toolchain for `guide` fails instead of skipping."""
    variable = {"javascript": "SCAIHUB_REQUIRE_NODE", "python": "SCAIHUB_REQUIRE_PYTHON"}.get(guide.stem)
    return bool(variable and os.environ.get(variable) not in (None, "", "0"))


# -------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `scaihub serve` of one guide's own."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.key = "shk_guide_" + secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "scaihub.log"
        env = {k: v for k, v in os.environ.items() if not SERVER_ENV_DROP.match(k)}
        env.update(
            SCAIHUB_LISTEN=f"127.0.0.1:{self.port}",
            SCAIHUB_DATA_DIR=str(workdir / "data"),
            SCAIHUB_ADMIN_KEY=self.key,
            SCAIHUB_ALLOW_DESTINATIONS="127.0.0.0/8,::1/128",
        )
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(binary), "serve"], env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir
        )
        self.org = self._wait_ready()

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GuideError(f"scaihub exited with {self.process.returncode} at start:\n{self.log_tail()}")
            try:
                request = urllib.request.Request(f"{self.url}/v1/me", headers={"Authorization": f"Bearer {self.key}"})
                with urllib.request.urlopen(request, timeout=2) as answer:
                    return json.load(answer)["org_id"]
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise GuideError(f"scaihub did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# -------------------------------------------------------------------- guides


@dataclass
class Outcome:
    guide: Path
    status: str  # passed, failed, skipped
    detail: str = ""
    seconds: float = 0.0
    blocks: int = 0
    notes: List[str] = field(default_factory=list)


def _shown(text: str, limit: int = 4000) -> str:
    text = text.rstrip("\n")
    if len(text) > limit:
        text = "…" + text[-limit:]
    return "\n".join("    | " + line for line in text.splitlines()) or "    | (nothing)"


def run_guide(guide: Path, binary: Path, keep: bool) -> Outcome:
    """Runs every block of `guide` in order; the first failure ends it."""
    started = time.monotonic()
    rel = guide.relative_to(REPO) if guide.is_relative_to(REPO) else guide
    try:
        blocks = parse_blocks(guide.read_text(encoding="utf-8"))
    except GuideError as e:
        return Outcome(guide, "failed", f"{rel}: {e}")
    bad = [b for b in blocks if b.action == "bad"]
    if bad:
        return Outcome(
            guide,
            "failed",
            "\n".join(f"{rel}:{b.line}: block with info string {b.info!r} is neither "
                      "`<lang> file=PATH`, `sh run`, `text expect` nor `json expect`" for b in bad),
        )
    if not any(b.action == "run" for b in blocks):
        return Outcome(guide, "failed", f"{rel}: no `sh run` block: the guide tests nothing")
    workdir = Path(tempfile.mkdtemp(prefix=f"scaihub-guide-{guide.stem}-"))
    server: Optional[Server] = None
    try:
        server = Server(binary, workdir)
        home = workdir / "guide"
        home.mkdir()
        env = dict(os.environ)
        env.update(SCAIHUB_URL=server.url, SCAIHUB_KEY=server.key, ORG=server.org, SCAIHUB_REPO=str(REPO))
        last_stdout: Optional[str] = None
        last_line = 0
        for block in blocks:
            where = f"{rel}:{block.line}"
            if block.action == "file":
                target = (home / block.path).resolve()
                if not target.is_relative_to(home.resolve()):
                    return Outcome(guide, "failed", f"{where}: file={block.path} leaves the guide's directory")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
            elif block.action == "run":
                script = workdir / f"block-{block.line}.sh"
                script.write_text(block.text, encoding="utf-8")
                try:
                    done = subprocess.run(
                        ["bash", "-euo", "pipefail", str(script)], cwd=home, env=env,
                        capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S,
                    )
                except subprocess.TimeoutExpired as e:
                    return Outcome(guide, "failed", f"{where}: the run block took over {BLOCK_TIMEOUT_S} s\n"
                                   f"  stdout:\n{_shown(e.stdout or '')}\n  stderr:\n{_shown(e.stderr or '')}")
                if done.returncode != 0:
                    return Outcome(
                        guide, "failed",
                        f"{where}: the run block exited with {done.returncode}\n"
                        f"  stdout:\n{_shown(done.stdout)}\n  stderr:\n{_shown(done.stderr)}\n"
                        f"  scaihub log (last lines):\n{_shown(server.log_tail())}",
                    )
                last_stdout, last_line = done.stdout, block.line
            else:
                if last_stdout is None:
                    return Outcome(guide, "failed", f"{where}: an expect block before any run block")
                problem = _check_expect(block, last_stdout)
                if problem:
                    return Outcome(
                        guide, "failed",
                        f"{where}: the output of the run block at line {last_line} does not match: {problem}\n"
                        f"  stdout:\n{_shown(last_stdout)}",
                    )
        return Outcome(guide, "passed", seconds=time.monotonic() - started, blocks=len(blocks))
    except GuideError as e:
        return Outcome(guide, "failed", f"{rel}: {e}")
    finally:
        if server is not None:
            server.stop()
        if keep:
            print(f"  (kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _check_expect(block: Block, stdout: str) -> Optional[str]:
    if block.action == "expect-text":
        wanted = block.text.rstrip("\n")
        return None if wanted in stdout else f"it does not contain:\n{_shown(wanted)}"
    try:
        expected = json.loads(block.text)
    except ValueError as e:
        return f"the expect block is not JSON: {e}"
    try:
        actual = json.loads(stdout)
    except ValueError as e:
        return f"it is not JSON: {e}"
    return json_contains(actual, expected)


# ---------------------------------------------------------------------- main


def find_binary(given: Optional[str], build: bool) -> Path:
    if given:
        path = Path(given)
        if not path.is_file():
            sys.exit(f"run.py: {path}: no such file")
        return path.resolve()
    if build:
        print("run.py: building scaihub (cargo build -p scaihub)", flush=True)
        subprocess.run(["cargo", "build", "-p", "scaihub", "--locked"], cwd=REPO, check=True)
        return REPO / "target" / "debug" / "scaihub"
    for profile in ("debug", "release"):
        path = REPO / "target" / profile / "scaihub"
        if path.is_file():
            return path
    sys.exit("run.py: no target/debug/scaihub or target/release/scaihub; pass --build or --scaihub PATH")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run the plugin guides against a real ScaiHub.")
    parser.add_argument("guides", nargs="*", type=Path, help="guides to run (default: docs/plugins/*.md)")
    parser.add_argument("--scaihub", help="the scaihub binary (default: target/debug or target/release)")
    parser.add_argument("--build", action="store_true", help="cargo build scaihub first")
    parser.add_argument("--keep", action="store_true", help="keep each guide's temporary directory")
    args = parser.parse_args(argv)
    guides = [g.resolve() for g in args.guides] or sorted((REPO / "docs" / "plugins").glob("*.md"))
    if not guides:
        print("run.py: no guides in docs/plugins")
        return 1
    binary = find_binary(args.scaihub, args.build)
    outcomes: List[Outcome] = []
    for guide in guides:
        reason = missing_toolchain(guide)
        if reason:
            status = "failed" if required(guide) else "skipped"
            outcome = Outcome(guide, status, reason + (" (required here)" if status == "failed" else ""))
        else:
            print(f"guide {guide.name}: running", flush=True)
            outcome = run_guide(guide, binary, args.keep)
        outcomes.append(outcome)
        if outcome.status == "passed":
            print(f"guide {guide.name}: passed ({outcome.blocks} blocks, {outcome.seconds:.0f} s)", flush=True)
        elif outcome.status == "skipped":
            print(f"guide {guide.name}: skipped: {outcome.detail}", flush=True)
        else:
            print(f"guide {guide.name}: FAILED\n{outcome.detail}", flush=True)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "skipped")}
    print(f"guides: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
