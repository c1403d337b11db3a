"""JSON pointers (RFC 6901) into parsed JSON, read the way the Rust SDK reads
them (serde_json's `Value::pointer`), so a plugin's configuration means the
same thing in either language.

- `""` is the whole document; any other pointer starts with `/`, else it
  points nowhere.
- In each token `~1` is `/` and `~0` is `~`.
- An array index is `0` or digits without a leading zero (`01` and `+1`
  point nowhere), and must be inside the array.
"""

import re
from typing import Any, List, Optional, Tuple, Union


class _Missing:
    """The type of `MISSING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What `resolve` returns when nothing is at the pointer; unlike `None`,
#: which is JSON `null`, it is never a value in a document.
MISSING: Any = _Missing()

_INDEX = re.compile(r"0|[1-9][0-9]*")

Key = Union[str, int]


def unescape(token: str) -> str:
    """One reference token as a key: `~1` becomes `/`, then `~0` becomes `~`."""
    return token.replace("~1", "/").replace("~0", "~")


def tokens(pointer: str) -> Optional[List[str]]:
    """The unescaped tokens of `pointer`, or `None` when it is not a pointer
    (neither empty nor starting with `/`)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        return None
    return [unescape(t) for t in pointer.split("/")[1:]]


def step(container: Any, token: str) -> Optional[Key]:
    """The key or index `token` names in `container` when it is there."""
    if isinstance(container, dict):
        return token if token in container else None
    if isinstance(container, list):
        if _INDEX.fullmatch(token) is None:
            return None
        index = int(token)
        return index if index < len(container) else None
    return None


def resolve(document: Any, pointer: str, default: Any = MISSING) -> Any:
    """The value at `pointer` in `document`, or `default` (`MISSING` unless
    given) when nothing is there."""
    parts = tokens(pointer)
    if parts is None:
        return default
    value = document
    for token in parts:
        key = step(value, token)
        if key is None:
            return default
        value = value[key]
    return value


def locate(document: Any, pointer: str) -> Optional[Tuple[Any, Key]]:
    """The container holding the value at `pointer` and its key or index in
    it, so the value can be replaced in place: `None` when nothing is there
    or the pointer is `""` (the document itself has no container)."""
    parts = tokens(pointer)
    if not parts:
        return None
    parent = resolve(document, "".join("/" + escape(t) for t in parts[:-1]))
    if parent is MISSING:
        return None
    key = step(parent, parts[-1])
    return None if key is None else (parent, key)


def escape(key: str) -> str:
    """`key` as a reference token: `~` becomes `~0`, then `/` becomes `~1`."""
    return key.replace("~", "~0").replace("/", "~1")
