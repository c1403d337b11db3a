"""The misbehaviours of the hostile Python test plugins, chosen by
configuration and shared by `hostile_filter` and `hostile_transform`, so the
host's sandbox can be tested with Python guests on both worlds. They mirror
the Rust hostile plugins (`plugins/hostile/behaviour`) and add Python's own
ways out.

Config: `{"behaviour": "<name>", ...}`, where name is one of:
- `none`: behave (the filter delivers, the transform passes through);
- `infinite-loop`: spin forever (the host's fuel or deadline must stop it);
- `memory-bomb`: allocate and touch 1 MiB blocks without bound;
- `deep-recursion`: recurse without bound, Python's recursion limit lifted,
  until the interpreter's or WebAssembly's stack runs out;
- `panic`: raise an exception the plugin does not catch;
- `unreachable`: `os.abort()`, a trap without Python's exception machinery;
- `exit`: `sys.exit(3)`, which is not an `Exception` and so escapes the SDK;
- `huge-output`: produce `bytes` bytes of output (default 64 MiB): the
  transform's body, or the filter's error message;
- `sleep`: `time.sleep` for `ms` milliseconds (default an hour) on a WASI
  clock, using no CPU (the host's wall-clock limit must stop it), then behave;
- `long-error`: a `failed` error of `chars` three-byte characters (default
  4,000: `€`), which the host must cut without splitting one;
- escape attempts, which always end in a `failed` error whose message
  starts `sandbox held:` with the error met when the sandbox denied the
  attempt, or `sandbox breached:` when it worked:
  `read-env` (`var`, default `PATH`: `os.environ`),
  `read-file` (`path`, default `/etc/passwd`: `open()`),
  `write-file` (`path`, default `/tmp/scaihub-hostile`: `open(..., "w")`),
  `list-dir` (`path`, default `/`: `os.listdir`),
  `connect-tcp` (`addr`, default `127.0.0.1:9`: `socket`),
  `run-process` (`argv`, default `["/bin/sh", "-c", "id"]`: `subprocess`).
"""

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from scaihub_plugin import Config, Failed, InvalidConfig

# Imported here, not in the attempts: componentize-py bundles only the
# modules imported while it builds, so a lazy import would fail for lack of
# the module and never reach the sandbox. Where the guest's Python has no
# such module at all, the attempt reports that instead.
try:
    import encodings.idna  # noqa: F401 - what name lookups encode host names with
    import socket
except ImportError as e:  # pragma: no cover - depends on the Python build
    socket = None  # type: ignore[assignment]
    _SOCKET_MISSING: Optional[ImportError] = e
else:
    _SOCKET_MISSING = None
try:
    import subprocess
except ImportError as e:  # pragma: no cover - depends on the Python build
    subprocess = None  # type: ignore[assignment]
    _SUBPROCESS_MISSING: Optional[ImportError] = e
else:
    _SUBPROCESS_MISSING = None


@dataclass
class Behaviour:
    """One way to misbehave, as configured; the other fields are the
    parameters of the behaviours that take one."""

    behaviour: str
    bytes: int = 64 << 20
    ms: int = 60 * 60 * 1000
    chars: int = 4000
    var: str = "PATH"
    path: Optional[str] = None
    addr: str = "127.0.0.1:9"
    argv: List[str] = field(default_factory=lambda: ["/bin/sh", "-c", "id"])

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            names = ", ".join(sorted(BEHAVIOURS))
            raise InvalidConfig(f"unknown behaviour {self.behaviour!r}; one of {names}")

    @classmethod
    def from_config(cls, config: Config) -> "Behaviour":
        """Reads the behaviour from the plugin's configuration."""
        return config.parse(cls)

    def misbehave(self) -> None:
        """Carries out every behaviour except `none` and `huge-output`,
        which differ per world and are the caller's: returns for those two,
        and for `sleep` once it has slept. The others never return, trap,
        or raise."""
        BEHAVIOURS[self.behaviour](self)


def huge_output(size: int) -> bytes:
    """`size` bytes of printable filler, for `huge-output`."""
    return b"x" * size


def escape_report(attempt: str, outcome: Callable[[], str]) -> Failed:
    """The error an escape attempt ends in: `outcome` runs the attempt and
    says what it got when it worked; an exception means the sandbox held."""
    try:
        got = outcome()
    except BaseException as e:  # noqa: BLE001 - whatever stopped it, the sandbox held
        return Failed(f"sandbox held: {attempt} failed: {type(e).__name__}: {e}")
    return Failed(f"sandbox breached: {attempt} succeeded ({got})")


def _none(b: Behaviour) -> None:
    return None


def _infinite_loop(b: Behaviour) -> None:
    n = 0
    while True:
        n += 1


def _memory_bomb(b: Behaviour) -> None:
    hoard = []
    while True:
        # Non-zero fill so every page is really written, not lazily zeroed.
        hoard.append(b"\xa5" * (1 << 20))


def _deep_recursion(b: Behaviour) -> None:
    sys.setrecursionlimit(1_000_000_000)

    def recurse(depth: int) -> int:
        return recurse(depth + 1) + depth

    recurse(0)
    raise Failed("recursion returned, which it cannot")


def _panic(b: Behaviour) -> None:
    raise RuntimeError("hostile plugin raised on purpose")


def _unreachable(b: Behaviour) -> None:
    os.abort()


def _exit(b: Behaviour) -> None:
    sys.exit(3)


def _sleep(b: Behaviour) -> None:
    time.sleep(b.ms / 1000)


def _long_error(b: Behaviour) -> None:
    raise Failed("€" * b.chars)


def _read_env(b: Behaviour) -> None:
    def attempt() -> str:
        return f"{len(os.environ[b.var])} bytes"

    raise escape_report(f"reading environment variable {b.var}", attempt)


def _read_file(b: Behaviour) -> None:
    path = b.path or "/etc/passwd"

    def attempt() -> str:
        with open(path, "rb") as f:
            return f"{len(f.read())} bytes"

    raise escape_report(f"reading file {path}", attempt)


def _write_file(b: Behaviour) -> None:
    path = b.path or "/tmp/scaihub-hostile"

    def attempt() -> str:
        with open(path, "w") as f:
            return f"{f.write('breached')} characters written"

    raise escape_report(f"writing file {path}", attempt)


def _list_dir(b: Behaviour) -> None:
    path = b.path or "/"

    def attempt() -> str:
        return f"{len(os.listdir(path))} entries"

    raise escape_report(f"listing directory {path}", attempt)


def _connect_tcp(b: Behaviour) -> None:
    def attempt() -> str:
        if socket is None:
            raise _SOCKET_MISSING  # type: ignore[misc]
        host, _, port = b.addr.rpartition(":")
        # A plain socket and connect, as Rust's TcpStream::connect: no name
        # lookup for an address given as numbers.
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect((host.strip("[]"), int(port)))
            return "connected"

    raise escape_report(f"connecting to {b.addr}", attempt)


def _run_process(b: Behaviour) -> None:
    def attempt() -> str:
        if subprocess is None:
            raise _SUBPROCESS_MISSING  # type: ignore[misc]
        done = subprocess.run(b.argv, capture_output=True, timeout=5)
        return f"exit {done.returncode}, {len(done.stdout)} bytes of output"

    raise escape_report(f"running {' '.join(b.argv)}", attempt)


#: Each behaviour by its configured name.
BEHAVIOURS: Dict[str, Callable[[Behaviour], None]] = {
    "none": _none,
    "infinite-loop": _infinite_loop,
    "memory-bomb": _memory_bomb,
    "deep-recursion": _deep_recursion,
    "panic": _panic,
    "unreachable": _unreachable,
    "exit": _exit,
    "huge-output": _none,
    "sleep": _sleep,
    "long-error": _long_error,
    "read-env": _read_env,
    "read-file": _read_file,
    "write-file": _write_file,
    "list-dir": _list_dir,
    "connect-tcp": _connect_tcp,
    "run-process": _run_process,
}
